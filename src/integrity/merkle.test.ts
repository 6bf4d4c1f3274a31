import { describe, expect, it } from "vitest";
import {
  consistencyPlan,
  consistencyProof,
  type GetNode,
  inclusionPlan,
  inclusionProof,
  leafHash,
  MerkleFrontier,
  nodeHash,
  rangeTiles,
  rootFromLeafHashes,
  rootFromNodes,
  verifyConsistency,
  verifyInclusion,
} from "./merkle.ts";

const hex = (h: Buffer): string => h.toString("hex");
const hexAll = (hs: Buffer[]): string[] => hs.map(hex);
const unhex = (s: string): Buffer => Buffer.from(s, "hex");

// RFC 6962 reference data as published in transparency-dev/merkle testonly/constants.go (LeafInputs,
// NodeHashes, RootHashes) and proof/verify_test.go (inclusionProofs, consistencyProofs), the successor of
// google/certificate-transparency-go's merkle tests.
const VECTOR_LEAVES = [
  "",
  "00",
  "10",
  "2021",
  "3031",
  "40414243",
  "5051525354555657",
  "606162636465666768696a6b6c6d6e6f",
].map(unhex);

/** NodeHashes(): [level][index] for the 8-leaf tree. */
const VECTOR_NODES = [
  [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
  ],
  [
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
  ],
  [
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
  ],
  ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
];

