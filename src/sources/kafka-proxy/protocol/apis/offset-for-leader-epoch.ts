/**
 * OffsetForLeaderEpoch (API key 23): the end offset of a leader epoch (log truncation detection).
 *
 * Versions 2-4, flexible from 4 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * OffsetForLeaderEpochRequest =>
 *   replicaId               INT32     v3+
 *   topics                  ARRAY =>
 *     topic                 STRING
 *     partitions            ARRAY =>
 *       partition           INT32
 *       currentLeaderEpoch  INT32
 *       leaderEpoch         INT32
 *
 * OffsetForLeaderEpochResponse =>
 *   throttleTimeMs   INT32
 *   topics           ARRAY =>
 *     topic          STRING
 *     partitions     ARRAY =>
 *       errorCode    INT16
 *       partition    INT32
 *       leaderEpoch  INT32
 *       endOffset    INT64
 */
import { defineApi, field } from "../schema.ts";

export const OffsetForLeaderEpoch = defineApi({
  key: 23,
  name: "OffsetForLeaderEpoch",
  category: "describe",
  versions: "2-4",
  flexible: "4+",
  request: [
    field("replicaId", "3+", "int32"),
    field("topics", "0+", [
      field("topic", "0+", "string"),
      field("partitions", "0+", [
        field("partition", "0+", "int32"),
        field("currentLeaderEpoch", "2+", "int32"),
        field("leaderEpoch", "0+", "int32"),
      ]),
    ]),
  ],
  response: [
    field("throttleTimeMs", "2+", "int32"),
    field("topics", "0+", [
      field("topic", "0+", "string"),
      field("partitions", "0+", [
        field("errorCode", "0+", "int16"),
        field("partition", "0+", "int32"),
        field("leaderEpoch", "1+", "int32"),
        field("endOffset", "0+", "int64"),
      ]),
    ]),
  ],
});
