/**
 * DescribeAcls (API key 29): lists the ACL bindings matching a filter.
 *
 * Versions 1-3, flexible from 2 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * DescribeAclsRequest =>
 *   resourceTypeFilter  INT8
 *   resourceNameFilter  NULLABLE_STRING
 *   patternTypeFilter   INT8
 *   principalFilter     NULLABLE_STRING
 *   hostFilter          NULLABLE_STRING
 *   operation           INT8
 *   permissionType      INT8
 *
 * DescribeAclsResponse =>
 *   throttleTimeMs      INT32
 *   errorCode           INT16
 *   errorMessage        NULLABLE_STRING
 *   resources           ARRAY =>
 *     resourceType      INT8
 *     resourceName      STRING
 *     patternType       INT8
 *     acls              ARRAY =>
 *       principal       STRING
 *       host            STRING
 *       operation       INT8
 *       permissionType  INT8
 */
import { defineApi, field } from "../schema.ts";

export const DescribeAcls = defineApi({
  key: 29,
  name: "DescribeAcls",
  category: "describe",
  versions: "1-3",
  flexible: "2+",
  request: [
    field("resourceTypeFilter", "0+", "int8"),
    field("resourceNameFilter", "0+", { nullable: "0+" }, "string"),
    field("patternTypeFilter", "1+", "int8"),
    field("principalFilter", "0+", { nullable: "0+" }, "string"),
    field("hostFilter", "0+", { nullable: "0+" }, "string"),
    field("operation", "0+", "int8"),
    field("permissionType", "0+", "int8"),
  ],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("errorCode", "0+", "int16"),
    field("errorMessage", "0+", { nullable: "0+" }, "string"),
    field("resources", "0+", [
      field("resourceType", "0+", "int8"),
      field("resourceName", "0+", "string"),
      field("patternType", "1+", "int8"),
      field("acls", "0+", [
        field("principal", "0+", "string"),
        field("host", "0+", "string"),
        field("operation", "0+", "int8"),
        field("permissionType", "0+", "int8"),
      ]),
    ]),
  ],
});
