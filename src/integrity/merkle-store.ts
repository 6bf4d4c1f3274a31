/**
 * The persistent, append-only Merkle tree of one chain (RFC 6962 / RFC 9162, see merkle.ts), kept in its own
 * directory (e.g. `<data-dir>/merkle/`, 0700).
 *
 * Layout: one file per level, `level-00.bin` (the leaf hashes), `level-01.bin` (hashes of perfect pairs), …,
 * each a packed array of 32-byte hashes (mode 0600). Node (level, index) — the perfect subtree of 2^level leaves
 * starting at leaf index × 2^level — sits at byte index × 32 of its level's file, so a tree of n leaves holds
 * ⌊n / 2^level⌋ nodes on each level, about 2n hashes in all. Perfect nodes never change as the tree grows, so
 * every file only ever grows; the hashes that are not perfect (the right edge) are folded from perfect ones
 * when needed. A root, a node or a proof at any size up to the current one is O(log n) reads of 32 bytes,
 * issued together.
 *
 * Contract: `append` resolves once its leaves and every node they complete are written and fdatasynced (and a
 * newly created level file's directory entry fsynced); appends and `truncate` run one at a time in call order.
 * `size` and every read reflect only appends that resolved. After a write or sync error the store fails
 * permanently (the page cache state is unknown after a failed fsync): appends reject and a restart recovers.
 * One process owns the directory (the data-dir lock).
 *
 * Recovery (`open`): a crash can leave any level file with a torn partial hash at its end (cut), and upper levels
 * shorter than the leaf count implies, since levels are separate files synced independently (the missing nodes
 * are recomputed from the level below), or longer, when upper nodes reached the disk but leaves did not
 * (dropped). The leaf count is the length of `level-00.bin`. Leaves of an append that never resolved may
 * survive, so the store can be ahead of the journal: the caller then calls `truncate` with the journal's
 * durable size, and re-appends whatever the store lacks. This relies, like the journal, on the file system
 * never exposing a grown file's unwritten blocks after a crash (ext4 data=ordered, xfs).
 */
import type { FileHandle } from "node:fs/promises";
import { constants, open, readdir } from "node:fs/promises";
import { join } from "node:path";
import { ensureDir, fsyncDir } from "../util/fs.ts";
import {
  consistencyPlan,
  foldTiles,
  HASH_SIZE,
  inclusionPlan,
  MerkleFrontier,
  type NodeRef,
  nodeHash,
  rangeTiles,
  rootFromLeafHashes,
} from "./merkle.ts";

const LEVEL_FILE = /^level-(\d{2})\.bin$/;
/** Pairs hashed per read while recomputing a missing stretch of a level (4 MiB read each). */
const REPAIR_PAIRS = 1 << 16;

/** What `open` had to repair after a crash; all zero after a clean shutdown. */
export interface MerkleRecovery {
  /** Bytes of partial hashes cut from the ends of level files. */
  tornBytes: number;
  /** Upper-level nodes that were missing and were recomputed from the level below. */
  recomputedNodes: number;
  /** Upper-level nodes beyond what the leaf count implies, removed. */
  droppedNodes: number;
}

export function levelFileName(level: number): string {
  return `level-${String(level).padStart(2, "0")}.bin`;
}

export class MerkleStore {
  readonly dir: string;
  readonly recovery: MerkleRecovery;
  /** Open handle per level, absent until the level has (or had) a file. */
  readonly #files: (FileHandle | undefined)[];
  /** Durable node count per level; always ⌊size / 2^level⌋. */
  #counts: number[];
  /** The compact range at `size`: the current root and the next append's merges without any read. */
  #frontier: MerkleFrontier;
  #queue: Promise<void> = Promise.resolve();
  #failure: Error | undefined;
  #closed = false;

  private constructor(dir: string, files: (FileHandle | undefined)[], recovery: MerkleRecovery) {
    this.dir = dir;
    this.#files = files;
    this.recovery = recovery;
    this.#counts = [];
    this.#frontier = new MerkleFrontier();
  }

  /** Opens (creating if needed) the store in `dir`, repairing what a crash left behind (see `recovery`). */
  static async open(dir: string): Promise<MerkleStore> {
    await ensureDir(dir);
    const files: (FileHandle | undefined)[] = [];
    for (const name of await readdir(dir)) {
      const m = LEVEL_FILE.exec(name);
      if (m?.[1]) files[Number(m[1])] = await open(join(dir, name), constants.O_RDWR);
    }
    const store = new MerkleStore(dir, files, { tornBytes: 0, recomputedNodes: 0, droppedNodes: 0 });
    try {
      await store.#reconcile();
    } catch (e) {
      await store.#closeFiles();
      throw e;
    }
    return store;
  }

  /** Number of leaves durably in the tree. */
  get size(): number {
    return this.#frontier.size;
  }

