/**
 * DescribeTransactions (API key 65): describes transactions by transactional id.
 *
 * Versions 0, all flexible (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * DescribeTransactionsRequest =>
 *   transactionalIds  ARRAY(STRING)
 *
 * DescribeTransactionsResponse =>
 *   throttleTimeMs            INT32
 *   transactionStates         ARRAY =>
 *     errorCode               INT16
 *     transactionalId         STRING
 *     transactionState        STRING
 *     transactionTimeoutMs    INT32
 *     transactionStartTimeMs  INT64
 *     producerId              INT64
 *     producerEpoch           INT16
 *     topics                  ARRAY =>
 *       topic                 STRING
 *       partitions            ARRAY(INT32)
 */
import { defineApi, field } from "../schema.ts";

export const DescribeTransactions = defineApi({
  key: 65,
  name: "DescribeTransactions",
  category: "describe",
  versions: "0",
  flexible: "0+",
  request: [field("transactionalIds", "0+", "[]string")],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("transactionStates", "0+", [
      field("errorCode", "0+", "int16"),
      field("transactionalId", "0+", "string"),
      field("transactionState", "0+", "string"),
      field("transactionTimeoutMs", "0+", "int32"),
      field("transactionStartTimeMs", "0+", "int64"),
      field("producerId", "0+", "int64"),
      field("producerEpoch", "0+", "int16"),
      field("topics", "0+", [field("topic", "0+", "string"), field("partitions", "0+", "[]int32")]),
    ]),
  ],
});
