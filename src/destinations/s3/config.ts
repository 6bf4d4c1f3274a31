/**
 * Config of the `type: s3` destination (spec/000, "S3" and "Immutable Logging"): batches of records written as
 * gzip'd NDJSON objects to `bucket` under `prefix`, one object per batch, optionally under S3 Object Lock.
 *
 * ```yaml
 * - type: s3
 *   bucket: audit-logs              # required
 *   prefix: kafka-backup/           # default "" (the bucket's root); used as written: end it with / for a folder
 *   region: us-west-2               # default: the SDK's (AWS_REGION, the profile)
 *   batch_interval_secs: 60         # longest a record waits for its batch's object; default 60
 *   object_lock: true               # retain every object under S3 Object Lock; default false
 *   object_lock_mode: compliance    # or governance; default compliance (only with object_lock: true)
 *   object_lock_retain_days: 365    # retention of each object from its upload; default 365 (spec/000's
 *                                   # retention min_days example); only with object_lock: true
 *   endpoint: https://minio:9000    # an S3-compatible store; default AWS (or AWS_ENDPOINT_URL)
 *   force_path_style: true          # bucket in the path, not the host name; default true with endpoint
 *   access_key_id: ${S3_KEY_ID}     # both or neither; default: the SDK's credential chain (environment,
 *   secret_access_key: ${S3_SECRET} #   shared profile, container or instance role)
 *   storage_class: STANDARD_IA      # default: the bucket's (STANDARD)
 * ```
 *
 * Batching: an object holds up to 100,000 records or 64 MiB of record lines (before gzip), and a batch waits
 * `batch_interval_secs` to fill (`batch.max_events`, `batch.max_bytes` and `batch.max_wait_secs` override these;
 * `batch_interval_secs` and `batch.max_wait_secs` are the same setting, so only one may be given). Storage
 * classes whose objects must be restored before they can be read (GLACIER, DEEP_ARCHIVE) are refused: Vigil
 * reads its newest object back when it starts; move older objects there with a lifecycle rule instead.
 */
import Type from "typebox";
import type { PathProblem } from "../../config/schema.ts";
import { type AwsClientConfig, checkAwsKeys, resolveAwsKeys } from "../aws.ts";
import { type BaseDestinationConfig, DeliveryFields, resolveDelivery } from "../delivery.ts";

export const OBJECT_LOCK_MODES = ["compliance", "governance"] as const;
export type ObjectLockModeName = (typeof OBJECT_LOCK_MODES)[number];

/** Storage classes whose objects can be read at once (start() reads the newest object back). */
export const S3_STORAGE_CLASSES = [
  "STANDARD",
  "STANDARD_IA",
  "ONEZONE_IA",
  "INTELLIGENT_TIERING",
  "GLACIER_IR",
] as const;
export type S3StorageClass = (typeof S3_STORAGE_CLASSES)[number];

export const DEFAULT_S3_BATCH_INTERVAL_SECS = 60;
export const DEFAULT_S3_MAX_RECORDS = 100_000;
export const DEFAULT_S3_MAX_BYTES = 64 * 1024 * 1024;
export const DEFAULT_OBJECT_LOCK_RETAIN_DAYS = 365;

export interface S3ObjectLockConfig {
  mode: "COMPLIANCE" | "GOVERNANCE";
  retainDays: number;
}

/** `region`, `endpoint` (an S3-compatible store's URL) and `credentials`: see aws.ts. */
export interface S3DestinationConfig extends BaseDestinationConfig, AwsClientConfig {
  type: "s3";
  bucket: string;
  /** Prepended as written to every key ("" for the bucket's root). */
  prefix: string;
  forcePathStyle: boolean;
  /** Undefined: objects are not locked. */
  objectLock?: S3ObjectLockConfig;
  /** Undefined: the bucket's default (STANDARD). */
  storageClass?: S3StorageClass;
}

