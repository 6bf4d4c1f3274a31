/**
 * Sealed records as CloudEvents 1.0 (spec v1.0.2), structured mode in the JSON event format
 * (`application/cloudevents+json`), one at a time or as a JSON batch (`application/cloudevents-batch+json`:
 * an array of such events, json-format.md §4).
 *
 * | attribute         | value                                                                     |
 * | ----------------- | ------------------------------------------------------------------------- |
 * | `specversion`     | `"1.0"`                                                                   |
 * | `id`              | event_id                                                                  |
 * | `source`          | configured; default `vigil://<log origin or host name>`                   |
 * | `type`            | `io.vigil.<event_type>` (reverse-DNS prefix, as the spec recommends)      |
 * | `time`            | the event's timestamp (RFC 3339, as validated at ingest)                  |
 * | `subject`         | resource.id, when there is one                                            |
 * | `datacontenttype` | `application/json`                                                        |
 * | `data`            | the native event, its JSON text exactly as signed                         |
 * | `vigilseq`        | sequence_number as a decimal String                                       |
 * | `vigilprevsig`    | previous_signature                                                        |
 * | `vigilsig`        | signature                                                                 |
 * | `vigilkeyid`      | key_id                                                                    |
 *
 * The integrity block travels in extension attributes (spec §"Extension Context Attributes": names of
 * lower-case ASCII letters and digits, at most 20 characters). `vigilseq` is a String because the spec's Integer
 * is 32-bit and sequence numbers run to 2^53. `data` plus the four extensions rebuild the sealed record:
 * `{"event":<data>,"integrity":{"sequence_number":<vigilseq>,"previous_signature":<vigilprevsig>,
 * "signature":<vigilsig>,"key_id":<vigilkeyid>}}`.
 */
import type { BatchEncoder, SealedRecord } from "../encoder.ts";

export const CLOUDEVENTS_MEDIA_TYPE = "application/cloudevents+json";
export const CLOUDEVENTS_BATCH_MEDIA_TYPE = "application/cloudevents-batch+json";
export const CLOUDEVENTS_TYPE_PREFIX = "io.vigil.";

export interface CloudEventsOptions {
  /** The `source` URI-reference of every event. */
  source: string;
}

/** The CloudEvent of one record; `data` is the native event object. */
export interface CloudEvent {
  specversion: "1.0";
  id: string;
  source: string;
  type: string;
  time: string;
  subject?: string;
  datacontenttype: "application/json";
  vigilseq: string;
  vigilprevsig: string;
  vigilsig: string;
  vigilkeyid: string;
  data: unknown;
}

/** `vigil://<origin>`: the log origin (or host name) names the chain, which is what produced the event. */
export function defaultCloudEventsSource(originOrHost: string): string {
  return `vigil://${encodeURI(originOrHost)}`;
}

/** Every attribute but `data`, in the order they are written. */
function envelope(record: SealedRecord, options: CloudEventsOptions): Omit<CloudEvent, "data"> {
  const e = record.event;
  const i = record.integrity;
  return {
    specversion: "1.0",
    id: e.event_id,
    source: options.source,
    type: `${CLOUDEVENTS_TYPE_PREFIX}${e.event_type}`,
    time: e.timestamp,
    ...(e.resource?.id === undefined ? {} : { subject: e.resource.id }),
    datacontenttype: "application/json",
    vigilseq: String(i.sequence_number),
    vigilprevsig: i.previous_signature,
    vigilsig: i.signature,
    vigilkeyid: i.key_id,
  };
}

export function toCloudEvent(record: SealedRecord, options: CloudEventsOptions): CloudEvent {
  return { ...envelope(record, options), data: record.event };
}

/**
 * The JSON text of one CloudEvent. `data` is spliced in as the signed text itself rather than re-serialized, so
 * its bytes are the ones the signature covers.
 */
function encodeOne(record: SealedRecord, options: CloudEventsOptions): string {
  return `${JSON.stringify(envelope(record, options)).slice(0, -1)},"data":${record.eventText}}`;
}

export function createCloudEventsEncoder(options: CloudEventsOptions): BatchEncoder {
  return {
    format: "cloudevents",
    mediaType: CLOUDEVENTS_MEDIA_TYPE,
    batchMediaType: CLOUDEVENTS_BATCH_MEDIA_TYPE,
    encode: (record) => encodeOne(record, options),
    encodeBatch: (records) => `[${records.map((r) => encodeOne(r, options)).join(",")}]`,
  };
}
