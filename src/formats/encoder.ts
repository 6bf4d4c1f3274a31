/**
 * Encoders turn a sealed record into the format a destination names (`format:`): native (the record line),
 * OCSF 1.1, CloudEvents 1.0, or the Kubernetes audit Event a record came from.
 *
 * Contract, for every format:
 * - Input is a `SealedRecord`: the record line as the journal hands it to a destination, parsed once
 *   (`readSealedRecord`) so that several encodings of one record share the work.
 * - Output is one JSON text per record, without a newline. Encoders are pure: the same record and options give
 *   the same text; they never mutate the record.
 * - Every encoding carries the integrity block unchanged and the event's signed content, so a consumer of the
 *   encoding alone can rebuild the sealed record and check its signature and its place in the chain.
 * - `encode` returns undefined only when the format cannot represent the record at all (a Kubernetes Event for an
 *   event that did not come from Kubernetes). The caller skips that record and counts the skip; it never
 *   receives a lossy stand-in.
 */
import { hostname } from "node:os";
import { VigilError } from "../errors.ts";
import type { NativeEvent } from "../event/schema.ts";
import { type Integrity, isIntegrity, parseRecord } from "../integrity/chain.ts";
import { createCloudEventsEncoder, defaultCloudEventsSource } from "./cloudevents/encode.ts";
import { createKubernetesEncoder, INTEGRITY_ANNOTATION } from "./kubernetes/encode.ts";
import { createNativeEncoder } from "./native/encode.ts";
import { createOcsfEncoder } from "./ocsf/encode.ts";

export const FORMAT_NAMES = ["native", "ocsf", "cloudevents", "kubernetes"] as const;
export type FormatName = (typeof FORMAT_NAMES)[number];

/** A sealed record, parsed once. Encoders read it and never mutate it. */
export interface SealedRecord {
  /** The record line exactly as sealed and stored, without the newline. */
  readonly line: Uint8Array;
  /** The event's JSON text as the signature covers it (RFC 8785 canonical form). */
  readonly eventText: string;
  readonly event: NativeEvent;
  /** The integrity block in the sealer's field order, whatever order a re-serialized line had. */
  readonly integrity: Integrity;
}

export interface Encoder {
  readonly format: FormatName;
  /** The media type of one encoded record. */
  readonly mediaType: string;
  /** One record as one JSON text, or undefined when this format cannot represent the record (see above). */
  encode(record: SealedRecord): string | undefined;
}

/** An encoder that represents every record and can also put many into one document (CloudEvents JSON batch). */
export interface BatchEncoder extends Encoder {
  encode(record: SealedRecord): string;
  readonly batchMediaType: string;
  /** All records, in order, as one JSON text. */
  encodeBatch(records: readonly SealedRecord[]): string;
}

export interface EncoderOptions {
  /** Vigil's version, written to OCSF `metadata.product.version`. */
  productVersion: string;
  /** CloudEvents `source`. Default: `vigil://<logOrigin>`, or `vigil://<host name>` without one. */
  source?: string;
  /** The log's checkpoint origin (README "Checkpoints and proofs"), which names this chain. */
  logOrigin?: string;
}

export function isFormatName(name: string): name is FormatName {
  return (FORMAT_NAMES as readonly string[]).includes(name);
}

/**
 * The encoder for a destination's `format:`.
 * @example createEncoder("ocsf", { productVersion: "0.1.0" }).encode(readSealedRecord(line))
 */
export function createEncoder(format: "cloudevents", options: EncoderOptions): BatchEncoder;
export function createEncoder(format: FormatName, options: EncoderOptions): Encoder;
export function createEncoder(format: FormatName, options: EncoderOptions): Encoder {
  switch (format) {
    case "native":
      return createNativeEncoder();
    case "ocsf":
      return createOcsfEncoder({ productVersion: options.productVersion });
    case "cloudevents":
      return createCloudEventsEncoder({
        source: options.source ?? defaultCloudEventsSource(options.logOrigin ?? hostname()),
      });
    case "kubernetes":
      return createKubernetesEncoder();
  }
}

/**
 * Parses a record line for the encoders. Throws `invalid_event` for a line that is not a sealed record: the
 * journal holds only sealed records, so this means the caller passed something else.
 */
export function readSealedRecord(line: Uint8Array): SealedRecord {
  const parsed = parseRecord(line);
  if (!parsed.ok) throw new VigilError("invalid_event", `not a sealed record: ${parsed.reason}`);
  const { event, integrity } = parsed.record;
  const eventText = Buffer.from(event.buffer, event.byteOffset, event.byteLength).toString("utf8");
  return {
    line,
    eventText,
    event: JSON.parse(eventText) as NativeEvent,
    integrity: {
      sequence_number: integrity.sequence_number,
      previous_signature: integrity.previous_signature,
      signature: integrity.signature,
      key_id: integrity.key_id,
    },
  };
}

/**
 * The integrity block carried by one encoded line (`format`'s output, see the contract above), or undefined when
 * the line is not such an encoding. A destination that stores encodings reads it back from its last line to
 * learn which record it holds last (sequence and signature) without rebuilding the sealed record.
 */
export function integrityOfEncodedLine(format: FormatName, line: Uint8Array): Integrity | undefined {
  if (format === "native") {
    const parsed = parseRecord(line);
    return parsed.ok ? parsed.record.integrity : undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(line.buffer, line.byteOffset, line.byteLength).toString("utf8"));
  } catch {
    return undefined;
  }
  const candidate = carriedIntegrity(format, value);
  return isIntegrity(candidate) ? candidate : undefined;
}

/** Where each format puts the integrity block (see its encoder's header). */
function carriedIntegrity(format: Exclude<FormatName, "native">, value: unknown): unknown {
  const obj = (v: unknown): Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  switch (format) {
    case "ocsf":
      return obj(obj(value).unmapped).vigil_integrity;
    case "cloudevents": {
      const e = obj(value);
      // `vigilseq` is a String (CloudEvents' Integer is only 32 bits); only a plain decimal counts.
      const seq =
        typeof e.vigilseq === "string" && /^[1-9][0-9]*$/.test(e.vigilseq) ? Number(e.vigilseq) : NaN;
      return {
        sequence_number: seq,
        previous_signature: e.vigilprevsig,
        signature: e.vigilsig,
        key_id: e.vigilkeyid,
      };
    }
    case "kubernetes": {
      const annotation = obj(obj(value).annotations)[INTEGRITY_ANNOTATION];
      if (typeof annotation !== "string") return undefined;
      try {
        return JSON.parse(annotation) as unknown;
      } catch {
        return undefined;
      }
    }
  }
}
