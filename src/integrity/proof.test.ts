import { randomBytes } from "node:crypto";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { journalDir, listSegments } from "../journal/segment.ts";
import { JournalWriter } from "../journal/writer.ts";
import { canonicalize } from "./canonical.ts";
import { EMPTY_CHAIN, parseRecord, Sealer } from "./chain.ts";
import { signCheckpoint } from "./checkpoint.ts";
import { keyFromSecret } from "./keys.ts";
import { recordLeafHash } from "./leaf.ts";
import {
  checkpointKeysDir,
  checkpointsDir,
  createCheckpointKey,
  merkleDir,
  writeCheckpointNote,
} from "./log-layout.ts";
import { leafHash, rootFromLeafHashes } from "./merkle.ts";
import { MerkleStore } from "./merkle-store.ts";
import {
  generateNoteKey,
  type NoteSigner,
  type NoteVerifier,
  readVerifierKeys,
  writeVerifierKey,
} from "./note.ts";
import {
  type ConsistencyProofJson,
  checkProof,
  consistencyProofJson,
  type InclusionProofJson,
  inclusionProofJson,
  type ProofCheck,
} from "./proof.ts";

const ORIGIN = "vigil.test/proof";
const RECORDS = 21;
/** Record 21 is sealed after the newest checkpoint: not yet covered. */
const CHECKPOINTS = [1, 8, 13, 20];

let root: string;
let dataDir: string;
let lines: string[];
let signer: NoteSigner;
/** What an auditor holds: the verifier key read back from the public key file. */
let verifiers: NoteVerifier[];

/**
 * A real log: records sealed into a journal of several segments, their leaves in a MerkleStore, checkpoints
 * signed at `sizes`, the verifier key in the data directory and in a separate public key file.
 */
async function buildLog(dir: string, count: number, sizes: number[]) {
  const sealer = new Sealer(keyFromSecret(randomBytes(32), "test"), EMPTY_CHAIN);
  const sealed: string[] = [];
  for (let i = 1; i <= count; i++) {
    sealed.push(
      sealer.seal(canonicalize({ event_type: "backup.completed", event_id: `evt_${i}`, n: i })).line,
    );
  }
  const { writer } = await JournalWriter.open({ dir: journalDir(dir), segmentBytes: 2048 });
  // Small groups in small segments for the small log, so a lookup crosses segments; fewer fsyncs for a big one.
  const group = count > 100 ? 250 : 5;
  for (let i = 0; i < count; i += group) await writer.append(sealed.slice(i, i + group), i + 1);
  await writer.close();
  const store = await MerkleStore.open(merkleDir(dir));
  await store.append(sealed.map((l) => leafOf(l)));
  const key = await createCheckpointKey(dir, ORIGIN, true);
  for (const size of sizes) {
    const note = signCheckpoint({ origin: ORIGIN, size, rootHash: await store.root(size) }, [key.signer]);
    await writeCheckpointNote(checkpointsDir(dir), size, note);
  }
  await store.close();
  const keyFile = `${dir}.vkey`;
  await writeVerifierKey(keyFile, key.verifierText);
  return { sealed, signer: key.signer, verifiers: await readVerifierKeys(keyFile) };
}

function leafOf(line: string): Buffer {
  const parsed = parseRecord(Buffer.from(line));
  if (!parsed.ok) throw new Error(parsed.reason);
  return recordLeafHash(parsed.record);
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "vigil-proof-"));
  dataDir = join(root, "data");
  ({ sealed: lines, signer, verifiers } = await buildLog(dataDir, RECORDS, CHECKPOINTS));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const text = (proof: object) => JSON.stringify(proof);
const ceilLog2 = (n: number) => Math.ceil(Math.log2(n));

function expectFailure(result: ProofCheck, failure: string, message: string | RegExp): void {
  expect(result).toMatchObject({ ok: false, failure });
  if (!result.ok) expect(result.message).toMatch(message);
}

function flipHash(b64: string): string {
  const bytes = Buffer.from(b64, "base64");
  bytes[0] = (bytes[0] as number) ^ 1;
  return bytes.toString("base64");
}

