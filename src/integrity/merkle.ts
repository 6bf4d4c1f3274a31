/**
 * The RFC 6962 / RFC 9162 Merkle tree over a chain's sealed records: hashing, the tree hash, a compact frontier
 * for incremental appends, and inclusion and consistency proofs with their verifiers. Pure and synchronous;
 * storage is the caller's (see merkle-store.ts).
 *
 * Node addressing. Every hash the algorithms read is a *perfect* subtree: `(level, index)` names the subtree of
 * 2^level leaves starting at leaf index × 2^level (level 0 = the leaf hashes). A tree of size n contains the
 * perfect node (level, index) exactly when (index + 1) × 2^level ≤ n; those nodes never change once the tree
 * has grown past them, which is what lets storage be append-only.
 *
 * Right-edge subtrees. RFC 6962 §2.1 splits a tree of n leaves at k, the largest power of two below n, so
 * MTH(D[a:b]) for a range starting at a multiple of the largest power of two ≤ (b − a) — every range the proof
 * definitions ever name — is tiled left to right by the perfect subtrees given by the set bits of b − a, from
 * the highest bit down (`rangeTiles`), and equals their right fold: HASH(t1 ‖ HASH(t2 ‖ … HASH(tk−1 ‖ tk))). So
 * a subtree that is not perfect costs at most one read per bit of the tree size; the proofs are planned as
 * lists of tiles (`inclusionPlan`, `consistencyPlan`) so a store can batch its reads before any hashing.
 *
 * Sizes and indices are non-negative safe integers (< 2^53); arithmetic avoids 32-bit bitwise operators.
 */
import { createHash } from "node:crypto";

/** Bytes in every hash of the tree (SHA-256). */
export const HASH_SIZE = 32;

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);
/** MTH({}) = SHA-256 of the empty string (RFC 6962 §2.1). Never handed out: callers get copies. */
const EMPTY_ROOT = createHash("sha256").digest();

/** A perfect subtree of 2^level leaves starting at leaf index × 2^level. */
export interface NodeRef {
  level: number;
  index: number;
}

/** Returns the hash of the perfect subtree `(level, index)`; a store backs it with its files. */
export type GetNode = (level: number, index: number) => Buffer;

/** SHA-256(0x00 ‖ data): the hash of one leaf (one canonical record). */
export function leafHash(data: Uint8Array): Buffer {
  return createHash("sha256").update(LEAF_PREFIX).update(data).digest();
}

/** SHA-256(0x01 ‖ left ‖ right): the hash of an interior node. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash("sha256").update(NODE_PREFIX).update(left).update(right).digest();
}

/**
 * MTH(D[n]) of RFC 6962 §2.1, straight from the recursive definition (O(n) hashes). It is the reference the
 * incremental paths are tested against, and the convenient form for small trees.
 */
export function rootFromLeafHashes(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 0) return Buffer.from(EMPTY_ROOT);
  return mth(leaves, 0, leaves.length);
}

function mth(leaves: readonly Buffer[], start: number, end: number): Buffer {
  if (end - start === 1) return leaves[start] as Buffer;
  const mid = start + largestPowerOfTwoBelow(end - start);
  return nodeHash(mth(leaves, start, mid), mth(leaves, mid, end));
}

/** The largest power of two strictly below n (n ≥ 2): RFC 6962's split point k. */
function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * The perfect subtrees tiling [start, end), largest first. Contract: start is a multiple of the largest power
 * of two ≤ end − start (so each tile is a node of the tree); the RFC hash of the range is `foldTiles` of their
 * hashes. An empty range has no tiles.
 */
export function rangeTiles(start: number, end: number): NodeRef[] {
  assertCount(start, "start");
  assertCount(end, "end");
  if (end < start) throw new RangeError(`range [${start}, ${end}) is reversed`);
  const out: NodeRef[] = [];
  let remaining = end - start;
  if (remaining === 0) return out;
  let width = 1;
  let level = 0;
  while (width * 2 <= remaining) {
    width *= 2;
    level++;
  }
  if (start % width !== 0) throw new RangeError(`range [${start}, ${end}) is not aligned to tree nodes`);
  let pos = start;
  for (; remaining > 0; width /= 2, level--) {
    if (remaining < width) continue;
    out.push({ level, index: pos / width });
    pos += width;
    remaining -= width;
  }
  return out;
}

/** The right fold HASH(h1 ‖ HASH(h2 ‖ … HASH(hk−1 ‖ hk))) of a range's tile hashes (at least one). */
export function foldTiles(hashes: readonly Buffer[]): Buffer {
  let i = hashes.length - 1;
  if (i < 0) throw new RangeError("a range needs at least one tile");
  let acc = hashes[i] as Buffer;
  while (--i >= 0) acc = nodeHash(hashes[i] as Buffer, acc);
  return acc;
}