/** RootHashes(): index = tree size. */
const VECTOR_ROOTS = [
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

const n = (level: number, index: number): string => VECTOR_NODES[level]?.[index] as string;

// verify_test.go numbers leaves from 1 ({leaf: 1, size: 8} is index 0); these are the same vectors 0-based.
const VECTOR_INCLUSION: { index: number; size: number; proof: string[] }[] = [
  { index: 0, size: 1, proof: [] },
  { index: 0, size: 8, proof: [n(0, 1), n(1, 1), n(2, 1)] },
  { index: 5, size: 8, proof: [n(0, 4), n(1, 3), n(2, 0)] },
  { index: 2, size: 3, proof: [n(1, 0)] },
  { index: 1, size: 5, proof: [n(0, 0), n(1, 1), n(0, 4)] },
];

const VECTOR_CONSISTENCY: { oldSize: number; newSize: number; proof: string[] }[] = [
  { oldSize: 1, newSize: 1, proof: [] },
  { oldSize: 1, newSize: 8, proof: [n(0, 1), n(1, 1), n(2, 1)] },
  { oldSize: 6, newSize: 8, proof: [n(1, 2), n(1, 3), n(2, 0)] },
  { oldSize: 2, newSize: 5, proof: [n(1, 1), n(0, 4)] },
  { oldSize: 6, newSize: 7, proof: [n(1, 2), n(0, 6), n(2, 0)] },
];

/** getNode over leaves held in memory, each node computed once by the RFC definition. */
function memoryNodes(leaves: Buffer[]): GetNode {
  const table: Buffer[][] = [];
  for (let level = 0, width = 1; width <= leaves.length; level++, width *= 2) {
    table[level] = Array.from({ length: Math.floor(leaves.length / width) }, (_, index) =>
      rootFromLeafHashes(leaves.slice(index * width, (index + 1) * width)),
    );
  }
  return (level, index) => {
    const node = table[level]?.[index];
    if (!node) throw new Error(`node (${level}, ${index}) is not complete`);
    return node;
  };
}

const vectorLeafHashes = VECTOR_LEAVES.map(leafHash);
const vectorNodes = memoryNodes(vectorLeafHashes);

describe("merkle known answers (RFC 6962 test vectors)", () => {
  it("hashes leaves and nodes with the 0x00 / 0x01 prefixes", () => {
    expect(hexAll(vectorLeafHashes)).toEqual(VECTOR_NODES[0]);
    expect(hex(nodeHash(vectorLeafHashes[0] as Buffer, vectorLeafHashes[1] as Buffer))).toBe(n(1, 0));
  });

  it("gives every complete subtree of the 8-leaf tree", () => {
    for (const [level, row] of VECTOR_NODES.entries()) {
      expect(row.map((_, index) => hex(vectorNodes(level, index)))).toEqual(row);
    }
  });

  it("gives the root for every size 0..8, by every route", () => {
    const frontier = new MerkleFrontier();
    for (let size = 0; size <= 8; size++) {
      const expected = VECTOR_ROOTS[size];
      expect(hex(rootFromLeafHashes(vectorLeafHashes.slice(0, size)))).toBe(expected);
      expect(hex(rootFromNodes(size, vectorNodes))).toBe(expected);
      expect(hex(frontier.root())).toBe(expected);
      if (size < 8) frontier.append(vectorLeafHashes[size] as Buffer);
    }
  });

  it("generates and verifies the published inclusion proofs exactly", () => {
    for (const { index, size, proof } of VECTOR_INCLUSION) {
      expect(hexAll(inclusionProof(index, size, vectorNodes)), `leaf ${index} in ${size}`).toEqual(proof);
      const root = unhex(VECTOR_ROOTS[size] as string);
      expect(verifyInclusion(vectorLeafHashes[index] as Buffer, index, size, proof.map(unhex), root)).toBe(
        true,
      );
    }
  });

  it("derives the proof for leaf 1 in the 2-leaf tree: its sibling, leaf 0 (RFC 6962 §2.1.1, PATH(1, D[2]))", () => {
    expect(hexAll(inclusionProof(1, 2, vectorNodes))).toEqual([n(0, 0)]);
  });

  it("generates and verifies the published consistency proofs exactly", () => {
    for (const { oldSize, newSize, proof } of VECTOR_CONSISTENCY) {
      expect(hexAll(consistencyProof(oldSize, newSize, vectorNodes)), `${oldSize} → ${newSize}`).toEqual(
        proof,
      );
      const [oldRoot, newRoot] = [
        unhex(VECTOR_ROOTS[oldSize] as string),
        unhex(VECTOR_ROOTS[newSize] as string),
      ];
      expect(verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof.map(unhex))).toBe(true);
    }
  });

  it("handles the degenerate consistency cases as verify_test.go does, with the empty root required at size 0", () => {
    const empty = unhex(VECTOR_ROOTS[0] as string);
    const r1 = unhex(VECTOR_ROOTS[1] as string);
    const r2 = unhex(VECTOR_ROOTS[2] as string);
    expect(consistencyProof(0, 8, vectorNodes)).toEqual([]);
    expect(verifyConsistency(0, 0, empty, empty, [])).toBe(true);
    expect(verifyConsistency(0, 1, empty, r1, [])).toBe(true);
    expect(verifyConsistency(0, 1, r2, r1, [])).toBe(false);
    expect(verifyConsistency(0, 1, empty, r1, [empty])).toBe(false);
    expect(verifyConsistency(1, 1, r1, r1, [empty])).toBe(false);
    expect(verifyConsistency(1, 1, r1, r2, [])).toBe(false);
    expect(verifyConsistency(1, 0, r1, empty, [])).toBe(false);
    expect(verifyConsistency(2, 1, r2, r1, [])).toBe(false);
    expect(verifyConsistency(1, 2, r1, r2, [])).toBe(false);
    const [r3, r4] = [unhex(VECTOR_ROOTS[3] as string), unhex(VECTOR_ROOTS[4] as string)];
    expect(verifyConsistency(3, 4, r3, r4, [])).toBe(false);
    expect(verifyConsistency(3, 4, r3, r4, [r3.subarray(1)])).toBe(false);
  });

  it("rejects malformed inclusion inputs without throwing", () => {
    const leaf = vectorLeafHashes[0] as Buffer;
    expect(verifyInclusion(leaf, 0, 1, [], leaf)).toBe(true);
    expect(verifyInclusion(leaf, 0, 0, [], leaf)).toBe(false);
    expect(verifyInclusion(leaf, 1, 1, [], leaf)).toBe(false);
    expect(verifyInclusion(leaf, -1, 1, [], leaf)).toBe(false);
    expect(verifyInclusion(leaf, 0.5, 1, [], leaf)).toBe(false);
    expect(verifyInclusion(leaf.subarray(1), 0, 1, [], leaf)).toBe(false);
    expect(verifyInclusion(leaf, 0, 1, [], Buffer.alloc(0))).toBe(false);
    expect(verifyInclusion(leaf, 0, 2, [Buffer.alloc(31)], leaf)).toBe(false);
  });
});

