/**
 * DescribeCluster (API key 60): the cluster's brokers and controller, as the admin client sees them.
 *
 * Versions 0-2, all flexible (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * DescribeClusterRequest =>
 *   includeClusterAuthorizedOperations  BOOL
 *   endpointType                        INT8  v1+
 *   includeFencedBrokers                BOOL  v2+
 *
 * DescribeClusterResponse =>
 *   throttleTimeMs               INT32
 *   errorCode                    INT16
 *   errorMessage                 NULLABLE_STRING
 *   endpointType                 INT8             v1+
 *   clusterId                    STRING
 *   controllerId                 INT32
 *   brokers                      ARRAY =>
 *     brokerId                   INT32
 *     host                       STRING
 *     port                       INT32
 *     rack                       NULLABLE_STRING
 *     isFenced                   BOOL             v2+
 *   clusterAuthorizedOperations  INT32
 */
import { defineApi, field } from "../schema.ts";

export const DescribeCluster = defineApi({
  key: 60,
  name: "DescribeCluster",
  category: "describe",
  versions: "0-2",
  flexible: "0+",
  request: [
    field("includeClusterAuthorizedOperations", "0+", "bool"),
    field("endpointType", "1+", "int8"),
    field("includeFencedBrokers", "2+", "bool"),
  ],
  response: [
    field("throttleTimeMs", "0+", "int32"),
    field("errorCode", "0+", "int16"),
    field("errorMessage", "0+", { nullable: "0+" }, "string"),
    field("endpointType", "1+", "int8"),
    field("clusterId", "0+", "string"),
    field("controllerId", "0+", "int32"),
    field("brokers", "0+", [
      field("brokerId", "0+", "int32"),
      field("host", "0+", "string"),
      field("port", "0+", "int32"),
      field("rack", "0+", { nullable: "0+" }, "string"),
      field("isFenced", "2+", "bool"),
    ]),
    field("clusterAuthorizedOperations", "0+", "int32"),
  ],
});