describe("inclusion proofs", () => {
  it("proves a record by sequence against the newest checkpoint, checkable with only the public key", async () => {
    const proof = await inclusionProofJson(dataDir, { sequence: 5 });
    expect(proof).toMatchObject({
      format: "vigil-inclusion-proof/1",
      record: lines[4],
      leaf_hash: leafOf(lines[4] as string).toString("base64"),
      leaf_index: 4,
      tree_size: 20,
    });
    expect(proof.checkpoint).toMatch(new RegExp(`^${ORIGIN}\n20\n`));
    expect(Object.keys(proof)).toEqual([
      "format",
      "record",
      "leaf_hash",
      "leaf_index",
      "tree_size",
      "hashes",
      "checkpoint",
    ]);
    await rm(dataDir, { recursive: true });
    expect(checkProof(text(proof), verifiers)).toEqual({
      ok: true,
      verified: {
        format: "vigil-inclusion-proof/1",
        eventId: "evt_5",
        sequence: 5,
        treeSize: 20,
        origin: ORIGIN,
        keys: [`${ORIGIN}+${signer.keyHash.toString(16).padStart(8, "0")}`],
      },
    });
  });

  it("finds a record by event_id in a later journal segment, and proves it against a chosen checkpoint", async () => {
    expect((await listSegments(journalDir(dataDir))).length).toBeGreaterThan(2);
    const proof = await inclusionProofJson(dataDir, { eventId: "evt_13" }, { size: 13 });
    expect(proof).toMatchObject({ record: lines[12], leaf_index: 12, tree_size: 13 });
    expect(checkProof(text(proof), verifiers)).toMatchObject({ ok: true, verified: { eventId: "evt_13" } });
  });

  it("proves every record of every checkpoint with at most ceil(log2 N) + 1 hashes", async () => {
    for (const size of CHECKPOINTS) {
      for (let sequence = 1; sequence <= size; sequence++) {
        const proof = await inclusionProofJson(dataDir, { sequence }, { size });
        expect(proof.hashes.length).toBeLessThanOrEqual(ceilLog2(size) + 1);
        expect(checkProof(text(proof), verifiers).ok).toBe(true);
      }
    }
  });

  it("stays logarithmic in a larger tree", async () => {
    const big = join(root, "big");
    const log = await buildLog(big, 1500, [1000, 1500]);
    for (const sequence of [1, 333, 999, 1000, 1024, 1025, 1500]) {
      const proof = await inclusionProofJson(big, { sequence });
      expect(proof.tree_size).toBe(1500);
      expect(proof.hashes.length).toBeLessThanOrEqual(ceilLog2(1500) + 1);
      expect(checkProof(text(proof), log.verifiers).ok).toBe(true);
    }
  });

  it("refuses records that are not in the log or not yet covered, and checkpoints that are not stored", async () => {
    await expect(inclusionProofJson(dataDir, { eventId: "evt_missing" })).rejects.toMatchObject({
      code: "not_found",
      message: expect.stringContaining("no record with event_id evt_missing in the journal"),
    });
    await expect(inclusionProofJson(dataDir, { sequence: 99 })).rejects.toMatchObject({
      code: "not_found",
      message: expect.stringContaining("no record with sequence 99 in the journal"),
    });
    await expect(inclusionProofJson(dataDir, { eventId: "evt_21" })).rejects.toMatchObject({
      code: "not_found",
      message:
        "event_id evt_21 (sequence 21) is not yet covered by a checkpoint (the newest covers sequences 1–20); " +
        "the next one is signed within seconds",
    });
    await expect(inclusionProofJson(dataDir, { sequence: 5 }, { size: 12 })).rejects.toMatchObject({
      code: "not_found",
      message: expect.stringContaining("no stored checkpoint of tree size 12"),
    });
    await expect(inclusionProofJson(dataDir, { sequence: 13 }, { size: 8 })).rejects.toMatchObject({
      code: "usage",
      message: "sequence 13 is not in the tree of size 8; choose a checkpoint of size 13 or more",
    });
  });

  it("refuses to hand out a proof that does not verify against the data directory's key", async () => {
    // Leaf 5 is on the path of leaf 4: a tree that disagrees with the checkpoint.
    const fh = await open(join(merkleDir(dataDir), "level-00.bin"), "r+");
    await fh.write(randomBytes(32), 0, 32, 5 * 32);
    await fh.close();
    await expect(inclusionProofJson(dataDir, { sequence: 5 })).rejects.toMatchObject({
      code: "journal_corrupt",
      message: expect.stringContaining("root mismatch"),
    });
    await rm(checkpointKeysDir(dataDir), { recursive: true });
    await expect(inclusionProofJson(dataDir, { sequence: 1 })).rejects.toMatchObject({ code: "key_missing" });
  });
});