/** MTH of the first `size` leaves, from the perfect subtrees that tile them (at most 53 reads). */
export function rootFromNodes(size: number, getNode: GetNode): Buffer {
  if (size === 0) return Buffer.from(EMPTY_ROOT);
  return resolveTiles(rangeTiles(0, size), getNode);
}

function resolveTiles(tiles: readonly NodeRef[], getNode: GetNode): Buffer {
  return foldTiles(tiles.map((t) => getNode(t.level, t.index)));
}

/**
 * The inclusion proof of RFC 9162 §2.1.3.1 (PATH(m, D[n]) of RFC 6962 §2.1.1) as tiles: element i of the proof,
 * ordered from the leaf's sibling up to the root's child, is `foldTiles` of the hashes of element i here.
 * Throws RangeError unless 0 ≤ index < size.
 */
export function inclusionPlan(index: number, size: number): NodeRef[][] {
  assertCount(index, "index");
  assertCount(size, "size");
  if (index >= size) throw new RangeError(`index ${index} is not in a tree of size ${size}`);
  const out: NodeRef[][] = [];
  // Walk from the root down to the leaf; the RFC appends each sibling after the deeper path, so reverse.
  let start = 0;
  let end = size;
  while (end - start > 1) {
    const mid = start + largestPowerOfTwoBelow(end - start);
    if (index < mid) {
      out.push(rangeTiles(mid, end));
      end = mid;
    } else {
      out.push(rangeTiles(start, mid));
      start = mid;
    }
  }
  return out.reverse();
}

/**
 * The consistency proof of RFC 9162 §2.1.4.1 (SUBPROOF of RFC 6962 §2.1.2) as tiles, in proof order. Empty when
 * oldSize is 0 or equals newSize: the empty tree is a prefix of every tree, and a tree is consistent with itself.
 * Throws RangeError unless 0 ≤ oldSize ≤ newSize.
 */
export function consistencyPlan(oldSize: number, newSize: number): NodeRef[][] {
  assertCount(oldSize, "oldSize");
  assertCount(newSize, "newSize");
  if (oldSize > newSize) throw new RangeError(`old size ${oldSize} exceeds new size ${newSize}`);
  const out: NodeRef[][] = [];
  if (oldSize === 0 || oldSize === newSize) return out;
  // SUBPROOF(m, D[start:end], b), unrolled: `complete` is b, true until the walk first goes right.
  let start = 0;
  let end = newSize;
  let complete = true;
  for (;;) {
    if (oldSize === end) {
      if (!complete) out.push(rangeTiles(start, end));
      break;
    }
    const mid = start + largestPowerOfTwoBelow(end - start);
    if (oldSize <= mid) {
      out.push(rangeTiles(mid, end));
      end = mid;
    } else {
      out.push(rangeTiles(start, mid));
      start = mid;
      complete = false;
    }
  }
  return out.reverse();
}

/** The inclusion proof of leaf `index` in the tree of `size` leaves: O(log n) calls to getNode. */
export function inclusionProof(index: number, size: number, getNode: GetNode): Buffer[] {
  return inclusionPlan(index, size).map((tiles) => resolveTiles(tiles, getNode));
}

/** The consistency proof from the tree of `oldSize` leaves to the tree of `newSize`: O(log n) getNode calls. */
export function consistencyProof(oldSize: number, newSize: number, getNode: GetNode): Buffer[] {
  return consistencyPlan(oldSize, newSize).map((tiles) => resolveTiles(tiles, getNode));
}

/**
 * RFC 9162 §2.1.3.2: does `proof` show that `leaf` (a leaf hash) is leaf `index` of the tree of `size` leaves
 * whose root is `root`? False — never an exception — for any malformed input (hashes not 32 bytes, sizes that
 * are not safe integers, index outside the tree). `size` and `root` must come from one signed checkpoint: the
 * algorithm checks the proof's shape against `size` but cannot tell a root of another size whose path for this
 * index has the same shape (e.g. leaf 0 of sizes 3 and 4).
 */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!isCount(index) || !isCount(size) || index >= size) return false;
  if (!isHash(leaf) || !isHash(root) || !proof.every(isHash)) return false;
  let fn = index;
  let sn = size - 1;
  let r: Uint8Array = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && sameBytes(r, root);
}

/**
 * RFC 9162 §2.1.4.2: does `proof` show that the tree of `oldSize` leaves with root `oldRoot` is a prefix of the
 * tree of `newSize` leaves with root `newRoot`? Equal sizes need an empty proof and equal roots; oldSize 0 needs
 * an empty proof and oldRoot = MTH({}) (the RFC's algorithm starts at 0 < first; any new tree extends the empty
 * one, so there is nothing to prove about newRoot). False, never an exception, for malformed input.
 */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  if (!isCount(oldSize) || !isCount(newSize) || oldSize > newSize) return false;
  if (!isHash(oldRoot) || !isHash(newRoot) || !proof.every(isHash)) return false;
  if (oldSize === 0) return proof.length === 0 && sameBytes(EMPTY_ROOT, oldRoot);
  if (oldSize === newSize) return proof.length === 0 && sameBytes(oldRoot, newRoot);
  if (proof.length === 0) return false;
  // Step 2: when oldSize is a power of two the old root is itself a node of the new tree and is not sent.
  const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : proof;
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0] as Uint8Array;
  let sr = fr;
  for (let i = 1; i < path.length; i++) {
    const c = path[i] as Uint8Array;
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && sameBytes(fr, oldRoot) && sameBytes(sr, newRoot);
}

