/**
 * CreateTopics (API key 19): creates topics.
 *
 * Versions 2-7, flexible from 5 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * CreateTopicsRequest =>
 *   topics               ARRAY =>
 *     name               STRING
 *     numPartitions      INT32
 *     replicationFactor  INT16
 *     assignments        ARRAY =>
 *       partitionIndex   INT32
 *       brokerIds        ARRAY(INT32)
 *     configs            ARRAY =>
 *       name             STRING
 *       value            NULLABLE_STRING
 *   timeoutMs            INT32
 *   validateOnly         BOOL
 *
 * CreateTopicsResponse =>
 *   throttleTimeMs          INT32
 *   topics                  ARRAY =>
 *     name                  STRING
 *     topicId               UUID               v7+
 *     errorCode             INT16
 *     errorMessage          NULLABLE_STRING
 *     topicConfigErrorCode  INT16              v5+ tag 0
 *     numPartitions         INT32              v5+
 *     replicationFactor     INT16              v5+
 *     configs               NULLABLE_ARRAY =>  v5+
 *       name                STRING
 *       value               NULLABLE_STRING
 *       readOnly            BOOL
 *       configSource        INT8
 *       isSensitive         BOOL
 */
import { defineApi, field } from "../schema.ts";

export const CreateTopics = defineApi({
  key: 19,
  name: "CreateTopics",
  category: "management",
  versions: "2-7",
  flexible: "5+",
  request: [
    field("topics", "0+", [
      field("name", "0+", "string"),
      field("numPartitions", "0+", "int32"),
      field("replicationFactor", "0+", "int16"),
      field("assignments", "0+", [
        field("partitionIndex", "0+", "int32"),
        field("brokerIds", "0+", "[]int32"),
      ]),
      field("configs", "0+", [
        field("name", "0+", "string"),
        field("value", "0+", { nullable: "0+" }, "string"),
      ]),
    ]),
    field("timeoutMs", "0+", "int32"),
    field("validateOnly", "1+", "bool"),
  ],
  response: [
    field("throttleTimeMs", "2+", "int32"),
    field("topics", "0+", [
      field("name", "0+", "string"),
      field("topicId", "7+", "uuid"),
      field("errorCode", "0+", "int16"),
      field("errorMessage", "1+", { nullable: "0+" }, "string"),
      field("topicConfigErrorCode", "5+", { tag: 0 }, "int16"),
      field("numPartitions", "5+", "int32"),
      field("replicationFactor", "5+", "int16"),
      field("configs", "5+", { nullable: "5+" }, [
        field("name", "5+", "string"),
        field("value", "5+", { nullable: "5+" }, "string"),
        field("readOnly", "5+", "bool"),
        field("configSource", "5+", "int8"),
        field("isSensitive", "5+", "bool"),
      ]),
    ]),
  ],
});
