/**
 * DeleteRecords (API key 21): deletes records before an offset.
 *
 * Versions 0-2, flexible from 2 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * DeleteRecordsRequest =>
 *   topics              ARRAY =>
 *     name              STRING
 *     partitions        ARRAY =>
 *       partitionIndex  INT32
 *       offset          INT64
 *   timeoutMs           INT32
 *
 * DeleteRecordsResponse =>
 *   throttleTimeMs      INT32
 *   topics              ARRAY =>
 *     name              STRING
 *     partitions        ARRAY =>
 *       partitionIndex  INT32
 *       lowWatermark    INT64
 *       errorCode       INT16
 */
import { defineApi, field } from "../schema.ts";

export const DeleteRecords = defineApi({
  key: 21,
  name: "DeleteRecords",
  category: "management",
  versions: "0-2",
  flexible: "2+",
  request: [
    field("topics", "0+", [
      field("name", "0+", "string"),
      field("partitions", "0+", [field("partitionIndex", "0+", "int32"), field("offset", "0+", "int64")]),
    ]),
    field("timeoutMs", "0+", "int32"),
  ],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("topics", "0+", [
      field("name", "0+", "string"),
      field("partitions", "0+", [
        field("partitionIndex", "0+", "int32"),
        field("lowWatermark", "0+", "int64"),
        field("errorCode", "0+", "int16"),
      ]),
    ]),
  ],
});
