/**
 * DescribeGroups (API key 15): describes classic consumer groups and their members.
 *
 * Versions 0-6, flexible from 5 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * DescribeGroupsRequest =>
 *   groups                       ARRAY(STRING)
 *   includeAuthorizedOperations  BOOL           v3+
 *
 * DescribeGroupsResponse =>
 *   throttleTimeMs          INT32            v1+
 *   groups                  ARRAY =>
 *     errorCode             INT16
 *     errorMessage          NULLABLE_STRING  v6+
 *     groupId               STRING
 *     groupState            STRING
 *     protocolType          STRING
 *     protocolData          STRING
 *     members               ARRAY =>
 *       memberId            STRING
 *       groupInstanceId     NULLABLE_STRING  v4+
 *       clientId            STRING
 *       clientHost          STRING
 *       memberMetadata      BYTES
 *       memberAssignment    BYTES
 *     authorizedOperations  INT32            v3+
 */
import { defineApi, field } from "../schema.ts";

export const DescribeGroups = defineApi({
  key: 15,
  name: "DescribeGroups",
  category: "describe",
  versions: "0-6",
  flexible: "5+",
  request: [field("groups", "0+", "[]string"), field("includeAuthorizedOperations", "3+", "bool")],
  response: [
    field("throttleTimeMs", "1+", "int32"),
    field("groups", "0+", [
      field("errorCode", "0+", "int16"),
      field("errorMessage", "6+", { nullable: "6+" }, "string"),
      field("groupId", "0+", "string"),
      field("groupState", "0+", "string"),
      field("protocolType", "0+", "string"),
      field("protocolData", "0+", "string"),
      field("members", "0+", [
        field("memberId", "0+", "string"),
        field("groupInstanceId", "4+", { nullable: "4+" }, "string"),
        field("clientId", "0+", "string"),
        field("clientHost", "0+", "string"),
        field("memberMetadata", "0+", "bytes"),
        field("memberAssignment", "0+", "bytes"),
      ]),
      field("authorizedOperations", "3+", "int32"),
    ]),
  ],
});