  /**
   * Appends leaf hashes (32 bytes each; copied, so the caller may reuse its buffers) and resolves once they are
   * durable. Throws RangeError, before anything is written, for a hash of the wrong length.
   */
  append(leafHashes: readonly Uint8Array[]): Promise<void> {
    for (const h of leafHashes) {
      if (h.length !== HASH_SIZE) {
        return Promise.reject(new RangeError(`a leaf hash must be ${HASH_SIZE} bytes`));
      }
    }
    const leaves = Buffer.concat(leafHashes);
    return this.#enqueue(() => this.#appendNow(leaves));
  }

  /** MTH of the first `size` leaves (default: all); the empty tree's root for 0. */
  async root(size = this.size): Promise<Buffer> {
    this.#checkSize(size);
    if (size === this.size) return this.#frontier.root();
    if (size === 0) return rootFromLeafHashes([]);
    return foldTiles(await this.#readNodes(rangeTiles(0, size)));
  }

  /** The perfect subtree (level, index); it must lie within the current size. */
  async node(level: number, index: number): Promise<Buffer> {
    if (!Number.isSafeInteger(level) || level < 0 || !Number.isSafeInteger(index) || index < 0) {
      throw new RangeError(`no node (${level}, ${index})`);
    }
    if (index >= Math.floor(this.size / 2 ** level)) {
      throw new RangeError(`node (${level}, ${index}) is not complete in a tree of size ${this.size}`);
    }
    const [h] = await this.#readNodes([{ level, index }]);
    return h as Buffer;
  }

  /** The hash of leaf `index` (0-based). */
  leaf(index: number): Promise<Buffer> {
    return this.node(0, index);
  }

  /** RFC 9162 inclusion proof of leaf `index` in the tree of `size` leaves (default: all). */
  async inclusionProof(index: number, size = this.size): Promise<Buffer[]> {
    this.#checkSize(size);
    return this.#resolvePlan(inclusionPlan(index, size));
  }

  /** RFC 9162 consistency proof from the tree of `oldSize` leaves to the tree of `newSize` (default: all). */
  async consistencyProof(oldSize: number, newSize = this.size): Promise<Buffer[]> {
    this.#checkSize(newSize);
    return this.#resolvePlan(consistencyPlan(oldSize, newSize));
  }

  /**
   * Cuts the tree back to its first `size` leaves, durably: the recovery step for a store that got ahead of the
   * journal. Runs after the appends queued before it; rejects with RangeError if `size` exceeds the size then.
   * Not for use while proofs or roots above `size` are being read.
   */
  truncate(size: number): Promise<void> {
    return this.#enqueue(async () => {
      this.#checkSize(size);
      await this.#guard(async () => {
        await Promise.all(
          this.#files.map(async (fh, level) => {
            const keep = Math.floor(size / 2 ** level);
            if (!fh || (this.#counts[level] ?? 0) <= keep) return;
            await fh.truncate(keep * HASH_SIZE);
            await fh.datasync();
          }),
        );
        this.#counts = this.#counts.map((_, level) => Math.floor(size / 2 ** level));
        this.#frontier = MerkleFrontier.from(size, await this.#readNodes(rangeTiles(0, size)));
      });
    });
  }

  /** Waits for queued appends, then closes the files. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue;
    await this.#closeFiles();
  }

  #enqueue(job: () => Promise<void>): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("merkle store is closed"));
    const run = this.#queue.then(() => {
      if (this.#failure) {
        throw new Error("merkle store failed earlier; restart to recover", { cause: this.#failure });
      }
      return job();
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Runs file writes; any error leaves the files in an unknown state, so it fails the store for good. */
  async #guard(io: () => Promise<void>): Promise<void> {
    try {
      await io();
    } catch (e) {
      this.#failure = e as Error;
      throw e;
    }
  }

  async #appendNow(leaves: Buffer): Promise<void> {
    const n = leaves.length / HASH_SIZE;
    if (n === 0) return;
    const frontier = this.#frontier.clone();
    const byLevel: Buffer[][] = [[leaves]];
    for (let i = 0; i < n; i++) {
      const completed = frontier.append(leaves.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
      for (let j = 0; j < completed.length; j++) {
        let level = byLevel[j + 1];
        if (!level) {
          level = [];
          byLevel[j + 1] = level;
        }
        level.push(completed[j] as Buffer);
      }
    }
    await this.#guard(async () => {
      let created = false;
      await Promise.all(
        byLevel.map(async (hashes, level) => {
          let fh = this.#files[level];
          if (!fh) {
            fh = await this.#createLevel(level);
            created = true;
          }
          const data = hashes.length === 1 ? (hashes[0] as Buffer) : Buffer.concat(hashes);
          await writeFully(fh, data, (this.#counts[level] ?? 0) * HASH_SIZE);
          await fh.datasync();
        }),
      );
      if (created) await fsyncDir(this.dir);
    });
    for (const [level, hashes] of byLevel.entries()) {
      this.#counts[level] = (this.#counts[level] ?? 0) + (level === 0 ? n : hashes.length);
    }
    this.#frontier = frontier;
  }

  async #createLevel(level: number): Promise<FileHandle> {
    const fh = await open(join(this.dir, levelFileName(level)), constants.O_RDWR | constants.O_CREAT, 0o600);
    this.#files[level] = fh;
    return fh;
  }

  /** Makes every level file agree with the leaf count (see the header), then loads the frontier. */
  async #reconcile(): Promise<void> {
    const lengths = await Promise.all(this.#files.map(async (fh) => (fh ? (await fh.stat()).size : 0)));
    const leaves = Math.floor((lengths[0] ?? 0) / HASH_SIZE);
    let created = false;
    const dirty = new Set<FileHandle>();
    for (let level = 0; level < Math.max(lengths.length, 1) || Math.floor(leaves / 2 ** level) > 0; level++) {
      const expected = Math.floor(leaves / 2 ** level);
      const length = lengths[level] ?? 0;
      let have = Math.floor(length / HASH_SIZE);
      let fh = this.#files[level];
      if (fh && length !== have * HASH_SIZE) {
        this.recovery.tornBytes += length - have * HASH_SIZE;
        await fh.truncate(have * HASH_SIZE);
        dirty.add(fh);
      }
      if (have > expected && fh) {
        this.recovery.droppedNodes += have - expected;
        await fh.truncate(expected * HASH_SIZE);
        dirty.add(fh);
        have = expected;
      }
      if (have < expected) {
        if (!fh) {
          fh = await this.#createLevel(level);
          created = true;
        }
        await this.#recompute(fh, level, have, expected);
        this.recovery.recomputedNodes += expected - have;
        dirty.add(fh);
      }
      this.#counts[level] = expected;
    }
    await Promise.all([...dirty].map((fh) => fh.datasync()));
    if (created) await fsyncDir(this.dir);
    this.#frontier = MerkleFrontier.from(leaves, await this.#readNodes(rangeTiles(0, leaves)));
  }

  /** Writes nodes [from, to) of `level` (≥ 1), hashing pairs of the complete level below. */
  async #recompute(fh: FileHandle, level: number, from: number, to: number): Promise<void> {
    const below = this.#files[level - 1] as FileHandle;
    for (let start = from; start < to; start += REPAIR_PAIRS) {
      const count = Math.min(REPAIR_PAIRS, to - start);
      const children = Buffer.alloc(count * 2 * HASH_SIZE);
      const { bytesRead } = await below.read(children, 0, children.length, start * 2 * HASH_SIZE);
      if (bytesRead !== children.length) throw new Error(`short read in ${levelFileName(level - 1)}`);
      const out = Buffer.alloc(count * HASH_SIZE);
      for (let i = 0; i < count; i++) {
        const l = children.subarray(2 * i * HASH_SIZE, (2 * i + 1) * HASH_SIZE);
        const r = children.subarray((2 * i + 1) * HASH_SIZE, (2 * i + 2) * HASH_SIZE);
        nodeHash(l, r).copy(out, i * HASH_SIZE);
      }
      await writeFully(fh, out, start * HASH_SIZE);
    }
  }

  #checkSize(size: number): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.size) {
      throw new RangeError(`size ${size} is outside the tree (0..${this.size})`);
    }
  }

  /** Reads the tiles of every proof element in one batch, then folds each element. */
  async #resolvePlan(plan: NodeRef[][]): Promise<Buffer[]> {
    const hashes = await this.#readNodes(plan.flat());
    let next = 0;
    return plan.map((tiles) => {
      const element = foldTiles(hashes.slice(next, next + tiles.length));
      next += tiles.length;
      return element;
    });
  }

  /** Reads complete nodes concurrently; each result is its own 32-byte view into one shared allocation. */
  async #readNodes(refs: readonly NodeRef[]): Promise<Buffer[]> {
    const buf = Buffer.allocUnsafe(refs.length * HASH_SIZE);
    await Promise.all(
      refs.map(async ({ level, index }, i) => {
        const fh = this.#files[level];
        if (!fh || index >= (this.#counts[level] ?? 0)) {
          throw new Error(`node (${level}, ${index}) is not in the store`);
        }
        const { bytesRead } = await fh.read(buf, i * HASH_SIZE, HASH_SIZE, index * HASH_SIZE);
        if (bytesRead !== HASH_SIZE) throw new Error(`short read of node (${level}, ${index})`);
      }),
    );
    return refs.map((_, i) => buf.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
  }

  async #closeFiles(): Promise<void> {
    await Promise.all(this.#files.map((fh) => fh?.close()));
  }
}

/** pwrite until all of `data` is at `position` (a regular file can still accept a write in parts). */
async function writeFully(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}
