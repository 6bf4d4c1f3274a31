/**
 * DescribeProducers (API key 61): the active producers of partitions.
 *
 * Versions 0, all flexible (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * DescribeProducersRequest =>
 *   topics              ARRAY =>
 *     name              STRING
 *     partitionIndexes  ARRAY(INT32)
 *
 * DescribeProducersResponse =>
 *   throttleTimeMs               INT32
 *   topics                       ARRAY =>
 *     name                       STRING
 *     partitions                 ARRAY =>
 *       partitionIndex           INT32
 *       errorCode                INT16
 *       errorMessage             NULLABLE_STRING
 *       activeProducers          ARRAY =>
 *         producerId             INT64
 *         producerEpoch          INT32
 *         lastSequence           INT32
 *         lastTimestamp          INT64
 *         coordinatorEpoch       INT32
 *         currentTxnStartOffset  INT64
 */
import { defineApi, field } from "../schema.ts";

export const DescribeProducers = defineApi({
  key: 61,
  name: "DescribeProducers",
  category: "describe",
  versions: "0",
  flexible: "0+",
  request: [
    field("topics", "0+", [field("name", "0+", "string"), field("partitionIndexes", "0+", "[]int32")]),
  ],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("topics", "0+", [
      field("name", "0+", "string"),
      field("partitions", "0+", [
        field("partitionIndex", "0+", "int32"),
        field("errorCode", "0+", "int16"),
        field("errorMessage", "0+", { nullable: "0+" }, "string"),
        field("activeProducers", "0+", [
          field("producerId", "0+", "int64"),
          field("producerEpoch", "0+", "int32"),
          field("lastSequence", "0+", "int32"),
          field("lastTimestamp", "0+", "int64"),
          field("coordinatorEpoch", "0+", "int32"),
          field("currentTxnStartOffset", "0+", "int64"),
        ]),
      ]),
    ]),
  ],
});
