/**
 * Metadata (API key 3): brokers, topics and partition leaders; clients connect to the brokers it names.
 *
 * Versions 0-13, flexible from 9 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * MetadataRequest =>
 *   topics                              ARRAY => (nullable v1+)
 *     topicId                           UUID                     v10+
 *     name                              STRING (nullable v10+)
 *   allowAutoTopicCreation              BOOL                     v4+
 *   includeClusterAuthorizedOperations  BOOL                     v8-10
 *   includeTopicAuthorizedOperations    BOOL                     v8+
 *
 * MetadataResponse =>
 *   throttleTimeMs               INT32                   v3+
 *   brokers                      ARRAY =>
 *     nodeId                     INT32
 *     host                       STRING
 *     port                       INT32
 *     rack                       NULLABLE_STRING         v1+
 *   clusterId                    NULLABLE_STRING         v2+
 *   controllerId                 INT32                   v1+
 *   topics                       ARRAY =>
 *     errorCode                  INT16
 *     name                       STRING (nullable v12+)
 *     topicId                    UUID                    v10+
 *     isInternal                 BOOL                    v1+
 *     partitions                 ARRAY =>
 *       errorCode                INT16
 *       partitionIndex           INT32
 *       leaderId                 INT32
 *       leaderEpoch              INT32                   v7+
 *       replicaNodes             ARRAY(INT32)
 *       isrNodes                 ARRAY(INT32)
 *       offlineReplicas          ARRAY(INT32)            v5+
 *     topicAuthorizedOperations  INT32                   v8+
 *   clusterAuthorizedOperations  INT32                   v8-10
 *   errorCode                    INT16                   v13+
 */
import { defineApi, field } from "../schema.ts";

export const Metadata = defineApi({
  key: 3,
  name: "Metadata",
  category: "describe",
  versions: "0-13",
  flexible: "9+",
  request: [
    field("topics", "0+", { nullable: "1+" }, [
      field("topicId", "10+", "uuid"),
      field("name", "0+", { nullable: "10+" }, "string"),
    ]),
    field("allowAutoTopicCreation", "4+", "bool"),
    field("includeClusterAuthorizedOperations", "8-10", "bool"),
    field("includeTopicAuthorizedOperations", "8+", "bool"),
  ],
  response: [
    field("throttleTimeMs", "3+", "int32"),
    field("brokers", "0+", [
      field("nodeId", "0+", "int32"),
      field("host", "0+", "string"),
      field("port", "0+", "int32"),
      field("rack", "1+", { nullable: "1+" }, "string"),
    ]),
    field("clusterId", "2+", { nullable: "2+" }, "string"),
    field("controllerId", "1+", "int32"),
    field("topics", "0+", [
      field("errorCode", "0+", "int16"),
      field("name", "0+", { nullable: "12+" }, "string"),
      field("topicId", "10+", "uuid"),
      field("isInternal", "1+", "bool"),
      field("partitions", "0+", [
        field("errorCode", "0+", "int16"),
        field("partitionIndex", "0+", "int32"),
        field("leaderId", "0+", "int32"),
        field("leaderEpoch", "7+", "int32"),
        field("replicaNodes", "0+", "[]int32"),
        field("isrNodes", "0+", "[]int32"),
        field("offlineReplicas", "5+", "[]int32"),
      ]),
      field("topicAuthorizedOperations", "8+", "int32"),
    ]),
    field("clusterAuthorizedOperations", "8-10", "int32"),
    field("errorCode", "13+", "int16"),
  ],
});
