/**
 * Heartbeat (API key 12): keeps a classic group member alive.
 *
 * Versions 0-4, flexible from 4 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * HeartbeatRequest =>
 *   groupId          STRING
 *   generationId     INT32
 *   memberId         STRING
 *   groupInstanceId  NULLABLE_STRING  v3+
 *
 * HeartbeatResponse =>
 *   throttleTimeMs  INT32  v1+
 *   errorCode       INT16
 */
import { defineApi, field } from "../schema.ts";

export const Heartbeat = defineApi({
  key: 12,
  name: "Heartbeat",
  category: "heartbeat",
  versions: "0-4",
  flexible: "4+",
  request: [
    field("groupId", "0+", "string"),
    field("generationId", "0+", "int32"),
    field("memberId", "0+", "string"),
    field("groupInstanceId", "3+", { nullable: "3+" }, "string"),
  ],
  response: [field("throttleTimeMs", "1+", "int32"), field("errorCode", "0+", "int16")],
});
