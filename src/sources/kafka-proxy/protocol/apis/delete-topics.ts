/**
 * DeleteTopics (API key 20): deletes topics.
 *
 * Versions 1-6, flexible from 4 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * DeleteTopicsRequest =>
 *   topics      ARRAY =>         v6+
 *     name      NULLABLE_STRING
 *     topicId   UUID
 *   topicNames  ARRAY(STRING)    v1-5
 *   timeoutMs   INT32
 *
 * DeleteTopicsResponse =>
 *   throttleTimeMs  INT32
 *   responses       ARRAY =>
 *     name          STRING (nullable v6+)
 *     topicId       UUID                   v6+
 *     errorCode     INT16
 *     errorMessage  NULLABLE_STRING        v5+
 */
import { defineApi, field } from "../schema.ts";

export const DeleteTopics = defineApi({
  key: 20,
  name: "DeleteTopics",
  category: "management",
  versions: "1-6",
  flexible: "4+",
  request: [
    field("topics", "6+", [
      field("name", "6+", { nullable: "6+" }, "string"),
      field("topicId", "6+", "uuid"),
    ]),
    field("topicNames", "0-5", "[]string"),
    field("timeoutMs", "0+", "int32"),
  ],
  response: [
    field("throttleTimeMs", "1+", "int32"),
    field("responses", "0+", [
      field("name", "0+", { nullable: "6+" }, "string"),
      field("topicId", "6+", "uuid"),
      field("errorCode", "0+", "int16"),
      field("errorMessage", "5+", { nullable: "5+" }, "string"),
    ]),
  ],
});