/** The saved form of a `MerkleFrontier`: the tree size and its perfect-subtree roots in hex, largest first. */
export interface FrontierJSON {
  size: number;
  hashes: string[];
}

/**
 * The compact range [0, size) of a growing tree: the roots of the perfect subtrees given by the set bits of
 * size, largest (leftmost) first — at most 53 hashes. Appending a leaf merges equal-sized subtrees like a
 * binary counter (O(1) amortized hashes); the root is their right fold (O(log n)). Hashes are copied in and out,
 * so callers' buffers are never aliased.
 */
export class MerkleFrontier {
  #size: number;
  readonly #hashes: Buffer[];

  constructor() {
    this.#size = 0;
    this.#hashes = [];
  }

  /**
   * A frontier for a tree of `size` leaves from its perfect-subtree roots, largest first (exactly
   * `rangeTiles(0, size)`). Throws RangeError when the count or a hash length is wrong.
   */
  static from(size: number, hashes: readonly Uint8Array[]): MerkleFrontier {
    assertCount(size, "size");
    const expected = rangeTiles(0, size).length;
    if (hashes.length !== expected) {
      throw new RangeError(`a tree of size ${size} has ${expected} subtree roots, got ${hashes.length}`);
    }
    if (!hashes.every(isHash)) throw new RangeError(`subtree roots must be ${HASH_SIZE} bytes`);
    const f = new MerkleFrontier();
    f.#size = size;
    for (const h of hashes) f.#hashes.push(Buffer.from(h));
    return f;
  }

  /** Parses `toJSON` output; throws TypeError or RangeError on anything else. */
  static fromJSON(value: unknown): MerkleFrontier {
    if (typeof value !== "object" || value === null) throw new TypeError("frontier must be an object");
    const { size, hashes } = value as Record<string, unknown>;
    if (typeof size !== "number" || !Array.isArray(hashes)) {
      throw new TypeError("frontier needs a numeric size and a hashes array");
    }
    const parsed = hashes.map((h) => {
      if (typeof h !== "string" || !/^[0-9a-f]{64}$/.test(h)) {
        throw new TypeError("frontier hashes must be 64 lowercase hex digits");
      }
      return Buffer.from(h, "hex");
    });
    return MerkleFrontier.from(size, parsed);
  }

  get size(): number {
    return this.#size;
  }

  /**
   * Adds one leaf hash. Returns the perfect subtrees this append completed above the leaf, in level order:
   * element i is node (i + 1, ⌊size_after / 2^(i+1)⌋ − 1). A store appends them to its per-level files.
   */
  append(leaf: Uint8Array): Buffer[] {
    if (!isHash(leaf)) throw new RangeError(`a leaf hash must be ${HASH_SIZE} bytes`);
    if (this.#size >= Number.MAX_SAFE_INTEGER) throw new RangeError("tree size limit reached");
    const completed: Buffer[] = [];
    let h: Buffer = Buffer.from(leaf);
    // Each trailing 1 bit of the old size is a subtree of the same height as h: merge, like a carry.
    for (let s = this.#size; s % 2 === 1; s = Math.floor(s / 2)) {
      h = nodeHash(this.#hashes.pop() as Buffer, h);
      completed.push(Buffer.from(h));
    }
    this.#hashes.push(h);
    this.#size++;
    return completed;
  }

  /** MTH of the leaves appended so far. */
  root(): Buffer {
    if (this.#size === 0) return Buffer.from(EMPTY_ROOT);
    return Buffer.from(foldTiles(this.#hashes));
  }

  /** An independent copy, so a caller can append tentatively and keep or drop the result. */
  clone(): MerkleFrontier {
    return MerkleFrontier.from(this.#size, this.#hashes);
  }

  toJSON(): FrontierJSON {
    return { size: this.#size, hashes: this.#hashes.map((h) => h.toString("hex")) };
  }
}

function isHash(h: unknown): boolean {
  return h instanceof Uint8Array && h.length === HASH_SIZE;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

/** Whether n is a tree size or leaf count: a non-negative safe integer. */
export function isCount(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

function assertCount(n: number, name: string): void {
  if (!isCount(n)) throw new RangeError(`${name} must be a non-negative safe integer, got ${n}`);
}

function isPowerOfTwo(n: number): boolean {
  let p = 1;
  while (p < n) p *= 2;
  return p === n;
}
