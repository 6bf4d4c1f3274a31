/**
 * AlterUserScramCredentials (API key 51): creates, updates or deletes users' SCRAM credentials.
 *
 * Versions 0, all flexible (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * AlterUserScramCredentialsRequest =>
 *   deletions         ARRAY =>
 *     name            STRING
 *     mechanism       INT8
 *   upsertions        ARRAY =>
 *     name            STRING
 *     mechanism       INT8
 *     iterations      INT32
 *     salt            BYTES
 *     saltedPassword  BYTES
 *
 * AlterUserScramCredentialsResponse =>
 *   throttleTimeMs  INT32
 *   results         ARRAY =>
 *     user          STRING
 *     errorCode     INT16
 *     errorMessage  NULLABLE_STRING
 */
import { defineApi, field } from "../schema.ts";

export const AlterUserScramCredentials = defineApi({
  key: 51,
  name: "AlterUserScramCredentials",
  category: "management",
  versions: "0",
  flexible: "0+",
  request: [
    field("deletions", "0+", [field("name", "0+", "string"), field("mechanism", "0+", "int8")]),
    field("upsertions", "0+", [
      field("name", "0+", "string"),
      field("mechanism", "0+", "int8"),
      field("iterations", "0+", "int32"),
      field("salt", "0+", "bytes"),
      field("saltedPassword", "0+", "bytes"),
    ]),
  ],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("results", "0+", [
      field("user", "0+", "string"),
      field("errorCode", "0+", "int16"),
      field("errorMessage", "0+", { nullable: "0+" }, "string"),
    ]),
  ],
});
