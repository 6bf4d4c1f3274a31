/**
 * DescribeTopicPartitions (API key 75): describes topics' partitions page by page (KIP-966).
 *
 * Versions 0, all flexible (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * DescribeTopicPartitionsRequest =>
 *   topics                  ARRAY =>
 *     name                  STRING
 *   responsePartitionLimit  INT32
 *   cursor                  NULLABLE_STRUCT =>
 *     topicName             STRING
 *     partitionIndex        INT32
 *
 * DescribeTopicPartitionsResponse =>
 *   throttleTimeMs               INT32
 *   topics                       ARRAY =>
 *     errorCode                  INT16
 *     name                       NULLABLE_STRING
 *     topicId                    UUID
 *     isInternal                 BOOL
 *     partitions                 ARRAY =>
 *       errorCode                INT16
 *       partitionIndex           INT32
 *       leaderId                 INT32
 *       leaderEpoch              INT32
 *       replicaNodes             ARRAY(INT32)
 *       isrNodes                 ARRAY(INT32)
 *       eligibleLeaderReplicas   NULLABLE_ARRAY(INT32)
 *       lastKnownElr             NULLABLE_ARRAY(INT32)
 *       offlineReplicas          ARRAY(INT32)
 *     topicAuthorizedOperations  INT32
 *   nextCursor                   NULLABLE_STRUCT =>
 *     topicName                  STRING
 *     partitionIndex             INT32
 */
import { defineApi, field, struct } from "../schema.ts";

export const DescribeTopicPartitions = defineApi({
  key: 75,
  name: "DescribeTopicPartitions",
  category: "describe",
  versions: "0",
  flexible: "0+",
  request: [
    field("topics", "0+", [field("name", "0+", "string")]),
    field("responsePartitionLimit", "0+", "int32"),
    field(
      "cursor",
      "0+",
      { nullable: "0+" },
      struct(field("topicName", "0+", "string"), field("partitionIndex", "0+", "int32")),
    ),
  ],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("topics", "0+", [
      field("errorCode", "0+", "int16"),
      field("name", "0+", { nullable: "0+" }, "string"),
      field("topicId", "0+", "uuid"),
      field("isInternal", "0+", "bool"),
      field("partitions", "0+", [
        field("errorCode", "0+", "int16"),
        field("partitionIndex", "0+", "int32"),
        field("leaderId", "0+", "int32"),
        field("leaderEpoch", "0+", "int32"),
        field("replicaNodes", "0+", "[]int32"),
        field("isrNodes", "0+", "[]int32"),
        field("eligibleLeaderReplicas", "0+", { nullable: "0+" }, "[]int32"),
        field("lastKnownElr", "0+", { nullable: "0+" }, "[]int32"),
        field("offlineReplicas", "0+", "[]int32"),
      ]),
      field("topicAuthorizedOperations", "0+", "int32"),
    ]),
    field(
      "nextCursor",
      "0+",
      { nullable: "0+" },
      struct(field("topicName", "0+", "string"), field("partitionIndex", "0+", "int32")),
    ),
  ],
});
