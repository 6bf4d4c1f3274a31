/**
 * AlterClientQuotas (API key 49): sets or removes client quotas.
 *
 * Versions 0-1, flexible from 1 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * AlterClientQuotasRequest =>
 *   entries         ARRAY =>
 *     entity        ARRAY =>
 *       entityType  STRING
 *       entityName  NULLABLE_STRING
 *     ops           ARRAY =>
 *       key         STRING
 *       value       FLOAT64
 *       remove      BOOL
 *   validateOnly    BOOL
 *
 * AlterClientQuotasResponse =>
 *   throttleTimeMs  INT32
 *   entries         ARRAY =>
 *     errorCode     INT16
 *     errorMessage  NULLABLE_STRING
 *     entity        ARRAY =>
 *       entityType  STRING
 *       entityName  NULLABLE_STRING
 */
import { defineApi, field } from "../schema.ts";

export const AlterClientQuotas = defineApi({
  key: 49,
  name: "AlterClientQuotas",
  category: "management",
  versions: "0-1",
  flexible: "1+",
  request: [
    field("entries", "0+", [
      field("entity", "0+", [
        field("entityType", "0+", "string"),
        field("entityName", "0+", { nullable: "0+" }, "string"),
      ]),
      field("ops", "0+", [
        field("key", "0+", "string"),
        field("value", "0+", "float64"),
        field("remove", "0+", "bool"),
      ]),
    ]),
    field("validateOnly", "0+", "bool"),
  ],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("entries", "0+", [
      field("errorCode", "0+", "int16"),
      field("errorMessage", "0+", { nullable: "0+" }, "string"),
      field("entity", "0+", [
        field("entityType", "0+", "string"),
        field("entityName", "0+", { nullable: "0+" }, "string"),
      ]),
    ]),
  ],
});
