/**
 * ElectLeaders (API key 43): triggers preferred or unclean leader elections.
 *
 * Versions 0-2, flexible from 2 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * ElectLeadersRequest =>
 *   electionType     INT8               v1+
 *   topicPartitions  NULLABLE_ARRAY =>
 *     topic          STRING
 *     partitions     ARRAY(INT32)
 *   timeoutMs        INT32
 *
 * ElectLeadersResponse =>
 *   throttleTimeMs          INT32
 *   errorCode               INT16            v1+
 *   replicaElectionResults  ARRAY =>
 *     topic                 STRING
 *     partitionResult       ARRAY =>
 *       partitionId         INT32
 *       errorCode           INT16
 *       errorMessage        NULLABLE_STRING
 */
import { defineApi, field } from "../schema.ts";

export const ElectLeaders = defineApi({
  key: 43,
  name: "ElectLeaders",
  category: "management",
  versions: "0-2",
  flexible: "2+",
  request: [
    field("electionType", "1+", "int8"),
    field("topicPartitions", "0+", { nullable: "0+" }, [
      field("topic", "0+", "string"),
      field("partitions", "0+", "[]int32"),
    ]),
    field("timeoutMs", "0+", "int32"),
  ],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("errorCode", "1+", "int16"),
    field("replicaElectionResults", "0+", [
      field("topic", "0+", "string"),
      field("partitionResult", "0+", [
        field("partitionId", "0+", "int32"),
        field("errorCode", "0+", "int16"),
        field("errorMessage", "0+", { nullable: "0+" }, "string"),
      ]),
    ]),
  ],
});