export const S3DestinationSchema = Type.Object(
  {
    type: Type.Literal("s3"),
    ...DeliveryFields,
    bucket: Type.String({ minLength: 1 }),
    prefix: Type.Optional(Type.String()),
    region: Type.Optional(Type.String({ minLength: 1 })),
    batch_interval_secs: Type.Optional(Type.Number({ minimum: 0 })),
    object_lock: Type.Optional(Type.Boolean()),
    object_lock_mode: Type.Optional(Type.Enum(OBJECT_LOCK_MODES)),
    object_lock_retain_days: Type.Optional(Type.Integer({ minimum: 1, maximum: 36_500 })),
    endpoint: Type.Optional(Type.String({ minLength: 1 })),
    force_path_style: Type.Optional(Type.Boolean()),
    access_key_id: Type.Optional(Type.String({ minLength: 1 })),
    secret_access_key: Type.Optional(Type.String({ minLength: 1 })),
    storage_class: Type.Optional(Type.Enum(S3_STORAGE_CLASSES)),
  },
  { additionalProperties: false },
);

export type RawS3Destination = Type.Static<typeof S3DestinationSchema>;

/** S3's bucket naming rules (general purpose buckets), which S3-compatible stores follow too. */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** Longest prefix: S3 keys are at most 1024 bytes, and Vigil's own part of a key is under 100. */
const MAX_PREFIX_BYTES = 900;

/** Checks the schema cannot express: bucket name, prefix, endpoint URL, keys that go together. */
export function checkS3Destination(raw: RawS3Destination): PathProblem[] {
  const problems: PathProblem[] = [];
  if (!BUCKET_NAME.test(raw.bucket) || raw.bucket.includes("..")) {
    problems.push({
      path: ["bucket"],
      message: "must be an S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens",
    });
  }
  const prefix = raw.prefix ?? "";
  if (prefix.startsWith("/")) {
    problems.push({
      path: ["prefix"],
      message: "must not start with / (write kafka-backup/, not /kafka-backup/)",
    });
  }
  if (Buffer.byteLength(prefix) > MAX_PREFIX_BYTES) {
    problems.push({ path: ["prefix"], message: `must be at most ${MAX_PREFIX_BYTES} bytes` });
  }
  problems.push(...checkAwsKeys(raw));
  if (raw.object_lock !== true) {
    for (const key of ["object_lock_mode", "object_lock_retain_days"] as const) {
      if (raw[key] !== undefined)
        problems.push({ path: [key], message: "applies only with object_lock: true" });
    }
  }
  if (raw.batch_interval_secs !== undefined && raw.batch?.max_wait_secs !== undefined) {
    problems.push({
      path: ["batch_interval_secs"],
      message: "use either batch_interval_secs or batch.max_wait_secs, not both",
    });
  }
  return problems;
}

/** The endpoint as shown in names and logs: scheme, host and path, nothing else. */
export function displayEndpoint(endpoint: string): string {
  const u = new URL(endpoint);
  return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, "")}`;
}

export function resolveS3Destination(raw: RawS3Destination): S3DestinationConfig {
  const prefix = raw.prefix ?? "";
  const config: S3DestinationConfig = {
    type: "s3",
    name: raw.name ?? `s3:${raw.bucket}/${prefix}`,
    format: raw.format ?? "native",
    delivery: resolveDelivery(
      raw,
      {
        maxRecords: DEFAULT_S3_MAX_RECORDS,
        maxBytes: DEFAULT_S3_MAX_BYTES,
        maxWaitMs: DEFAULT_S3_BATCH_INTERVAL_SECS * 1000,
      },
      raw.batch_interval_secs === undefined ? {} : { maxWaitMs: Math.round(raw.batch_interval_secs * 1000) },
    ),
    bucket: raw.bucket,
    prefix,
    forcePathStyle: raw.force_path_style ?? raw.endpoint !== undefined,
    ...resolveAwsKeys(raw),
  };
  if (raw.object_lock === true) {
    config.objectLock = {
      mode: raw.object_lock_mode === "governance" ? "GOVERNANCE" : "COMPLIANCE",
      retainDays: raw.object_lock_retain_days ?? DEFAULT_OBJECT_LOCK_RETAIN_DAYS,
    };
  }
  if (raw.storage_class !== undefined) config.storageClass = raw.storage_class;
  return config;
}

/** Where the destination writes: two entries with the same target would write the same objects. */
export function s3Target(config: S3DestinationConfig): string {
  const where = config.endpoint === undefined ? "aws" : displayEndpoint(config.endpoint);
  return `s3:${where}/${config.bucket}/${config.prefix}`;
}
