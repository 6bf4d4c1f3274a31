/**
 * Sequential reader of the journal for one consumer. It returns only records at or below the sequence the
 * caller says is durable, so nothing that could still be cut off by crash recovery is ever handed on.
 */
import type { FileHandle } from "node:fs/promises";
import { open } from "node:fs/promises";
import type { JournalLocation, RecordBatch } from "../destinations/destination.ts";
import { VigilError } from "../errors.ts";
import { listSegments, type SegmentInfo } from "./segment.ts";

/** Where the next unread record starts: the segment (by first sequence) and byte offset within it. */
export interface JournalPosition {
  nextSequence: number;
  segment: number;
  offset: number;
}

const CHUNK = 1024 * 1024;
/**
 * A read that filled less than this share of the chunk is copied out and the chunk read into again: a consumer
 * that keeps up reads a few kilobytes at a time, and a fresh megabyte per read (kept alive by the lines viewing
 * it) made the garbage collector the largest cost of a server taking a thousand small batches a second.
 */
const KEEP_CHUNK_AT = CHUNK / 2;

export class JournalReader {
  readonly #dir: string;
  #next: number;
  #hint: JournalPosition | undefined;
  #segment: SegmentInfo | undefined;
  #fh: FileHandle | undefined;
  /** File offset of the first byte not yet read into #buffer. */
  #filePos = 0;
  /** Bytes read but not yet returned (the start of the next line). */
  #buffer: Buffer = Buffer.alloc(0);
  /** Where the file is read into; handed on as it is only when a read filled most of it (KEEP_CHUNK_AT). */
  #chunk: Buffer | undefined;

  /**
   * @param nextSequence the first sequence number to return
   * @param hint a position saved earlier for nextSequence, to skip scanning the segment from its start
   */
  constructor(dir: string, nextSequence: number, hint?: JournalPosition) {
    this.#dir = dir;
    this.#next = nextSequence;
    this.#hint = hint?.nextSequence === nextSequence ? hint : undefined;
  }

  get nextSequence(): number {
    return this.#next;
  }

  /** Position of the next record, for saving in a cursor. */
  get position(): JournalPosition | undefined {
    if (!this.#segment) return this.#hint;
    return {
      nextSequence: this.#next,
      segment: this.#segment.firstSequence,
      offset: this.#filePos - this.#buffer.length,
    };
  }

  /**
   * Returns the next records, up to `maxRecords` / about `maxBytes`, none beyond `durable`.
   * Returns undefined when there is nothing durable to read yet.
   */
  async read(durable: number, maxRecords: number, maxBytes: number): Promise<RecordBatch | undefined> {
    if (this.#next > durable) return undefined;
    return this.#read(Math.min(maxRecords, durable - this.#next + 1), maxBytes, false);
  }

  /**
   * Returns the complete records written so far (durable or not), for display tools such as `vigil tail` that
   * run beside the server. Empty when there is nothing new.
   */
  async readAvailable(maxRecords: number, maxBytes: number): Promise<RecordBatch> {
    return this.#read(maxRecords, maxBytes, true);
  }

  async #read(want: number, maxBytes: number, stopAtEnd: boolean): Promise<RecordBatch> {
    if (!this.#fh) await this.#position();
    const lines: Buffer[] = [];
    const positions: JournalLocation[] = [];
    let bytes = 0;
    const first = this.#next;
    while (lines.length < want && bytes < maxBytes) {
      const nl = this.#buffer.indexOf(0x0a);
      if (nl !== -1) {
        const line = this.#buffer.subarray(0, nl);
        positions.push({
          segment: (this.#segment as SegmentInfo).firstSequence,
          offset: this.#filePos - this.#buffer.length,
        });
        this.#buffer = this.#buffer.subarray(nl + 1);
        lines.push(line);
        bytes += line.length + 1;
        continue;
      }
      const got = await this.#fill();
      if (got === 0 && !(await this.#advanceSegment(first + lines.length))) {
        if (stopAtEnd) break;
        throw new VigilError(
          "journal_corrupt",
          `journal ends at sequence ${first + lines.length - 1} in ${this.#segment?.path}, before its durable end`,
        );
      }
    }
    this.#next = first + lines.length;
    return { firstSequence: first, lines, positions };
  }

  async #fill(): Promise<number> {
    const fh = this.#fh as FileHandle;
    const chunk = this.#chunk ?? Buffer.allocUnsafeSlow(CHUNK);
    const { bytesRead } = await fh.read(chunk, 0, CHUNK, this.#filePos);
    if (bytesRead === 0) {
      this.#chunk = chunk;
      return 0;
    }
    this.#filePos += bytesRead;
    // Lines handed on are views of what is read: the chunk is either given away (a large read) or copied from.
    const keep = bytesRead >= KEEP_CHUNK_AT;
    this.#chunk = keep ? undefined : chunk;
    const got = keep ? chunk.subarray(0, bytesRead) : Buffer.from(chunk.subarray(0, bytesRead));
    this.#buffer = this.#buffer.length === 0 ? got : Buffer.concat([this.#buffer, got]);
    return bytesRead;
  }

  /** At the end of a segment: move to the next one if it starts at `sequence`. */
  async #advanceSegment(sequence: number): Promise<boolean> {
    if (this.#buffer.length > 0) return false;
    const next = (await listSegments(this.#dir)).find((s) => s.firstSequence === sequence);
    if (!next) return false;
    await this.#openSegment(next, 0);
    return true;
  }

  async #openSegment(segment: SegmentInfo, offset: number): Promise<void> {
    await this.#fh?.close();
    this.#segment = segment;
    this.#fh = await open(segment.path, "r");
    this.#filePos = offset;
    this.#buffer = Buffer.alloc(0);
  }

  /** Finds the segment holding #next and skips to it (by the saved hint when it is still valid). */
  async #position(): Promise<void> {
    const segments = await listSegments(this.#dir);
    const hinted = this.#hint && segments.find((s) => s.firstSequence === this.#hint?.segment);
    if (hinted && this.#hint) {
      await this.#openSegment(hinted, this.#hint.offset);
      return;
    }
    let segment: SegmentInfo | undefined;
    for (const s of segments) if (s.firstSequence <= this.#next) segment = s;
    if (!segment) throw new VigilError("journal_corrupt", `no journal segment holds sequence ${this.#next}`);
    await this.#openSegment(segment, 0);
    let skip = this.#next - segment.firstSequence;
    while (skip > 0) {
      const nl = this.#buffer.indexOf(0x0a);
      if (nl !== -1) {
        this.#buffer = this.#buffer.subarray(nl + 1);
        skip--;
      } else if ((await this.#fill()) === 0) {
        throw new VigilError("journal_corrupt", `${segment.path} ends before sequence ${this.#next}`);
      }
    }
  }

  async close(): Promise<void> {
    await this.#fh?.close();
    this.#fh = undefined;
  }
}
