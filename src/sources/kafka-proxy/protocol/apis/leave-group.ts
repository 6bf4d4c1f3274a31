/**
 * LeaveGroup (API key 13): leaves a classic consumer group.
 *
 * Versions 0-5, flexible from 4 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * LeaveGroupRequest =>
 *   groupId            STRING
 *   memberId           STRING           v0-2
 *   members            ARRAY =>         v3+
 *     memberId         STRING
 *     groupInstanceId  NULLABLE_STRING
 *     reason           NULLABLE_STRING  v5+
 *
 * LeaveGroupResponse =>
 *   throttleTimeMs     INT32            v1+
 *   errorCode          INT16
 *   members            ARRAY =>         v3+
 *     memberId         STRING
 *     groupInstanceId  NULLABLE_STRING
 *     errorCode        INT16
 */
import { defineApi, field } from "../schema.ts";

export const LeaveGroup = defineApi({
  key: 13,
  name: "LeaveGroup",
  category: "consume",
  versions: "0-5",
  flexible: "4+",
  request: [
    field("groupId", "0+", "string"),
    field("memberId", "0-2", "string"),
    field("members", "3+", [
      field("memberId", "3+", "string"),
      field("groupInstanceId", "3+", { nullable: "3+" }, "string"),
      field("reason", "5+", { nullable: "5+" }, "string"),
    ]),
  ],
  response: [
    field("throttleTimeMs", "1+", "int32"),
    field("errorCode", "0+", "int16"),
    field("members", "3+", [
      field("memberId", "3+", "string"),
      field("groupInstanceId", "3+", { nullable: "3+" }, "string"),
      field("errorCode", "3+", "int16"),
    ]),
  ],
});
