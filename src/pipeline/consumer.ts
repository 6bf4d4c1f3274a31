/**
 * Feeds one destination from the journal. Each consumer has its own reader and durable cursor, so a destination
 * that is slow, down or parked never blocks ingest or the other destinations, and catches up after a restart.
 *
 * Delivery is at-least-once and in order: one batch at a time, the cursor committed only after the destination
 * confirmed it, and a destination may report (from its own storage) what it already holds so records are not
 * repeated. The shared delivery machinery of every destination lives here (issue 5, point 1), applying its
 * DeliveryPolicy (destinations/delivery.ts):
 * - batches of at most `maxRecords` records and `maxBytes` bytes, waiting up to `maxWaitMs` for one to fill;
 * - each delivery abandoned (its signal aborted) after `requestTimeoutMs` and retried;
 * - retryable errors retried forever after exponential backoff with full jitter (or the server's Retry-After,
 *   if longer); a permanent error parks the consumer with a clear status instead of looping;
 * - a batch the server refuses as too large is split in halves down to single records; a single record that is
 *   still too large is truncated (or skipped, when even that is too large) or parks the destination, as
 *   `onOversize` says. The journal keeps the full record either way.
 */

import { DEFAULT_DELIVERY, type DeliveryPolicy, truncateRecord } from "../destinations/delivery.ts";
import {
  DeliveryError,
  type Destination,
  type DestinationStatus,
  type RecordBatch,
  type RecordRef,
} from "../destinations/destination.ts";
import { parseRecord, recordReceivedAt } from "../integrity/chain.ts";
import type { CursorStore } from "../journal/cursor.ts";
import { type JournalPosition, JournalReader } from "../journal/reader.ts";
import type { JournalWriter } from "../journal/writer.ts";
import { backoffDelay, sleep, within } from "./retry.ts";

/** A destination's start may take several requests (create a topic, find its last record): this many timeouts. */
const START_TIMEOUT_FACTOR = 4;
/** How long a shutdown waits for an aborted delivery to settle. */
const STOP_GRACE_MS = 5_000;
/** How long a retry waits, at least, for the attempt it replaces to settle after its abort. */
const RETRY_GRACE_MS = 30_000;
/** Longest Retry-After honoured; a server asking for more is asked again after this. */
const MAX_RETRY_AFTER_MS = 3_600_000;
/** A record this small refused as too large means the server's limit is misconfigured, not the record. */
const SMALL_RECORD_BYTES = 4096;

export type ConsumerState = "starting" | "running" | "retrying" | "parked" | "stopped";

export interface ConsumerStatus {
  name: string;
  state: ConsumerState;
  /** Last sequence the destination confirmed. */
  deliveredSequence: number;
  /** Records durable in the journal but not yet confirmed by the destination. */
  lagRecords: number;
  /** How long ago the oldest undelivered record became durable, 0 when caught up. */
  lagSeconds: number;
  deliveredRecords: number;
  /** When the destination last confirmed a batch (ISO 8601). */
  lastDeliveryAt?: string;
  /** Failed starts and deliveries (each retry that failed counts). */
  failures: number;
  /** Deliveries abandoned after the request timeout (also counted in failures). */
  timeouts: number;
  /** Records delivered without their details because the server refused them as too large (on_oversize). */
  truncatedRecords: number;
  /** Records not delivered because even truncated they were too large; they stay in the journal. */
  oversizeSkipped: number;
  lastError?: string;
  /** When the last failure happened (ISO 8601). */
  lastErrorAt?: string;
  /** What the destination itself reports (see Destination.status). */
  destination?: DestinationStatus;
}

export interface ConsumerOptions {
  journalDir: string;
  writer: JournalWriter;
  cursors: CursorStore;
  log: (msg: string) => void;
  /** Batching, timeouts, backoff and oversize handling; DEFAULT_DELIVERY for what is not given. */
  delivery?: Partial<DeliveryPolicy>;
  /** Cursor commits are spaced at least this far apart while busy (always on stop). */
  cursorCommitMs?: number;
  /** Signed checkpoints to publish to the destination once it holds every record they cover. */
  checkpoints?: CheckpointSource;
}

/** Where a consumer learns of signed checkpoints (the Checkpointer). */
export interface CheckpointSource {
  latest(): { size: number; note: string } | undefined;
  onCheckpoint(listener: () => void): () => void;
}

