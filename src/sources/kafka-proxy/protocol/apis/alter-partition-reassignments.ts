/**
 * AlterPartitionReassignments (API key 45): starts or cancels partition reassignments.
 *
 * Versions 0-1, all flexible (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * AlterPartitionReassignmentsRequest =>
 *   timeoutMs                     INT32
 *   allowReplicationFactorChange  BOOL                   v1+
 *   topics                        ARRAY =>
 *     name                        STRING
 *     partitions                  ARRAY =>
 *       partitionIndex            INT32
 *       replicas                  NULLABLE_ARRAY(INT32)
 *
 * AlterPartitionReassignmentsResponse =>
 *   throttleTimeMs                INT32
 *   allowReplicationFactorChange  BOOL             v1+
 *   errorCode                     INT16
 *   errorMessage                  NULLABLE_STRING
 *   responses                     ARRAY =>
 *     name                        STRING
 *     partitions                  ARRAY =>
 *       partitionIndex            INT32
 *       errorCode                 INT16
 *       errorMessage              NULLABLE_STRING
 */
import { defineApi, field } from "../schema.ts";

export const AlterPartitionReassignments = defineApi({
  key: 45,
  name: "AlterPartitionReassignments",
  category: "management",
  versions: "0-1",
  flexible: "0+",
  request: [
    field("timeoutMs", "0+", "int32"),
    field("allowReplicationFactorChange", "1+", "bool"),
    field("topics", "0+", [
      field("name", "0+", "string"),
      field("partitions", "0+", [
        field("partitionIndex", "0+", "int32"),
        field("replicas", "0+", { nullable: "0+" }, "[]int32"),
      ]),
    ]),
  ],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("allowReplicationFactorChange", "1+", "bool"),
    field("errorCode", "0+", "int16"),
    field("errorMessage", "0+", { nullable: "0+" }, "string"),
    field("responses", "0+", [
      field("name", "0+", "string"),
      field("partitions", "0+", [
        field("partitionIndex", "0+", "int32"),
        field("errorCode", "0+", "int16"),
        field("errorMessage", "0+", { nullable: "0+" }, "string"),
      ]),
    ]),
  ],
});
