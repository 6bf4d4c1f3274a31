/**
 * The journal writer: appends sealed record lines to the active segment with group commit. Appends that arrive
 * while a write+fdatasync is in flight are gathered into the next group, so one fsync covers many requests and
 * throughput grows with concurrency instead of being capped by fsync latency.
 *
 * Contract: `append` resolves only once its lines are on disk (fdatasync done; a new segment's directory entry
 * fsynced too). Appends must be called in sequence order (the sealer guarantees it). After any write or fsync
 * error the writer fails permanently — the page cache state is unknown after a failed fsync, so the only safe
 * continuation is a restart, whose recovery truncates whatever was not durable.
 */
import type { FileHandle } from "node:fs/promises";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { VigilError } from "../errors.ts";
import { ensureDir, fsyncDir } from "../util/fs.ts";
import { type RecoveryResult, recoverJournal } from "./recovery.ts";
import { segmentName } from "./segment.ts";

export interface JournalWriterOptions {
  dir: string;
  /** A new segment starts once the active one reaches this size. */
  segmentBytes: number;
  /** Largest single group write; recovery relies on this bound (see recovery.ts). */
  maxGroupBytes?: number;
}

export const DEFAULT_MAX_GROUP_BYTES = 8 * 1024 * 1024;
const COMMIT_TIMES_KEPT = 4096;

interface PendingAppend {
  data: Buffer;
  firstSequence: number;
  lastSequence: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

interface DurableWaiter {
  after: number;
  resolve: () => void;
}

export class JournalWriter {
  readonly dir: string;
  readonly #segmentBytes: number;
  readonly #maxGroupBytes: number;
  #fh: FileHandle | undefined;
  #size = 0;
  #durable: number;
  #pending: PendingAppend[] = [];
  #pendingEvents = 0;
  #flushing: Promise<void> | undefined;
  #failure: VigilError | undefined;
  #closed = false;
  #waiters = new Set<DurableWaiter>();
  #groups = 0;
  /** When recent groups became durable (last sequence, epoch ms), oldest first, for lag in seconds. */
  #commitTimes: { sequence: number; at: number }[] = [];

  private constructor(opts: JournalWriterOptions, durable: number) {
    this.dir = opts.dir;
    this.#segmentBytes = opts.segmentBytes;
    this.#maxGroupBytes = opts.maxGroupBytes ?? DEFAULT_MAX_GROUP_BYTES;
    this.#durable = durable;
  }

  /** Opens the journal, recovering a torn tail first; returns the chain head to continue sealing from. */
  static async open(
    opts: JournalWriterOptions,
  ): Promise<{ writer: JournalWriter; recovery: RecoveryResult }> {
    await ensureDir(opts.dir);
    const recovery = await recoverJournal(opts.dir, opts.maxGroupBytes ?? DEFAULT_MAX_GROUP_BYTES);
    const writer = new JournalWriter(opts, recovery.head.sequence);
    if (recovery.active) {
      writer.#fh = await open(recovery.active.path, "r+");
      writer.#size = recovery.active.size;
    }
    return { writer, recovery };
  }

  /** Highest sequence number that is on disk. Consumers never read past it. */
  get durableSequence(): number {
    return this.#durable;
  }

  /** Events appended whose fsync has not completed yet. */
  get pendingEvents(): number {
    return this.#pendingEvents;
  }

  /** Set once a write or fsync failed; the writer accepts nothing more. */
  get failure(): VigilError | undefined {
    return this.#failure;
  }

  /** Number of group commits (write + fdatasync) done, for metrics. */
  get groupCommits(): number {
    return this.#groups;
  }

  /**
   * Appends record lines (no trailing newlines) holding sequences firstSequence…firstSequence+lines.length-1.
   * Resolves once they are durable.
   */
  append(lines: string[], firstSequence: number): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#closed) return Promise.reject(new VigilError("journal_failed", "the journal is closed"));
    if (lines.length === 0) return Promise.resolve();
    // Encoded once here; a group is then one writev of these buffers, without copying them.
    const data = Buffer.from(`${lines.join("\n")}\n`, "utf8");
    return new Promise((resolve, reject) => {
      if (data.length <= this.#maxGroupBytes) {
        const lastSequence = firstSequence + lines.length - 1;
        this.#pending.push({ data, firstSequence, lastSequence, resolve, reject });
      } else {
        this.#pushChunks(data, firstSequence, resolve, reject);
      }
      this.#pendingEvents += lines.length;
      this.#flushing ??= this.#flush();
    });
  }

