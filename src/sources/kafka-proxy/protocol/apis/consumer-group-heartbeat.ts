/**
 * ConsumerGroupHeartbeat (API key 68): joins, heartbeats in and leaves a KIP-848 consumer group.
 *
 * Versions 0-1, all flexible (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * ConsumerGroupHeartbeatRequest =>
 *   groupId               STRING
 *   memberId              STRING
 *   memberEpoch           INT32
 *   instanceId            NULLABLE_STRING
 *   rackId                NULLABLE_STRING
 *   rebalanceTimeoutMs    INT32
 *   subscribedTopicNames  NULLABLE_ARRAY(STRING)
 *   subscribedTopicRegex  NULLABLE_STRING         v1+
 *   serverAssignor        NULLABLE_STRING
 *   topicPartitions       NULLABLE_ARRAY =>
 *     topicId             UUID
 *     partitions          ARRAY(INT32)
 *
 * ConsumerGroupHeartbeatResponse =>
 *   throttleTimeMs       INT32
 *   errorCode            INT16
 *   errorMessage         NULLABLE_STRING
 *   memberId             NULLABLE_STRING
 *   memberEpoch          INT32
 *   heartbeatIntervalMs  INT32
 *   assignment           NULLABLE_STRUCT =>
 *     topicPartitions    ARRAY =>
 *       topicId          UUID
 *       partitions       ARRAY(INT32)
 */
import { defineApi, field, struct } from "../schema.ts";

const topicPartitions = [field("topicId", "0+", "uuid"), field("partitions", "0+", "[]int32")];

export const ConsumerGroupHeartbeat = defineApi({
  key: 68,
  name: "ConsumerGroupHeartbeat",
  category: "heartbeat",
  versions: "0-1",
  flexible: "0+",
  request: [
    field("groupId", "0+", "string"),
    field("memberId", "0+", "string"),
    field("memberEpoch", "0+", "int32"),
    field("instanceId", "0+", { nullable: "0+" }, "string"),
    field("rackId", "0+", { nullable: "0+" }, "string"),
    field("rebalanceTimeoutMs", "0+", "int32"),
    field("subscribedTopicNames", "0+", { nullable: "0+" }, "[]string"),
    field("subscribedTopicRegex", "1+", { nullable: "1+" }, "string"),
    field("serverAssignor", "0+", { nullable: "0+" }, "string"),
    field("topicPartitions", "0+", { nullable: "0+" }, [
      field("topicId", "0+", "uuid"),
      field("partitions", "0+", "[]int32"),
    ]),
  ],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("errorCode", "0+", "int16"),
    field("errorMessage", "0+", { nullable: "0+" }, "string"),
    field("memberId", "0+", { nullable: "0+" }, "string"),
    field("memberEpoch", "0+", "int32"),
    field("heartbeatIntervalMs", "0+", "int32"),
    field("assignment", "0+", { nullable: "0+" }, struct(field("topicPartitions", "0+", topicPartitions))),
  ],
});
