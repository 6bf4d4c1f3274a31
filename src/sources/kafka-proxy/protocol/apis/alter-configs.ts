/**
 * AlterConfigs (API key 33): replaces resources' configuration (the legacy, non-incremental form).
 *
 * Versions 0-2, flexible from 2 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * AlterConfigsRequest =>
 *   resources       ARRAY =>
 *     resourceType  INT8
 *     resourceName  STRING
 *     configs       ARRAY =>
 *       name        STRING
 *       value       NULLABLE_STRING
 *   validateOnly    BOOL
 *
 * AlterConfigsResponse =>
 *   throttleTimeMs  INT32
 *   responses       ARRAY =>
 *     errorCode     INT16
 *     errorMessage  NULLABLE_STRING
 *     resourceType  INT8
 *     resourceName  STRING
 */
import { defineApi, field } from "../schema.ts";

export const AlterConfigs = defineApi({
  key: 33,
  name: "AlterConfigs",
  category: "management",
  versions: "0-2",
  flexible: "2+",
  request: [
    field("resources", "0+", [
      field("resourceType", "0+", "int8"),
      field("resourceName", "0+", "string"),
      field("configs", "0+", [
        field("name", "0+", "string"),
        field("value", "0+", { nullable: "0+" }, "string"),
      ]),
    ]),
    field("validateOnly", "0+", "bool"),
  ],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("responses", "0+", [
      field("errorCode", "0+", "int16"),
      field("errorMessage", "0+", { nullable: "0+" }, "string"),
      field("resourceType", "0+", "int8"),
      field("resourceName", "0+", "string"),
    ]),
  ],
});
