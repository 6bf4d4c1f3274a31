/**
 * Splits a Kafka connection's byte stream into frames: each is a 4-byte big-endian size followed by that many
 * bytes. Chunks are kept as they arrive and joined only when a frame spans several, so a frame that came in one
 * chunk is a view of it, not a copy. A size below the smallest header or above the limit is a protocol error
 * (the connection is closed rather than buffering what a hostile peer announces). While a connection carries
 * raw SASL tokens (after a SaslHandshake v0, proxy.ts) frames have no header and may be empty: `raw` allows them.
 */
import { KafkaProtocolError } from "./protocol/index.ts";

/** The smallest frame body: a response header's correlation id (requests are larger). */
const MIN_FRAME = 4;

export class FrameReader {
  readonly #max: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Frames without a Kafka header (raw SASL tokens, which may be empty) are accepted. */
  raw = false;

  /** @param maxFrameBytes the largest frame body accepted */
  constructor(maxFrameBytes: number) {
    this.#max = maxFrameBytes;
  }

  /** Bytes received and not yet returned in a frame. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Adds a chunk; returns the frames it completed, each WITH its 4-byte size prefix. */
  push(chunk: Buffer): Buffer[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const frames: Buffer[] = [];
    for (;;) {
      if (this.#buffered < 4) return frames;
      const size = this.#peekSize();
      if (size < (this.raw ? 0 : MIN_FRAME) || size > this.#max) {
        throw new KafkaProtocolError(
          size > this.#max
            ? `frame of ${size} bytes is larger than the ${this.#max} bytes accepted`
            : `frame size ${size} is too small for a header`,
        );
      }
      if (this.#buffered < 4 + size) return frames;
      frames.push(this.#take(4 + size));
    }
  }

  /**
   * The incomplete frame at the head, when it announces at least `minBytes` and its correlation id is in:
   * its size and the bytes buffered so far (from its size prefix on), taken out of the reader, for the caller to
   * follow the rest of the frame itself (proxy.ts streams large Fetch responses). Call after push(), which has
   * returned every complete frame and checked the size.
   */
  takePartial(minBytes: number): { size: number; head: Buffer } | undefined {
    if (this.#buffered < 8) return undefined;
    const size = this.#peekSize();
    if (size < minBytes || this.#buffered >= 4 + size) return undefined;
    const head = this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks);
    this.#chunks = [];
    this.#buffered = 0;
    return { size, head };
  }

  #peekSize(): number {
    const first = this.#chunks[0] as Buffer;
    if (first.length >= 4) return first.readInt32BE(0);
    const head = Buffer.concat(this.#chunks, Math.min(4, this.#buffered)).subarray(0, 4);
    return head.readInt32BE(0);
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0] as Buffer;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let at = 0;
      while (at < n) {
        const c = this.#chunks[0] as Buffer;
        const part = Math.min(c.length, n - at);
        c.copy(out, at, 0, part);
        at += part;
        if (part === c.length) this.#chunks.shift();
        else this.#chunks[0] = c.subarray(part);
      }
    }
    this.#buffered -= n;
    return out;
  }
}
