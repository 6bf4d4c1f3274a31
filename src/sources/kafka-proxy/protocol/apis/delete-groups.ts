/**
 * DeleteGroups (API key 42): deletes consumer groups.
 *
 * Versions 0-3, flexible from 2 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * DeleteGroupsRequest =>
 *   groupsNames  ARRAY(STRING)
 *
 * DeleteGroupsResponse =>
 *   throttleTimeMs  INT32
 *   results         ARRAY =>
 *     groupId       STRING
 *     errorCode     INT16
 *     errorMessage  NULLABLE_STRING  v3+
 */
import { defineApi, field } from "../schema.ts";

export const DeleteGroups = defineApi({
  key: 42,
  name: "DeleteGroups",
  category: "management",
  versions: "0-3",
  flexible: "2+",
  request: [field("groupsNames", "0+", "[]string")],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("results", "0+", [
      field("groupId", "0+", "string"),
      field("errorCode", "0+", "int16"),
      field("errorMessage", "3+", { nullable: "3+" }, "string"),
    ]),
  ],
});
