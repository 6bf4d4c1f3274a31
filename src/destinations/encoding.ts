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
import type { BaseDestinationConfig } from "./delivery.ts";
import type { RecordBatch } from "./destination.ts";
import type { DestinationContext } from "./registry.ts";

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
      const listed = skipped.length > 20 ? `${skipped.slice(0, 20).join(", ")}, …` : skipped.join(", ");
      this.#log(
        `skipped ${skipped.length} record(s) the ${this.format} format cannot represent ` +
          `(sequence ${listed}); ${this.#skipped} skipped so far`,
      );
    }
    return out;
  }
}

/** What a destination that sends encoded records sets up first: its log (lines named after it) and its encoding. */
export function destinationOutput(
  config: Pick<BaseDestinationConfig, "name" | "format">,
  context: DestinationContext,
): { log: (msg: string) => void; encoding: RecordEncoding } {
  const log = (msg: string) => context.log(`destination ${config.name}: ${msg}`);
  const options = { productVersion: context.productVersion, logOrigin: context.logOrigin };
  return { log, encoding: new RecordEncoding(config.format, options, log) };
}
