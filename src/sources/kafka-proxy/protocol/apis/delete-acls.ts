/**
 * DeleteAcls (API key 31): deletes the ACL bindings matching filters.
 *
 * Versions 1-3, flexible from 2 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * DeleteAclsRequest =>
 *   filters               ARRAY =>
 *     resourceTypeFilter  INT8
 *     resourceNameFilter  NULLABLE_STRING
 *     patternTypeFilter   INT8
 *     principalFilter     NULLABLE_STRING
 *     hostFilter          NULLABLE_STRING
 *     operation           INT8
 *     permissionType      INT8
 *
 * DeleteAclsResponse =>
 *   throttleTimeMs      INT32
 *   filterResults       ARRAY =>
 *     errorCode         INT16
 *     errorMessage      NULLABLE_STRING
 *     matchingAcls      ARRAY =>
 *       errorCode       INT16
 *       errorMessage    NULLABLE_STRING
 *       resourceType    INT8
 *       resourceName    STRING
 *       patternType     INT8
 *       principal       STRING
 *       host            STRING
 *       operation       INT8
 *       permissionType  INT8
 */
import { defineApi, field } from "../schema.ts";

export const DeleteAcls = defineApi({
  key: 31,
  name: "DeleteAcls",
  category: "management",
  versions: "1-3",
  flexible: "2+",
  request: [
    field("filters", "0+", [
      field("resourceTypeFilter", "0+", "int8"),
      field("resourceNameFilter", "0+", { nullable: "0+" }, "string"),
      field("patternTypeFilter", "1+", "int8"),
      field("principalFilter", "0+", { nullable: "0+" }, "string"),
      field("hostFilter", "0+", { nullable: "0+" }, "string"),
      field("operation", "0+", "int8"),
      field("permissionType", "0+", "int8"),
    ]),
  ],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("filterResults", "0+", [
      field("errorCode", "0+", "int16"),
      field("errorMessage", "0+", { nullable: "0+" }, "string"),
      field("matchingAcls", "0+", [
        field("errorCode", "0+", "int16"),
        field("errorMessage", "0+", { nullable: "0+" }, "string"),
        field("resourceType", "0+", "int8"),
        field("resourceName", "0+", "string"),
        field("patternType", "1+", "int8"),
        field("principal", "0+", "string"),
        field("host", "0+", "string"),
        field("operation", "0+", "int8"),
        field("permissionType", "0+", "int8"),
      ]),
    ]),
  ],
});
