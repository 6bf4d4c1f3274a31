/**
 * Fetch (API key 1): reads record batches from partitions (consumers and follower replicas).
 *
 * Versions 4-18, flexible from 12 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * FetchRequest =>
 *   clusterId               NULLABLE_STRING  v12+ tag 0
 *   replicaId               INT32            v4-14
 *   replicaState            STRUCT =>        v15+ tag 1
 *     replicaId             INT32
 *     replicaEpoch          INT64
 *   maxWaitMs               INT32
 *   minBytes                INT32
 *   maxBytes                INT32
 *   isolationLevel          INT8
 *   sessionId               INT32            v7+
 *   sessionEpoch            INT32            v7+
 *   topics                  ARRAY =>
 *     topic                 STRING           v4-12
 *     topicId               UUID             v13+
 *     partitions            ARRAY =>
 *       partition           INT32
 *       currentLeaderEpoch  INT32            v9+
 *       fetchOffset         INT64
 *       lastFetchedEpoch    INT32            v12+
 *       logStartOffset      INT64            v5+
 *       partitionMaxBytes   INT32
 *       replicaDirectoryId  UUID             v17+ tag 0
 *       highWatermark       INT64            v18+ tag 1
 *   forgottenTopicsData     ARRAY =>         v7+
 *     topic                 STRING           v7-12
 *     topicId               UUID             v13+
 *     partitions            ARRAY(INT32)
 *   rackId                  STRING           v11+
 *
 * FetchResponse =>
 *   throttleTimeMs            INT32
 *   errorCode                 INT16              v7+
 *   sessionId                 INT32              v7+
 *   responses                 ARRAY =>
 *     topic                   STRING             v4-12
 *     topicId                 UUID               v13+
 *     partitions              ARRAY =>
 *       partitionIndex        INT32
 *       errorCode             INT16
 *       highWatermark         INT64
 *       lastStableOffset      INT64
 *       logStartOffset        INT64              v5+
 *       divergingEpoch        STRUCT =>          v12+ tag 0
 *         epoch               INT32
 *         endOffset           INT64
 *       currentLeader         STRUCT =>          v12+ tag 1
 *         leaderId            INT32
 *         leaderEpoch         INT32
 *       snapshotId            STRUCT =>          v12+ tag 2
 *         endOffset           INT64
 *         epoch               INT32
 *       abortedTransactions   NULLABLE_ARRAY =>
 *         producerId          INT64
 *         firstOffset         INT64
 *       preferredReadReplica  INT32              v11+
 *       records               NULLABLE_RECORDS
 *   nodeEndpoints             ARRAY =>           v16+ tag 0
 *     nodeId                  INT32
 *     host                    STRING
 *     port                    INT32
 *     rack                    NULLABLE_STRING
 */
import { defineApi, field, struct } from "../schema.ts";

export const Fetch = defineApi({
  key: 1,
  name: "Fetch",
  category: "consume",
  versions: "4-18",
  flexible: "12+",
  request: [
    field("clusterId", "12+", { nullable: "12+", tag: 0 }, "string"),
    field("replicaId", "0-14", "int32"),
    field(
      "replicaState",
      "15+",
      { tag: 1 },
      struct(field("replicaId", "15+", "int32"), field("replicaEpoch", "15+", "int64")),
    ),
    field("maxWaitMs", "0+", "int32"),
    field("minBytes", "0+", "int32"),
    field("maxBytes", "3+", "int32"),
    field("isolationLevel", "4+", "int8"),
    field("sessionId", "7+", "int32"),
    field("sessionEpoch", "7+", "int32"),
    field("topics", "0+", [
      field("topic", "0-12", "string"),
      field("topicId", "13+", "uuid"),
      field("partitions", "0+", [
        field("partition", "0+", "int32"),
        field("currentLeaderEpoch", "9+", "int32"),
        field("fetchOffset", "0+", "int64"),
        field("lastFetchedEpoch", "12+", "int32"),
        field("logStartOffset", "5+", "int64"),
        field("partitionMaxBytes", "0+", "int32"),
        field("replicaDirectoryId", "17+", { tag: 0 }, "uuid"),
        field("highWatermark", "18+", { tag: 1 }, "int64"),
      ]),
    ]),
    field("forgottenTopicsData", "7+", [
      field("topic", "7-12", "string"),
      field("topicId", "13+", "uuid"),
      field("partitions", "7+", "[]int32"),
    ]),
    field("rackId", "11+", "string"),
  ],
  response: [
    field("throttleTimeMs", "1+", "int32"),
    field("errorCode", "7+", "int16"),
    field("sessionId", "7+", "int32"),
    field("responses", "0+", [
      field("topic", "0-12", "string"),
      field("topicId", "13+", "uuid"),
      field("partitions", "0+", [
        field("partitionIndex", "0+", "int32"),
        field("errorCode", "0+", "int16"),
        field("highWatermark", "0+", "int64"),
        field("lastStableOffset", "4+", "int64"),
        field("logStartOffset", "5+", "int64"),
        field(
          "divergingEpoch",
          "12+",
          { tag: 0 },
          struct(field("epoch", "12+", "int32"), field("endOffset", "12+", "int64")),
        ),
        field(
          "currentLeader",
          "12+",
          { tag: 1 },
          struct(field("leaderId", "12+", "int32"), field("leaderEpoch", "12+", "int32")),
        ),
        field(
          "snapshotId",
          "12+",
          { tag: 2 },
          struct(field("endOffset", "0+", "int64"), field("epoch", "0+", "int32")),
        ),
        field("abortedTransactions", "4+", { nullable: "4+" }, [
          field("producerId", "4+", "int64"),
          field("firstOffset", "4+", "int64"),
        ]),
        field("preferredReadReplica", "11+", "int32"),
        field("records", "0+", { nullable: "0+" }, "records"),
      ]),
    ]),
    field("nodeEndpoints", "16+", { tag: 0 }, [
      field("nodeId", "16+", "int32"),
      field("host", "16+", "string"),
      field("port", "16+", "int32"),
      field("rack", "16+", { nullable: "16+" }, "string"),
    ]),
  ],
});
