/**
 * Turns a batch of record lines into the destination's `format:` (formats/encoder.ts), for destinations that send
 * records as messages (Kafka, syslog, CloudWatch, webhook, S3). Native lines pass through unparsed. A record the
 * format cannot represent (Kubernetes, for an event not from Kubernetes) is skipped, counted and logged once per
 * batch, never replaced by a lossy stand-in.
 */
import {
  createEncoder,
  type Encoder,
  type EncoderOptions,
  type FormatName,
  readSealedRecord,
  type SealedRecord,
} from "../formats/encoder.ts";
import type { RecordBatch } from "./destination.ts";

export interface EncodedRecord {
  sequence: number;
  /** The record in the destination's format: one JSON text, no newline. */
  text: string;
  /** The parsed record, for formats that were encoded from it (undefined for native). */
  sealed?: SealedRecord;
}

export class RecordEncoding {
  readonly format: FormatName;
  /** Undefined for native: lines are sent as they are. */
  readonly encoder: Encoder | undefined;
  readonly #log: (msg: string) => void;
  #skipped = 0;

  constructor(format: FormatName, options: EncoderOptions, log: (msg: string) => void) {
    this.format = format;
    this.encoder = format === "native" ? undefined : createEncoder(format, options);
    this.#log = log;
  }

  /** Records the format could not represent so far. */
  get skipped(): number {
    return this.#skipped;
  }

  encode(batch: RecordBatch): EncodedRecord[] {
    const out: EncodedRecord[] = [];
    const skipped: number[] = [];
    batch.lines.forEach((line, i) => {
      const sequence = batch.firstSequence + i;
      if (this.encoder === undefined) {
        out.push({ sequence, text: line.toString("utf8") });
        return;
      }
      const sealed = readSealedRecord(line);
      const text = this.encoder.encode(sealed);
      if (text === undefined) skipped.push(sequence);
      else out.push({ sequence, text, sealed });
    });
    if (skipped.length > 0) {
      this.#skipped += skipped.length;
      this.#log(
        `${skipped.length} records (sequence ${skipped[0]}${skipped.length > 1 ? ` to ${skipped.at(-1)}` : ""}) ` +
          `cannot be represented as ${this.format} and were skipped`,
      );
    }
    return out;
  }
}
