import { appendFile, mkdtemp, readdir, rm, stat, truncate } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  consistencyProof,
  inclusionProof,
  leafHash,
  MerkleFrontier,
  rootFromLeafHashes,
  verifyConsistency,
  verifyInclusion,
} from "./merkle.ts";
import { MerkleStore } from "./merkle-store.ts";

const N = 300;
const leaves = Array.from({ length: N }, (_, i) => leafHash(Buffer.from(`{"sequence_number":${i + 1}}`)));
/** roots[size] for every size 0..N, from the frontier (itself checked against the RFC definition). */
const roots = (() => {
  const f = new MerkleFrontier();
  const out = [f.root()];
  for (const l of leaves) {
    f.append(l);
    out.push(f.root());
  }
  return out;
})();
const hex = (h: Buffer): string => h.toString("hex");

/** Appends leaves[from..to) in chunks of the given sizes, cycling through them. */
async function appendChunks(store: MerkleStore, from: number, to: number, chunks: number[]): Promise<void> {
  for (let pos = from, c = 0; pos < to; c++) {
    const end = Math.min(to, pos + (chunks[c % chunks.length] as number));
    await store.append(leaves.slice(pos, end));
    pos = end;
  }
}

/** The root of every size 0..size, as hex, read from the store. */
async function storeRoots(store: MerkleStore, size = store.size): Promise<string[]> {
  const out: string[] = [];
  for (let s = 0; s <= size; s++) out.push(hex(await store.root(s)));
  return out;
}

const expectedRoots = (size: number): string[] => roots.slice(0, size + 1).map(hex);

async function fileLengths(dir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const name of (await readdir(dir)).sort()) out[name] = (await stat(join(dir, name))).size;
  return out;
}

/** The level files of a clean store of `size` leaves: ⌊size / 2^level⌋ hashes each. */
function expectedLengths(size: number, levels: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (let level = 0; level < levels; level++) {
    out[`level-${String(level).padStart(2, "0")}.bin`] = Math.floor(size / 2 ** level) * 32;
  }
  return out;
}

