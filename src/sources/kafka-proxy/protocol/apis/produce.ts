/**
 * Produce (API key 0): appends record batches to partitions.
 *
 * Versions 3-13, flexible from 9 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * ProduceRequest =>
 *   transactionalId  NULLABLE_STRING
 *   acks             INT16
 *   timeoutMs        INT32
 *   topicData        ARRAY =>
 *     name           STRING            v3-12
 *     topicId        UUID              v13+
 *     partitionData  ARRAY =>
 *       index        INT32
 *       records      NULLABLE_RECORDS
 *
 * ProduceResponse =>
 *   responses                     ARRAY =>
 *     name                        STRING           v3-12
 *     topicId                     UUID             v13+
 *     partitionResponses          ARRAY =>
 *       index                     INT32
 *       errorCode                 INT16
 *       baseOffset                INT64
 *       logAppendTimeMs           INT64
 *       logStartOffset            INT64            v5+
 *       recordErrors              ARRAY =>         v8+
 *         batchIndex              INT32
 *         batchIndexErrorMessage  NULLABLE_STRING
 *       errorMessage              NULLABLE_STRING  v8+
 *       currentLeader             STRUCT =>        v10+ tag 0
 *         leaderId                INT32
 *         leaderEpoch             INT32
 *   throttleTimeMs                INT32
 *   nodeEndpoints                 ARRAY =>         v10+ tag 0
 *     nodeId                      INT32
 *     host                        STRING
 *     port                        INT32
 *     rack                        NULLABLE_STRING
 */
import { defineApi, field, struct } from "../schema.ts";

export const Produce = defineApi({
  key: 0,
  name: "Produce",
  category: "produce",
  versions: "3-13",
  flexible: "9+",
  request: [
    field("transactionalId", "3+", { nullable: "3+" }, "string"),
    field("acks", "0+", "int16"),
    field("timeoutMs", "0+", "int32"),
    field("topicData", "0+", [
      field("name", "0-12", "string"),
      field("topicId", "13+", "uuid"),
      field("partitionData", "0+", [
        field("index", "0+", "int32"),
        field("records", "0+", { nullable: "0+" }, "records"),
      ]),
    ]),
  ],
  response: [
    field("responses", "0+", [
      field("name", "0-12", "string"),
      field("topicId", "13+", "uuid"),
      field("partitionResponses", "0+", [
        field("index", "0+", "int32"),
        field("errorCode", "0+", "int16"),
        field("baseOffset", "0+", "int64"),
        field("logAppendTimeMs", "2+", "int64"),
        field("logStartOffset", "5+", "int64"),
        field("recordErrors", "8+", [
          field("batchIndex", "8+", "int32"),
          field("batchIndexErrorMessage", "8+", { nullable: "8+" }, "string"),
        ]),
        field("errorMessage", "8+", { nullable: "8+" }, "string"),
        field(
          "currentLeader",
          "10+",
          { tag: 0 },
          struct(field("leaderId", "10+", "int32"), field("leaderEpoch", "10+", "int32")),
        ),
      ]),
    ]),
    field("throttleTimeMs", "1+", "int32"),
    field("nodeEndpoints", "10+", { tag: 0 }, [
      field("nodeId", "10+", "int32"),
      field("host", "10+", "string"),
      field("port", "10+", "int32"),
      field("rack", "10+", { nullable: "10+" }, "string"),
    ]),
  ],
});
