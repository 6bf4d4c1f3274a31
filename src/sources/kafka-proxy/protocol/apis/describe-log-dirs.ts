/**
 * DescribeLogDirs (API key 35): the log directories of a broker and the partitions in them.
 *
 * Versions 1-5, flexible from 2 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * DescribeLogDirsRequest =>
 *   topics        NULLABLE_ARRAY =>
 *     topic       STRING
 *     partitions  ARRAY(INT32)
 *
 * DescribeLogDirsResponse =>
 *   throttleTimeMs        INT32
 *   errorCode             INT16     v3+
 *   results               ARRAY =>
 *     errorCode           INT16
 *     logDir              STRING
 *     topics              ARRAY =>
 *       name              STRING
 *       partitions        ARRAY =>
 *         partitionIndex  INT32
 *         partitionSize   INT64
 *         offsetLag       INT64
 *         isFutureKey     BOOL
 *     totalBytes          INT64     v4+
 *     usableBytes         INT64     v4+
 *     isCordoned          BOOL      v5+
 */
import { defineApi, field } from "../schema.ts";

export const DescribeLogDirs = defineApi({
  key: 35,
  name: "DescribeLogDirs",
  category: "describe",
  versions: "1-5",
  flexible: "2+",
  request: [
    field("topics", "0+", { nullable: "0+" }, [
      field("topic", "0+", "string"),
      field("partitions", "0+", "[]int32"),
    ]),
  ],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("errorCode", "3+", "int16"),
    field("results", "0+", [
      field("errorCode", "0+", "int16"),
      field("logDir", "0+", "string"),
      field("topics", "0+", [
        field("name", "0+", "string"),
        field("partitions", "0+", [
          field("partitionIndex", "0+", "int32"),
          field("partitionSize", "0+", "int64"),
          field("offsetLag", "0+", "int64"),
          field("isFutureKey", "0+", "bool"),
        ]),
      ]),
      field("totalBytes", "4+", "int64"),
      field("usableBytes", "4+", "int64"),
      field("isCordoned", "5+", "bool"),
    ]),
  ],
});