export class JournalConsumer {
  readonly #dest: Destination;
  readonly #opts: Required<Omit<ConsumerOptions, "log" | "checkpoints" | "delivery">> &
    Pick<ConsumerOptions, "log" | "checkpoints">;
  readonly #policy: DeliveryPolicy;
  readonly #abort = new AbortController();
  #reader: JournalReader | undefined;
  #loop: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  /** Size of the newest checkpoint published to the destination (0: none yet in this run). */
  #publishedSize = 0;
  /** Wakes the idle loop when a checkpoint is signed. */
  #wake: (() => void) | undefined;
  /** A checkpoint was signed since the last publish attempt (so a wake while busy is not missed). */
  #checkpointSigned = false;
  /** When the oldest record of the batch in hand was received (its `received_at`), for lag after a restart. */
  #pendingSince: number | undefined;
  #unsubscribe: (() => void) | undefined;
  #state: ConsumerState = "starting";
  #delivered = 0;
  #deliveredRecords = 0;
  #lastDeliveryAt: number | undefined;
  #failures = 0;
  #timeouts = 0;
  #truncated = 0;
  #oversizeSkipped = 0;
  #lastError: string | undefined;
  #lastErrorAt: number | undefined;
  #position: JournalPosition | undefined;
  #committed = 0;
  #lastCommitAt = 0;

  constructor(destination: Destination, opts: ConsumerOptions) {
    this.#dest = destination;
    this.#opts = { cursorCommitMs: 200, ...opts };
    this.#policy = { ...DEFAULT_DELIVERY, ...opts.delivery };
  }

  get name(): string {
    return this.#dest.name;
  }

