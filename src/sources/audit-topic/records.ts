/**
 * One record of an audit topic to the native events that seal it: decoded by the OCSF or CloudEvents decoder, or,
 * when it does not decode, kept raw as a `kafka.audit_topic_unparsed` event. No record is ever dropped.
 *
 * Decoded events get:
 * - `event_id`: the source's own id when it has one (the CloudEvents `id`, as the decoder maps it; an OCSF
 *   `metadata.uid`), else the record's position `kafka:<topic id>:<partition>:<offset>` (`:<n>` added for the
 *   n-th event of a record holding several). The same record always gets the same ids, so a record delivered
 *   again (after a crash, before its offset was committed) is answered by event id and not sealed twice. The
 *   topic id is the UUID Kafka gives a topic at creation: a topic deleted and created again (its offsets start
 *   at 0 again) yields new ids, so its records are not taken for the old ones; and two clusters never share it.
 *   A broker that reports no topic id (Kafka before 2.8, Redpanda before 25.3) gets
 *   `kafka:<source name>:<partition>:<offset>:t<record timestamp>` instead: the record's timestamp, fixed when it
 *   was written, is what tells a record of a topic created again from the one that held its position before.
 * - `timestamp`: the decoder's; when the record has none (a CloudEvent without `time`), the Kafka record's
 *   timestamp rather than the time Vigil read it, which may be days later.
 * - `details.kafka_source`: `{topic, partition, offset, timestamp}` of the record.
 *
 * A record that is not UTF-8, not JSON, not a record of the expected format, or that the decoder refuses, is
 * unparsed: `details.reason` says why, `details.raw` holds its text (`raw_base64` its bytes when not UTF-8), cut to
 * MAX_RAW_CHARS (MAX_RAW_BYTES) with `raw_truncated`, and `raw_bytes` its size; its id is its position.
 *
 * Every event is validated as the pipeline will (schema, depth, canonical size within `limits`), each record on
 * its own, so one bad record cannot make a batch refused: a decoded event that does not pass makes its record
 * unparsed; an unparsed event that does not pass is kept without its raw value. Only when even that is refused
 * (a `limits.max_event_bytes` below a few hundred bytes) does prepareRecord throw.
 */

import { ValidationError } from "../../errors.ts";
import type { EventOrigin, InputEvent, NativeEvent } from "../../event/schema.ts";
import { type EventLimits, prepareEvents } from "../../event/validate.ts";
import { decodeCloudEvents } from "../../formats/cloudevents/decode.ts";
import { detectFormat } from "../../formats/decode.ts";
import { eventId, isRecord } from "../../formats/decode-util.ts";
import { decodeOcsf } from "../../formats/ocsf/decode.ts";
import { canonicalize } from "../../integrity/canonical.ts";
import type { TopicFormat } from "./config.ts";

export const UNPARSED_EVENT_TYPE = "kafka.audit_topic_unparsed";
/** Raw text kept of an unparsed record; real audit records are far smaller. */
export const MAX_RAW_CHARS = 65_536;
/** Raw bytes kept (base64) of an unparsed record that is not UTF-8. */
export const MAX_RAW_BYTES = 49_152;
/** Longest reason kept (a JSON parser's message can quote the input). */
const MAX_REASON_CHARS = 1024;

/** What prepareRecord reads of a consumed message. */
export interface TopicRecord {
  topic: string;
  partition: number;
  offset: bigint;
  /** Milliseconds since the epoch; negative when the record has none. */
  timestamp: bigint;
  value: Buffer | null | undefined;
}

export interface RecordContext {
  format: TopicFormat;
  /** `kafka:<topic id>` (or `kafka:<source name>`), the first part of positional event ids. */
  idPrefix: string;
  /** The topic has no id: positional event ids end with the record's timestamp (`:t<ms>`). */
  timestampInIds: boolean;
  origin: EventOrigin;
  limits: EventLimits;
  /** Receive time stamped on the events. */
  now: Date;
}

