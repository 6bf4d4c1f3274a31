/**
 * OffsetDelete (API key 47): deletes a consumer group's committed offsets for partitions.
 *
 * Versions 0, never flexible.
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * OffsetDeleteRequest =>
 *   groupId             STRING
 *   topics              ARRAY =>
 *     name              STRING
 *     partitions        ARRAY =>
 *       partitionIndex  INT32
 *
 * OffsetDeleteResponse =>
 *   errorCode           INT16
 *   throttleTimeMs      INT32
 *   topics              ARRAY =>
 *     name              STRING
 *     partitions        ARRAY =>
 *       partitionIndex  INT32
 *       errorCode       INT16
 */
import { defineApi, field } from "../schema.ts";

export const OffsetDelete = defineApi({
  key: 47,
  name: "OffsetDelete",
  category: "management",
  versions: "0",
  flexible: "none",
  request: [
    field("groupId", "0+", "string"),
    field("topics", "0+", [
      field("name", "0+", "string"),
      field("partitions", "0+", [field("partitionIndex", "0+", "int32")]),
    ]),
  ],
  response: [
    field("errorCode", "0+", "int16"),
    field("throttleTimeMs", "0+", "int32"),
    field("topics", "0+", [
      field("name", "0+", "string"),
      field("partitions", "0+", [field("partitionIndex", "0+", "int32"), field("errorCode", "0+", "int16")]),
    ]),
  ],
});
