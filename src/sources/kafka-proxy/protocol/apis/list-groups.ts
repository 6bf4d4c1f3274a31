/**
 * ListGroups (API key 16): lists the groups a broker coordinates.
 *
 * Versions 0-5, flexible from 3 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * ListGroupsRequest =>
 *   statesFilter  ARRAY(STRING)  v4+
 *   typesFilter   ARRAY(STRING)  v5+
 *
 * ListGroupsResponse =>
 *   throttleTimeMs  INT32     v1+
 *   errorCode       INT16
 *   groups          ARRAY =>
 *     groupId       STRING
 *     protocolType  STRING
 *     groupState    STRING    v4+
 *     groupType     STRING    v5+
 */
import { defineApi, field } from "../schema.ts";

export const ListGroups = defineApi({
  key: 16,
  name: "ListGroups",
  category: "describe",
  versions: "0-5",
  flexible: "3+",
  request: [field("statesFilter", "4+", "[]string"), field("typesFilter", "5+", "[]string")],
  response: [
    field("throttleTimeMs", "1+", "int32"),
    field("errorCode", "0+", "int16"),
    field("groups", "0+", [
      field("groupId", "0+", "string"),
      field("protocolType", "0+", "string"),
      field("groupState", "4+", "string"),
      field("groupType", "5+", "string"),
    ]),
  ],
});
