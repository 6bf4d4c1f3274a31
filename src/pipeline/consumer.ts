/**
 * Feeds one destination from the journal. Each consumer has its own reader and durable cursor, so a destination
 * that is slow, down or parked never blocks ingest or the other destinations, and catches up after a restart.
 *
 * Delivery is at-least-once: the cursor is committed only after the destination confirmed a batch, and a
 * destination may report (from its own storage) what it already holds so records are not repeated. Retryable
 * errors are retried with backoff forever; a permanent error parks the consumer with a clear status.
 */
import {
  DeliveryError,
  type Destination,
  type DestinationStatus,
  type RecordRef,
} from "../destinations/destination.ts";
import { parseRecord } from "../integrity/chain.ts";
import type { CursorStore } from "../journal/cursor.ts";
import { type JournalPosition, JournalReader } from "../journal/reader.ts";
import type { JournalWriter } from "../journal/writer.ts";
import { type BackoffOptions, backoffDelay, sleep } from "./retry.ts";

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
  failures: number;
  lastError?: string;
  /** What the destination itself reports (see Destination.status). */
  destination?: DestinationStatus;
}

export interface ConsumerOptions {
  journalDir: string;
  writer: JournalWriter;
  cursors: CursorStore;
  log: (msg: string) => void;
  maxBatchRecords?: number;
  maxBatchBytes?: number;
  backoff?: BackoffOptions;
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
  readonly #opts: Required<Omit<ConsumerOptions, "log" | "checkpoints">> &
    Pick<ConsumerOptions, "log" | "checkpoints">;
  readonly #abort = new AbortController();
  #reader: JournalReader | undefined;
  #loop: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  /** Size of the newest checkpoint published to the destination (0: none yet in this run). */
  #publishedSize = 0;
  /** Wakes the idle loop when a checkpoint is signed. */
  #wake: (() => void) | undefined;
  #unsubscribe: (() => void) | undefined;
  #state: ConsumerState = "starting";
  #delivered = 0;
  #deliveredRecords = 0;
  #failures = 0;
  #lastError: string | undefined;
  #position: JournalPosition | undefined;
  #committed = 0;
  #lastCommitAt = 0;

  constructor(destination: Destination, opts: ConsumerOptions) {
    this.#dest = destination;
    this.#opts = {
      maxBatchRecords: 1000,
      maxBatchBytes: 4 * 1024 * 1024,
      backoff: { initialMs: 100, maxMs: 30_000 },
      cursorCommitMs: 200,
      ...opts,
    };
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
    this.#unsubscribe = this.#opts.checkpoints?.onCheckpoint(() => this.#wake?.());
    this.#loop = this.#run(cursor?.position);
  }

  /** Starts the destination (with retries) and positions the reader; false when stopped or parked. */
  async #open(hint: JournalPosition | undefined, signal: AbortSignal): Promise<boolean> {
    let last: RecordRef | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        ({ last } = await this.#dest.start());
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
        lag > 0 ? (Date.now() - (this.#opts.writer.durableAt(this.#delivered + 1) ?? Date.now())) / 1000 : 0,
      deliveredRecords: this.#deliveredRecords,
      failures: this.#failures,
      ...(this.#lastError === undefined ? {} : { lastError: this.#lastError }),
      ...(this.#dest.status === undefined ? {} : { destination: this.#dest.status() }),
    };
  }

  async #run(hint: JournalPosition | undefined): Promise<void> {
    const { writer } = this.#opts;
    const signal = this.#abort.signal;
    const stopped = abortPromise(signal);
    try {
      if (!(await this.#open(hint, signal))) return;
      const reader = this.#reader as JournalReader;
      while (!signal.aborted) {
        const batch = await reader.read(
          writer.durableSequence,
          this.#opts.maxBatchRecords,
          this.#opts.maxBatchBytes,
        );
        if (!batch) {
          await this.#commit(false);
          await this.#publishCheckpoint();
          if (writer.failure) return;
          const checkpointSigned = new Promise<void>((resolve) => {
            this.#wake = resolve;
          });
          await Promise.race([writer.waitForDurable(reader.nextSequence - 1), stopped, checkpointSigned]);
          this.#wake = undefined;
          continue;
        }
        const position = reader.position;
        if (!(await this.#deliver(batch, signal))) return;
        this.#delivered = batch.firstSequence + batch.lines.length - 1;
        this.#deliveredRecords += batch.lines.length;
        this.#position = position;
        await this.#commit(true);
        await this.#publishCheckpoint();
      }
    } catch (e) {
      this.#park(e);
    }
  }

  /** Delivers with retries; false when stopped or parked. */
  async #deliver(batch: Parameters<Destination["deliver"]>[0], signal: AbortSignal): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#dest.deliver(batch);
        if (this.#state === "retrying") this.#opts.log(`destination ${this.name}: delivering again`);
        this.#state = "running";
        return true;
      } catch (e) {
        if (!(await this.#failed(e, attempt, signal))) return false;
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
    if (!(e instanceof DeliveryError) || !e.retryable) {
      this.#park(e);
      return false;
    }
    if (this.#state !== "retrying") this.#opts.log(`destination ${this.name}: ${this.#lastError}; retrying`);
    this.#state = "retrying";
    return sleep(backoffDelay(attempt, this.#opts.backoff), signal);
  }

  /**
   * Publishes the newest checkpoint once the destination holds every record it covers. A failure is logged and
   * retried at the next chance; it never parks the destination (the records themselves were delivered).
   */
  async #publishCheckpoint(): Promise<void> {
    const cp = this.#opts.checkpoints?.latest();
    if (!cp || !this.#dest.publishCheckpoint || cp.size > this.#delivered || cp.size <= this.#publishedSize)
      return;
    try {
      await this.#dest.publishCheckpoint(cp);
      this.#publishedSize = cp.size;
    } catch (e) {
      this.#opts.log(
        `destination ${this.name}: could not publish checkpoint ${cp.size}: ${(e as Error).message}`,
      );
    }
  }

  #park(e: unknown): void {
    this.#state = "parked";
    this.#lastError = (e as Error).message;
    this.#opts.log(
      `destination ${this.name} parked after a permanent error: ${this.#lastError}. ` +
        "Records stay in the journal; fix the cause and restart to resume.",
    );
  }

  async #commit(busy: boolean): Promise<void> {
    if (this.#delivered === this.#committed) return;
    if (busy && Date.now() - this.#lastCommitAt < this.#opts.cursorCommitMs) return;
    const sequence = this.#delivered;
    await this.#opts.cursors.save({
      name: this.name,
      sequence,
      ...(this.#position ? { position: this.#position } : {}),
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
      if (this.#state !== "parked" && this.#state !== "starting") {
        await this.#commit(false).catch(() => {});
        await this.#publishCheckpoint();
      }
      if (this.#state !== "parked") this.#state = "stopped";
      await this.#reader?.close();
      await this.#dest.stop();
    })();
    return this.#stopping;
  }
}

function abortPromise(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
