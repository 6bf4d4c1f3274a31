/**
 * The replay window of a TCP or TLS syslog connection. Syslog over a stream has no acknowledgement: a write that
 * completed only handed the bytes to the kernel, and a server that stops, crashes or hangs drops what it had not
 * read yet (what sits in either side's socket buffers, and what it read but had not processed). So every frame
 * written on the current connection is kept, with the record sequence it carries, until it is presumed received;
 * when the connection breaks the frames kept are re-sent, in order, on the next one before anything new (a
 * receiver may see repeats, never a gap), and a destination stopped meanwhile leaves them unsettled (the cursor
 * stays before them, so they are read from the journal and sent again after a restart).
 *
 * When a frame is presumed received: once a LATER write on the same connection completed more than `windowMs`
 * after the frame's own write did, and at least `bufferBytes` were written after it (more than the two sides'
 * socket buffers can hold unread, so the frame has left them: at a low rate, seconds of writes still fit there). A frame's age thus counts only while writes keep completing: the connection
 * kept taking data for that long after it. An idle connection, or one whose writes block because the server stopped
 * reading, ages nothing, and taking the window after a break (a failed or abandoned write, the server's FIN or
 * reset) drops nothing, however long ago the frames were written.
 *
 * The window holds at most `maxBytes`, but for one write larger than that (it waits until every frame before it
 * can go, and is then kept whole). It never drops a frame to stay under it, which would settle a record that may
 * not have arrived: a write that would take it over must wait (`waitMs`) until enough older frames will have
 * aged out when it completes. So the sustained rate of one connection is at most `maxBytes` per `windowMs`; past that, delivery
 * slows down (backpressure) rather than losing the guarantee.
 */

/** A frame written (or to write) on a connection, and the sequence of the record it carries. */
export interface SentFrame {
  frame: Buffer;
  sequence: number;
}

const DROPPED: SentFrame = { frame: Buffer.alloc(0), sequence: 0 };

export class ReplayWindow {
  readonly windowMs: number;
  readonly maxBytes: number;
  readonly bufferBytes: number;
  #frames: SentFrame[] = [];
  /** When the write of each frame completed. */
  #times: number[] = [];
  /** Index of the oldest kept frame: dropping from the front is O(1), the arrays are compacted now and then. */
  #head = 0;
  #bytes = 0;

  constructor(windowMs: number, maxBytes: number, bufferBytes = 0) {
    this.windowMs = windowMs;
    this.maxBytes = maxBytes;
    this.bufferBytes = bufferBytes;
  }

  /** Frames kept. */
  get size(): number {
    return this.#frames.length - this.#head;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The sequence of the oldest frame kept, undefined when there is none. */
  get oldestSequence(): number | undefined {
    return this.size === 0 ? undefined : (this.#frames[this.#head] as SentFrame).sequence;
  }

  /**
   * Keeps the frames of a write that completed at `completedAt`, and drops the frames whose own write completed
   * more than `windowMs` before it with `bufferBytes` written after them (they are presumed received). A window of
   * 0 keeps nothing.
   */
  add(frames: readonly SentFrame[], completedAt: number): void {
    if (this.windowMs === 0) return;
    for (const frame of frames) {
      this.#frames.push(frame);
      this.#times.push(completedAt);
      this.#bytes += frame.frame.length;
    }
    const oldest = completedAt - this.windowMs;
    while (
      this.#head < this.#frames.length &&
      (this.#times[this.#head] as number) < oldest &&
      this.#bytes - (this.#frames[this.#head] as SentFrame).frame.length >= this.bufferBytes
    ) {
      this.#bytes -= (this.#frames[this.#head] as SentFrame).frame.length;
      this.#frames[this.#head] = DROPPED; // free it now, not at the next compaction
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#frames.length) {
      this.#frames = this.#frames.slice(this.#head);
      this.#times = this.#times.slice(this.#head);
      this.#head = 0;
    }
  }

  /**
   * How long a write of `bytes` more must wait, from `now`, so that the window stays within `maxBytes` once it
   * completes: until enough of the oldest frames are older than `windowMs` (a write completing then drops them).
   * 0 when it fits now; a write larger than `maxBytes` waits until the whole window can go.
   */
  waitMs(bytes: number, now: number): number {
    const excess = Math.min(this.#bytes, this.#bytes + bytes - this.maxBytes);
    if (this.windowMs === 0 || excess <= 0) return 0;
    let freed = 0;
    let i = this.#head;
    while (freed < excess) {
      freed += (this.#frames[i] as SentFrame).frame.length;
      i++;
    }
    // The frame freeing enough is dropped by a write completing more than windowMs after it.
    return Math.max(0, (this.#times[i - 1] as number) + this.windowMs + 1 - now);
  }

  /** Every frame kept, oldest first, and empties the window: nothing is dropped for its age here. */
  take(): SentFrame[] {
    const out = this.#frames.slice(this.#head);
    this.#frames = [];
    this.#times = [];
    this.#head = 0;
    this.#bytes = 0;
    return out;
  }
}
