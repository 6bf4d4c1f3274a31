/**
 * ListOffsets (API key 2): the offsets of partitions at a timestamp (earliest, latest, ...).
 *
 * Versions 1-11, flexible from 6 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * ListOffsetsRequest =>
 *   replicaId               INT32
 *   isolationLevel          INT8      v2+
 *   topics                  ARRAY =>
 *     name                  STRING
 *     partitions            ARRAY =>
 *       partitionIndex      INT32
 *       currentLeaderEpoch  INT32     v4+
 *       timestamp           INT64
 *   timeoutMs               INT32     v10+
 *
 * ListOffsetsResponse =>
 *   throttleTimeMs      INT32     v2+
 *   topics              ARRAY =>
 *     name              STRING
 *     partitions        ARRAY =>
 *       partitionIndex  INT32
 *       errorCode       INT16
 *       timestamp       INT64
 *       offset          INT64
 *       leaderEpoch     INT32     v4+
 */
import { defineApi, field } from "../schema.ts";

export const ListOffsets = defineApi({
  key: 2,
  name: "ListOffsets",
  category: "consume",
  versions: "1-11",
  flexible: "6+",
  request: [
    field("replicaId", "0+", "int32"),
    field("isolationLevel", "2+", "int8"),
    field("topics", "0+", [
      field("name", "0+", "string"),
      field("partitions", "0+", [
        field("partitionIndex", "0+", "int32"),
        field("currentLeaderEpoch", "4+", "int32"),
        field("timestamp", "0+", "int64"),
      ]),
    ]),
    field("timeoutMs", "10+", "int32"),
  ],
  response: [
    field("throttleTimeMs", "2+", "int32"),
    field("topics", "0+", [
      field("name", "0+", "string"),
      field("partitions", "0+", [
        field("partitionIndex", "0+", "int32"),
        field("errorCode", "0+", "int16"),
        field("timestamp", "1+", "int64"),
        field("offset", "1+", "int64"),
        field("leaderEpoch", "4+", "int32"),
      ]),
    ]),
  ],
});
