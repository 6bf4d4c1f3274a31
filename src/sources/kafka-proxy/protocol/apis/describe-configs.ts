/**
 * DescribeConfigs (API key 32): reads the configuration of topics, brokers, groups, ....
 *
 * Versions 1-4, flexible from 4 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * DescribeConfigsRequest =>
 *   resources             ARRAY =>
 *     resourceType        INT8
 *     resourceName        STRING
 *     configurationKeys   NULLABLE_ARRAY(STRING)
 *   includeSynonyms       BOOL
 *   includeDocumentation  BOOL                    v3+
 *
 * DescribeConfigsResponse =>
 *   throttleTimeMs     INT32
 *   results            ARRAY =>
 *     errorCode        INT16
 *     errorMessage     NULLABLE_STRING
 *     resourceType     INT8
 *     resourceName     STRING
 *     configs          ARRAY =>
 *       name           STRING
 *       value          NULLABLE_STRING
 *       readOnly       BOOL
 *       configSource   INT8
 *       isSensitive    BOOL
 *       synonyms       ARRAY =>
 *         name         STRING
 *         value        NULLABLE_STRING
 *         source       INT8
 *       configType     INT8             v3+
 *       documentation  NULLABLE_STRING  v3+
 */
import { defineApi, field } from "../schema.ts";

export const DescribeConfigs = defineApi({
  key: 32,
  name: "DescribeConfigs",
  category: "describe",
  versions: "1-4",
  flexible: "4+",
  request: [
    field("resources", "0+", [
      field("resourceType", "0+", "int8"),
      field("resourceName", "0+", "string"),
      field("configurationKeys", "0+", { nullable: "0+" }, "[]string"),
    ]),
    field("includeSynonyms", "1+", "bool"),
    field("includeDocumentation", "3+", "bool"),
  ],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("results", "0+", [
      field("errorCode", "0+", "int16"),
      field("errorMessage", "0+", { nullable: "0+" }, "string"),
      field("resourceType", "0+", "int8"),
      field("resourceName", "0+", "string"),
      field("configs", "0+", [
        field("name", "0+", "string"),
        field("value", "0+", { nullable: "0+" }, "string"),
        field("readOnly", "0+", "bool"),
        field("configSource", "1+", "int8"),
        field("isSensitive", "0+", "bool"),
        field("synonyms", "1+", [
          field("name", "1+", "string"),
          field("value", "1+", { nullable: "0+" }, "string"),
          field("source", "1+", "int8"),
        ]),
        field("configType", "3+", "int8"),
        field("documentation", "3+", { nullable: "0+" }, "string"),
      ]),
    ]),
  ],
});
