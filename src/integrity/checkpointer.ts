/**
 * Keeps the chain's Merkle tree and signs its checkpoints (issue 3). A journal consumer like the destinations:
 * it reads durable records, appends their leaf hashes to the MerkleStore (whose size is its cursor), and signs a
 * C2SP checkpoint every `everyRecords` records, every `everySeconds` while records keep coming, and once the log
 * has been idle for `idleSeconds`.
 *
 * Invariant: a checkpoint is never signed for a tree inconsistent with the previous one. Before signing, the
 * consistency proof from the last checkpoint to the new tree is built from the store and checked; if it fails
 * (the journal or the store changed under a signed checkpoint), the checkpointer halts — no more checkpoints,
 * a loud log line and a `halted` state — while ingest goes on.
 */

import { VigilError } from "../errors.ts";
import { JournalReader } from "../journal/reader.ts";
import { within } from "../pipeline/retry.ts";
import { parseRecord } from "./chain.ts";
import { openCheckpoint, signCheckpoint } from "./checkpoint.ts";
import { recordLeafHash } from "./leaf.ts";
import { listCheckpointSizes, readCheckpointNote, writeCheckpointNote } from "./log-layout.ts";
import { verifyConsistency } from "./merkle.ts";
import type { MerkleStore } from "./merkle-store.ts";
import type { NoteSigner, NoteVerifier } from "./note.ts";

export interface SignedCheckpoint {
  size: number;
  rootHash: Buffer;
  /** The signed note, as served and published. */
  note: string;
}

/** What the checkpointer needs of the journal writer: how far the journal is durable, and a way to wait. */
export interface DurableLog {
  readonly durableSequence: number;
  readonly failure: Error | undefined;
  waitForDurable(after: number): Promise<void>;
}

export type CheckpointerState = "running" | "halted" | "stopped";

export interface CheckpointerOptions {
  journalDir: string;
  writer: DurableLog;
  store: MerkleStore;
  /** Where signed checkpoints are kept (`<data-dir>/checkpoints`). */
  dir: string;
  signer: NoteSigner;
  /** Every checkpoint key of the log (including rotated ones), to open the stored checkpoints. */
  verifiers: NoteVerifier[];
  origin: string;
  everyRecords: number;
  everySeconds: number;
  idleSeconds: number;
  log: (msg: string) => void;
}