  /**
   * Loads the cursor and starts delivering in the background. Never throws for the destination's sake: a
   * destination that cannot start is retried (retryable errors) or parked (permanent ones), like a failed
   * delivery, so one bad destination never stops the server or the others.
   */
  async start(): Promise<void> {
    const cursor = await this.#opts.cursors.load(this.name);
    this.#committed = cursor?.sequence ?? 0;
    this.#delivered = this.#committed;
    this.#unsubscribe = this.#opts.checkpoints?.onCheckpoint(() => {
      this.#checkpointSigned = true;
      this.#wake?.();
    });
    this.#loop = this.#run(cursor?.position);
  }

  /** Starts the destination (with retries) and positions the reader; false when stopped or parked. */
  async #open(hint: JournalPosition | undefined, signal: AbortSignal): Promise<boolean> {
    let last: RecordRef | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        const startAbort = new AbortController();
        const onStop = () => startAbort.abort();
        signal.addEventListener("abort", onStop, { once: true, signal: startAbort.signal });
        const limit = START_TIMEOUT_FACTOR * this.#policy.requestTimeoutMs;
        const started = await within(
          this.#dest.start({ committedSequence: this.#committed, signal: startAbort.signal }),
          limit,
          signal,
        ).finally(() => startAbort.abort());
        if (started === "aborted") return false;
        if (started === "timeout") throw new DeliveryError(`did not start within ${limit / 1000} s`, true);
        ({ last } = started);
        break;
      } catch (e) {
        if (!(await this.#failed(e, attempt, signal))) return false;
      }
    }
    let after = this.#delivered;
    if (last !== undefined) {
      const foreign = await this.#foreignRecord(last);
      if (foreign) {
        this.#park(new Error(foreign));
        return false;
      }
      if (last.sequence > after) {
        // The destination holds records the cursor had not recorded yet (crash between delivery and commit).
        after = last.sequence;
        hint = undefined;
      }
    }
    this.#delivered = after;
    this.#reader = new JournalReader(this.#opts.journalDir, after + 1, hint);
    this.#state = "running";
    return true;
  }

  /**
   * Why the destination's newest record is not this journal's record at that sequence (it holds another
   * chain's records, e.g. a data directory was recreated while the destination's files were kept), or
   * undefined when it is. Appending to such a destination would mix two chains, so the consumer parks instead.
   */
  async #foreignRecord(last: RecordRef): Promise<string | undefined> {
    const durable = this.#opts.writer.durableSequence;
    const advice =
      "move its files away (or point it at a new path) and restart; the journal keeps every record";
    if (last.sequence > durable) {
      return `it holds sequence ${last.sequence}, beyond this journal's ${durable}: another chain's records; ${advice}`;
    }
    const reader = new JournalReader(this.#opts.journalDir, last.sequence);
    try {
      const line = (await reader.read(durable, 1, 1))?.lines[0];
      const parsed = line === undefined ? undefined : parseRecord(line);
      if (parsed?.ok && parsed.record.integrity.signature === last.signature) return undefined;
      return `its record ${last.sequence} is not this journal's record ${last.sequence}: another chain's records; ${advice}`;
    } finally {
      await reader.close();
    }
  }

  status(): ConsumerStatus {
    const durable = this.#opts.writer.durableSequence;
    const lag = Math.max(0, durable - this.#delivered);
    return {
      name: this.name,
      state: this.#state,
      deliveredSequence: this.#delivered,
      lagRecords: lag,
      lagSeconds:
        lag > 0
          ? (Date.now() -
              (this.#opts.writer.durableAt(this.#delivered + 1) ?? this.#pendingSince ?? Date.now())) /
            1000
          : 0,
      deliveredRecords: this.#deliveredRecords,
      ...(this.#lastDeliveryAt === undefined
        ? {}
        : { lastDeliveryAt: new Date(this.#lastDeliveryAt).toISOString() }),
      failures: this.#failures,
      timeouts: this.#timeouts,
      truncatedRecords: this.#truncated,
      oversizeSkipped: this.#oversizeSkipped,
      ...(this.#lastError === undefined ? {} : { lastError: this.#lastError }),
      ...(this.#lastErrorAt === undefined ? {} : { lastErrorAt: new Date(this.#lastErrorAt).toISOString() }),
      ...(this.#dest.status === undefined ? {} : { destination: this.#dest.status() }),
    };
  }

  async #run(hint: JournalPosition | undefined): Promise<void> {
    const { writer } = this.#opts;
    const signal = this.#abort.signal;
    try {
      if (!(await this.#open(hint, signal))) return;
      const reader = this.#reader as JournalReader;
      while (!signal.aborted) {
        if (!(await this.#linger(reader.nextSequence))) break;
        const batch = await reader.read(
          writer.durableSequence,
          this.#policy.maxRecords,
          this.#policy.maxBytes,
        );
        if (!batch) {
          this.#pendingSince = undefined;
          await this.#commit(false);
          await this.#publishCheckpoint();
          if (writer.failure) return;
          if (this.#checkpointSigned) continue; // signed while publishing: publish it before sleeping
          await this.#idle((wait) => [
            writer.waitForDurable(reader.nextSequence - 1, wait),
            new Promise<void>((resolve) => {
              this.#wake = resolve;
            }),
          ]);
          this.#wake = undefined;
          continue;
        }
        this.#pendingSince = batch.lines[0] === undefined ? undefined : recordReceivedAt(batch.lines[0]);
        const position = reader.position;
        if (!(await this.#deliverSplitting(batch, signal))) {
          await this.#commit(false); // what was confirmed before a stop or park part-way through the batch
          return;
        }
        this.#position = position;
        await this.#commit(true);
        await this.#publishCheckpoint();
      }
    } catch (e) {
      this.#park(e);
    }
  }

  /**
   * Waits, when the policy has a `maxWaitMs`, until a full batch is durable or the oldest waiting record has
   * waited that long. False when stopped meanwhile.
   */
  async #linger(next: number): Promise<boolean> {
    const { maxWaitMs, maxRecords } = this.#policy;
    const { writer } = this.#opts;
    if (maxWaitMs === 0) return true;
    const available = writer.durableSequence - next + 1;
    if (available <= 0 || available >= maxRecords) return true;
    const remaining = (writer.durableAt(next) ?? Date.now()) + maxWaitMs - Date.now();
    if (remaining <= 0) return true;
    await this.#idle((wait) => [writer.waitForDurable(next + maxRecords - 2, wait), sleep(remaining, wait)]);
    return !this.#abort.signal.aborted;
  }

  /**
   * Waits until one of the waits `make` starts settles, or the consumer stops. Each wait gets a signal that is
   * aborted once this returns, so nothing is left registered (journal waiters, timers, stop listeners): an idle
   * consumer wakes many times a second for as long as the server runs.
   */
  async #idle(make: (signal: AbortSignal) => Promise<unknown>[]): Promise<void> {
    const stop = this.#abort.signal;
    if (stop.aborted) return;
    const local = new AbortController();
    const stopped = new Promise<void>((resolve) => {
      local.signal.addEventListener("abort", () => resolve(), { once: true });
      stop.addEventListener("abort", () => local.abort(), { once: true, signal: local.signal });
    });
    try {
      await Promise.race([...make(local.signal), stopped]);
    } finally {
      local.abort();
    }
  }

  /**
   * Delivers a batch; when the server refuses it as too large, delivers its halves one after the other (in
   * order), down to a single record, which `onOversize` decides about. False when stopped or parked.
   */
  async #deliverSplitting(batch: RecordBatch, signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return false;
    const outcome = await this.#deliver(batch, signal);
    if (outcome === "delivered") this.#confirmed(batch);
    if (outcome !== "too_large") return outcome === "delivered";
    if (batch.lines.length > 1) {
      const half = Math.ceil(batch.lines.length / 2);
      const part = (from: number, to?: number): RecordBatch => ({
        firstSequence: batch.firstSequence + from,
        lines: batch.lines.slice(from, to),
        ...(batch.positions ? { positions: batch.positions.slice(from, to) } : {}),
      });
      return (
        (await this.#deliverSplitting(part(0, half), signal)) &&
        (await this.#deliverSplitting(part(half), signal))
      );
    }
    const sequence = batch.firstSequence;
    const size = (batch.lines[0] as Buffer).length;
    if (size <= SMALL_RECORD_BYTES) {
      // Truncating or skipping would quietly empty the destination: the server's limit is what is wrong.
      this.#park(
        new Error(
          `the server refuses record ${sequence} of only ${size} bytes as too large: check its size limit`,
        ),
      );
      return false;
    }
    if (this.#policy.onOversize === "park") {
      this.#park(new Error(`record ${sequence} is too large for the destination (on_oversize: park)`));
      return false;
    }
    const truncated = truncateRecord(batch.lines[0] as Buffer);
    if (truncated !== undefined) {
      const again = await this.#deliver({ firstSequence: sequence, lines: [truncated] }, signal);
      if (again !== "too_large") {
        if (again === "delivered") {
          this.#confirmed(batch);
          this.#truncated++;
          this.#opts.log(
            `destination ${this.name}: record ${sequence} was too large; delivered without its details`,
          );
        }
        return again === "delivered";
      }
    }
    this.#confirmed(batch);
    this.#oversizeSkipped++;
    this.#opts.log(
      `destination ${this.name}: record ${sequence} is too large even without its details; skipped here ` +
        "(it stays in the journal and the other destinations)",
    );
    return true;
  }

  /**
   * Records that the destination holds (or, for an oversize record, has dealt with) a batch or part of one. The
   * journal position is cleared: it is set again only once the whole batch read from the reader is done, so a
   * cursor committed in between is found by sequence.
   */
  #confirmed(batch: RecordBatch): void {
    this.#delivered = batch.firstSequence + batch.lines.length - 1;
    this.#deliveredRecords += batch.lines.length;
    this.#lastDeliveryAt = Date.now();
    this.#position = undefined;
  }

  /** Delivers with retries, each attempt bounded by the request timeout. */
  async #deliver(batch: RecordBatch, signal: AbortSignal): Promise<"delivered" | "too_large" | "stopped"> {
    for (let attempt = 0; ; attempt++) {
      const attemptAbort = new AbortController();
      const onStop = () => attemptAbort.abort();
      signal.addEventListener("abort", onStop, { once: true });
      const delivery = this.#dest.deliver(batch, attemptAbort.signal);
      try {
        const result = await within(delivery, this.#policy.requestTimeoutMs, signal);
        if (result === "timeout" || result === "aborted") {
          attemptAbort.abort();
          // Wait for the abandoned attempt to settle: the next one must not overtake it (ordered delivery). A
          // destination that ignores its signal is waited for a while longer, then left behind, so neither a
          // retry nor a shutdown hangs on it for ever.
          const grace =
            result === "aborted" ? STOP_GRACE_MS : Math.max(this.#policy.requestTimeoutMs, RETRY_GRACE_MS);
          const settled = await within(
            delivery.then(
              () => true,
              () => true,
            ),
            grace,
            new AbortController().signal,
          );
          if (settled === "timeout") {
            this.#opts.log(
              `destination ${this.name}: an abandoned delivery did not settle within ${grace / 1000} s of its abort`,
            );
          }
          if (result === "aborted") return "stopped";
          this.#timeouts++;
          throw new DeliveryError(
            `no confirmation within the request timeout (${this.#policy.requestTimeoutMs / 1000} s)`,
            true,
          );
        }
        if (this.#state === "retrying") this.#opts.log(`destination ${this.name}: delivering again`);
        this.#state = "running";
        return "delivered";
      } catch (e) {
        if (e instanceof DeliveryError && e.tooLarge) return "too_large";
        if (!(await this.#failed(e, attempt, signal))) return "stopped";
      } finally {
        signal.removeEventListener("abort", onStop);
      }
    }
  }

  /**
   * Records a failed start or delivery. A permanent error parks the consumer (false); a retryable one waits the
   * backoff for this attempt (false if stopped meanwhile, true to try again).
   */
  async #failed(e: unknown, attempt: number, signal: AbortSignal): Promise<boolean> {
    this.#failures++;
    this.#lastError = (e as Error).message;
    this.#lastErrorAt = Date.now();
    if (!(e instanceof DeliveryError) || !e.retryable) {
      this.#park(e);
      return false;
    }
    if (this.#state !== "retrying") this.#opts.log(`destination ${this.name}: ${this.#lastError}; retrying`);
    this.#state = "retrying";
    const asked = Math.min(e.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS);
    return sleep(Math.max(backoffDelay(attempt, this.#policy.backoff), asked), signal);
  }

  /**
   * Publishes the newest checkpoint once the destination holds every record it covers. A failure is logged and
   * retried at the next chance; it never parks the destination (the records themselves were delivered).
   */
  async #publishCheckpoint(): Promise<void> {
    this.#checkpointSigned = false;
    const cp = this.#opts.checkpoints?.latest();
    if (!cp || !this.#dest.publishCheckpoint || cp.size > this.#delivered || cp.size <= this.#publishedSize)
      return;
    // Bounded like a delivery, and never cut short by a shutdown: stop() publishes the final checkpoint.
    const abort = new AbortController();
    try {
      const result = await within(
        this.#dest.publishCheckpoint(cp, abort.signal),
        this.#policy.requestTimeoutMs,
        abort.signal,
      );
      if (result === "timeout")
        throw new Error(`no confirmation within ${this.#policy.requestTimeoutMs / 1000} s`);
      this.#publishedSize = cp.size;
    } catch (e) {
      this.#opts.log(
        `destination ${this.name}: could not publish checkpoint ${cp.size}: ${(e as Error).message}`,
      );
    } finally {
      abort.abort();
    }
  }

  #park(e: unknown): void {
    this.#state = "parked";
    this.#lastError = (e as Error).message;
    this.#lastErrorAt = Date.now();
    this.#opts.log(
      `destination ${this.name} parked after a permanent error: ${this.#lastError}. ` +
        "Records stay in the journal; fix the cause and restart to resume.",
    );
  }

  async #commit(busy: boolean): Promise<void> {
    // A destination without acknowledgements (syslog) may hold back what it is not sure arrived: the cursor
    // stops there, so a restart sends those records again rather than lose them.
    const settled = this.#dest.settledSequence?.();
    const sequence = settled === undefined ? this.#delivered : Math.min(this.#delivered, settled);
    if (sequence <= this.#committed) return;
    if (busy && Date.now() - this.#lastCommitAt < this.#opts.cursorCommitMs) return;
    await this.#opts.cursors.save({
      name: this.name,
      sequence,
      // The reader's position names #delivered + 1: useless for an older sequence (found by sequence instead).
      ...(this.#position && sequence === this.#delivered ? { position: this.#position } : {}),
    });
    this.#committed = sequence;
    this.#lastCommitAt = Date.now();
  }

  /** Stops after the batch in flight (if any) completes or is abandoned; commits the cursor. Safe twice. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#unsubscribe?.();
      this.#abort.abort();
      await this.#loop;
      // What the destination confirmed is committed even when it parked part-way through a batch.
      const started = this.#state !== "starting";
      if (started) await this.#commit(false).catch(() => {});
      // A destination that is down would only make the shutdown wait for a checkpoint it cannot take.
      if (this.#state === "running") await this.#publishCheckpoint();
      if (this.#state !== "parked") this.#state = "stopped";
      await this.#reader?.close();
      await this.#dest.stop();
      // Stopping may settle what a destination without acknowledgements held back (syslog's graceful close).
      if (started && this.#dest.settledSequence !== undefined) {
        await this.#commit(false).catch(() => {});
      }
    })();
    return this.#stopping;
  }
}
