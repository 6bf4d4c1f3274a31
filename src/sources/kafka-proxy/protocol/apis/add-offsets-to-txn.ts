/**
 * AddOffsetsToTxn (API key 25): adds a consumer group's offsets to a transaction.
 *
 * Versions 0-4, flexible from 3 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * AddOffsetsToTxnRequest =>
 *   transactionalId  STRING
 *   producerId       INT64
 *   producerEpoch    INT16
 *   groupId          STRING
 *
 * AddOffsetsToTxnResponse =>
 *   throttleTimeMs  INT32
 *   errorCode       INT16
 */
import { defineApi, field } from "../schema.ts";

export const AddOffsetsToTxn = defineApi({
  key: 25,
  name: "AddOffsetsToTxn",
  category: "consume",
  versions: "0-4",
  flexible: "3+",
  request: [
    field("transactionalId", "0+", "string"),
    field("producerId", "0+", "int64"),
    field("producerEpoch", "0+", "int16"),
    field("groupId", "0+", "string"),
  ],
  response: [field("throttleTimeMs", "0+", "int32"), field("errorCode", "0+", "int16")],
});
