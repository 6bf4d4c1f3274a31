/**
 * EndTxn (API key 26): commits or aborts a transaction.
 *
 * Versions 0-5, flexible from 3 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * EndTxnRequest =>
 *   transactionalId  STRING
 *   producerId       INT64
 *   producerEpoch    INT16
 *   committed        BOOL
 *
 * EndTxnResponse =>
 *   throttleTimeMs  INT32
 *   errorCode       INT16
 *   producerId      INT64  v5+
 *   producerEpoch   INT16  v5+
 */
import { defineApi, field } from "../schema.ts";

export const EndTxn = defineApi({
  key: 26,
  name: "EndTxn",
  category: "produce",
  versions: "0-5",
  flexible: "3+",
  request: [
    field("transactionalId", "0+", "string"),
    field("producerId", "0+", "int64"),
    field("producerEpoch", "0+", "int16"),
    field("committed", "0+", "bool"),
  ],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("errorCode", "0+", "int16"),
    field("producerId", "5+", "int64"),
    field("producerEpoch", "5+", "int16"),
  ],
});
