/**
 * IncrementalAlterConfigs (API key 44): sets, deletes, appends or subtracts configuration entries.
 *
 * Versions 0-1, flexible from 1 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * IncrementalAlterConfigsRequest =>
 *   resources            ARRAY =>
 *     resourceType       INT8
 *     resourceName       STRING
 *     configs            ARRAY =>
 *       name             STRING
 *       configOperation  INT8
 *       value            NULLABLE_STRING
 *   validateOnly         BOOL
 *
 * IncrementalAlterConfigsResponse =>
 *   throttleTimeMs  INT32
 *   responses       ARRAY =>
 *     errorCode     INT16
 *     errorMessage  NULLABLE_STRING
 *     resourceType  INT8
 *     resourceName  STRING
 */
import { defineApi, field } from "../schema.ts";

export const IncrementalAlterConfigs = defineApi({
  key: 44,
  name: "IncrementalAlterConfigs",
  category: "management",
  versions: "0-1",
  flexible: "1+",
  request: [
    field("resources", "0+", [
      field("resourceType", "0+", "int8"),
      field("resourceName", "0+", "string"),
      field("configs", "0+", [
        field("name", "0+", "string"),
        field("configOperation", "0+", "int8"),
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