describe("MerkleStore", () => {
  let dir: string;
  let base: string;
  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), "vigil-merkle-"));
    dir = join(base, "merkle");
  });
  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it("starts empty with the empty tree's root, in a private directory", async () => {
    const store = await MerkleStore.open(dir);
    expect(store.size).toBe(0);
    expect(hex(await store.root())).toBe(hex(rootFromLeafHashes([])));
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    await store.append([]);
    expect(await readdir(dir)).toEqual([]);
    await store.close();
  });

  it("appends in chunks and gives the same roots at every size, before and after reopening", async () => {
    const store = await MerkleStore.open(dir);
    await appendChunks(store, 0, N, [1, 2, 3, 7, 31, 64, 5]);
    expect(store.size).toBe(N);
    expect(await storeRoots(store)).toEqual(expectedRoots(N));
    expect(store.recovery).toEqual({ tornBytes: 0, recomputedNodes: 0, droppedNodes: 0 });
    await store.close();

    expect(await fileLengths(dir)).toEqual(expectedLengths(N, 9));
    for (const name of await readdir(dir)) expect((await stat(join(dir, name))).mode & 0o777).toBe(0o600);

    const reopened = await MerkleStore.open(dir);
    expect(reopened.recovery).toEqual({ tornBytes: 0, recomputedNodes: 0, droppedNodes: 0 });
    expect(reopened.size).toBe(N);
    expect(await storeRoots(reopened)).toEqual(expectedRoots(N));
    await reopened.close();
  });

  it("serves nodes, leaves and proofs equal to the in-memory algorithms, which verify", async () => {
    const store = await MerkleStore.open(dir);
    await store.append(leaves);
    const memory = (level: number, index: number) =>
      rootFromLeafHashes(leaves.slice(index * 2 ** level, (index + 1) * 2 ** level));
    expect(hex(await store.leaf(123))).toBe(hex(leaves[123] as Buffer));
    expect(hex(await store.node(5, 8))).toBe(hex(memory(5, 8)));
    for (const size of [1, 2, 3, 64, 100, 255, 256, 257, N]) {
      for (const index of [0, 1, size >> 1, size - 2, size - 1].filter((i) => i >= 0 && i < size)) {
        const proof = await store.inclusionProof(index, size);
        expect(proof.map(hex)).toEqual(inclusionProof(index, size, memory).map(hex));
        expect(verifyInclusion(leaves[index] as Buffer, index, size, proof, roots[size] as Buffer)).toBe(
          true,
        );
      }
      for (const oldSize of [0, 1, 7, 64, 99, size - 1, size].filter((s) => s >= 0 && s <= size)) {
        const proof = await store.consistencyProof(oldSize, size);
        expect(proof.map(hex)).toEqual(consistencyProof(oldSize, size, memory).map(hex));
        expect(verifyConsistency(oldSize, size, roots[oldSize] as Buffer, roots[size] as Buffer, proof)).toBe(
          true,
        );
      }
    }
    expect((await store.inclusionProof(7)).map(hex)).toEqual(inclusionProof(7, N, memory).map(hex));
    expect((await store.consistencyProof(9)).map(hex)).toEqual(consistencyProof(9, N, memory).map(hex));
    await store.close();
  });

  it("refuses reads outside the tree", async () => {
    const store = await MerkleStore.open(dir);
    await store.append(leaves.slice(0, 10));
    await expect(store.root(11)).rejects.toThrow(RangeError);
    await expect(store.leaf(10)).rejects.toThrow(RangeError);
    await expect(store.node(2, 2)).rejects.toThrow(RangeError);
    await expect(store.node(-1, 0)).rejects.toThrow(RangeError);
    await expect(store.inclusionProof(10, 10)).rejects.toThrow(RangeError);
    await expect(store.inclusionProof(0, 11)).rejects.toThrow(RangeError);
    await expect(store.consistencyProof(5, 11)).rejects.toThrow(RangeError);
    await expect(store.consistencyProof(6, 5)).rejects.toThrow(RangeError);
    await expect(store.truncate(11)).rejects.toThrow(RangeError);
    await store.close();
  });

  it("rejects a malformed leaf hash before writing anything", async () => {
    const store = await MerkleStore.open(dir);
    await store.append(leaves.slice(0, 3));
    await expect(store.append([leaves[3] as Buffer, Buffer.alloc(31)])).rejects.toThrow(RangeError);
    expect(store.size).toBe(3);
    await store.append(leaves.slice(3, 5));
    expect(hex(await store.root())).toBe(hex(roots[5] as Buffer));
    await store.close();
    expect(await fileLengths(dir)).toEqual(expectedLengths(5, 3));
  });

  it("runs concurrent appends in call order and copies the caller's buffers", async () => {
    const store = await MerkleStore.open(dir);
    const reused = Buffer.from(leaves[0] as Buffer);
    const pending = [store.append([reused])];
    reused.fill(0);
    for (let pos = 1; pos < 100; pos += 9)
      pending.push(store.append(leaves.slice(pos, Math.min(100, pos + 9))));
    pending.push(store.truncate(60));
    pending.push(store.append(leaves.slice(60, 80)));
    await Promise.all(pending);
    expect(store.size).toBe(80);
    expect(await storeRoots(store)).toEqual(expectedRoots(80));
    await store.close();
  });

  it("repairs a crash: a short upper level, a missing level, and a leaf cut mid-hash", async () => {
    const store = await MerkleStore.open(dir);
    await appendChunks(store, 0, N, [50]);
    await store.close();
    // The last append's upper levels never reached the disk; leaf 300's write was torn after 17 bytes.
    await truncate(join(dir, "level-01.bin"), (150 - 20) * 32);
    await rm(join(dir, "level-03.bin"));
    await truncate(join(dir, "level-05.bin"), 0);
    await appendFile(join(dir, "level-00.bin"), Buffer.alloc(17, 0xab));

    const repaired = await MerkleStore.open(dir);
    expect(repaired.recovery).toEqual({ tornBytes: 17, recomputedNodes: 20 + 37 + 9, droppedNodes: 0 });
    expect(repaired.size).toBe(N);
    expect(await storeRoots(repaired)).toEqual(expectedRoots(N));
    expect(hex(await repaired.node(3, 36))).toBe(hex(rootFromLeafHashes(leaves.slice(288, 296))));
    await repaired.close();
    expect(await fileLengths(dir)).toEqual(expectedLengths(N, 9));

    const again = await MerkleStore.open(dir);
    expect(again.recovery).toEqual({ tornBytes: 0, recomputedNodes: 0, droppedNodes: 0 });
    await again.close();
  });

  it("repairs a crash where upper levels reached the disk but the last leaves did not", async () => {
    const store = await MerkleStore.open(dir);
    await store.append(leaves.slice(0, 256));
    await store.close();
    await truncate(join(dir, "level-00.bin"), 250 * 32 + 5);
    await appendFile(join(dir, "level-04.bin"), Buffer.alloc(40, 1));

    const repaired = await MerkleStore.open(dir);
    // 250 leaves keep 125, 62, 31, 15, 7, 3, 1, 0 nodes on levels 1..8 (128, 64, …, 1 before, plus the
    // garbage node on level 4 and its 8 torn bytes).
    expect(repaired.recovery).toEqual({
      tornBytes: 5 + 8,
      recomputedNodes: 0,
      droppedNodes: 3 + 2 + 1 + 2 + 1 + 1 + 1 + 1,
    });
    expect(repaired.size).toBe(250);
    expect(await storeRoots(repaired)).toEqual(expectedRoots(250));
    expect(await fileLengths(dir)).toEqual(expectedLengths(250, 9));
    await repaired.append(leaves.slice(250, N));
    expect(hex(await repaired.root())).toBe(hex(roots[N] as Buffer));
    await repaired.close();
    expect(await fileLengths(dir)).toEqual(expectedLengths(N, 9));
  });

  it("truncates back to a smaller size durably and grows again to the same roots", async () => {
    const store = await MerkleStore.open(dir);
    await store.append(leaves);
    await store.truncate(123);
    expect(store.size).toBe(123);
    expect(hex(await store.root())).toBe(hex(roots[123] as Buffer));
    await expect(store.leaf(123)).rejects.toThrow(RangeError);
    await store.close();
    expect(await fileLengths(dir)).toEqual(expectedLengths(123, 9));

    const reopened = await MerkleStore.open(dir);
    expect(reopened.size).toBe(123);
    expect(reopened.recovery).toEqual({ tornBytes: 0, recomputedNodes: 0, droppedNodes: 0 });
    await reopened.truncate(123);
    await reopened.truncate(0);
    expect(hex(await reopened.root())).toBe(hex(roots[0] as Buffer));
    await appendChunks(reopened, 0, N, [17]);
    expect(await storeRoots(reopened)).toEqual(expectedRoots(N));
    await reopened.close();
  });

  it("refuses appends after close and closes twice safely", async () => {
    const store = await MerkleStore.open(dir);
    await store.append(leaves.slice(0, 2));
    await store.close();
    await store.close();
    await expect(store.append(leaves.slice(2, 3))).rejects.toThrow(/closed/);
  });
});
