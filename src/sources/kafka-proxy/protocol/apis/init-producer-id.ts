/**
 * InitProducerId (API key 22): gets a producer id and epoch (idempotent and transactional producers).
 *
 * Versions 0-6, flexible from 2 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * InitProducerIdRequest =>
 *   transactionalId       NULLABLE_STRING
 *   transactionTimeoutMs  INT32
 *   producerId            INT64            v3+
 *   producerEpoch         INT16            v3+
 *   enable2Pc             BOOL             v6+
 *   keepPreparedTxn       BOOL             v6+
 *
 * InitProducerIdResponse =>
 *   throttleTimeMs           INT32
 *   errorCode                INT16
 *   producerId               INT64
 *   producerEpoch            INT16
 *   ongoingTxnProducerId     INT64  v6+
 *   ongoingTxnProducerEpoch  INT16  v6+
 */
import { defineApi, field } from "../schema.ts";

export const InitProducerId = defineApi({
  key: 22,
  name: "InitProducerId",
  category: "produce",
  versions: "0-6",
  flexible: "2+",
  request: [
    field("transactionalId", "0+", { nullable: "0+" }, "string"),
    field("transactionTimeoutMs", "0+", "int32"),
    field("producerId", "3+", "int64"),
    field("producerEpoch", "3+", "int16"),
    field("enable2Pc", "6+", "bool"),
    field("keepPreparedTxn", "6+", "bool"),
  ],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("errorCode", "0+", "int16"),
    field("producerId", "0+", "int64"),
    field("producerEpoch", "0+", "int16"),
    field("ongoingTxnProducerId", "6+", "int64"),
    field("ongoingTxnProducerEpoch", "6+", "int16"),
  ],
});
