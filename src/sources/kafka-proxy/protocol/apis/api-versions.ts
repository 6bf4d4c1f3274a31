/**
 * ApiVersions (API key 18): the API versions the broker supports; the first request of every connection.
 *
 * Versions 0-5, flexible from 3 (compact lengths, tagged fields closing every struct).
 * Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.
 *
 * ApiVersionsRequest =>
 *   clientSoftwareName     STRING           v3+
 *   clientSoftwareVersion  STRING           v3+
 *   clusterId              NULLABLE_STRING  v5+
 *   nodeId                 INT32            v5+
 *
 * ApiVersionsResponse =>
 *   errorCode               INT16
 *   apiKeys                 ARRAY =>
 *     apiKey                INT16
 *     minVersion            INT16
 *     maxVersion            INT16
 *   throttleTimeMs          INT32     v1+
 *   supportedFeatures       ARRAY =>  v3+ tag 0
 *     name                  STRING
 *     minVersion            INT16
 *     maxVersion            INT16
 *   finalizedFeaturesEpoch  INT64     v3+ tag 1
 *   finalizedFeatures       ARRAY =>  v3+ tag 2
 *     name                  STRING
 *     maxVersionLevel       INT16
 *     minVersionLevel       INT16
 *   zkMigrationReady        BOOL      v3+ tag 3
 */
import { defineApi, field } from "../schema.ts";

export const ApiVersions = defineApi({
  key: 18,
  name: "ApiVersions",
  category: "describe",
  versions: "0-5",
  flexible: "3+",
  request: [
    field("clientSoftwareName", "3+", "string"),
    field("clientSoftwareVersion", "3+", "string"),
    field("clusterId", "5+", { nullable: "5+" }, "string"),
    field("nodeId", "5+", "int32"),
  ],
  response: [
    field("errorCode", "0+", "int16"),
    field("apiKeys", "0+", [
      field("apiKey", "0+", "int16"),
      field("minVersion", "0+", "int16"),
      field("maxVersion", "0+", "int16"),
    ]),
    field("throttleTimeMs", "1+", "int32"),
    field("supportedFeatures", "3+", { tag: 0 }, [
      field("name", "3+", "string"),
      field("minVersion", "3+", "int16"),
      field("maxVersion", "3+", "int16"),
    ]),
    field("finalizedFeaturesEpoch", "3+", { tag: 1 }, "int64"),
    field("finalizedFeatures", "3+", { tag: 2 }, [
      field("name", "3+", "string"),
      field("maxVersionLevel", "3+", "int16"),
      field("minVersionLevel", "3+", "int16"),
    ]),
    field("zkMigrationReady", "3+", { tag: 3 }, "bool"),
  ],
});
