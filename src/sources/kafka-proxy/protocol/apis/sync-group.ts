/**
 * SyncGroup (API key 14): distributes a classic group's assignment (the rebalance's second round).
 *
 * Versions 0-5, flexible from 4 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * SyncGroupRequest =>
 *   groupId          STRING
 *   generationId     INT32
 *   memberId         STRING
 *   groupInstanceId  NULLABLE_STRING  v3+
 *   protocolType     NULLABLE_STRING  v5+
 *   protocolName     NULLABLE_STRING  v5+
 *   assignments      ARRAY =>
 *     memberId       STRING
 *     assignment     BYTES
 *
 * SyncGroupResponse =>
 *   throttleTimeMs  INT32            v1+
 *   errorCode       INT16
 *   protocolType    NULLABLE_STRING  v5+
 *   protocolName    NULLABLE_STRING  v5+
 *   assignment      BYTES
 */
import { defineApi, field } from "../schema.ts";

export const SyncGroup = defineApi({
  key: 14,
  name: "SyncGroup",
  category: "consume",
  versions: "0-5",
  flexible: "4+",
  request: [
    field("groupId", "0+", "string"),
    field("generationId", "0+", "int32"),
    field("memberId", "0+", "string"),
    field("groupInstanceId", "3+", { nullable: "3+" }, "string"),
    field("protocolType", "5+", { nullable: "5+" }, "string"),
    field("protocolName", "5+", { nullable: "5+" }, "string"),
    field("assignments", "0+", [field("memberId", "0+", "string"), field("assignment", "0+", "bytes")]),
  ],
  response: [
    field("throttleTimeMs", "1+", "int32"),
    field("errorCode", "0+", "int16"),
    field("protocolType", "5+", { nullable: "5+" }, "string"),
    field("protocolName", "5+", { nullable: "5+" }, "string"),
    field("assignment", "0+", "bytes"),
  ],
});
