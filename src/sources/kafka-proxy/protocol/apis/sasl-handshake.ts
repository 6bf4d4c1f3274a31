/**
 * SaslHandshake (API key 17): chooses the SASL mechanism.
 *
 * Versions 0-1, never flexible.
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * SaslHandshakeRequest =>
 *   mechanism  STRING
 *
 * SaslHandshakeResponse =>
 *   errorCode   INT16
 *   mechanisms  ARRAY(STRING)
 */
import { defineApi, field } from "../schema.ts";

export const SaslHandshake = defineApi({
  key: 17,
  name: "SaslHandshake",
  category: "authenticate",
  versions: "0-1",
  flexible: "none",
  request: [field("mechanism", "0+", "string")],
  response: [field("errorCode", "0+", "int16"), field("mechanisms", "0+", "[]string")],
});