/** PATH(m, D[n]) of RFC 6962 §2.1.1, word for word, over leaf hashes. */
function referencePath(m: number, d: Buffer[]): Buffer[] {
  if (d.length <= 1) return [];
  const k = largestPowerOfTwoBelow(d.length);
  return m < k
    ? [...referencePath(m, d.slice(0, k)), rootFromLeafHashes(d.slice(k))]
    : [...referencePath(m - k, d.slice(k)), rootFromLeafHashes(d.slice(0, k))];
}

/** PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of RFC 6962 §2.1.2, word for word. */
function referenceSubproof(m: number, d: Buffer[], b: boolean): Buffer[] {
  if (m === d.length) return b ? [] : [rootFromLeafHashes(d)];
  const k = largestPowerOfTwoBelow(d.length);
  return m <= k
    ? [...referenceSubproof(m, d.slice(0, k), b), rootFromLeafHashes(d.slice(k))]
    : [...referenceSubproof(m - k, d.slice(k), false), rootFromLeafHashes(d.slice(0, k))];
}

function largestPowerOfTwoBelow(size: number): number {
  let k = 1;
  while (k * 2 < size) k *= 2;
  return k;
}

const MAX = 70;
const leaves = Array.from({ length: MAX }, (_, i) => leafHash(Buffer.from(`record ${i}`)));
const getNode = memoryNodes(leaves);
const roots = Array.from({ length: MAX + 1 }, (_, size) => rootFromLeafHashes(leaves.slice(0, size)));
const other = leafHash(Buffer.from("not in the log"));
/** inclusions[size][index] and consistencies[oldSize][newSize], generated once for the cross-checks. */
const inclusions = roots.map((_, size) =>
  Array.from({ length: size }, (_, i) => inclusionProof(i, size, getNode)),
);
const consistencies = roots.map((_, oldSize) =>
  roots.map((_, newSize) => (oldSize <= newSize ? consistencyProof(oldSize, newSize, getNode) : [])),
);

function sameHashes(a: Buffer[], b: Buffer[]): boolean {
  return a.length === b.length && a.every((h, i) => h.equals(b[i] as Buffer));
}

function flipped(proof: Buffer[], i: number): Buffer[] {
  return proof.map((p, j) => {
    const copy = Buffer.from(p);
    if (j === i) copy.writeUInt8((copy.readUInt8(0) ^ 0x08) & 0xff, 0);
    return copy;
  });
}

