/**
 * FindCoordinator (API key 10): the broker coordinating a consumer group, transaction or share group.
 *
 * Versions 0-6, flexible from 3 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * FindCoordinatorRequest =>
 *   key              STRING         v0-3
 *   keyType          INT8           v1+
 *   coordinatorKeys  ARRAY(STRING)  v4+
 *
 * FindCoordinatorResponse =>
 *   throttleTimeMs  INT32            v1+
 *   errorCode       INT16            v0-3
 *   errorMessage    NULLABLE_STRING  v1-3
 *   nodeId          INT32            v0-3
 *   host            STRING           v0-3
 *   port            INT32            v0-3
 *   coordinators    ARRAY =>         v4+
 *     key           STRING
 *     nodeId        INT32
 *     host          STRING
 *     port          INT32
 *     errorCode     INT16
 *     errorMessage  NULLABLE_STRING
 */
import { defineApi, field } from "../schema.ts";

export const FindCoordinator = defineApi({
  key: 10,
  name: "FindCoordinator",
  category: "describe",
  versions: "0-6",
  flexible: "3+",
  request: [
    field("key", "0-3", "string"),
    field("keyType", "1+", "int8"),
    field("coordinatorKeys", "4+", "[]string"),
  ],
  response: [
    field("throttleTimeMs", "1+", "int32"),
    field("errorCode", "0-3", "int16"),
    field("errorMessage", "1-3", { nullable: "1-3" }, "string"),
    field("nodeId", "0-3", "int32"),
    field("host", "0-3", "string"),
    field("port", "0-3", "int32"),
    field("coordinators", "4+", [
      field("key", "4+", "string"),
      field("nodeId", "4+", "int32"),
      field("host", "4+", "string"),
      field("port", "4+", "int32"),
      field("errorCode", "4+", "int16"),
      field("errorMessage", "4+", { nullable: "4+" }, "string"),
    ]),
  ],
});
