import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runInProcess } from "../../../test/support/run-in-process.ts";
import { canonicalize } from "../../integrity/canonical.ts";
import { EMPTY_CHAIN, parseRecord, Sealer } from "../../integrity/chain.ts";
import { signCheckpoint } from "../../integrity/checkpoint.ts";
import { keyFromSecret } from "../../integrity/keys.ts";
import { recordLeafHash } from "../../integrity/leaf.ts";
import {
  checkpointsDir,
  createCheckpointKey,
  merkleDir,
  writeCheckpointNote,
} from "../../integrity/log-layout.ts";
import { MerkleStore } from "../../integrity/merkle-store.ts";
import { formatKeyId, generateNoteKey, writeVerifierKey } from "../../integrity/note.ts";
import { journalDir } from "../../journal/segment.ts";
import { JournalWriter } from "../../journal/writer.ts";
import { proveCommand } from "./prove.ts";

const ORIGIN = "vigil.test/prove-cli";

let root: string;
let dataDir: string;
let keyFile: string;
let keyId: string;

/** A real log of 12 records with checkpoints at sizes 4 and 10 (records 11 and 12 not yet covered). */
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "vigil-prove-cli-"));
  dataDir = join(root, "data");
  const sealer = new Sealer(keyFromSecret(randomBytes(32), "test"), EMPTY_CHAIN);
  const lines: string[] = [];
  for (let i = 1; i <= 12; i++) {
    lines.push(sealer.seal(canonicalize({ event_type: "restore.started", event_id: `evt_${i}` })).line);
  }
  const { writer } = await JournalWriter.open({ dir: journalDir(dataDir), segmentBytes: 1 << 20 });
  await writer.append(lines, 1);
  await writer.close();
  const store = await MerkleStore.open(merkleDir(dataDir));
  await store.append(
    lines.map((l) => {
      const parsed = parseRecord(Buffer.from(l));
      if (!parsed.ok) throw new Error(parsed.reason);
      return recordLeafHash(parsed.record);
    }),
  );
  const { signer, verifierText } = await createCheckpointKey(dataDir, ORIGIN, true);
  for (const size of [4, 10]) {
    const note = signCheckpoint({ origin: ORIGIN, size, rootHash: await store.root(size) }, [signer]);
    await writeCheckpointNote(checkpointsDir(dataDir), size, note);
  }
  await store.close();
  keyFile = join(root, "log.vkey");
  await writeVerifierKey(keyFile, verifierText);
  keyId = formatKeyId(signer);
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const run = (args: string[]) => runInProcess(proveCommand(), args);

async function prove(args: string[], name: string): Promise<string> {
  const path = join(root, name);
  const r = await run([...args, "-d", dataDir, "-o", path]);
  expect(r.code).toBe(0);
  return path;
}

async function check(path: string, key = keyFile) {
  return run(["--check", path, "--public-key", key]);
}

/** Writes a copy of the proof at `path` changed by `edit`, and returns its path. */
async function altered(path: string, edit: (proof: Record<string, unknown>) => void): Promise<string> {
  const proof = JSON.parse(await readFile(path, "utf8"));
  edit(proof);
  const out = `${path}.altered`;
  await writeFile(out, JSON.stringify(proof));
  return out;
}

function flip(b64: string): string {
  const bytes = Buffer.from(b64, "base64");
  bytes[5] = (bytes[5] as number) ^ 0x80;
  return bytes.toString("base64");
}

