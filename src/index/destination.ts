/**
 * The index as one more journal consumer (issue 6, point 1): a JournalConsumer feeds it like any destination,
 * with its own durable cursor. The index itself records the newest record it holds (index_meta), committed with
 * the rows, so `start` reports it and a batch delivered again after a crash is not indexed twice. The index
 * runs on its own worker thread (thread.ts), off the thread that answers ingest.
 */
import type { Destination, RecordBatch, RecordRef, StartFrom } from "../destinations/destination.ts";
import { DeliveryError } from "../destinations/destination.ts";
import { IndexThread } from "./thread.ts";

/**
 * Recommended delivery batch for the index's JournalConsumer: each batch is one DuckDB transaction (WAL write
 * and commit), so larger batches index markedly faster (about 1.5x at 5,000 records than at 1,000). The byte
 * limit is raised with it, or the default 4 MiB would cut batches of 1 KB events short of 5,000. A batch waits
 * up to 100 ms to fill: under a trickle of events (a proxy sealing a few at a time) that turns hundreds of
 * one-record transactions a second into a few larger ones, for 0.1 s more before a record is searchable.
 */
export const INDEX_DELIVERY = { maxRecords: 5_000, maxBytes: 16 * 1024 * 1024, maxWaitMs: 100 } as const;

export class IndexDestination implements Destination {
  readonly name: string;
  readonly #path: string;
  #index: IndexThread | undefined;
  /** The index being opened by start(), until it is. */
  #opening: Promise<IndexThread> | undefined;
  #stopped = false;

  /** @param path the DuckDB database file; @param name names the consumer's cursor */
  constructor(path: string, name = "index") {
    this.#path = path;
    this.name = name;
  }

  /**
   * The open index (for queries beside the consumer): undefined before start, after stop, and once its thread
   * has failed. (The server also stops searching an index its consumer parked: src/server/app.ts.)
   */
  get index(): IndexThread | undefined {
    return this.#index?.alive ? this.#index : undefined;
  }

  async start(from: StartFrom): Promise<{ last?: RecordRef }> {
    if (!this.#index?.alive) {
      this.#stopped = false;
      // A start retried after a timeout waits for the open already under way instead of opening the file twice.
      this.#opening ??= IndexThread.open(this.#path).finally(() => {
        this.#opening = undefined;
      });
      try {
        this.#index = await this.#opening;
      } catch (e) {
        throw new DeliveryError(`cannot open the index ${this.#path}: ${(e as Error).message}`, false, {
          cause: e,
        });
      }
    }
    // Stopped while opening: stop() closes what was opened (its worker would keep the process alive).
    if (this.#stopped) throw new DeliveryError("the index is stopping", true);
    const last = this.#index.last;
    if (!last && from.committedSequence > 0) {
      // Its file was replaced by an empty one: indexing on from the cursor would leave the rest out for good.
      throw new DeliveryError(
        `the index ${this.#path} is empty but its cursor says ${from.committedSequence} records were indexed: ` +
          "rebuild it with vigil reindex",
        false,
      );
    }
    return last ? { last } : {};
  }

  async deliver(batch: RecordBatch, signal: AbortSignal): Promise<void> {
    const index = this.#index;
    if (!index || this.#stopped) throw new DeliveryError("index is not open", true);
    if (signal.aborted) throw new DeliveryError("delivery aborted", true);
    try {
      await index.append(batch);
    } catch (e) {
      if (this.#stopped) throw new DeliveryError("the index is stopping", true, { cause: e });
      throw new DeliveryError(`indexing failed: ${(e as Error).message}`, false, { cause: e });
    }
  }

  /** Closes the index and ends its thread, also one still opening. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#opening?.catch(() => undefined);
    const index = this.#index;
    this.#index = undefined;
    await index?.close();
  }
}
