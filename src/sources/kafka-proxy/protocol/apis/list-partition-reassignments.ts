/**
 * ListPartitionReassignments (API key 46): lists the ongoing partition reassignments.
 *
 * Versions 0, all flexible (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * ListPartitionReassignmentsRequest =>
 *   timeoutMs           INT32
 *   topics              NULLABLE_ARRAY =>
 *     name              STRING
 *     partitionIndexes  ARRAY(INT32)
 *
 * ListPartitionReassignmentsResponse =>
 *   throttleTimeMs        INT32
 *   errorCode             INT16
 *   errorMessage          NULLABLE_STRING
 *   topics                ARRAY =>
 *     name                STRING
 *     partitions          ARRAY =>
 *       partitionIndex    INT32
 *       replicas          ARRAY(INT32)
 *       addingReplicas    ARRAY(INT32)
 *       removingReplicas  ARRAY(INT32)
 */
import { defineApi, field } from "../schema.ts";

export const ListPartitionReassignments = defineApi({
  key: 46,
  name: "ListPartitionReassignments",
  category: "describe",
  versions: "0",
  flexible: "0+",
  request: [
    field("timeoutMs", "0+", "int32"),
    field("topics", "0+", { nullable: "0+" }, [
      field("name", "0+", "string"),
      field("partitionIndexes", "0+", "[]int32"),
    ]),
  ],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("errorCode", "0+", "int16"),
    field("errorMessage", "0+", { nullable: "0+" }, "string"),
    field("topics", "0+", [
      field("name", "0+", "string"),
      field("partitions", "0+", [
        field("partitionIndex", "0+", "int32"),
        field("replicas", "0+", "[]int32"),
        field("addingReplicas", "0+", "[]int32"),
        field("removingReplicas", "0+", "[]int32"),
      ]),
    ]),
  ],
});
