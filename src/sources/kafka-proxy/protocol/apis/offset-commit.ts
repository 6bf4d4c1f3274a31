/**
 * OffsetCommit (API key 8): commits a consumer group's offsets.
 *
 * Versions 2-10, flexible from 8 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * OffsetCommitRequest =>
 *   groupId                    STRING
 *   generationIdOrMemberEpoch  INT32
 *   memberId                   STRING
 *   groupInstanceId            NULLABLE_STRING  v7+
 *   retentionTimeMs            INT64            v2-4
 *   topics                     ARRAY =>
 *     name                     STRING           v2-9
 *     topicId                  UUID             v10+
 *     partitions               ARRAY =>
 *       partitionIndex         INT32
 *       committedOffset        INT64
 *       committedLeaderEpoch   INT32            v6+
 *       committedMetadata      NULLABLE_STRING
 *
 * OffsetCommitResponse =>
 *   throttleTimeMs      INT32     v3+
 *   topics              ARRAY =>
 *     name              STRING    v2-9
 *     topicId           UUID      v10+
 *     partitions        ARRAY =>
 *       partitionIndex  INT32
 *       errorCode       INT16
 */
import { defineApi, field } from "../schema.ts";

export const OffsetCommit = defineApi({
  key: 8,
  name: "OffsetCommit",
  category: "consume",
  versions: "2-10",
  flexible: "8+",
  request: [
    field("groupId", "0+", "string"),
    field("generationIdOrMemberEpoch", "1+", "int32"),
    field("memberId", "1+", "string"),
    field("groupInstanceId", "7+", { nullable: "7+" }, "string"),
    field("retentionTimeMs", "2-4", "int64"),
    field("topics", "0+", [
      field("name", "0-9", "string"),
      field("topicId", "10+", "uuid"),
      field("partitions", "0+", [
        field("partitionIndex", "0+", "int32"),
        field("committedOffset", "0+", "int64"),
        field("committedLeaderEpoch", "6+", "int32"),
        field("committedMetadata", "0+", { nullable: "0+" }, "string"),
      ]),
    ]),
  ],
  response: [
    field("throttleTimeMs", "3+", "int32"),
    field("topics", "0+", [
      field("name", "0-9", "string"),
      field("topicId", "10+", "uuid"),
      field("partitions", "0+", [field("partitionIndex", "0+", "int32"), field("errorCode", "0+", "int16")]),
    ]),
  ],
});