describe("checking an inclusion proof", () => {
  let proof: InclusionProofJson;

  beforeEach(async () => {
    proof = await inclusionProofJson(dataDir, { sequence: 6 });
  });

  it("names what fails when a part of the proof was altered", () => {
    const at = proof.record.indexOf("backup.completed");
    const record = `${proof.record.slice(0, at)}c${proof.record.slice(at + 1)}`;
    expectFailure(
      checkProof(text({ ...proof, record }), verifiers),
      "leaf",
      "does not hash to the proven leaf",
    );
    expectFailure(
      checkProof(text({ ...proof, leaf_hash: flipHash(proof.leaf_hash) }), verifiers),
      "leaf",
      "does not hash to the proven leaf",
    );
    const hashes = [...proof.hashes];
    hashes[2] = flipHash(hashes[2] as string);
    expectFailure(checkProof(text({ ...proof, hashes }), verifiers), "path", "root mismatch");
    expectFailure(
      checkProof(text({ ...proof, hashes: proof.hashes.slice(1) }), verifiers),
      "path",
      `${proof.hashes.length - 1} hashes, but the path of leaf 5 in a tree of size 20 has ${proof.hashes.length}`,
    );
    expectFailure(
      checkProof(text({ ...proof, leaf_index: 6 }), verifiers),
      "index",
      "leaf_index 6 is not the record's: sequence 6 is leaf 5",
    );
    expectFailure(
      checkProof(text({ ...proof, leaf_index: 20 }), verifiers),
      "index",
      "leaf_index 20 is outside the tree of size 20",
    );
    expectFailure(
      checkProof(text({ ...proof, tree_size: 21 }), verifiers),
      "size",
      "tree_size 21 is not the checkpoint's tree size 20",
    );
    const checkpoint = proof.checkpoint.replace(`${ORIGIN}\n20\n`, `${ORIGIN}\n21\n`);
    expectFailure(
      checkProof(text({ ...proof, checkpoint, tree_size: 21 }), verifiers),
      "signature",
      "bad signature",
    );
  });

  it("refuses a record with members outside the sealed layout", () => {
    const record = JSON.parse(proof.record);
    record.approved = true;
    record.integrity.approved_by = "ciso";
    expectFailure(
      checkProof(text({ ...proof, record: JSON.stringify(record) }), verifiers),
      "leaf",
      /unexpected member "approved"/,
    );
  });

  it("reports a checkpoint signed by another key as an unknown key", () => {
    const other = generateNoteKey(ORIGIN);
    expectFailure(
      checkProof(text(proof), [other.verifier]),
      "signature",
      "checkpoint signature: unknown key",
    );
    // The true root, signed by a key the auditor does not hold, proves nothing.
    const forged = signCheckpoint(
      {
        origin: ORIGIN,
        size: 20,
        rootHash: Buffer.from(proof.checkpoint.split("\n")[2] as string, "base64"),
      },
      [other.signer],
    );
    expectFailure(checkProof(text({ ...proof, checkpoint: forged }), verifiers), "signature", "unknown key");
  });

  it("tells a file that is not a proof from a malformed proof", () => {
    expectFailure(checkProof("not json", verifiers), "not_a_proof", "not JSON");
    expectFailure(checkProof("[1]", verifiers), "not_a_proof", "not a JSON object");
    expectFailure(checkProof(text({ format: "other/1" }), verifiers), "not_a_proof", '"format" is "other/1"');
    expectFailure(checkProof(proof.checkpoint, verifiers), "not_a_proof", "not JSON");
    expectFailure(checkProof(text({ ...proof, extra: 1 }), verifiers), "malformed", 'unknown member "extra"');
    const { hashes: _, ...noHashes } = proof;
    expectFailure(checkProof(text(noHashes), verifiers), "malformed", 'missing member "hashes"');
    expectFailure(
      checkProof(text({ ...proof, hashes: ["AAAA"] }), verifiers),
      "malformed",
      "hashes[0] is not the canonical base64 of a 32-byte hash",
    );
    expectFailure(checkProof(text({ ...proof, leaf_index: -1 }), verifiers), "malformed", "leaf_index");
    expectFailure(
      checkProof(text({ ...proof, checkpoint: "x\n" }), verifiers),
      "malformed",
      "checkpoint is not a signed checkpoint",
    );
    const duplicate = text(proof).replace("{", `{"record":${JSON.stringify(lines[0])},`);
    expectFailure(checkProof(duplicate, verifiers), "malformed", "duplicate member names");
  });
});

