import { describe, expect, it } from "vitest";
import { VIGIL_VERSION } from "../version.ts";
import { awsClientOptions, checkAwsKeys, resolveAwsKeys } from "./aws.ts";

describe("AWS client keys", () => {
  it("leaves region, endpoint and credentials to the SDK unless set", () => {
    expect(checkAwsKeys({})).toEqual([]);
    expect(resolveAwsKeys({})).toEqual({});
    expect(awsClientOptions({}, 30_000, 2)).toEqual({
      maxAttempts: 2,
      requestHandler: { requestTimeout: 30_000, connectionTimeout: 10_000, throwOnRequestTimeout: true },
      customUserAgent: `vigil/${VIGIL_VERSION}`,
    });
  });

  it("resolves every key into the SDK's options", () => {
    const raw = {
      region: "eu-west-1",
      endpoint: "https://minio.example.com:9000/store",
      access_key_id: "AKIDEXAMPLE",
      secret_access_key: "wJalrXUtnFEMI",
    };
    expect(checkAwsKeys(raw)).toEqual([]);
    const config = resolveAwsKeys(raw);
    expect(config).toEqual({
      region: "eu-west-1",
      endpoint: "https://minio.example.com:9000/store",
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI" },
    });
    expect(awsClientOptions(config, 2000, 1)).toEqual({
      ...config,
      maxAttempts: 1,
      requestHandler: { requestTimeout: 2000, connectionTimeout: 2000, throwOnRequestTimeout: true },
      customUserAgent: `vigil/${VIGIL_VERSION}`,
    });
  });

  it("refuses an endpoint that is not a plain http(s) URL, one problem at a time", () => {
    const endpoint = (url: string) => checkAwsKeys({ endpoint: url }).map((p) => p.message);
    expect(endpoint("localhost:4566")).toEqual(["must be an http:// or https:// URL"]);
    expect(endpoint("not a url")).toEqual(["must be an absolute http:// or https:// URL"]);
    expect(endpoint("http://user:pw@localhost:4566/?a=b")).toEqual([
      "must not hold credentials; use access_key_id and secret_access_key",
    ]);
    expect(endpoint("http://localhost:4566/?a=b")).toEqual(["must not have a query string or fragment"]);
    expect(endpoint("http://localhost:4566/#top")).toEqual(["must not have a query string or fragment"]);
  });

  it("takes both keys or neither, naming the one given, never quoting it", () => {
    const lone = checkAwsKeys({ secret_access_key: "hunter2" });
    expect(lone).toEqual([
      {
        path: ["secret_access_key"],
        message:
          "access_key_id and secret_access_key go together (leave both out to use the SDK's credential chain)",
      },
    ]);
    expect(JSON.stringify(lone)).not.toContain("hunter2");
    expect(checkAwsKeys({ access_key_id: "AKID" })).toEqual([
      expect.objectContaining({ path: ["access_key_id"] }),
    ]);
  });
});
