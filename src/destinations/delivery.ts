/**
 * The delivery settings every destination shares (issue 5, point 1), written once: the YAML keys each
 * destination's schema includes (`DeliveryFields`), their resolution into a `DeliveryPolicy` the consumer
 * (pipeline/consumer.ts) applies, and the treatment of a record the server refuses as too large.
 *
 * ```yaml
 * - type: webhook
 *   url: https://siem.example.com/ingest
 *   batch: { max_events: 500, max_bytes: 1048576, max_wait_secs: 1 }
 *   request_timeout_secs: 30
 *   on_oversize: truncate   # or park
 *   retry: { initial_backoff_ms: 100, max_backoff_secs: 30 }
 * ```
 */
import Type from "typebox";
import { FORMAT_NAMES, type FormatName } from "../formats/encoder.ts";

/** What happens to one record the destination's server refuses as too large, once it is alone in its batch. */
export const OVERSIZE_CHOICES = ["truncate", "park"] as const;
export type OversizeChoice = (typeof OVERSIZE_CHOICES)[number];

export interface DeliveryPolicy {
  /** Most records in one delivery. */
  maxRecords: number;
  /** Most bytes of record lines in one delivery (a lone record larger than this still goes alone). */
  maxBytes: number;
  /**
   * How long a batch may wait to fill up to `maxRecords` once its first record is durable; 0 delivers what is
   * there at once. S3's `batch_interval_secs` is this.
   */
  maxWaitMs: number;
  /** A delivery not confirmed within this is abandoned (its request aborted) and retried. */
  requestTimeoutMs: number;
  /**
   * `truncate`: as Kubernetes' truncate backend, deliver the record without its `details` (bodies), marked
   * `details.vigil_truncated`, and skip it (counted) if even that is too large. `park`: park the destination.
   * Either way the full record stays in the journal and every other destination.
   */
  onOversize: OversizeChoice;
  /** Consecutive failures are retried after exponential backoff with full jitter between 0 and this ceiling. */
  backoff: { initialMs: number; maxMs: number };
}

export const DEFAULT_DELIVERY: DeliveryPolicy = {
  maxRecords: 1000,
  maxBytes: 4 * 1024 * 1024,
  maxWaitMs: 0,
  requestTimeoutMs: 30_000,
  onOversize: "truncate",
  backoff: { initialMs: 100, maxMs: 30_000 },
};

const strict = { additionalProperties: false };

/** The keys every destination entry accepts besides its own; spread into each destination's schema. */
export const DeliveryFields = {
  /** Unique among destinations; names its cursor. Each type has a default derived from where it writes. */
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  format: Type.Optional(Type.Enum(FORMAT_NAMES)),
  batch: Type.Optional(
    Type.Object(
      {
        max_events: Type.Optional(Type.Integer({ minimum: 1 })),
        max_bytes: Type.Optional(Type.Integer({ minimum: 1024 })),
        max_wait_secs: Type.Optional(Type.Number({ minimum: 0, maximum: 86_400 })),
      },
      strict,
    ),
  ),
  request_timeout_secs: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 3600 })),
  on_oversize: Type.Optional(Type.Enum(OVERSIZE_CHOICES)),
  retry: Type.Optional(
    Type.Object(
      {
        initial_backoff_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: 3_600_000 })),
        max_backoff_secs: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 86_400 })),
      },
      strict,
    ),
  ),
};

const DeliveryOnly = Type.Object(DeliveryFields);
export type RawDelivery = Type.Static<typeof DeliveryOnly>;

/** What every resolved destination config carries. */
export interface BaseDestinationConfig {
  type: string;
  /** Unique among the configured destinations; names the consumer's cursor. */
  name: string;
  /** How each record is written: the sealed record line (native) or one of the encodings of formats/encoder.ts. */
  format: FormatName;
  delivery: DeliveryPolicy;
}

/**
 * Resolves the shared keys over the destination type's own defaults (`typeDefaults`, e.g. CloudWatch's
 * 10,000-event batches); keys a type maps from its spec/000 names (webhook `batch_size`) come in `overrides`.
 */
export function resolveDelivery(
  raw: RawDelivery,
  typeDefaults: Partial<DeliveryPolicy> = {},
  overrides: Partial<DeliveryPolicy> = {},
): DeliveryPolicy {
  const base = { ...DEFAULT_DELIVERY, ...typeDefaults };
  const fromRaw: Partial<DeliveryPolicy> = {};
  if (raw.batch?.max_events !== undefined) fromRaw.maxRecords = raw.batch.max_events;
  if (raw.batch?.max_bytes !== undefined) fromRaw.maxBytes = raw.batch.max_bytes;
  if (raw.batch?.max_wait_secs !== undefined) fromRaw.maxWaitMs = Math.round(raw.batch.max_wait_secs * 1000);
  if (raw.request_timeout_secs !== undefined)
    fromRaw.requestTimeoutMs = Math.round(raw.request_timeout_secs * 1000);
  if (raw.on_oversize !== undefined) fromRaw.onOversize = raw.on_oversize;
  if (raw.retry !== undefined) {
    fromRaw.backoff = {
      initialMs: raw.retry.initial_backoff_ms ?? base.backoff.initialMs,
      maxMs:
        raw.retry.max_backoff_secs === undefined
          ? base.backoff.maxMs
          : Math.round(raw.retry.max_backoff_secs * 1000),
    };
  }
  return { ...base, ...overrides, ...fromRaw };
}

/** The member of `details` a truncated record carries instead of the members it lost. */
export const TRUNCATED_MARKER = "vigil_truncated";

/**
 * The record line without the bulk of its event's `details`, which hold instead `{"vigil_truncated": {"fields":
 * [...], "original_bytes": N}}` naming what was dropped — as Kubernetes' truncate backend drops an event's request
 * and response objects and marks it. For an event from Kubernetes (`details.kubernetes`), exactly that: the Event
 * stays (so a `format: kubernetes` destination can still write it) without `requestObject` and `responseObject`,
 * and carries the annotation `audit.k8s.io/truncated: "true"`; every other member of `details` is dropped. The
 * integrity block is kept as it was: the copy no longer verifies against its signature, which is the point (it is
 * not the sealed record, the journal keeps that), and it still names its place in the chain. Undefined when there
 * is nothing to drop.
 */
export function truncateRecord(line: Buffer): Buffer | undefined {
  const record = JSON.parse(line.toString("utf8")) as { event?: { details?: Record<string, unknown> } };
  const details = record.event?.details;
  if (record.event === undefined || details === undefined) return undefined;
  const kept: Record<string, unknown> = {};
  const dropped: string[] = [];
  for (const [key, value] of Object.entries(details)) {
    if (key === TRUNCATED_MARKER) continue;
    if (key === "kubernetes" && isObject(value)) {
      const { requestObject, responseObject, ...event } = value;
      if (requestObject !== undefined) dropped.push("kubernetes.requestObject");
      if (responseObject !== undefined) dropped.push("kubernetes.responseObject");
      const annotations = isObject(event.annotations) ? event.annotations : {};
      kept.kubernetes = { ...event, annotations: { ...annotations, "audit.k8s.io/truncated": "true" } };
    } else {
      dropped.push(key);
    }
  }
  if (dropped.length === 0) return undefined;
  record.event.details = { ...kept, [TRUNCATED_MARKER]: { fields: dropped, original_bytes: line.length } };
  return Buffer.from(JSON.stringify(record));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