const BATCH_RECORDS = 4096;
const BATCH_BYTES = 8 << 20;
/** The longest setTimeout delay; waiting for a record with nothing to sign has no deadline. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Checkpointer {
  readonly #o: CheckpointerOptions;
  readonly #abort = new AbortController();
  readonly #listeners = new Set<(cp: SignedCheckpoint) => void>();
  #latest: SignedCheckpoint | undefined;
  #lastSignedAt = Date.now();
  #state: CheckpointerState = "running";
  #error: string | undefined;
  #loop: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  private constructor(options: CheckpointerOptions, latest: SignedCheckpoint | undefined) {
    this.#o = options;
    this.#latest = latest;
  }

  /**
   * Reconciles the store with the journal (a store ahead of the durable journal is cut back: it can only hold
   * what crash recovery may have removed) and loads the newest stored checkpoint, checking it against the store.
   */
  static async open(options: CheckpointerOptions): Promise<Checkpointer> {
    const { store, writer } = options;
    if (store.size > writer.durableSequence) await store.truncate(writer.durableSequence);
    const sizes = await listCheckpointSizes(options.dir);
    let latest: SignedCheckpoint | undefined;
    const newest = sizes.at(-1);
    if (newest !== undefined) {
      const note = (await readCheckpointNote(options.dir, newest)) as string;
      const { checkpoint } = openCheckpoint(note, options.verifiers, { origin: options.origin });
      latest = { size: checkpoint.size, rootHash: checkpoint.rootHash, note };
    }
    const checkpointer = new Checkpointer(options, latest);
    if (latest && latest.size <= store.size) {
      const root = await store.root(latest.size);
      if (!root.equals(latest.rootHash)) {
        checkpointer.#halt(
          `the Merkle tree at size ${latest.size} does not match the signed checkpoint of that size`,
        );
      }
    }
    return checkpointer;
  }

  get state(): CheckpointerState {
    return this.#state;
  }

  get error(): string | undefined {
    return this.#error;
  }

  /** The newest signed checkpoint. */
  latest(): SignedCheckpoint | undefined {
    return this.#latest;
  }

  /** Called with every checkpoint signed from now on. */
  onCheckpoint(listener: (cp: SignedCheckpoint) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  start(): void {
    if (this.#state === "running") this.#loop = this.#run();
  }

  /** Appends the next durable records to the tree; false when there were none. */
  async #advance(reader: JournalReader): Promise<boolean> {
    const batch = await reader.read(this.#o.writer.durableSequence, BATCH_RECORDS, BATCH_BYTES);
    if (!batch) return false;
    await this.#o.store.append(batch.lines.map((line, i) => leafOf(line, batch.firstSequence + i)));
    return true;
  }

  async #run(): Promise<void> {
    const { writer, store } = this.#o;
    const signal = this.#abort.signal;
    const reader = new JournalReader(this.#o.journalDir, store.size + 1);
    try {
      while (!signal.aborted && this.#state === "running") {
        if (await this.#advance(reader)) {
          const added = store.size - (this.#latest?.size ?? 0);
          const due = Date.now() - this.#lastSignedAt >= this.#o.everySeconds * 1000;
          if (added >= this.#o.everyRecords || due) await this.#sign();
          continue;
        }
        if (writer.failure) return;
        // Caught up. With records not yet covered by a checkpoint, sign once none arrives for idleSeconds.
        const uncovered = store.size > (this.#latest?.size ?? 0);
        const wait = uncovered ? this.#o.idleSeconds * 1000 : MAX_TIMER_MS;
        if ((await within(writer.waitForDurable(store.size), wait, signal)) === "timeout" && uncovered) {
          await this.#sign();
        }
      }
      // Stopping: take in every record that is durable by now, so the final checkpoint covers them all.
      while (this.#state === "running" && (await this.#advance(reader)));
    } catch (e) {
      this.#halt((e as Error).message);
    } finally {
      await reader.close();
    }
  }

  /** Signs a checkpoint for the store's current size, after proving it consistent with the previous one. */
  async #sign(): Promise<void> {
    const { store } = this.#o;
    const size = store.size;
    const last = this.#latest;
    // A store rebuilt from the journal is smaller than the last checkpoint until it catches up; the consistency
    // proof checked once it is larger also proves it reached the signed root on the way.
    if (size === 0 || (last !== undefined && size <= last.size)) return;
    const rootHash = await store.root(size);
    if (last) {
      const proof = await store.consistencyProof(last.size, size);
      if (!verifyConsistency(last.size, size, last.rootHash, rootHash, proof)) {
        this.#halt(`the tree of size ${size} is not consistent with the checkpoint of size ${last.size}`);
        return;
      }
    }
    const note = signCheckpoint({ origin: this.#o.origin, size, rootHash }, [this.#o.signer]);
    await writeCheckpointNote(this.#o.dir, size, note);
    const cp = { size, rootHash, note };
    this.#latest = cp;
    this.#lastSignedAt = Date.now();
    for (const listener of this.#listeners) listener(cp);
  }

  #halt(reason: string): void {
    this.#state = "halted";
    this.#error = reason;
    this.#o.log(
      `checkpoints HALTED: ${reason}. No checkpoint will be signed until this is resolved; ` +
        "run `vigil verify` on the journal. Ingest continues.",
    );
  }

  /**
   * Stops after signing a checkpoint for whatever the tree holds beyond the last one, then closes the store (the
   * checkpointer owns it from `open` on). Safe twice.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#abort.abort();
      await this.#loop;
      if (this.#state === "running") {
        await this.#sign().catch((e: unknown) => this.#halt((e as Error).message));
        this.#state = "stopped";
      }
      await this.#o.store.close();
    })();
    return this.#stopping;
  }
}

function leafOf(line: Buffer, sequence: number): Buffer {
  const parsed = parseRecord(line);
  if (!parsed.ok || parsed.record.integrity.sequence_number !== sequence) {
    throw new VigilError(
      "journal_corrupt",
      `journal record ${sequence} is not a sealed record of that sequence`,
    );
  }
  return recordLeafHash(parsed.record);
}