  /**
   * Splits an append larger than maxGroupBytes at line boundaries, so no single write is larger than recovery
   * assumes (see recovery.ts). Only the last chunk resolves the append: groups are written in order, so when it
   * is durable, all of them are.
   */
  #pushChunks(data: Buffer, firstSequence: number, resolve: () => void, reject: (e: Error) => void): void {
    let start = 0;
    let sequence = firstSequence;
    while (start < data.length) {
      let end = data.lastIndexOf(0x0a, start + this.#maxGroupBytes - 1) + 1;
      if (end <= start) end = data.indexOf(0x0a, start) + 1; // one line longer than a group: alone
      const chunk = data.subarray(start, end);
      let count = 0;
      for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) count++;
      const last = end === data.length;
      this.#pending.push({
        data: chunk,
        firstSequence: sequence,
        lastSequence: sequence + count - 1,
        resolve: last ? resolve : () => {},
        reject,
      });
      sequence += count;
      start = end;
    }
  }

  /**
   * When `sequence` became durable (epoch ms), or for a sequence older than the groups remembered, the oldest
   * time remembered; undefined if it is not durable yet.
   */
  durableAt(sequence: number): number | undefined {
    if (sequence > this.#durable) return undefined;
    const times = this.#commitTimes;
    let lo = 0;
    let hi = times.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((times[mid] as { sequence: number }).sequence < sequence) lo = mid + 1;
      else hi = mid;
    }
    return times[lo]?.at;
  }

  /**
   * Resolves once durableSequence > after, or the writer failed or closed, or `signal` aborted (the wait is then
   * forgotten, so a caller that gives up leaves nothing behind).
   */
  waitForDurable(after: number, signal?: AbortSignal): Promise<void> {
    if (this.#durable > after || this.#failure || this.#closed || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter: DurableWaiter = {
        after,
        resolve: () => {
          signal?.removeEventListener("abort", cancel);
          resolve();
        },
      };
      const cancel = () => {
        this.#waiters.delete(waiter);
        resolve();
      };
      signal?.addEventListener("abort", cancel, { once: true });
      this.#waiters.add(waiter);
    });
  }

  async #flush(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        let bytes = 0;
        let n = 0;
        while (n < this.#pending.length) {
          const next = this.#pending[n] as PendingAppend;
          if (n > 0 && bytes + next.data.length > this.#maxGroupBytes) break;
          bytes += next.data.length;
          n++;
        }
        const group = this.#pending.splice(0, n);
        try {
          await this.#writeGroup(group, bytes);
        } catch (e) {
          this.#fail(e, group);
          return;
        }
        const last = group[group.length - 1] as PendingAppend;
        this.#durable = last.lastSequence;
        this.#groups++;
        this.#commitTimes.push({ sequence: last.lastSequence, at: Date.now() });
        if (this.#commitTimes.length > COMMIT_TIMES_KEPT) this.#commitTimes.shift();
        for (const p of group) {
          this.#pendingEvents -= p.lastSequence - p.firstSequence + 1;
          p.resolve();
        }
        this.#notify();
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  async #writeGroup(group: PendingAppend[], bytes: number): Promise<void> {
    const first = group[0] as PendingAppend;
    if (!this.#fh || (this.#size > 0 && this.#size + bytes > this.#segmentBytes)) {
      await this.#roll(first.firstSequence);
    }
    const fh = this.#fh as FileHandle;
    const written = (
      await fh.writev(
        group.map((p) => p.data),
        this.#size,
      )
    ).bytesWritten;
    if (written < bytes) {
      // A short writev (more buffers than IOV_MAX, or a rare short write): the rest from a contiguous copy.
      const rest = Buffer.concat(group.map((p) => p.data)).subarray(written);
      for (let off = 0; off < rest.length; ) {
        const { bytesWritten } = await fh.write(rest, off, rest.length - off, this.#size + written + off);
        off += bytesWritten;
      }
    }
    await fh.datasync();
    this.#size += bytes;
  }

  /** Starts a new segment whose first record is `firstSequence`; its directory entry is made durable. */
  async #roll(firstSequence: number): Promise<void> {
    if (this.#fh) {
      await this.#fh.close();
      this.#fh = undefined;
    }
    this.#fh = await open(join(this.dir, segmentName(firstSequence)), "wx", 0o600);
    this.#size = 0;
    await fsyncDir(this.dir);
  }

  #fail(cause: unknown, inFlight: PendingAppend[]): void {
    const code = (cause as NodeJS.ErrnoException).code ?? "";
    this.#failure = new VigilError(
      "journal_failed",
      `journal write failed${code ? ` (${code})` : ""}: ${(cause as Error).message}; restart Vigil to recover`,
      { cause },
    );
    const all = [...inFlight, ...this.#pending.splice(0)];
    this.#pendingEvents = 0;
    for (const p of all) p.reject(this.#failure);
    this.#notify();
  }

  #notify(): void {
    for (const w of this.#waiters) {
      if (this.#durable > w.after || this.#failure || this.#closed) {
        this.#waiters.delete(w);
        w.resolve();
      }
    }
  }

  /** Waits for pending appends to become durable, then closes. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#flushing) await this.#flushing;
    this.#notify();
    await this.#fh?.close();
    this.#fh = undefined;
  }
}
