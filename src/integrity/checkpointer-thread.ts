/**
 * Runs the Checkpointer on a worker thread, so hashing every record into the Merkle tree uses the machine's other
 * core instead of the one that seals and answers ingest. The main thread forwards the journal's durable sequence;
 * the worker reads the journal files itself and reports signed checkpoints, state and log lines back.
 *
 * The proxy offers what the rest of the server uses of a Checkpointer (latest, onCheckpoint, note, sizes, state,
 * error, stop); notes and sizes are read from the checkpoint files directly.
 */
import { Worker } from "node:worker_threads";
import type { JournalWriter } from "../journal/writer.ts";
import type { CheckpointerState, SignedCheckpoint } from "./checkpointer.ts";
import { listCheckpointSizes, readCheckpointNote } from "./log-layout.ts";

/** Everything the worker needs to open the store and sign; key material travels as key texts. */
export interface CheckpointerThreadConfig {
  journalDir: string;
  merkleDir: string;
  checkpointsDir: string;
  signerText: string;
  verifierTexts: string[];
  origin: string;
  everyRecords: number;
  everySeconds: number;
  idleSeconds: number;
}

/** Messages from the worker. */
export type WorkerMessage =
  | { type: "ready"; latest?: WireCheckpoint; state: CheckpointerState; error?: string }
  | { type: "checkpoint"; checkpoint: WireCheckpoint }
  | { type: "state"; state: CheckpointerState; error?: string }
  | { type: "log"; message: string }
  | { type: "stopped"; latest?: WireCheckpoint; state: CheckpointerState; error?: string };

/** Messages to the worker. */
export type MainMessage = { type: "durable"; sequence: number; failed: boolean } | { type: "stop" };

export interface WireCheckpoint {
  size: number;
  rootHash: Uint8Array;
  note: string;
}

const fromWire = (c: WireCheckpoint): SignedCheckpoint => ({
  size: c.size,
  note: c.note,
  rootHash: Buffer.from(c.rootHash),
});

export class CheckpointerThread {
  readonly #worker: Worker;
  readonly #dir: string;
  readonly #listeners = new Set<(cp: SignedCheckpoint) => void>();
  #latest: SignedCheckpoint | undefined;
  #state: CheckpointerState = "running";
  #error: string | undefined;
  #stopping: Promise<void> | undefined;
  #stopped: (() => void) | undefined;
  #forwarding = true;
  /** Sizes of the stored checkpoints, ascending: listed once at start, then kept from the worker's reports. */
  #sizes: number[] = [];
  #stored = new Set<number>();
  #exited = false;

  private constructor(worker: Worker, dir: string) {
    this.#worker = worker;
    this.#dir = dir;
  }

  /** Starts the worker and resolves once it has opened the store (halted, not rejected, if it cannot). */
  static async start(
    config: CheckpointerThreadConfig,
    writer: JournalWriter,
    log: (msg: string) => void,
  ): Promise<CheckpointerThread> {
    // Listed before the worker starts, so no message can arrive while nobody listens.
    const sizes = await listCheckpointSizes(config.checkpointsDir);
    const worker = new Worker(new URL("./checkpointer-worker.ts", import.meta.url), {
      workerData: { ...config, durable: writer.durableSequence },
    });
    const thread = new CheckpointerThread(worker, config.checkpointsDir);
    thread.#sizes = sizes;
    thread.#stored = new Set(sizes);
    return new Promise((resolve) => {
      worker.on("message", (m: WorkerMessage) => {
        switch (m.type) {
          case "ready":
            thread.#update(m);
            thread.#forward(writer);
            resolve(thread);
            break;
          case "checkpoint": {
            const cp = fromWire(m.checkpoint);
            thread.#latest = cp;
            thread.#sizes.push(cp.size);
            thread.#stored.add(cp.size);
            for (const listener of thread.#listeners) listener(cp);
            break;
          }
          case "state":
            thread.#update(m);
            break;
          case "log":
            log(m.message);
            break;
          case "stopped":
            thread.#update(m);
            thread.#stopped?.();
            break;
        }
      });
      worker.on("exit", () => {
        thread.#exited = true;
        thread.#stopped?.();
      });
      worker.on("error", (e) => {
        thread.#state = "halted";
        thread.#error = `checkpointer thread failed: ${e.message}`;
        log(`checkpoints HALTED: ${thread.#error}. Ingest continues.`);
        // Before "ready" as after it: the server runs on without checkpoints rather than not at all.
        resolve(thread);
        thread.#stopped?.();
      });
    });
  }

  #update(m: { latest?: WireCheckpoint; state: CheckpointerState; error?: string }): void {
    if (m.latest) this.#latest = fromWire(m.latest);
    this.#state = m.state;
    this.#error = m.error;
  }

  /** Tells the worker each time the journal's durable sequence moves (or the journal fails). */
  async #forward(writer: JournalWriter): Promise<void> {
    let sent = writer.durableSequence;
    while (this.#forwarding) {
      await writer.waitForDurable(sent);
      if (!this.#forwarding) return;
      const failed = writer.failure !== undefined;
      sent = writer.durableSequence;
      this.#worker.postMessage({ type: "durable", sequence: sent, failed } satisfies MainMessage);
      if (failed) return;
    }
  }

  get state(): CheckpointerState {
    return this.#state;
  }

  get error(): string | undefined {
    return this.#error;
  }

  latest(): SignedCheckpoint | undefined {
    return this.#latest;
  }

  onCheckpoint(listener: (cp: SignedCheckpoint) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  note(size: number): Promise<string | undefined> {
    return this.#stored.has(size) ? readCheckpointNote(this.#dir, size) : Promise.resolve(undefined);
  }

  /** The stored checkpoint sizes, from memory (public endpoints never list the directory). */
  sizes(): number[] {
    return [...this.#sizes];
  }

  /** Asks the worker to sign a last checkpoint and close the store, then ends it. Safe twice. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#forwarding = false;
      if (!this.#exited && this.#state !== "stopped") {
        const stopped = new Promise<void>((resolve) => {
          this.#stopped = resolve;
        });
        this.#worker.postMessage({ type: "stop" } satisfies MainMessage);
        await stopped;
      }
      await this.#worker.terminate();
    })();
    return this.#stopping;
  }
}
