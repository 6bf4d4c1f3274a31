/**
 * CreatePartitions (API key 37): adds partitions to topics.
 *
 * Versions 0-3, flexible from 2 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * CreatePartitionsRequest =>
 *   topics         ARRAY =>
 *     name         STRING
 *     count        INT32
 *     assignments  NULLABLE_ARRAY =>
 *       brokerIds  ARRAY(INT32)
 *   timeoutMs      INT32
 *   validateOnly   BOOL
 *
 * CreatePartitionsResponse =>
 *   throttleTimeMs  INT32
 *   results         ARRAY =>
 *     name          STRING
 *     errorCode     INT16
 *     errorMessage  NULLABLE_STRING
 */
import { defineApi, field } from "../schema.ts";

export const CreatePartitions = defineApi({
  key: 37,
  name: "CreatePartitions",
  category: "management",
  versions: "0-3",
  flexible: "2+",
  request: [
    field("topics", "0+", [
      field("name", "0+", "string"),
      field("count", "0+", "int32"),
      field("assignments", "0+", { nullable: "0+" }, [field("brokerIds", "0+", "[]int32")]),
    ]),
    field("timeoutMs", "0+", "int32"),
    field("validateOnly", "0+", "bool"),
  ],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("results", "0+", [
      field("name", "0+", "string"),
      field("errorCode", "0+", "int16"),
      field("errorMessage", "0+", { nullable: "0+" }, "string"),
    ]),
  ],
});
