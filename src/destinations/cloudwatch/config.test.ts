import { describe, expect, it } from "vitest";
import { schemaChecker } from "../../config/schema.ts";
import { DEFAULT_DELIVERY } from "../delivery.ts";
import {
  CLOUDWATCH_DELIVERY_DEFAULTS,
  CloudWatchDestinationSchema,
  checkCloudWatchDestination,
  cloudWatchTarget,
  type RawCloudWatchDestination,
  resolveCloudWatchDestination,
} from "./config.ts";

const base: RawCloudWatchDestination = { type: "cloudwatch", log_group: "/app/audit", log_stream: "node-1" };
const check = schemaChecker(CloudWatchDestinationSchema);

/** Every problem of an entry: the schema's, then (if it passed) the checks the schema cannot express. */
function problems(extra: Record<string, unknown>) {
  const raw = { ...base, ...extra };
  const found = check(raw);
  return found.length > 0 ? found : checkCloudWatchDestination(raw as RawCloudWatchDestination);
}

describe("cloudwatch destination config", () => {
  it("resolves the defaults: created when missing, SDK region and credentials, CloudWatch-sized batches", () => {
    const config = resolveCloudWatchDestination(base);
    expect(config).toEqual({
      type: "cloudwatch",
      name: "cloudwatch:/app/audit/node-1",
      format: "native",
      logGroup: "/app/audit",
      logStream: "node-1",
      createLogGroup: true,
      createLogStream: true,
      delivery: { ...DEFAULT_DELIVERY, ...CLOUDWATCH_DELIVERY_DEFAULTS },
    });
    expect(config.delivery).toMatchObject({ maxRecords: 10_000, maxBytes: 788_576, maxWaitMs: 1000 });
    expect(cloudWatchTarget(config)).toBe("cloudwatch:default-region//app/audit/node-1");
  });

  it("resolves every key of its own, and the shared batch keys over its defaults", () => {
    const raw: RawCloudWatchDestination = {
      ...base,
      name: "cw",
      region: "eu-west-1",
      endpoint: "http://127.0.0.1:4566",
      create_log_group: true,
      create_log_stream: false,
      retention_in_days: 365,
      access_key_id: "AKIDEXAMPLE",
      secret_access_key: "wJalrXUtnFEMI",
      format: "ocsf",
      batch: { max_events: 500, max_wait_secs: 0.2 },
    };
    expect(problems(raw)).toEqual([]);
    const config = resolveCloudWatchDestination(raw);
    expect(config).toMatchObject({
      name: "cw",
      format: "ocsf",
      region: "eu-west-1",
      endpoint: "http://127.0.0.1:4566",
      createLogGroup: true,
      createLogStream: false,
      retentionInDays: 365,
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI" },
      delivery: { maxRecords: 500, maxBytes: 788_576, maxWaitMs: 200 },
    });
    expect(cloudWatchTarget(config)).toBe("cloudwatch:http://127.0.0.1:4566//app/audit/node-1");
    expect(cloudWatchTarget(resolveCloudWatchDestination({ ...base, region: "us-west-2" }))).toBe(
      "cloudwatch:us-west-2//app/audit/node-1",
    );
  });

  it("refuses unknown keys and missing names", () => {
    expect(problems({ log_groups: "x" })).toEqual([
      expect.objectContaining({ path: ["log_groups"], message: expect.stringMatching(/unknown key/) }),
    ]);
    expect(check({ type: "cloudwatch", log_group: "/g" })).toEqual([
      { path: ["log_stream"], message: "is required" },
    ]);
  });

  it("refuses names CloudWatch would refuse", () => {
    expect(problems({ log_group: "/app audit" })).toEqual([
      { path: ["log_group"], message: "may hold only letters, digits and the characters . - _ / #" },
    ]);
    expect(problems({ log_stream: "a:b" })).toEqual([
      { path: ["log_stream"], message: "must not contain ':' or '*'" },
    ]);
    // The checkpoint stream `<log_stream>.checkpoints` must fit CloudWatch's 512 characters too.
    expect(problems({ log_stream: "s".repeat(501) })).toEqual([
      expect.objectContaining({ path: ["log_stream"] }),
    ]);
    expect(problems({ log_stream: "s".repeat(500) })).toEqual([]);
  });

  it("accepts only CloudWatch's retention periods, and only for a group Vigil creates", () => {
    expect(problems({ retention_in_days: 30 })).toEqual([]);
    expect(problems({ retention_in_days: 31 })).toEqual([
      {
        path: ["retention_in_days"],
        message: expect.stringMatching(
          /^must be one of CloudWatch's retention periods: 1, 3, 5, 7, 14, 30, /,
        ),
      },
    ]);
    expect(problems({ retention_in_days: 30, create_log_group: false })).toEqual([
      {
        path: ["retention_in_days"],
        message: "is set only on a log group Vigil creates: remove it or set create_log_group: true",
      },
    ]);
  });

  it("checks the region, the endpoint and the key pair, never quoting the secret", () => {
    expect(problems({ region: "US West" })).toEqual([
      { path: ["region"], message: "must be an AWS region name such as us-west-2" },
    ]);
    expect(problems({ endpoint: "localhost:4566" })).toEqual([
      { path: ["endpoint"], message: "must be an http:// or https:// URL" },
    ]);
    expect(problems({ endpoint: "not a url" })).toEqual([
      { path: ["endpoint"], message: "must be an absolute http:// or https:// URL" },
    ]);
    expect(problems({ endpoint: "http://user:pw@localhost:4566" })).toEqual([
      { path: ["endpoint"], message: "must not hold credentials; use access_key_id and secret_access_key" },
    ]);
    const lone = problems({ secret_access_key: "hunter2" });
    expect(lone).toEqual([
      {
        path: ["secret_access_key"],
        message:
          "access_key_id and secret_access_key go together (leave both out to use the SDK's credential chain)",
      },
    ]);
    expect(JSON.stringify(lone)).not.toContain("hunter2");
    expect(problems({ access_key_id: "AKID" })).toEqual([
      expect.objectContaining({ path: ["access_key_id"] }),
    ]);
  });
});
