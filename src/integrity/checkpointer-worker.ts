/**
 * The worker side of checkpointer-thread.ts: opens the Merkle store and runs the Checkpointer, fed with the
 * journal's durable sequence by the main thread.
 */
import { parentPort, workerData } from "node:worker_threads";
import { Checkpointer, type DurableLog, type SignedCheckpoint } from "./checkpointer.ts";
import type {
  CheckpointerThreadConfig,
  MainMessage,
  WireCheckpoint,
  WorkerMessage,
} from "./checkpointer-thread.ts";
import { MerkleStore } from "./merkle-store.ts";
import { parseSignerKey, parseVerifierKey } from "./note.ts";

const port = parentPort;
if (!port) throw new Error("checkpointer-worker.ts runs as a worker thread");
const config = workerData as CheckpointerThreadConfig & { durable: number };
const send = (m: WorkerMessage) => port.postMessage(m);
const wire = (c: SignedCheckpoint | undefined): WireCheckpoint | undefined =>
  c && { size: c.size, note: c.note, rootHash: new Uint8Array(c.rootHash) };

/** The main thread's journal writer as the checkpointer sees it. */
class ForwardedLog implements DurableLog {
  durableSequence = config.durable;
  failure: Error | undefined;
  readonly #waiters = new Set<{ after: number; resolve: () => void }>();

  waitForDurable(after: number): Promise<void> {
    if (this.durableSequence > after || this.failure) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.add({ after, resolve }));
  }

  advance(sequence: number, failed: boolean): void {
    this.durableSequence = Math.max(this.durableSequence, sequence);
    if (failed) this.failure = new Error("the journal failed");
    for (const w of this.#waiters) {
      if (this.durableSequence > w.after || this.failure) {
        this.#waiters.delete(w);
        w.resolve();
      }
    }
  }
}

const log = new ForwardedLog();
/** Undefined when opening failed (a damaged store or checkpoint): the worker then stays up, halted. */
let checkpointer: Checkpointer | undefined;
let openError: string | undefined;

function status(): { state: Checkpointer["state"]; error?: string } {
  if (!checkpointer) return { state: "halted", error: openError ?? "not open" };
  return { state: checkpointer.state, ...(checkpointer.error ? { error: checkpointer.error } : {}) };
}

try {
  checkpointer = await Checkpointer.open({
    journalDir: config.journalDir,
    writer: log,
    store: await MerkleStore.open(config.merkleDir),
    dir: config.checkpointsDir,
    signer: parseSignerKey(config.signerText),
    verifiers: config.verifierTexts.map(parseVerifierKey),
    origin: config.origin,
    everyRecords: config.everyRecords,
    everySeconds: config.everySeconds,
    idleSeconds: config.idleSeconds,
    // A halt is announced by a log line: report the state with it (once the checkpointer exists).
    log: (message) => {
      send({ type: "log", message });
      if (checkpointer) send({ type: "state", ...status() });
    },
  });
} catch (e) {
  openError = `cannot open the Merkle tree or the checkpoints: ${(e as Error).message}`;
  send({
    type: "log",
    message: `checkpoints HALTED: ${openError}. No checkpoint will be signed; ingest continues.`,
  });
}
checkpointer?.onCheckpoint((c) => send({ type: "checkpoint", checkpoint: wire(c) as WireCheckpoint }));
port.on("message", async (m: MainMessage) => {
  if (m.type === "durable") {
    log.advance(m.sequence, m.failed);
    return;
  }
  await checkpointer?.stop();
  send({ type: "stopped", latest: wire(checkpointer?.latest()), ...status() });
  port.close();
});
checkpointer?.start();
send({ type: "ready", latest: wire(checkpointer?.latest()), ...status() });
