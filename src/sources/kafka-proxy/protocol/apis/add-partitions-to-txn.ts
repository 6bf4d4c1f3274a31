/**
 * AddPartitionsToTxn (API key 24): adds partitions to a transaction.
 *
 * Versions 0-5, flexible from 3 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * AddPartitionsToTxnRequest =>
 *   transactions               ARRAY =>      v4+
 *     transactionalId          STRING
 *     producerId               INT64
 *     producerEpoch            INT16
 *     verifyOnly               BOOL
 *     topics                   ARRAY =>
 *       name                   STRING
 *       partitions             ARRAY(INT32)
 *   v3AndBelowTransactionalId  STRING        v0-3
 *   v3AndBelowProducerId       INT64         v0-3
 *   v3AndBelowProducerEpoch    INT16         v0-3
 *   v3AndBelowTopics           ARRAY =>      v0-3
 *     name                     STRING
 *     partitions               ARRAY(INT32)
 *
 * AddPartitionsToTxnResponse =>
 *   throttleTimeMs            INT32
 *   errorCode                 INT16     v4+
 *   resultsByTransaction      ARRAY =>  v4+
 *     transactionalId         STRING
 *     topicResults            ARRAY =>
 *       name                  STRING
 *       resultsByPartition    ARRAY =>
 *         partitionIndex      INT32
 *         partitionErrorCode  INT16
 *   resultsByTopicV3AndBelow  ARRAY =>  v0-3
 *     name                    STRING
 *     resultsByPartition      ARRAY =>
 *       partitionIndex        INT32
 *       partitionErrorCode    INT16
 */
import { defineApi, field } from "../schema.ts";

const addPartitionsToTxnTopic = [field("name", "0+", "string"), field("partitions", "0+", "[]int32")];
const addPartitionsToTxnPartitionResult = [
  field("partitionIndex", "0+", "int32"),
  field("partitionErrorCode", "0+", "int16"),
];
const addPartitionsToTxnTopicResult = [
  field("name", "0+", "string"),
  field("resultsByPartition", "0+", addPartitionsToTxnPartitionResult),
];

export const AddPartitionsToTxn = defineApi({
  key: 24,
  name: "AddPartitionsToTxn",
  category: "produce",
  versions: "0-5",
  flexible: "3+",
  request: [
    field("transactions", "4+", [
      field("transactionalId", "4+", "string"),
      field("producerId", "4+", "int64"),
      field("producerEpoch", "4+", "int16"),
      field("verifyOnly", "4+", "bool"),
      field("topics", "4+", addPartitionsToTxnTopic),
    ]),
    field("v3AndBelowTransactionalId", "0-3", "string"),
    field("v3AndBelowProducerId", "0-3", "int64"),
    field("v3AndBelowProducerEpoch", "0-3", "int16"),
    field("v3AndBelowTopics", "0-3", addPartitionsToTxnTopic),
  ],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("errorCode", "4+", "int16"),
    field("resultsByTransaction", "4+", [
      field("transactionalId", "4+", "string"),
      field("topicResults", "4+", addPartitionsToTxnTopicResult),
    ]),
    field("resultsByTopicV3AndBelow", "0-3", addPartitionsToTxnTopicResult),
  ],
});
