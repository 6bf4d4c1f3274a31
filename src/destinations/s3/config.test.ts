// biome-ignore-all lint/suspicious/noTemplateCurlyInString: config texts under test are written with ${VAR}
/**
 * The `type: s3` keys, through the real config loader (so each problem names its key and line): defaults, every
 * key resolved, and the problems the schema and checkS3Destination report.
 */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config/load.ts";
import { ValidationError } from "../../errors.ts";
import { DEFAULT_DELIVERY } from "../delivery.ts";
import { type S3DestinationConfig, s3Target } from "./config.ts";

const MIB = 1024 * 1024;

function yaml(...entry: string[]): string {
  return `audit:\n  destination:\n    type: s3\n${entry.map((l) => `    ${l}\n`).join("")}`;
}

function load(text: string, env: NodeJS.ProcessEnv = {}): S3DestinationConfig {
  return parseConfig(text, undefined, env).audit.destinations[0] as S3DestinationConfig;
}

function problems(
  text: string,
  env: NodeJS.ProcessEnv = {},
): { field: string; line?: number; message: string }[] {
  try {
    parseConfig(text, undefined, env);
  } catch (e) {
    if (e instanceof ValidationError) return e.problems;
    throw e;
  }
  throw new Error("expected the config to be refused");
}

describe("s3 destination config", () => {
  it("defaults: the bucket's root, native, 100,000 records or 64 MiB per object, a batch every 60 s, no lock", () => {
    expect(load(yaml("bucket: audit-logs"))).toEqual({
      type: "s3",
      name: "s3:audit-logs/",
      format: "native",
      bucket: "audit-logs",
      prefix: "",
      forcePathStyle: false,
      delivery: { ...DEFAULT_DELIVERY, maxRecords: 100_000, maxBytes: 64 * MIB, maxWaitMs: 60_000 },
    });
  });

  it("resolves every key, credentials from the environment", () => {
    const config = load(
      yaml(
        "name: archive",
        "bucket: audit-logs",
        "prefix: vigil/prod/",
        "region: eu-west-1",
        "format: ocsf",
        "batch_interval_secs: 2.5",
        "object_lock: true",
        "object_lock_mode: governance",
        "object_lock_retain_days: 30",
        "endpoint: http://minio.local:9000",
        "access_key_id: ${S3_KEY}",
        "secret_access_key: ${S3_SECRET}",
        "storage_class: STANDARD_IA",
        "request_timeout_secs: 90",
      ),
      { S3_KEY: "AKIDEXAMPLE", S3_SECRET: "wJalrXUtnFEMI" },
    );
    expect(config).toEqual({
      type: "s3",
      name: "archive",
      format: "ocsf",
      bucket: "audit-logs",
      prefix: "vigil/prod/",
      region: "eu-west-1",
      endpoint: "http://minio.local:9000",
      forcePathStyle: true,
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI" },
      objectLock: { mode: "GOVERNANCE", retainDays: 30 },
      storageClass: "STANDARD_IA",
      delivery: {
        ...DEFAULT_DELIVERY,
        maxRecords: 100_000,
        maxBytes: 64 * MIB,
        maxWaitMs: 2500,
        requestTimeoutMs: 90_000,
      },
    });
    expect(s3Target(config)).toBe("s3:http://minio.local:9000/audit-logs/vigil/prod/");
  });

  it("object_lock defaults to COMPLIANCE for 365 days; path style follows endpoint unless set", () => {
    expect(load(yaml("bucket: b-1", "object_lock: true")).objectLock).toEqual({
      mode: "COMPLIANCE",
      retainDays: 365,
    });
    expect(load(yaml("bucket: b-1", "object_lock: false")).objectLock).toBeUndefined();
    expect(
      load(yaml("bucket: b-1", "endpoint: https://s3.example.com", "force_path_style: false")),
    ).toMatchObject({
      forcePathStyle: false,
    });
    expect(load(yaml("bucket: b-1", "force_path_style: true")).forcePathStyle).toBe(true);
    expect(s3Target(load(yaml("bucket: b-1", "prefix: p/")))).toBe("s3:aws/b-1/p/");
  });

  it("batch keys override the S3 defaults", () => {
    const config = load(yaml("bucket: b-1", "batch: { max_events: 10, max_bytes: 2048, max_wait_secs: 0 }"));
    expect(config.delivery).toMatchObject({ maxRecords: 10, maxBytes: 2048, maxWaitMs: 0 });
  });

  it("names the key of each problem", () => {
    expect(
      problems(
        yaml(
          "bucket: Audit_Logs",
          "prefix: /audit/",
          "batch_interval_secs: -1",
          "object_lock_mode: strict",
          "object_lock_retain_days: 0",
          "storage_class: GLACIER",
          "bucekt: x",
        ),
      ),
    ).toEqual([
      { field: "audit.destination.batch_interval_secs", line: 6, message: "must be at least 0" },
      {
        field: "audit.destination.object_lock_mode",
        line: 7,
        message: "must be one of compliance, governance",
      },
      { field: "audit.destination.object_lock_retain_days", line: 8, message: "must be at least 1" },
      {
        field: "audit.destination.storage_class",
        line: 9,
        message: "must be one of STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR",
      },
      { field: "audit.destination.bucekt", line: 10, message: "unknown key; did you mean bucket?" },
    ]);
    expect(problems(yaml("prefix: p/"))).toEqual([
      { field: "audit.destination.bucket", line: 2, message: "is required" },
    ]);
  });

  it("checks the bucket name, the prefix, the endpoint and the keys that go together", () => {
    expect(
      problems(
        yaml(
          "bucket: Audit_Logs",
          "prefix: /audit/",
          "endpoint: http://user:pw@minio:9000",
          "access_key_id: AKID",
          "object_lock_retain_days: 7",
          "batch_interval_secs: 5",
          "batch: { max_wait_secs: 1 }",
        ),
      ),
    ).toEqual([
      {
        field: "audit.destination.bucket",
        line: 4,
        message: "must be an S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens",
      },
      {
        field: "audit.destination.prefix",
        line: 5,
        message: "must not start with / (write kafka-backup/, not /kafka-backup/)",
      },
      {
        field: "audit.destination.endpoint",
        line: 6,
        message: "must not hold credentials; use access_key_id and secret_access_key",
      },
      {
        field: "audit.destination.access_key_id",
        line: 7,
        message:
          "access_key_id and secret_access_key go together (leave both out to use the SDK's credential chain)",
      },
      {
        field: "audit.destination.object_lock_retain_days",
        line: 8,
        message: "applies only with object_lock: true",
      },
      {
        field: "audit.destination.batch_interval_secs",
        line: 9,
        message: "use either batch_interval_secs or batch.max_wait_secs, not both",
      },
    ]);
    expect(problems(yaml("bucket: b-1", "endpoint: minio:9000"))).toEqual([
      { field: "audit.destination.endpoint", line: 5, message: "must be an http:// or https:// URL" },
    ]);
    expect(problems(yaml("bucket: b-1", "endpoint: not a url"))).toEqual([
      {
        field: "audit.destination.endpoint",
        line: 5,
        message: "must be an absolute http:// or https:// URL",
      },
    ]);
    expect(problems(yaml("bucket: b-1", "endpoint: https://minio:9000/?X-Amz-Signature=abc"))).toEqual([
      { field: "audit.destination.endpoint", line: 5, message: "must not have a query string or fragment" },
    ]);
  });

  it("never quotes a credential in a problem", () => {
    const found = problems(yaml("bucket: b-1", "secret_access_key: ${S3_SECRET}"), {
      S3_SECRET: "hunter2-secret",
    });
    expect(found).toEqual([
      {
        field: "audit.destination.secret_access_key",
        line: 5,
        message:
          "access_key_id and secret_access_key go together (leave both out to use the SDK's credential chain)",
      },
    ]);
    expect(JSON.stringify(found)).not.toContain("hunter2");
  });
});
