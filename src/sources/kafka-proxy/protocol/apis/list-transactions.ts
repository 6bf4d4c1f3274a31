/**
 * ListTransactions (API key 66): lists transactions, filtered by state, producer id or age.
 *
 * Versions 0-2, all flexible (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * ListTransactionsRequest =>
 *   stateFilters            ARRAY(STRING)
 *   producerIdFilters       ARRAY(INT64)
 *   durationFilter          INT64            v1+
 *   transactionalIdPattern  NULLABLE_STRING  v2+
 *
 * ListTransactionsResponse =>
 *   throttleTimeMs       INT32
 *   errorCode            INT16
 *   unknownStateFilters  ARRAY(STRING)
 *   transactionStates    ARRAY =>
 *     transactionalId    STRING
 *     producerId         INT64
 *     transactionState   STRING
 */
import { defineApi, field } from "../schema.ts";

export const ListTransactions = defineApi({
  key: 66,
  name: "ListTransactions",
  category: "describe",
  versions: "0-2",
  flexible: "0+",
  request: [
    field("stateFilters", "0+", "[]string"),
    field("producerIdFilters", "0+", "[]int64"),
    field("durationFilter", "1+", "int64"),
    field("transactionalIdPattern", "2+", { nullable: "2+" }, "string"),
  ],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("errorCode", "0+", "int16"),
    field("unknownStateFilters", "0+", "[]string"),
    field("transactionStates", "0+", [
      field("transactionalId", "0+", "string"),
      field("producerId", "0+", "int64"),
      field("transactionState", "0+", "string"),
    ]),
  ],
});
