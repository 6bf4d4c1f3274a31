/**
 * CreateAcls (API key 30): creates ACL bindings.
 *
 * Versions 1-3, flexible from 2 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * CreateAclsRequest =>
 *   creations              ARRAY =>
 *     resourceType         INT8
 *     resourceName         STRING
 *     resourcePatternType  INT8
 *     principal            STRING
 *     host                 STRING
 *     operation            INT8
 *     permissionType       INT8
 *
 * CreateAclsResponse =>
 *   throttleTimeMs  INT32
 *   results         ARRAY =>
 *     errorCode     INT16
 *     errorMessage  NULLABLE_STRING
 */
import { defineApi, field } from "../schema.ts";

export const CreateAcls = defineApi({
  key: 30,
  name: "CreateAcls",
  category: "management",
  versions: "1-3",
  flexible: "2+",
  request: [
    field("creations", "0+", [
      field("resourceType", "0+", "int8"),
      field("resourceName", "0+", "string"),
      field("resourcePatternType", "1+", "int8"),
      field("principal", "0+", "string"),
      field("host", "0+", "string"),
      field("operation", "0+", "int8"),
      field("permissionType", "0+", "int8"),
    ]),
  ],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("results", "0+", [
      field("errorCode", "0+", "int16"),
      field("errorMessage", "0+", { nullable: "0+" }, "string"),
    ]),
  ],
});
