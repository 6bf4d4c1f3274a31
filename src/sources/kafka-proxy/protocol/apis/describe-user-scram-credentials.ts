/**
 * DescribeUserScramCredentials (API key 50): which SCRAM mechanisms users have credentials for.
 *
 * Versions 0, all flexible (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * DescribeUserScramCredentialsRequest =>
 *   users   NULLABLE_ARRAY =>
 *     name  STRING
 *
 * DescribeUserScramCredentialsResponse =>
 *   throttleTimeMs     INT32
 *   errorCode          INT16
 *   errorMessage       NULLABLE_STRING
 *   results            ARRAY =>
 *     user             STRING
 *     errorCode        INT16
 *     errorMessage     NULLABLE_STRING
 *     credentialInfos  ARRAY =>
 *       mechanism      INT8
 *       iterations     INT32
 */
import { defineApi, field } from "../schema.ts";

export const DescribeUserScramCredentials = defineApi({
  key: 50,
  name: "DescribeUserScramCredentials",
  category: "describe",
  versions: "0",
  flexible: "0+",
  request: [field("users", "0+", { nullable: "0+" }, [field("name", "0+", "string")])],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("errorCode", "0+", "int16"),
    field("errorMessage", "0+", { nullable: "0+" }, "string"),
    field("results", "0+", [
      field("user", "0+", "string"),
      field("errorCode", "0+", "int16"),
      field("errorMessage", "0+", { nullable: "0+" }, "string"),
      field("credentialInfos", "0+", [field("mechanism", "0+", "int8"), field("iterations", "0+", "int32")]),
    ]),
  ],
});
