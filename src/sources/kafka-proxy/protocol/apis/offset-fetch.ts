/**
 * OffsetFetch (API key 9): reads a consumer group's committed offsets.
 *
 * Versions 1-10, flexible from 6 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * OffsetFetchRequest =>
 *   groupId               STRING                    v1-7
 *   topics                ARRAY => (nullable v2-7)  v1-7
 *     name                STRING
 *     partitionIndexes    ARRAY(INT32)
 *   groups                ARRAY =>                  v8+
 *     groupId             STRING
 *     memberId            NULLABLE_STRING           v9+
 *     memberEpoch         INT32                     v9+
 *     topics              NULLABLE_ARRAY =>
 *       name              STRING                    v8-9
 *       topicId           UUID                      v10+
 *       partitionIndexes  ARRAY(INT32)
 *   requireStable         BOOL                      v7+
 *
 * OffsetFetchResponse =>
 *   throttleTimeMs              INT32            v3+
 *   topics                      ARRAY =>         v1-7
 *     name                      STRING
 *     partitions                ARRAY =>
 *       partitionIndex          INT32
 *       committedOffset         INT64
 *       committedLeaderEpoch    INT32            v5-7
 *       metadata                NULLABLE_STRING
 *       errorCode               INT16
 *   errorCode                   INT16            v2-7
 *   groups                      ARRAY =>         v8+
 *     groupId                   STRING
 *     topics                    ARRAY =>
 *       name                    STRING           v8-9
 *       topicId                 UUID             v10+
 *       partitions              ARRAY =>
 *         partitionIndex        INT32
 *         committedOffset       INT64
 *         committedLeaderEpoch  INT32
 *         metadata              NULLABLE_STRING
 *         errorCode             INT16
 *     errorCode                 INT16
 */
import { defineApi, field } from "../schema.ts";

export const OffsetFetch = defineApi({
  key: 9,
  name: "OffsetFetch",
  category: "describe",
  versions: "1-10",
  flexible: "6+",
  request: [
    field("groupId", "0-7", "string"),
    field("topics", "0-7", { nullable: "2-7" }, [
      field("name", "0-7", "string"),
      field("partitionIndexes", "0-7", "[]int32"),
    ]),
    field("groups", "8+", [
      field("groupId", "8+", "string"),
      field("memberId", "9+", { nullable: "9+" }, "string"),
      field("memberEpoch", "9+", "int32"),
      field("topics", "8+", { nullable: "8+" }, [
        field("name", "8-9", "string"),
        field("topicId", "10+", "uuid"),
        field("partitionIndexes", "8+", "[]int32"),
      ]),
    ]),
    field("requireStable", "7+", "bool"),
  ],
  response: [
    field("throttleTimeMs", "3+", "int32"),
    field("topics", "0-7", [
      field("name", "0-7", "string"),
      field("partitions", "0-7", [
        field("partitionIndex", "0-7", "int32"),
        field("committedOffset", "0-7", "int64"),
        field("committedLeaderEpoch", "5-7", "int32"),
        field("metadata", "0-7", { nullable: "0-7" }, "string"),
        field("errorCode", "0-7", "int16"),
      ]),
    ]),
    field("errorCode", "2-7", "int16"),
    field("groups", "8+", [
      field("groupId", "8+", "string"),
      field("topics", "8+", [
        field("name", "8-9", "string"),
        field("topicId", "10+", "uuid"),
        field("partitions", "8+", [
          field("partitionIndex", "8+", "int32"),
          field("committedOffset", "8+", "int64"),
          field("committedLeaderEpoch", "8+", "int32"),
          field("metadata", "8+", { nullable: "8+" }, "string"),
          field("errorCode", "8+", "int16"),
        ]),
      ]),
      field("errorCode", "8+", "int16"),
    ]),
  ],
});
