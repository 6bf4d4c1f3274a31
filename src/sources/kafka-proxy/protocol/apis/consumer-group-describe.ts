/**
 * ConsumerGroupDescribe (API key 69): describes consumer groups of the new protocol (KIP-848).
 *
 * Versions 0-1, all flexible (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * ConsumerGroupDescribeRequest =>
 *   groupIds                     ARRAY(STRING)
 *   includeAuthorizedOperations  BOOL
 *
 * ConsumerGroupDescribeResponse =>
 *   throttleTimeMs            INT32
 *   groups                    ARRAY =>
 *     errorCode               INT16
 *     errorMessage            NULLABLE_STRING
 *     groupId                 STRING
 *     groupState              STRING
 *     groupEpoch              INT32
 *     assignmentEpoch         INT32
 *     assignorName            STRING
 *     members                 ARRAY =>
 *       memberId              STRING
 *       instanceId            NULLABLE_STRING
 *       rackId                NULLABLE_STRING
 *       memberEpoch           INT32
 *       clientId              STRING
 *       clientHost            STRING
 *       subscribedTopicNames  ARRAY(STRING)
 *       subscribedTopicRegex  NULLABLE_STRING
 *       assignment            STRUCT =>
 *         topicPartitions     ARRAY =>
 *           topicId           UUID
 *           topicName         STRING
 *           partitions        ARRAY(INT32)
 *       targetAssignment      STRUCT =>
 *         topicPartitions     ARRAY =>
 *           topicId           UUID
 *           topicName         STRING
 *           partitions        ARRAY(INT32)
 *       memberType            INT8             v1+
 *     authorizedOperations    INT32
 */
import { defineApi, field, struct } from "../schema.ts";

const topicPartitions = [
  field("topicId", "0+", "uuid"),
  field("topicName", "0+", "string"),
  field("partitions", "0+", "[]int32"),
];
const assignment = [field("topicPartitions", "0+", topicPartitions)];

export const ConsumerGroupDescribe = defineApi({
  key: 69,
  name: "ConsumerGroupDescribe",
  category: "describe",
  versions: "0-1",
  flexible: "0+",
  request: [field("groupIds", "0+", "[]string"), field("includeAuthorizedOperations", "0+", "bool")],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("groups", "0+", [
      field("errorCode", "0+", "int16"),
      field("errorMessage", "0+", { nullable: "0+" }, "string"),
      field("groupId", "0+", "string"),
      field("groupState", "0+", "string"),
      field("groupEpoch", "0+", "int32"),
      field("assignmentEpoch", "0+", "int32"),
      field("assignorName", "0+", "string"),
      field("members", "0+", [
        field("memberId", "0+", "string"),
        field("instanceId", "0+", { nullable: "0+" }, "string"),
        field("rackId", "0+", { nullable: "0+" }, "string"),
        field("memberEpoch", "0+", "int32"),
        field("clientId", "0+", "string"),
        field("clientHost", "0+", "string"),
        field("subscribedTopicNames", "0+", "[]string"),
        field("subscribedTopicRegex", "0+", { nullable: "0+" }, "string"),
        field("assignment", "0+", struct(...assignment)),
        field("targetAssignment", "0+", struct(...assignment)),
        field("memberType", "1+", "int8"),
      ]),
      field("authorizedOperations", "0+", "int32"),
    ]),
  ],
});
