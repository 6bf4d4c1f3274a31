/**
 * Runs the search index (EventIndex, store.ts) on a worker thread, so turning each record into its row (JSON
 * parsing, the staging values) and DuckDB's own work never take time from the thread that seals and answers
 * ingest. On two cores, indexing on the main thread took HTTP ingest from ~50k to ~39k events/s: the ~5 µs of
 * JavaScript per record was added to the ~20 µs the main thread spends on each event (docs/benchmarks.md).
 *
 * IndexThread offers what the index consumer (destination.ts) and the search service use of an EventIndex:
 * `last`, `append`, `query`, `checkpoint`, `close`. A batch crosses as transferred buffers (the record lines,
 * their end offsets, their journal positions: one copy, no per-record message); queries and their rows cross by
 * structured clone.
 * Calls are answered in order; an error keeps its VigilError code.
 */
import { Worker } from "node:worker_threads";
import type { RecordBatch, RecordRef } from "../destinations/destination.ts";
import { type ErrorCode, VigilError } from "../errors.ts";
import type { QueryParams, SearchableIndex } from "./store.ts";

/** Requests to the worker; `id` pairs each with its answer. */
export type IndexRequest =
  | {
      id: number;
      op: "append";
      firstSequence: number;
      /** The record lines, one after the other. */
      data: Uint8Array;
      /** Where each line ends in `data`. */
      ends: Uint32Array;
      /** Each line's journal segment and offset, in pairs (NaN: none). */
      positions: Float64Array;
    }
  | { id: number; op: "query"; sql: string; params?: QueryParams }
  | { id: number; op: "checkpoint" }
  | { id: number; op: "close" };

export interface WireError {
  message: string;
  code?: ErrorCode;
}

/** Answers from the worker. */
export type IndexAnswer =
  | { type: "ready"; last?: RecordRef }
  | { type: "failed"; error: WireError }
  | { type: "result"; id: number; value: unknown; last?: RecordRef }
  | { type: "error"; id: number; error: WireError };

const fromWire = (e: WireError): Error => (e.code ? new VigilError(e.code, e.message) : new Error(e.message));

/** How long close() waits for the worker to finish its calls and close the database. */
const CLOSE_TIMEOUT_MS = 10_000;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (e: Error) => void;
}

export class IndexThread implements SearchableIndex {
  readonly path: string;
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #last: RecordRef | undefined;
  /** Set once the worker is gone or closing: every later call fails with it. */
  #gone: Error | undefined;
  #closing: Promise<void> | undefined;

  private constructor(path: string, worker: Worker, last: RecordRef | undefined) {
    this.path = path;
    this.#worker = worker;
    this.#last = last;
  }

  /**
   * Starts the worker and opens the index at `path` there; rejects (and ends the worker) when it cannot be
   * opened, with the error EventIndex.open gave.
   */
  static open(path: string): Promise<IndexThread> {
    const worker = new Worker(new URL("./thread-worker.ts", import.meta.url), { workerData: { path } });
    return new Promise((resolve, reject) => {
      let thread: IndexThread | undefined;
      worker.on("message", (m: IndexAnswer) => {
        switch (m.type) {
          case "ready":
            thread = new IndexThread(path, worker, m.last);
            resolve(thread);
            break;
          case "failed":
            reject(fromWire(m.error));
            void worker.terminate();
            break;
          default:
            if (thread) thread.#answer(m);
        }
      });
      const fail = (e: Error) => {
        reject(e);
        if (thread) thread.#fail(e);
      };
      worker.on("error", (e) => fail(new VigilError("internal", `index thread failed: ${e.message}`)));
      worker.on("exit", () => fail(new VigilError("internal", `index ${path} is closed`)));
    });
  }

  /** False once the worker has failed or the index was closed. */
  get alive(): boolean {
    return this.#gone === undefined;
  }

  /** The newest record indexed, or undefined for an empty index. */
  get last(): RecordRef | undefined {
    return this.#last;
  }

  /** As EventIndex.append: the batch in one transaction; resolves with the rows appended once committed. */
  async append(batch: RecordBatch): Promise<number> {
    let total = 0;
    for (const line of batch.lines) total += line.length;
    // A fresh buffer of its own (never a pooled slice), so it can be transferred rather than copied again.
    const data = new Uint8Array(total);
    const ends = new Uint32Array(batch.lines.length);
    const positions = new Float64Array(batch.lines.length * 2);
    let at = 0;
    batch.lines.forEach((line, i) => {
      data.set(line, at);
      at += line.length;
      ends[i] = at;
      const position = batch.positions?.[i];
      positions[2 * i] = position?.segment ?? Number.NaN;
      positions[2 * i + 1] = position?.offset ?? Number.NaN;
    });
    return (await this.#call({ op: "append", firstSequence: batch.firstSequence, data, ends, positions }, [
      data.buffer,
      ends.buffer,
      positions.buffer,
    ])) as number;
  }

  /** As EventIndex.query: a read-only query over committed rows. */
  async query(sql: string, params?: QueryParams): Promise<Record<string, unknown>[]> {
    return (await this.#call(params ? { op: "query", sql, params } : { op: "query", sql })) as Record<
      string,
      unknown
    >[];
  }

  /** Writes everything to the database file (no WAL left behind). */
  async checkpoint(): Promise<void> {
    await this.#call({ op: "checkpoint" });
  }

  /**
   * Closes the database and ends the worker; calls still waiting are answered first. A worker that has not
   * closed within CLOSE_TIMEOUT_MS is ended anyway (DuckDB's WAL keeps what was committed). Safe twice.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (!this.#gone) {
        const closed = this.#call({ op: "close" }).catch(() => {});
        this.#gone = new VigilError("internal", `index ${this.path} is closed`);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          closed,
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
          }),
        ]);
        clearTimeout(timer);
      }
      await this.#worker.terminate();
    })();
    return this.#closing;
  }

  #call(request: DistributiveOmit<IndexRequest, "id">, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.#gone) return Promise.reject(this.#gone);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...request, id }, transfer);
    });
  }

  #answer(m: Extract<IndexAnswer, { id: number }>): void {
    const pending = this.#pending.get(m.id);
    if (!pending) return;
    this.#pending.delete(m.id);
    if (m.type === "error") {
      pending.reject(fromWire(m.error));
      return;
    }
    if (m.last) this.#last = m.last;
    pending.resolve(m.value);
  }

  #fail(e: Error): void {
    this.#gone ??= e;
    for (const p of this.#pending.values()) p.reject(e);
    this.#pending.clear();
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