describe("vigil prove (inclusion)", () => {
  it("writes a proof by sequence that checks with only the public key", async () => {
    const r = await run(["3", "-d", dataDir, "-o", join(root, "p3.json")]);
    expect(r).toEqual({
      code: 0,
      out: "",
      err: `wrote the inclusion proof of sequence 3 in the tree of size 10 to ${join(root, "p3.json")}\n`,
    });
    // 0600 like the log: the proof carries the full audit record.
    expect((await stat(join(root, "p3.json"))).mode & 0o777).toBe(0o600);
    await rm(dataDir, { recursive: true });
    expect(await check(join(root, "p3.json"))).toEqual({
      code: 0,
      out: `verified: event evt_3, sequence 3, in the tree of size 10, origin ${ORIGIN}, key ${keyId}\n`,
      err: "",
    });
  });

  it("writes a proof by event_id to stdout, against a chosen checkpoint", async () => {
    const r = await run(["evt_4", "-d", dataDir, "--size", "4"]);
    expect(r.code).toBe(0);
    const proof = JSON.parse(r.out);
    expect(proof).toMatchObject({ format: "vigil-inclusion-proof/1", leaf_index: 3, tree_size: 4 });
    await writeFile(join(root, "p4.json"), r.out);
    expect((await check(join(root, "p4.json"))).out).toMatch(
      /^verified: event evt_4, sequence 4, in the tree of size 4,/,
    );
  });

  it("fails with exit 1 for an event that is not in the log or not yet covered", async () => {
    const missing = await run(["evt_missing", "-d", dataDir]);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("no record with event_id evt_missing in the journal");
    const numeric = await run(["7", "--event-id", "-d", dataDir]);
    expect(numeric.code).toBe(1);
    expect(numeric.err).toContain("no record with event_id 7 in the journal");
    const uncovered = await run(["11", "-d", dataDir]);
    expect(uncovered.code).toBe(1);
    expect(uncovered.err).toMatch(
      /not yet covered by a checkpoint .*; the next one is signed within seconds$/,
    );
    const noCheckpoint = await run(["3", "--size", "5", "-d", dataDir]);
    expect(noCheckpoint.code).toBe(1);
    expect(noCheckpoint.err).toContain("no stored checkpoint of tree size 5");
  });

  it("exits 1 naming what fails for each kind of tampering", async () => {
    const path = await prove(["5"], "p5.json");
    const cases: [string, (p: Record<string, unknown>) => void, RegExp][] = [
      [
        "one byte of the record",
        (p) => {
          p.record = (p.record as string).replace("evt_5", "evt_6");
        },
        /^NOT VERIFIED \(leaf\): the record does not hash to the proven leaf/,
      ],
      [
        "a hash",
        (p) => {
          const hashes = p.hashes as string[];
          hashes[1] = flip(hashes[1] as string);
        },
        /^NOT VERIFIED \(path\): .*root mismatch/,
      ],
      [
        "the leaf index",
        (p) => {
          p.leaf_index = 5;
        },
        /^NOT VERIFIED \(index\): leaf_index 5 is not the record's: sequence 5 is leaf 4/,
      ],
      [
        "the tree size",
        (p) => {
          p.tree_size = 4;
        },
        /^NOT VERIFIED \(size\): tree_size 4 is not the checkpoint's tree size 10/,
      ],
      [
        "the checkpoint text",
        (p) => {
          const lines = (p.checkpoint as string).split("\n");
          lines[2] = flip(lines[2] as string);
          p.checkpoint = lines.join("\n");
        },
        /^NOT VERIFIED \(signature\): checkpoint signature: bad signature/,
      ],
    ];
    for (const [what, edit, expected] of cases) {
      const r = await check(await altered(path, edit));
      expect({ what, code: r.code }).toEqual({ what, code: 1 });
      expect(r.out).toMatch(expected);
    }
  });

  it("exits 1 for a proof checked with another key: unknown key", async () => {
    const path = await prove(["5"], "p5.json");
    const otherKey = join(root, "other.vkey");
    await writeVerifierKey(otherKey, generateNoteKey(ORIGIN).verifierText);
    const r = await check(path, otherKey);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^NOT VERIFIED \(signature\): checkpoint signature: unknown key/);
  });

  it("exits 2 for a file that is not a proof, a missing key and bad usage", async () => {
    await writeFile(join(root, "note.txt"), "hello\n");
    const notProof = await check(join(root, "note.txt"));
    expect(notProof.code).toBe(2);
    expect(notProof.err).toContain("note.txt is not a Vigil proof: not JSON");
    const path = await prove(["5"], "p5.json");
    expect((await run(["--check", path])).code).toBe(2);
    expect((await check(path, join(root, "absent.vkey"))).code).toBe(2);
    expect((await check(path, join(root, "note.txt"))).code).toBe(2);
    const none = await run(["-d", dataDir]);
    expect(none.code).toBe(2);
    expect(none.err).toBe("name one record: an event_id or a sequence number");
    expect((await run(["5", "-d", join(root, "absent")])).code).toBe(2);
    expect((await run(["5", "-d", dataDir, "--public-key", keyFile])).code).toBe(2);
    expect((await run(["--check", path, "--public-key", keyFile, "--size", "4"])).code).toBe(2);
  });

  it("prints help", async () => {
    const r = await run(["--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("Usage: prove [options] [target...]");
    expect(r.out).toContain("--check <file>");
    expect(r.out).toContain("Exit codes:");
  });
});

describe("vigil prove --consistency", () => {
  it("writes a consistency proof between two checkpoints that checks with only the public key", async () => {
    const path = await prove(["--consistency", "4", "10"], "c.json");
    await rm(dataDir, { recursive: true });
    expect(await check(path)).toEqual({
      code: 0,
      out: `verified: the tree of size 4 is a prefix of the tree of size 10, origin ${ORIGIN}, key ${keyId}\n`,
      err: "",
    });
  });

  it("exits 1 for swapped or forged checkpoints", async () => {
    const path = await prove(["--consistency", "4", "10"], "c.json");
    const swapped = await check(
      await altered(path, (p) => {
        [p.old_checkpoint, p.new_checkpoint] = [p.new_checkpoint, p.old_checkpoint];
      }),
    );
    expect(swapped.code).toBe(1);
    expect(swapped.out).toMatch(
      /^NOT VERIFIED \(size\): the old checkpoint's tree size 10 exceeds the new one's 4/,
    );
    const other = generateNoteKey(ORIGIN);
    const forged = await check(
      await altered(path, (p) => {
        p.new_checkpoint = signCheckpoint({ origin: ORIGIN, size: 10, rootHash: randomBytes(32) }, [
          other.signer,
        ]);
      }),
    );
    expect(forged.code).toBe(1);
    expect(forged.out).toMatch(/^NOT VERIFIED \(signature\): new checkpoint signature: unknown key/);
  });

  it("fails when a size has no stored checkpoint, and needs two sizes", async () => {
    const r = await run(["--consistency", "4", "9", "-d", dataDir]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("no stored checkpoint of tree size 9");
    expect(r.err).not.toContain(dataDir);
    expect((await run(["--consistency", "4", "-d", dataDir])).code).toBe(2);
    expect((await run(["--consistency", "10", "4", "-d", dataDir])).code).toBe(2);
    expect((await run(["--consistency", "4", "x", "-d", dataDir])).code).toBe(2);
  });
});
