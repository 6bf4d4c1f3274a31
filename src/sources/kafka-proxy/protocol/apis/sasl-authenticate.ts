/**
 * SaslAuthenticate (API key 36): carries one SASL exchange step (the mechanism's own bytes).
 *
 * Versions 0-2, flexible from 2 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * SaslAuthenticateRequest =>
 *   authBytes  BYTES
 *
 * SaslAuthenticateResponse =>
 *   errorCode          INT16
 *   errorMessage       NULLABLE_STRING
 *   authBytes          BYTES
 *   sessionLifetimeMs  INT64            v1+
 */
import { defineApi, field } from "../schema.ts";

export const SaslAuthenticate = defineApi({
  key: 36,
  name: "SaslAuthenticate",
  category: "authenticate",
  versions: "0-2",
  flexible: "2+",
  request: [field("authBytes", "0+", "bytes")],
  response: [
    field("errorCode", "0+", "int16"),
    field("errorMessage", "0+", { nullable: "0+" }, "string"),
    field("authBytes", "0+", "bytes"),
    field("sessionLifetimeMs", "1+", "int64"),
  ],
});