describe(`merkle properties (every size 1..${MAX})`, () => {
  it("frontier root equals the RFC tree hash at every size, and it reports the nodes each append completes", () => {
    const frontier = new MerkleFrontier();
    expect(hex(frontier.root())).toBe(hex(roots[0] as Buffer));
    for (let size = 1; size <= MAX; size++) {
      const completed = frontier.append(leaves[size - 1] as Buffer);
      expect(frontier.size).toBe(size);
      expect(hex(frontier.root())).toBe(hex(roots[size] as Buffer));
      const expected: string[] = [];
      for (let level = 1; size % 2 ** level === 0; level++)
        expected.push(hex(getNode(level, size / 2 ** level - 1)));
      expect(hexAll(completed)).toEqual(expected);
      const restored = MerkleFrontier.fromJSON(JSON.parse(JSON.stringify(frontier)));
      expect(restored.toJSON()).toEqual(frontier.toJSON());
      expect(hex(restored.root())).toBe(hex(roots[size] as Buffer));
    }
  });

  it("frontier clones are independent and fromJSON rejects anything else", () => {
    const a = new MerkleFrontier();
    for (const l of leaves.slice(0, 5)) a.append(l);
    const b = a.clone();
    b.append(leaves[5] as Buffer);
    expect([a.size, b.size]).toEqual([5, 6]);
    expect(hex(a.root())).toBe(hex(roots[5] as Buffer));
    const json = a.toJSON();
    expect(() => MerkleFrontier.fromJSON({ ...json, size: 7 })).toThrow(RangeError);
    expect(() => MerkleFrontier.fromJSON({ ...json, hashes: [...json.hashes.slice(1), "zz"] })).toThrow(
      TypeError,
    );
    expect(() => MerkleFrontier.fromJSON({ size: -1, hashes: [] })).toThrow(RangeError);
    expect(() => MerkleFrontier.fromJSON(null)).toThrow(TypeError);
    expect(() => a.append(Buffer.alloc(31))).toThrow(RangeError);
  });

  it("tiles right-edge ranges by the set bits of their width and refuses unaligned ranges", () => {
    expect(rangeTiles(0, 0)).toEqual([]);
    expect(rangeTiles(0, 13)).toEqual([
      { level: 3, index: 0 },
      { level: 2, index: 2 },
      { level: 0, index: 12 },
    ]);
    expect(rangeTiles(16, 23)).toEqual([
      { level: 2, index: 4 },
      { level: 1, index: 10 },
      { level: 0, index: 22 },
    ]);
    expect(() => rangeTiles(2, 7)).toThrow(RangeError);
    expect(() => rangeTiles(5, 4)).toThrow(RangeError);
  });

  // Outcomes are collected and compared once: hundreds of thousands of expect() calls would dominate the run.
  it("every inclusion proof is the RFC's PATH, verifies, and fails once anything is wrong", () => {
    const wrong: string[] = [];
    let checked = 0;
    for (let size = 1; size <= MAX; size++) {
      for (let index = 0; index < size; index++) {
        const good = {
          leaf: leaves[index] as Buffer,
          index,
          size,
          proof: inclusions[size]?.[index] as Buffer[],
        };
        const root = roots[size] as Buffer;
        const { proof } = good;
        const check = (want: boolean, what: string, change: Partial<typeof good & { root: Buffer }>) => {
          const c = { ...good, root, ...change };
          if (verifyInclusion(c.leaf, c.index, c.size, c.proof, c.root) !== want) {
            wrong.push(`leaf ${index} in ${size}: ${what}`);
          }
        };
        if (!sameHashes(proof, referencePath(index, leaves.slice(0, size))))
          wrong.push(`${index}/${size}: PATH`);
        if (inclusionPlan(index, size).flat().length > 2 * Math.ceil(Math.log2(size))) {
          wrong.push(`${index}/${size}: too many reads`);
        }
        check(true, "valid proof", {});

        check(false, "wrong leaf", { leaf: other });
        for (let j = 0; j < size; j++) if (j !== index) check(false, `index ${j}`, { index: j });
        check(false, "size × 2", { size: size * 2 });
        // Another size with that tree's root is a true statement: only that tree's own proof may show it.
        for (let s = index + 1; s <= MAX; s++) {
          const own = sameHashes(proof, inclusions[s]?.[index] as Buffer[]);
          if (s !== size) check(own, `size ${s} with its root`, { size: s, root: roots[s] as Buffer });
        }
        check(false, "older root", { root: roots[size - 1] as Buffer });
        check(false, "extended", { proof: [...proof, root] });
        check(false, "prepended", { proof: [root, ...proof] });
        if (proof.length > 0) check(false, "truncated", { proof: proof.slice(0, -1) });
        if (proof.length > 0) check(false, "first dropped", { proof: proof.slice(1) });
        for (let i = 0; i < proof.length; i++)
          check(false, `element ${i} flipped`, { proof: flipped(proof, i) });
        checked++;
      }
    }
    expect(wrong).toEqual([]);
    expect(checked).toBe((MAX * (MAX + 1)) / 2);
  });

  it("every consistency proof is the RFC's SUBPROOF, verifies, and fails once anything is wrong", () => {
    const wrong: string[] = [];
    let checked = 0;
    for (let newSize = 0; newSize <= MAX; newSize++) {
      for (let oldSize = 0; oldSize <= newSize; oldSize++) {
        const proof = consistencies[oldSize]?.[newSize] as Buffer[];
        const good = {
          oldSize,
          newSize,
          oldRoot: roots[oldSize] as Buffer,
          newRoot: roots[newSize] as Buffer,
          proof,
        };
        const { oldRoot, newRoot } = good;
        const check = (want: boolean, what: string, change: Partial<typeof good>) => {
          const c = { ...good, ...change };
          if (verifyConsistency(c.oldSize, c.newSize, c.oldRoot, c.newRoot, c.proof) !== want) {
            wrong.push(`${oldSize} → ${newSize}: ${what}`);
          }
        };
        const reference = oldSize === 0 ? [] : referenceSubproof(oldSize, leaves.slice(0, newSize), true);
        if (!sameHashes(proof, reference)) wrong.push(`${oldSize} → ${newSize}: SUBPROOF`);
        if (consistencyPlan(oldSize, newSize).flat().length > 2 * Math.ceil(Math.log2(newSize + 1)) + 1) {
          wrong.push(`${oldSize} → ${newSize}: too many reads`);
        }
        check(true, "valid proof", {});

        check(false, "wrong old root", { oldRoot: other });
        // From the empty tree there is nothing to prove about the new root (see verifyConsistency).
        if (oldSize > 0) check(false, "wrong new root", { newRoot: other });
        if (oldSize !== newSize) check(false, "swapped roots", { oldRoot: newRoot, newRoot: oldRoot });
        if (oldSize > 0) check(false, "new size × 2", { newSize: newSize * 2 });
        check(false, "extended", { proof: [...proof, newRoot] });
        check(false, "prepended", { proof: [oldRoot, ...proof] });
        if (proof.length > 0) check(false, "truncated", { proof: proof.slice(0, -1) });
        if (proof.length > 0) check(false, "first dropped", { proof: proof.slice(1) });
        for (let i = 0; i < proof.length; i++)
          check(false, `element ${i} flipped`, { proof: flipped(proof, i) });
        // Other sizes with their own roots are true statements: only their own proofs may show them.
        for (let m = 0; m <= newSize; m++) {
          const own = sameHashes(proof, consistencies[m]?.[newSize] as Buffer[]);
          if (m !== oldSize) check(own, `old size ${m}`, { oldSize: m, oldRoot: roots[m] as Buffer });
        }
        for (let k = oldSize; k <= MAX; k++) {
          const own = sameHashes(proof, consistencies[oldSize]?.[k] as Buffer[]);
          if (k !== newSize) check(own, `new size ${k}`, { newSize: k, newRoot: roots[k] as Buffer });
        }
        checked++;
      }
    }
    expect(wrong).toEqual([]);
    expect(checked).toBe(((MAX + 1) * (MAX + 2)) / 2);
  });

  it("refuses to plan proofs outside the tree", () => {
    expect(() => inclusionPlan(3, 3)).toThrow(RangeError);
    expect(() => inclusionPlan(-1, 3)).toThrow(RangeError);
    expect(() => consistencyPlan(4, 3)).toThrow(RangeError);
    expect(() => consistencyPlan(1.5, 3)).toThrow(RangeError);
  });
});
