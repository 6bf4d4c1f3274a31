/**
 * TxnOffsetCommit (API key 28): commits a consumer group's offsets within a transaction.
 *
 * Versions 0-6, flexible from 3 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * TxnOffsetCommitRequest =>
 *   transactionalId            STRING
 *   groupId                    STRING
 *   producerId                 INT64
 *   producerEpoch              INT16
 *   generationIdOrMemberEpoch  INT32            v3+
 *   memberId                   STRING           v3+
 *   groupInstanceId            NULLABLE_STRING  v3+
 *   topics                     ARRAY =>
 *     name                     STRING           v0-5
 *     topicId                  UUID             v6+
 *     partitions               ARRAY =>
 *       partitionIndex         INT32
 *       committedOffset        INT64
 *       committedLeaderEpoch   INT32            v2+
 *       committedMetadata      NULLABLE_STRING
 *
 * TxnOffsetCommitResponse =>
 *   throttleTimeMs      INT32
 *   topics              ARRAY =>
 *     name              STRING    v0-5
 *     topicId           UUID      v6+
 *     partitions        ARRAY =>
 *       partitionIndex  INT32
 *       errorCode       INT16
 */
import { defineApi, field } from "../schema.ts";

export const TxnOffsetCommit = defineApi({
  key: 28,
  name: "TxnOffsetCommit",
  category: "consume",
  versions: "0-6",
  flexible: "3+",
  request: [
    field("transactionalId", "0+", "string"),
    field("groupId", "0+", "string"),
    field("producerId", "0+", "int64"),
    field("producerEpoch", "0+", "int16"),
    field("generationIdOrMemberEpoch", "3+", "int32"),
    field("memberId", "3+", "string"),
    field("groupInstanceId", "3+", { nullable: "3+" }, "string"),
    field("topics", "0+", [
      field("name", "0-5", "string"),
      field("topicId", "6+", "uuid"),
      field("partitions", "0+", [
        field("partitionIndex", "0+", "int32"),
        field("committedOffset", "0+", "int64"),
        field("committedLeaderEpoch", "2+", "int32"),
        field("committedMetadata", "0+", { nullable: "0+" }, "string"),
      ]),
    ]),
  ],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("topics", "0+", [
      field("name", "0-5", "string"),
      field("topicId", "6+", "uuid"),
      field("partitions", "0+", [field("partitionIndex", "0+", "int32"), field("errorCode", "0+", "int16")]),
    ]),
  ],
});
