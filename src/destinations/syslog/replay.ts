/**
 * The replay window of a TCP or TLS syslog connection. Syslog over a stream has no acknowledgement: a write that
 * completed only handed the bytes to the kernel, and a server that stops or crashes drops what it had not read
 * yet (rsyslog stopped right after a write loses part of it). So the frames written on the current connection
 * during the last `windowMs` (and at most `maxBytes`, oldest dropped first) are kept, and when the connection
 * breaks they are re-sent, in order, on the next one before anything new: a receiver may see repeats
 * (at-least-once; the sequence number tells them apart), never a gap, provided the break shows within the window.
 */
const DROPPED = Buffer.alloc(0);

export class ReplayWindow {
  readonly windowMs: number;
  readonly maxBytes: number;
  #frames: Buffer[] = [];
  #times: number[] = [];
  /** Index of the oldest kept frame: dropping from the front is O(1), the arrays are compacted now and then. */
  #head = 0;
  #bytes = 0;

  constructor(windowMs: number, maxBytes: number) {
    this.windowMs = windowMs;
    this.maxBytes = maxBytes;
  }

  /** Frames kept. */
  get size(): number {
    return this.#frames.length - this.#head;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Keeps frames just written (a window of 0 keeps nothing). */
  add(frames: readonly Buffer[], now: number): void {
    if (this.windowMs === 0) return;
    for (const frame of frames) {
      this.#frames.push(frame);
      this.#times.push(now);
      this.#bytes += frame.length;
    }
    this.#prune(now);
  }

  /** The frames written within the window before `now`, oldest first, and empties the window. */
  take(now: number): Buffer[] {
    this.#prune(now);
    const out = this.#frames.slice(this.#head);
    this.#frames = [];
    this.#times = [];
    this.#head = 0;
    this.#bytes = 0;
    return out;
  }

  #prune(now: number): void {
    const oldest = now - this.windowMs;
    while (this.#head < this.#frames.length) {
      const at = this.#times[this.#head] as number;
      if (at >= oldest && this.#bytes <= this.maxBytes) break;
      this.#bytes -= (this.#frames[this.#head] as Buffer).length;
      this.#frames[this.#head] = DROPPED; // free it now, not at the next compaction
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#frames.length) {
      this.#frames = this.#frames.slice(this.#head);
      this.#times = this.#times.slice(this.#head);
      this.#head = 0;
    }
  }
}