export interface PreparedRecord {
  events: NativeEvent[];
  /** Why the record was kept raw; undefined when it decoded. */
  unparsed?: string;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The record's events, ready for Pipeline.ingest. */
export function prepareRecord(record: TopicRecord, ctx: RecordContext): PreparedRecord {
  const decoded = decodeRecord(record, ctx);
  if (Array.isArray(decoded)) {
    const checked = validated(decoded, ctx);
    if (typeof checked !== "string") return { events: checked };
    return prepareUnparsed(record, ctx, checked);
  }
  return prepareUnparsed(record, ctx, decoded);
}

/**
 * The unparsed event of a record: with its raw value when `withRaw` and that fits the limits, otherwise without.
 * @throws ValidationError when not even the event without its raw value is accepted.
 */
export function prepareUnparsed(
  record: TopicRecord,
  ctx: RecordContext,
  reason: string,
  withRaw = true,
): PreparedRecord {
  const bounded = reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS)}…` : reason;
  let why = bounded;
  if (withRaw) {
    const full = validated([unparsedEvent(record, ctx, bounded, true)], ctx);
    if (typeof full !== "string") return { events: full, unparsed: bounded };
    why = `${bounded} (raw value left out: ${full})`;
  }
  const bare = validated([unparsedEvent(record, ctx, why, false)], ctx);
  if (typeof bare !== "string") return { events: bare, unparsed: bounded };
  throw new ValidationError("invalid_event", [
    { field: "", message: `${describeRecord(record)} cannot be sealed even without its value: ${bare}` },
  ]);
}

/** `topic/partition@offset`, how messages name a record. */
export function describeRecord(record: Pick<TopicRecord, "topic" | "partition" | "offset">): string {
  return `record ${record.topic}/${record.partition}@${record.offset}`;
}

/** The record's position as an event id. */
export function positionId(
  record: TopicRecord,
  ctx: Pick<RecordContext, "idPrefix" | "timestampInIds">,
): string {
  const position = `${ctx.idPrefix}:${record.partition}:${record.offset}`;
  return ctx.timestampInIds ? `${position}:t${record.timestamp}` : position;
}

/** The decoded events (before validation), or why the record does not decode. */
function decodeRecord(record: TopicRecord, ctx: RecordContext): InputEvent[] | string {
  if (record.value === null || record.value === undefined) return "the record has no value";
  let text: string;
  try {
    text = utf8.decode(record.value);
  } catch {
    return "the value is not UTF-8 text";
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return `malformed JSON: ${(e as Error).message}`;
  }
  const detected = detectFormat(value);
  const format = ctx.format === "auto" ? detected : ctx.format;
  let events: InputEvent[];
  try {
    if (format === "ocsf") events = decodeOcsf(value);
    else if (format === "cloudevents") events = decodeCloudEvents(value);
    else return "neither an OCSF record nor a CloudEvent";
  } catch (e) {
    // A decoder that fails otherwise than by refusing (a bug) must not stop the archive either.
    const kind = format === "ocsf" ? "OCSF record" : "CloudEvent";
    return `not a valid ${kind}: ${(e as Error).message}`;
  }
  if (events.length === 0) return "the record holds no events";
  const ownId = format === "ocsf" ? ocsfUid(value) : undefined;
  const source = kafkaSource(record);
  return events.map((event, i) => ({
    ...event,
    event_id:
      event.event_id ??
      ownId ??
      (events.length === 1 ? positionId(record, ctx) : `${positionId(record, ctx)}:${i}`),
    ...(event.timestamp === undefined && source.timestamp !== undefined
      ? { timestamp: source.timestamp }
      : {}),
    details: { ...event.details, kafka_source: source },
  }));
}

/** OCSF's own event id, `metadata.uid`, as a native event id (Redpanda's records carry none). */
function ocsfUid(value: unknown): string | undefined {
  const uid = isRecord(value) && isRecord(value.metadata) ? value.metadata.uid : undefined;
  return typeof uid === "string" && uid !== "" ? eventId(uid) : undefined;
}

function kafkaSource(record: TopicRecord): {
  topic: string;
  partition: number;
  offset: number | string;
  timestamp?: string;
} {
  // Offsets stay exact: beyond 2^53 (never seen in practice) they are written as strings.
  const offset =
    record.offset <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(record.offset) : String(record.offset);
  const ms = record.timestamp;
  const timestamp = ms >= 0n && ms <= 253402300799999n ? new Date(Number(ms)).toISOString() : undefined;
  return {
    topic: record.topic,
    partition: record.partition,
    offset,
    ...(timestamp === undefined ? {} : { timestamp }),
  };
}

function unparsedEvent(
  record: TopicRecord,
  ctx: RecordContext,
  reason: string,
  withRaw: boolean,
): InputEvent {
  const source = kafkaSource(record);
  const value = record.value ?? Buffer.alloc(0);
  const details: Record<string, unknown> = { kafka_source: source, reason, raw_bytes: value.length };
  if (withRaw && value.length > 0) {
    let text: string | undefined;
    try {
      text = utf8.decode(value);
    } catch {
      // Not UTF-8: kept as base64 below.
    }
    if (text !== undefined) {
      // toWellFormed: the cut may fall inside a surrogate pair, and a lone surrogate is not I-JSON.
      details.raw = text.length > MAX_RAW_CHARS ? text.slice(0, MAX_RAW_CHARS).toWellFormed() : text;
      if (text.length > MAX_RAW_CHARS) details.raw_truncated = true;
    } else {
      details.raw_base64 = value.subarray(0, MAX_RAW_BYTES).toString("base64");
      if (value.length > MAX_RAW_BYTES) details.raw_truncated = true;
    }
  }
  return {
    event_type: UNPARSED_EVENT_TYPE,
    event_id: positionId(record, ctx),
    ...(source.timestamp === undefined ? {} : { timestamp: source.timestamp }),
    details,
  };
}

/**
 * The native events when every one passes what the pipeline checks (schema and depth, then its canonical form:
 * I-JSON and at most `limits.maxEventBytes`), else what the first one that does not pass breaks.
 */
function validated(events: InputEvent[], ctx: RecordContext): NativeEvent[] | string {
  let prepared: NativeEvent[];
  try {
    prepared = prepareEvents(
      events.map((value) => ({ value })),
      ctx.origin,
      ctx.limits,
      ctx.now,
    );
  } catch (e) {
    if (e instanceof ValidationError) return `refused as an event: ${e.message}`;
    throw e;
  }
  for (const event of prepared) {
    let size: number;
    try {
      size = Buffer.byteLength(canonicalize(event));
    } catch (e) {
      return `refused as an event: ${(e as Error).message}`;
    }
    if (size > ctx.limits.maxEventBytes) {
      return `refused as an event: it is ${size} bytes, over the ${ctx.limits.maxEventBytes}-byte limit (limits.max_event_bytes)`;
    }
  }
  return prepared;
}
