/**
 * Config of the `type: cloudwatch` destination (spec/000): records sent as log events to one CloudWatch Logs
 * log stream with the AWS SDK.
 *
 * ```yaml
 * - type: cloudwatch
 *   log_group: /kafka-backup/audit      # required
 *   log_stream: ${HOSTNAME}             # required; HOSTNAME falls back to the machine's name
 *   region: us-west-2                   # default: the SDK's (AWS_REGION, the profile's region)
 *   create_log_group: true              # create the group when it is missing (default true)
 *   create_log_stream: true             # create the stream (and `<log_stream>.checkpoints`) when missing
 *   retention_in_days: 365              # set on a group Vigil creates; one of CloudWatch's values; default none
 *   endpoint: http://localhost:4566     # another endpoint (LocalStack, moto, a VPC endpoint); default AWS's
 *   access_key_id: ${AWS_KEY_ID}        # both or neither; default: the SDK's chain (env, profile, role)
 *   secret_access_key: ${AWS_SECRET}
 * ```
 *
 * Delivery defaults (the shared `batch:` keys override them):
 * - `max_events` 10,000, PutLogEvents' most events per request;
 * - `max_bytes` 788,576: 1,048,576 (PutLogEvents' most bytes per request) less 26 bytes of per-event overhead
 *   for 10,000 events, so a full batch of native records always fits one request (the destination still splits
 *   whatever does not: encoded formats are larger than the journal's lines);
 * - `max_wait_secs` 1: a batch waits up to 1 s to fill. CloudWatch once allowed only 5 PutLogEvents a second per
 *   stream; the quota is now per account and region (800 to 1,500 a second, shared by every writer), so one
 *   request a second at most per quiet Vigil keeps a fleet of them well inside it while events still arrive
 *   within a second.
 */
import Type from "typebox";
import type { PathProblem } from "../../config/schema.ts";
import { type AwsClientConfig, checkAwsKeys, resolveAwsKeys } from "../aws.ts";
import { type BaseDestinationConfig, DeliveryFields, resolveDelivery } from "../delivery.ts";
import { EVENT_OVERHEAD_BYTES, MAX_REQUEST_BYTES, MAX_REQUEST_EVENTS } from "./batch.ts";

/** The values PutRetentionPolicy accepts. */
export const RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** Checkpoints go to a stream of their own beside the records': `<log_stream>.checkpoints`. */
export const CHECKPOINT_STREAM_SUFFIX = ".checkpoints";
const MAX_NAME_LENGTH = 512;
/** CloudWatch's log group name characters. */
const LOG_GROUP_NAME = /^[.\-_/#A-Za-z0-9]+$/;

/** `region`, `endpoint` and `credentials`: see aws.ts. */
export interface CloudWatchDestinationConfig extends BaseDestinationConfig, AwsClientConfig {
  type: "cloudwatch";
  logGroup: string;
  logStream: string;
  createLogGroup: boolean;
  createLogStream: boolean;
  /** Set with PutRetentionPolicy on a group Vigil creates; undefined leaves the group's (never expire). */
  retentionInDays?: number;
}

export const CLOUDWATCH_DELIVERY_DEFAULTS = {
  maxRecords: MAX_REQUEST_EVENTS,
  maxBytes: MAX_REQUEST_BYTES - MAX_REQUEST_EVENTS * EVENT_OVERHEAD_BYTES,
  maxWaitMs: 1000,
};

export const CloudWatchDestinationSchema = Type.Object(
  {
    type: Type.Literal("cloudwatch"),
    ...DeliveryFields,
    log_group: Type.String({ minLength: 1, maxLength: MAX_NAME_LENGTH }),
    log_stream: Type.String({
      minLength: 1,
      maxLength: MAX_NAME_LENGTH - CHECKPOINT_STREAM_SUFFIX.length,
    }),
    region: Type.Optional(Type.String({ minLength: 1 })),
    endpoint: Type.Optional(Type.String({ minLength: 1 })),
    create_log_group: Type.Optional(Type.Boolean()),
    create_log_stream: Type.Optional(Type.Boolean()),
    retention_in_days: Type.Optional(Type.Integer()),
    access_key_id: Type.Optional(Type.String({ minLength: 1 })),
    secret_access_key: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

export type RawCloudWatchDestination = Type.Static<typeof CloudWatchDestinationSchema>;

/** Checks the schema cannot express: names CloudWatch would refuse, the retention, the endpoint, key pairs. */
export function checkCloudWatchDestination(raw: RawCloudWatchDestination): PathProblem[] {
  const problems: PathProblem[] = [];
  if (!LOG_GROUP_NAME.test(raw.log_group)) {
    problems.push({
      path: ["log_group"],
      message: "may hold only letters, digits and the characters . - _ / #",
    });
  }
  if (/[:*]/.test(raw.log_stream)) {
    problems.push({ path: ["log_stream"], message: "must not contain ':' or '*'" });
  }
  if (
    raw.retention_in_days !== undefined &&
    !(RETENTION_DAYS as readonly number[]).includes(raw.retention_in_days)
  ) {
    problems.push({
      path: ["retention_in_days"],
      message: `must be one of CloudWatch's retention periods: ${RETENTION_DAYS.join(", ")}`,
    });
  }
  if (raw.retention_in_days !== undefined && raw.create_log_group === false) {
    problems.push({
      path: ["retention_in_days"],
      message: "is set only on a log group Vigil creates: remove it or set create_log_group: true",
    });
  }
  if (raw.region !== undefined && !/^[a-z0-9-]+$/.test(raw.region)) {
    problems.push({ path: ["region"], message: "must be an AWS region name such as us-west-2" });
  }
  problems.push(...checkAwsKeys(raw));
  return problems;
}

export function resolveCloudWatchDestination(raw: RawCloudWatchDestination): CloudWatchDestinationConfig {
  const config: CloudWatchDestinationConfig = {
    type: "cloudwatch",
    name: raw.name ?? `cloudwatch:${raw.log_group}/${raw.log_stream}`,
    format: raw.format ?? "native",
    delivery: resolveDelivery(raw, CLOUDWATCH_DELIVERY_DEFAULTS),
    logGroup: raw.log_group,
    logStream: raw.log_stream,
    createLogGroup: raw.create_log_group ?? true,
    createLogStream: raw.create_log_stream ?? true,
    ...resolveAwsKeys(raw),
  };
  if (raw.retention_in_days !== undefined) config.retentionInDays = raw.retention_in_days;
  return config;
}

/** Where the destination writes: two entries with the same target would write to the same stream. */
export function cloudWatchTarget(config: CloudWatchDestinationConfig): string {
  const where = config.endpoint ?? config.region ?? "default-region";
  return `cloudwatch:${where}/${config.logGroup}/${config.logStream}`;
}