describe("consistency proofs", () => {
  it("proves every pair of checkpoints consistent with at most ceil(log2 N) + 1 hashes", async () => {
    for (const oldSize of CHECKPOINTS) {
      for (const newSize of CHECKPOINTS.filter((s) => s >= oldSize)) {
        const proof = await consistencyProofJson(dataDir, oldSize, newSize);
        expect(proof.hashes.length).toBeLessThanOrEqual(ceilLog2(newSize) + 1);
        expect(checkProof(text(proof), verifiers)).toEqual({
          ok: true,
          verified: {
            format: "vigil-consistency-proof/1",
            oldSize,
            newSize,
            origin: ORIGIN,
            keys: [`${ORIGIN}+${signer.keyHash.toString(16).padStart(8, "0")}`],
          },
        });
      }
    }
  });

  it("serves the stored checkpoints verbatim", async () => {
    const proof = await consistencyProofJson(dataDir, 8, 20);
    expect(Object.keys(proof)).toEqual(["format", "old_checkpoint", "new_checkpoint", "hashes"]);
    expect(proof.old_checkpoint).toMatch(new RegExp(`^${ORIGIN}\n8\n`));
    expect(proof.new_checkpoint).toMatch(new RegExp(`^${ORIGIN}\n20\n`));
  });

  it("refuses sizes without a stored checkpoint and sizes out of order", async () => {
    // The message reaches unauthenticated HTTP clients: it names the size, never a server path.
    await expect(consistencyProofJson(dataDir, 8, 21)).rejects.toMatchObject({
      code: "not_found",
      message: "no stored checkpoint of tree size 21",
    });
    await expect(consistencyProofJson(dataDir, 9, 20)).rejects.toMatchObject({ code: "not_found" });
    await expect(consistencyProofJson(dataDir, 20, 8)).rejects.toMatchObject({
      code: "usage",
      message: "the old tree size 20 exceeds the new tree size 8",
    });
  });

  describe("checking", () => {
    let proof: ConsistencyProofJson;

    beforeEach(async () => {
      proof = await consistencyProofJson(dataDir, 8, 20);
    });

    it("fails for swapped checkpoints", () => {
      const swapped = {
        ...proof,
        old_checkpoint: proof.new_checkpoint,
        new_checkpoint: proof.old_checkpoint,
      };
      expectFailure(
        checkProof(text(swapped), verifiers),
        "size",
        "old checkpoint's tree size 20 exceeds the new one's 8",
      );
    });

    it("fails for a checkpoint of a rewritten history, even one signed by the log's key", () => {
      const rewritten = lines
        .slice(0, 20)
        .map((l, i) => (i === 3 ? leafHash(Buffer.from("forged")) : leafOf(l)));
      const forged = signCheckpoint({ origin: ORIGIN, size: 20, rootHash: rootFromLeafHashes(rewritten) }, [
        signer,
      ]);
      expectFailure(
        checkProof(text({ ...proof, new_checkpoint: forged }), verifiers),
        "consistency",
        "does not show that the tree of size 8 is a prefix of the tree of size 20",
      );
    });

    it("fails for a checkpoint forged with another key, a tampered checkpoint or hash, another log", () => {
      const other = generateNoteKey(ORIGIN);
      const forged = signCheckpoint({ origin: ORIGIN, size: 20, rootHash: Buffer.alloc(32, 7) }, [
        other.signer,
      ]);
      expectFailure(
        checkProof(text({ ...proof, new_checkpoint: forged }), verifiers),
        "signature",
        "new checkpoint signature: unknown key",
      );
      const tampered = proof.old_checkpoint.replace(`${ORIGIN}\n8\n`, `${ORIGIN}\n9\n`);
      expectFailure(
        checkProof(text({ ...proof, old_checkpoint: tampered }), verifiers),
        "signature",
        "old checkpoint signature: bad signature",
      );
      const hashes = [...proof.hashes];
      hashes[0] = flipHash(hashes[0] as string);
      expectFailure(checkProof(text({ ...proof, hashes }), verifiers), "consistency", "is a prefix");
      expectFailure(
        checkProof(text({ ...proof, hashes: [...proof.hashes, proof.hashes[0]] }), verifiers),
        "consistency",
        `${proof.hashes.length + 1} hashes, but a consistency proof from tree size 8 to 20 has ${proof.hashes.length}`,
      );
      const elsewhere = signCheckpoint(
        { origin: "vigil.test/other", size: 8, rootHash: Buffer.alloc(32, 1) },
        [signer],
      );
      expectFailure(
        checkProof(text({ ...proof, old_checkpoint: elsewhere }), verifiers),
        "origin",
        "different logs",
      );
    });
  });
});
