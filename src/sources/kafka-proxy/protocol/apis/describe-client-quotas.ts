/**
 * DescribeClientQuotas (API key 48): reads client quotas matching filters.
 *
 * Versions 0-1, flexible from 1 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * DescribeClientQuotasRequest =>
 *   components    ARRAY =>
 *     entityType  STRING
 *     matchType   INT8
 *     match       NULLABLE_STRING
 *   strict        BOOL
 *
 * DescribeClientQuotasResponse =>
 *   throttleTimeMs  INT32
 *   errorCode       INT16
 *   errorMessage    NULLABLE_STRING
 *   entries         NULLABLE_ARRAY =>
 *     entity        ARRAY =>
 *       entityType  STRING
 *       entityName  NULLABLE_STRING
 *     values        ARRAY =>
 *       key         STRING
 *       value       FLOAT64
 */
import { defineApi, field } from "../schema.ts";

export const DescribeClientQuotas = defineApi({
  key: 48,
  name: "DescribeClientQuotas",
  category: "describe",
  versions: "0-1",
  flexible: "1+",
  request: [
    field("components", "0+", [
      field("entityType", "0+", "string"),
      field("matchType", "0+", "int8"),
      field("match", "0+", { nullable: "0+" }, "string"),
    ]),
    field("strict", "0+", "bool"),
  ],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("errorCode", "0+", "int16"),
    field("errorMessage", "0+", { nullable: "0+" }, "string"),
    field("entries", "0+", { nullable: "0+" }, [
      field("entity", "0+", [
        field("entityType", "0+", "string"),
        field("entityName", "0+", { nullable: "0+" }, "string"),
      ]),
      field("values", "0+", [field("key", "0+", "string"), field("value", "0+", "float64")]),
    ]),
  ],
});
