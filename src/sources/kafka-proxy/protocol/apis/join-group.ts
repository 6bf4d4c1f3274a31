/**
 * JoinGroup (API key 11): joins a classic consumer group (the rebalance's first round).
 *
 * Versions 0-9, flexible from 6 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * JoinGroupRequest =>
 *   groupId             STRING
 *   sessionTimeoutMs    INT32
 *   rebalanceTimeoutMs  INT32            v1+
 *   memberId            STRING
 *   groupInstanceId     NULLABLE_STRING  v5+
 *   protocolType        STRING
 *   protocols           ARRAY =>
 *     name              STRING
 *     metadata          BYTES
 *   reason              NULLABLE_STRING  v8+
 *
 * JoinGroupResponse =>
 *   throttleTimeMs     INT32                  v2+
 *   errorCode          INT16
 *   generationId       INT32
 *   protocolType       NULLABLE_STRING        v7+
 *   protocolName       STRING (nullable v7+)
 *   leader             STRING
 *   skipAssignment     BOOL                   v9+
 *   memberId           STRING
 *   members            ARRAY =>
 *     memberId         STRING
 *     groupInstanceId  NULLABLE_STRING        v5+
 *     metadata         BYTES
 */
import { defineApi, field } from "../schema.ts";

export const JoinGroup = defineApi({
  key: 11,
  name: "JoinGroup",
  category: "consume",
  versions: "0-9",
  flexible: "6+",
  request: [
    field("groupId", "0+", "string"),
    field("sessionTimeoutMs", "0+", "int32"),
    field("rebalanceTimeoutMs", "1+", "int32"),
    field("memberId", "0+", "string"),
    field("groupInstanceId", "5+", { nullable: "5+" }, "string"),
    field("protocolType", "0+", "string"),
    field("protocols", "0+", [field("name", "0+", "string"), field("metadata", "0+", "bytes")]),
    field("reason", "8+", { nullable: "8+" }, "string"),
  ],
  response: [
    field("throttleTimeMs", "2+", "int32"),
    field("errorCode", "0+", "int16"),
    field("generationId", "0+", "int32"),
    field("protocolType", "7+", { nullable: "7+" }, "string"),
    field("protocolName", "0+", { nullable: "7+" }, "string"),
    field("leader", "0+", "string"),
    field("skipAssignment", "9+", "bool"),
    field("memberId", "0+", "string"),
    field("members", "0+", [
      field("memberId", "0+", "string"),
      field("groupInstanceId", "5+", { nullable: "5+" }, "string"),
      field("metadata", "0+", "bytes"),
    ]),
  ],
});
