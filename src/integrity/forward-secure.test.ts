import { createHmac, createSecretKey, type KeyObject } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { canonicalize } from "./canonical.ts";
import {
  type ChainHead,
  checkRecordSignature,
  EMPTY_CHAIN,
  parseRecord,
  Sealer,
  type SigningKey,
} from "./chain.ts";
import {
  ChainKeys,
  chainIdOf,
  createChain,
  epochKeyId,
  epochOf,
  evolve,
  ForwardSecureSigner,
  formatChainFile,
  isChainFileText,
  openSealingChain,
  parseChainFile,
  parseEpochKeyId,
  readChainFile,
  type SignerOptions,
  seedFileOf,
  stateFileOf,
} from "./forward-secure.ts";
import { Keyring, keyFromSecret, loadKeyring, loadOrCreateLocalKey } from "./keys.ts";
import { type VerifyReport, verifyPaths } from "./verify.ts";

let root: string;
let keysDir: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "vigil-fs-"));
  keysDir = join(root, "keys");
});

/** Signers the test opened: their state writes finish before the directory is removed. */
const signers: ForwardSecureSigner[] = [];

afterEach(async () => {
  await Promise.all(signers.splice(0).map((s) => s.settled().catch(() => {})));
  // A signer a test opened itself may still be writing its state: rm retries a directory found not empty.
  await rm(root, { recursive: true, force: true, maxRetries: 5 });
});

const mode = async (path: string) => (await stat(path)).mode & 0o777;
const noop = () => {};
/** Every record is durable at once (as after a restart, or with a journal that keeps up). */
const durable = async () => true;

function options(nextSequence: number, extra: Partial<SignerOptions> = {}): SignerOptions {
  return { nextSequence, whenDurable: durable, log: noop, ...extra };
}

function event(i: number): string {
  return canonicalize({ event_type: "backup.completed", event_id: `evt_${i}`, actor: { id: "alice" } });
}

/** Seals `n` records after `head`; returns their lines and the new head. */
function seal(sealer: Sealer, n: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) lines.push(sealer.seal(event(sealer.head.sequence + 1)).line);
  return lines;
}

const keyIdOf = (line: string): string => JSON.parse(line).integrity.key_id;

async function verify(
  lines: string[],
  keyring: Keyring | ReadonlyMap<string, KeyObject>,
): Promise<VerifyReport> {
  const path = join(root, "audit.log");
  await writeFile(path, lines.map((l) => `${l}\n`).join(""));
  return verifyPaths({ paths: [path], keyring });
}

const kinds = (report: VerifyReport) =>
  report.findings.map((f) => [f.kind, f.sequence, ...(f.count === undefined ? [] : [f.count])]);

/** A new chain of `epochRecords`, a signer on it from `nextSequence`, and its seed file. */
async function newChain(epochRecords: number, nextSequence = 1, extra: Partial<SignerOptions> = {}) {
  const created = await createChain(keysDir, { epochRecords, activate: true });
  const signer = await ForwardSecureSigner.open(created.stateFile, options(nextSequence, extra));
  signers.push(signer);
  return { ...created, signer };
}

/** Re-signs `line` with `key` under `keyId`, linked to `previous`: what a holder of that key can forge. */
function resign(line: string, key: SigningKey, previous: string): string {
  const record = JSON.parse(line);
  const sealer = new Sealer(key, { sequence: record.integrity.sequence_number - 1, signature: previous });
  return sealer.seal(canonicalize(record.event)).line;
}

/** Re-signs a stretch of lines as one chain, starting from the signature before the first. */
function resignAll(lines: string[], keyFor: (sequence: number) => SigningKey, previous: string): string[] {
  let prev = previous;
  return lines.map((line) => {
    const out = resign(line, keyFor(JSON.parse(line).integrity.sequence_number), prev);
    prev = JSON.parse(out).integrity.signature;
    return out;
  });
}

describe("key evolution and ids", () => {
  it("evolves K(e+1) = HMAC-SHA256(K(e), label) and wipes K(e)", () => {
    const k0 = Buffer.alloc(32, 7);
    const expected = createHmac("sha256", Buffer.alloc(32, 7)).update("vigil forward-secure evolve").digest();
    const k1 = evolve(k0);
    expect(k1.equals(expected)).toBe(true);
    expect(k0.equals(Buffer.alloc(32))).toBe(true);
  });

  it("derives the chain id from the seed and the epoch size, and names epochs <chain>-<epoch>", () => {
    const seed = Buffer.alloc(32, 1);
    const id = chainIdOf(seed, 10_000);
    expect(id).toMatch(/^fs-[0-9a-f]{16}$/);
    expect(chainIdOf(seed, 10_000)).toBe(id);
    expect(chainIdOf(seed, 10_001)).not.toBe(id);
    expect(chainIdOf(Buffer.alloc(32, 2), 10_000)).not.toBe(id);
    expect(parseEpochKeyId(epochKeyId(id, 42))).toEqual({ chain: id, epoch: 42 });
    for (const bad of [
      `${id}-01`,
      `${id}-`,
      `${id}--1`,
      id,
      "hmac-0123456789abcdef",
      `${id}-99999999999999999`,
    ]) {
      expect(parseEpochKeyId(bad)).toBeUndefined();
    }
  });

  it("puts sequences 1..N in epoch 0, N+1..2N in epoch 1", () => {
    expect([1, 3, 4, 6, 7].map((n) => epochOf(n, 3))).toEqual([0, 0, 1, 1, 2]);
  });
});

describe("seed and state files", () => {
  it("round-trips, tells seeds and states from plain secrets, and never quotes the key in errors", () => {
    const key = Buffer.alloc(32, 9);
    const chain = chainIdOf(key, 5);
    const created = new Date("2025-01-02T03:04:05.000Z");
    const text = formatChainFile({ kind: "seed", chain, epochRecords: 5, epoch: 0, created, key });
    expect(text.split("\n")[0]).toBe("vigil forward-secure seed v1");
    expect(isChainFileText(text)).toBe(true);
    expect(isChainFileText(key.toString("hex"))).toBe(false);
    expect(parseChainFile(text, "f")).toEqual({
      kind: "seed",
      chain,
      epochRecords: 5,
      epoch: 0,
      created,
      key,
    });
    const state = formatChainFile({
      kind: "state",
      chain: "fs-0000000000000000",
      epochRecords: 5,
      epoch: 3,
      created,
      key,
    });
    expect(parseChainFile(state, "f")).toMatchObject({ kind: "state", epoch: 3 });

    const edits: [string, RegExp][] = [
      [text.replace("epoch_records: 5", "epoch_records: 6"), /not the seed of/],
      [text.replace("epoch: 0", "epoch: 1"), /not the seed of/],
      [text.replace(/key: .*/, "key: 00"), /key is not 64/],
      [text.replace("chain: fs-", "chain: xx-"), /chain is not/],
      [text.replace("created:", "made:"), /line 5 is not/],
      [`${text}key: ${"0".repeat(64)}\n`, /line 7 is not/],
      [text.replace(/key: .*\n/, ""), /missing key/],
      [text.replace("seed v1", "seed v2"), /not a forward-secure seed or state/],
    ];
    for (const [edited, message] of edits) {
      let error: Error | undefined;
      try {
        parseChainFile(edited, "the-file");
      } catch (e) {
        error = e as Error;
      }
      expect(error?.message).toMatch(message);
      expect(error?.message).toContain("the-file");
      expect(error?.message).not.toContain(key.toString("hex"));
    }
  });

  it("creates the seed once and the state at epoch 0, both 0600 in a 0700 directory, and activates", async () => {
    const { chain, seedFile, stateFile } = await createChain(keysDir, { epochRecords: 5, activate: true });
    expect(seedFile).toBe(seedFileOf(keysDir, chain));
    expect(stateFile).toBe(stateFileOf(keysDir, chain));
    expect(await mode(keysDir)).toBe(0o700);
    expect(await mode(seedFile)).toBe(0o600);
    expect(await mode(stateFile)).toBe(0o600);
    const seed = await readChainFile(seedFile);
    const state = await readChainFile(stateFile);
    expect(seed).toMatchObject({ kind: "seed", chain, epoch: 0, epochRecords: 5 });
    expect(state).toMatchObject({ kind: "state", chain, epoch: 0, epochRecords: 5 });
    expect(state.key.equals(seed.key)).toBe(true);
    expect((await readFile(join(keysDir, "active"), "utf8")).trim()).toBe(chain);
  });
});

describe("sealing with a forward-secure chain", () => {
  it("changes key exactly at the epoch boundaries", async () => {
    const { chain, signer } = await newChain(3);
    const lines = seal(new Sealer(signer, EMPTY_CHAIN), 10);
    expect(lines.map(keyIdOf)).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2, 3].map((e) => epochKeyId(chain, e)));
    expect(signer.epoch).toBe(3);
  });

  it("signs each epoch with K(e) derived from the seed", async () => {
    const { seedFile, signer } = await newChain(2);
    const lines = seal(new Sealer(signer, EMPTY_CHAIN), 6);
    let raw = (await readChainFile(seedFile)).key;
    for (let epoch = 0; epoch < 3; epoch++) {
      if (epoch > 0) raw = evolve(raw);
      const secret = createSecretKey(raw);
      for (const line of lines.slice(epoch * 2, epoch * 2 + 2)) {
        const parsed = parseRecord(Buffer.from(line));
        if (!parsed.ok) throw new Error(parsed.reason);
        expect(checkRecordSignature(parsed.record, secret)).toBe("valid");
      }
    }
  });

  it("writes the state for a new epoch only once the epoch before is durable, atomically, 0600", async () => {
    let release: (ok: boolean) => void = noop;
    const asked: number[] = [];
    const whenDurable = (sequence: number) => {
      asked.push(sequence);
      return new Promise<boolean>((r) => {
        release = r;
      });
    };
    const { stateFile, signer } = await newChain(3, 1, { whenDurable });
    const sealer = new Sealer(signer, EMPTY_CHAIN);
    seal(sealer, 4);
    expect(sealer.keyId).toMatch(/-1$/);
    await new Promise((r) => setImmediate(r));
    expect(asked).toEqual([3]);
    expect((await readChainFile(stateFile)).epoch).toBe(0);
    release(true);
    await signer.settled();
    const state = await readChainFile(stateFile);
    expect(state.epoch).toBe(1);
    expect(await mode(stateFile)).toBe(0o600);
    expect((await readdir(keysDir)).filter((n) => n.endsWith(".tmp"))).toEqual([]);
    // The state holds K(1), not K(0): the seed no longer follows from anything on disk but the seed file.
    const seed = await readChainFile(seedFileOf(keysDir, signer.chain));
    expect(state.key.equals(seed.key)).toBe(false);
    expect(state.key.equals(evolve(Buffer.from(seed.key)))).toBe(true);
  });

  it("leaves an epoch once its last record is durable, without waiting for the next record (a quiet log)", async () => {
    let release: (ok: boolean) => void = noop;
    const asked: number[] = [];
    const whenDurable = (sequence: number) => {
      asked.push(sequence);
      return new Promise<boolean>((r) => {
        release = r;
      });
    };
    const { chain, stateFile, seedFile, signer } = await newChain(3, 1, { whenDurable });
    const sealer = new Sealer(signer, EMPTY_CHAIN);
    const lines = seal(sealer, 3); // exactly epoch 0; no record of epoch 1 follows
    expect(lines.map(keyIdOf)).toEqual([0, 0, 0].map((e) => epochKeyId(chain, e)));
    // K(0) is gone from memory already: the signer holds K(1) and cannot go back.
    expect(signer.epoch).toBe(1);
    expect(sealer.keyId).toBe(epochKeyId(chain, 1));
    expect(() => signer.keyFor(3)).toThrow("asked for epoch 0 after 1");
    // On disk it stays until record 3 is durable: a crash before then seals 3 again, with K(0).
    await new Promise((r) => setImmediate(r));
    expect(asked).toEqual([3]);
    expect((await readChainFile(stateFile)).epoch).toBe(0);
    release(true);
    await signer.settled();
    const state = await readChainFile(stateFile);
    expect(state.epoch).toBe(1);
    expect(state.key.equals(evolve((await readChainFile(seedFile)).key))).toBe(true);
  });

  it("restarts exactly at an epoch boundary, and refuses a journal that lost the end of the epoch", async () => {
    const { chain, seedFile, stateFile, signer } = await newChain(4);
    const first = new Sealer(signer, EMPTY_CHAIN);
    const lines = seal(first, 4); // 1..4: all of epoch 0
    await signer.settled();
    expect((await readChainFile(stateFile)).epoch).toBe(1);

    // The journal ends at 4, the state is at epoch 1: the next record (5) is the first of epoch 1.
    const second = await ForwardSecureSigner.open(stateFile, options(5));
    expect(second.epoch).toBe(1);
    const sealer2 = new Sealer(second, first.head);
    lines.push(...seal(sealer2, 8)); // 5..12: epochs 1 and 2, ending on a boundary again
    await second.settled();
    expect((await readChainFile(stateFile)).epoch).toBe(3);

    const third = await ForwardSecureSigner.open(stateFile, options(13));
    lines.push(...seal(new Sealer(third, sealer2.head), 1)); // 13: epoch 3
    expect(lines.map(keyIdOf)).toEqual(
      [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3].map((e) => epochKeyId(chain, e)),
    );
    const report = await verify(lines, await loadKeyring({ keyFiles: [seedFile] }));
    expect(kinds(report)).toEqual([]);
    expect(report).toMatchObject({ intact: true, records: 13, lastSequence: 13 });

    // A journal that lost record 12 after the state moved past its epoch cannot be continued.
    await expect(ForwardSecureSigner.open(stateFile, options(12))).rejects.toMatchObject({
      code: "key_missing",
    });
  });

  it("survives losing a tail that crosses an epoch: the earlier key stays until its records are durable", async () => {
    // Power fails while records 3-7 are written but not yet durable: the journal never makes 3 durable.
    const { stateFile, seedFile, signer } = await newChain(3, 1, { whenDurable: async (n) => n <= 2 });
    const sealer = new Sealer(signer, EMPTY_CHAIN);
    const kept = seal(sealer, 2);
    seal(sealer, 5);
    await signer.settled();
    expect((await readChainFile(stateFile)).epoch).toBe(0);
    // Recovery cut 3-7 off; the restarted server seals sequence 3 again, in epoch 0, which it still can.
    const head = { sequence: 2, signature: JSON.parse(kept[1] as string).integrity.signature };
    const restarted = await ForwardSecureSigner.open(stateFile, options(3));
    const lines = [...kept, ...seal(new Sealer(restarted, head), 5)];
    expect(await verify(lines, await loadKeyring({ keyFiles: [seedFile] }))).toMatchObject({
      intact: true,
      records: 7,
    });
  });

  it("writes only the newest epoch when several pass while the journal catches up", async () => {
    const { stateFile, signer } = await newChain(1);
    seal(new Sealer(signer, EMPTY_CHAIN), 5); // epochs 0-4, each complete: the key moves on to epoch 5
    await signer.settled();
    expect((await readChainFile(stateFile)).epoch).toBe(5);
  });

  it("continues the chain after a restart mid-epoch and across an epoch, and the seed verifies it all", async () => {
    const { chain, seedFile, stateFile, signer } = await newChain(4);
    const first = new Sealer(signer, EMPTY_CHAIN);
    const lines = seal(first, 6); // epoch 0 and half of epoch 1
    await signer.settled();
    expect((await readChainFile(stateFile)).epoch).toBe(1);

    // Restart mid-epoch: the state is at epoch 1, the next record (7) is in epoch 1.
    const head: ChainHead = first.head;
    const second = await ForwardSecureSigner.open(stateFile, options(head.sequence + 1));
    const sealer2 = new Sealer(second, head);
    lines.push(...seal(sealer2, 2)); // 7, 8: the end of epoch 1
    await second.settled();

    // Restart across an epoch: the state is still at epoch 1, the next record (9) opens epoch 2.
    const third = await ForwardSecureSigner.open(stateFile, options(sealer2.head.sequence + 1));
    expect((await readChainFile(stateFile)).epoch).toBe(2);
    lines.push(...seal(new Sealer(third, sealer2.head), 9)); // 9..17: epochs 2, 3, 4
    await third.settled();
    expect((await readChainFile(stateFile)).epoch).toBe(4);

    expect(new Set(lines.map(keyIdOf))).toEqual(new Set([0, 1, 2, 3, 4].map((e) => epochKeyId(chain, e))));
    const report = await verify(lines, await loadKeyring({ keyFiles: [seedFile] }));
    expect(kinds(report)).toEqual([]);
    expect(report).toMatchObject({ intact: true, records: 17, lastSequence: 17 });
  });

  it("moves a state left behind forward at start, erasing the keys it passes", async () => {
    const { stateFile, seedFile } = await createChain(keysDir, { epochRecords: 10, activate: true });
    const signer = await ForwardSecureSigner.open(stateFile, options(35));
    expect(signer.epoch).toBe(3);
    const state = await readChainFile(stateFile);
    let expected = (await readChainFile(seedFile)).key;
    for (let i = 0; i < 3; i++) expected = evolve(expected);
    expect(state).toMatchObject({ epoch: 3 });
    expect(state.key.equals(expected)).toBe(true);
  });

  it("refuses to go back in time: a state past the epoch of the next sequence", async () => {
    const { stateFile } = await newChain(10, 41); // state at epoch 4
    expect((await readChainFile(stateFile)).epoch).toBe(4);
    await expect(ForwardSecureSigner.open(stateFile, options(40))).rejects.toMatchObject({
      code: "key_missing",
      message: expect.stringMatching(
        /epoch 4 \(from sequence 41\).*sequence 40, in epoch 3, whose key was erased/,
      ),
    });
    // The epoch of the next sequence itself is fine.
    expect((await ForwardSecureSigner.open(stateFile, options(41))).epoch).toBe(4);
  });

  it("refuses an epoch size other than the chain's", async () => {
    const { stateFile } = await newChain(10);
    await expect(ForwardSecureSigner.open(stateFile, options(1, { epochRecords: 11 }))).rejects.toMatchObject(
      {
        code: "invalid_config",
        message: expect.stringContaining("created with epochs of 10 records"),
      },
    );
    expect((await ForwardSecureSigner.open(stateFile, options(1, { epochRecords: 10 }))).epochRecords).toBe(
      10,
    );
  });
});

describe("openSealingChain", () => {
  it("creates and activates a chain when none is active, then reopens it", async () => {
    const created = await openSealingChain(keysDir, options(1, { epochRecords: 7 }));
    expect(created).toMatchObject({ created: true, seedPresent: true });
    expect(created.replaced).toBeUndefined();
    expect(created.signer.epochRecords).toBe(7);
    expect(await mode(created.seedFile)).toBe(0o600);
    await rm(created.seedFile);
    const again = await openSealingChain(keysDir, options(1));
    expect(again).toMatchObject({ created: false, seedPresent: false });
    expect(again.signer.chain).toBe(created.signer.chain);
  });

  it("replaces an active plain key with a new chain, and refuses a chain whose state is gone", async () => {
    const plain = await loadOrCreateLocalKey(root);
    const opened = await openSealingChain(keysDir, options(1));
    expect(opened).toMatchObject({ created: true, replaced: plain.key.id });
    expect(opened.signer.epochRecords).toBe(10_000);
    await rm(stateFileOf(keysDir, opened.signer.chain));
    await expect(openSealingChain(keysDir, options(1))).rejects.toThrow(/is missing; restore it/);
  });

  it("the plain-key server refuses an active chain instead of replacing it", async () => {
    const { chain } = await createChain(keysDir, { epochRecords: 5, activate: true });
    await expect(loadOrCreateLocalKey(root)).rejects.toThrow(`names forward-secure chain ${chain}`);
    expect((await readFile(join(keysDir, "active"), "utf8")).trim()).toBe(chain);
  });
});

describe("verifying a forward-secure chain", () => {
  /** 20 records in epochs of 4 (0..4); the state file at epoch 3, as a server after record 12 leaves it. */
  async function scenario() {
    const { chain, seedFile, stateFile, signer } = await newChain(4);
    const sealer = new Sealer(signer, EMPTY_CHAIN);
    const lines = seal(sealer, 13);
    await signer.settled();
    const stolen = await readChainFile(stateFile);
    lines.push(...seal(sealer, 7));
    await signer.settled();
    return { chain, seedFile, stateFile, lines, stolen };
  }

  it("verifies every epoch with the seed, from --key-file or the data directory", async () => {
    const { lines, seedFile } = await scenario();
    const fromFile = await verify(lines, await loadKeyring({ keyFiles: [seedFile] }));
    expect(fromFile).toMatchObject({ intact: true, records: 20 });
    const fromDir = await verify(lines, await loadKeyring({ dataDir: root }));
    expect(fromDir).toMatchObject({ intact: true, records: 20 });
  });

  it("with only the state file at epoch 3, epochs 0-2 are unknown keys and the rest verifies", async () => {
    const { lines, seedFile, stateFile, stolen } = await scenario();
    expect(stolen.epoch).toBe(3);
    await rm(seedFile);
    // The server has moved on to epoch 4 since; put back the state a thief took at epoch 3.
    const file = join(root, "stolen.state");
    await writeFile(file, formatChainFile(stolen));
    await writeFile(stateFile, formatChainFile(stolen));
    for (const ring of [await loadKeyring({ keyFiles: [file] }), await loadKeyring({ dataDir: root })]) {
      const report = await verify(lines, ring);
      expect(report.intact).toBe(false);
      // One finding per unknown key id (epochs 0, 1 and 2), none for epochs 3 and 4.
      expect(kinds(report)).toEqual([
        ["unknown_key", 1, 4],
        ["unknown_key", 5, 4],
        ["unknown_key", 9, 4],
      ]);
    }
  });

  it("a thief of the epoch 3 key cannot re-sign earlier records: bad signatures, not intact", async () => {
    const { chain, lines, seedFile, stolen } = await scenario();
    const ring = await loadKeyring({ keyFiles: [seedFile] });
    const thief = new ChainKeys(stolen);
    const stolenKey = (epoch: number): SigningKey => ({
      id: epochKeyId(chain, epoch),
      secret: thief.key(epoch) as KeyObject,
    });
    // Deriving backwards is impossible: the thief's keys start at epoch 3.
    expect(thief.key(2)).toBeUndefined();
    const genesis = EMPTY_CHAIN.signature;

    // Records 1-12 (epochs 0-2) re-signed with the stolen key, each record keeping the key id of its own epoch.
    const ownIds = resignAll(
      lines.slice(0, 12),
      (n) => ({ ...stolenKey(3), id: keyIdOf(lines[n - 1] as string) }),
      genesis,
    );
    // …or under the stolen epoch's own key id: the HMAC is right, but epoch 3's key does not sign sequences 1-12.
    const stolenIds = resignAll(lines.slice(0, 12), () => stolenKey(3), genesis);
    // …or under a future epoch's key, derived forward.
    const futureIds = resignAll(lines.slice(0, 12), () => stolenKey(9), genesis);
    for (const forged of [ownIds, stolenIds, futureIds]) {
      // The thief re-signs the rest of the log too (epochs 3 and 4, which the stolen key can sign) so it links.
      const relinked = resignAll(
        lines.slice(12),
        (n) => stolenKey(epochOf(n, 4)),
        JSON.parse(forged[11] as string).integrity.signature,
      );
      const report = await verify([...forged, ...relinked], ring);
      expect(report.intact).toBe(false);
      expect(kinds(report)).toEqual([["bad_signature", 1, 12]]);
    }
  });

  it("what the stolen key can still do: re-sign its own epoch and later ones (the limit of forward security)", async () => {
    const { chain, lines, seedFile, stolen } = await scenario();
    const thief = new ChainKeys(stolen);
    const forged = resignAll(
      lines.slice(12),
      (n) => ({ id: epochKeyId(chain, epochOf(n, 4)), secret: thief.key(epochOf(n, 4)) as KeyObject }),
      JSON.parse(lines[11] as string).integrity.signature,
    );
    const report = await verify(
      [...lines.slice(0, 12), ...forged],
      await loadKeyring({ keyFiles: [seedFile] }),
    );
    expect(report.intact).toBe(true);
  });

  it("a plain key's records and a chain's verify side by side", async () => {
    const plain = keyFromSecret(Buffer.alloc(32, 3), "test");
    const plainLines = seal(new Sealer(plain, EMPTY_CHAIN), 3);
    const { signer, seedFile } = await newChain(2, 4);
    const sealer = new Sealer(signer, {
      sequence: 3,
      signature: JSON.parse(plainLines[2] as string).integrity.signature,
    });
    const lines = [...plainLines, ...seal(sealer, 5)];
    const ring = await loadKeyring({ keyFiles: [seedFile] });
    ring.add(plain.id, plain.secret);
    expect(await verify(lines, ring)).toMatchObject({ intact: true, records: 8 });
  });
});

describe("Keyring and ChainKeys", () => {
  const seedFile = (epochRecords: number) => {
    const key = Buffer.alloc(32, 5);
    return parseChainFile(
      formatChainFile({
        kind: "seed",
        chain: chainIdOf(key, epochRecords),
        epochRecords,
        epoch: 0,
        created: new Date(),
        key,
      }),
      "seed",
    );
  };

  it("derives any epoch on demand, each key limited to its epoch's sequences", () => {
    const file = seedFile(10);
    const keys = new ChainKeys(file);
    let raw: Buffer = Buffer.from(file.key);
    for (let i = 0; i < 200; i++) raw = evolve(raw);
    const k200 = keys.key(200) as KeyObject;
    expect(k200.export().equals(raw)).toBe(true);
    expect(keys.key(200)).toBe(k200);
    // Out of order, through the anchors, gives the same keys.
    expect(
      (keys.key(3) as KeyObject).export().equals((new ChainKeys(file).key(3) as KeyObject).export()),
    ).toBe(true);
    const line = new Sealer(
      { id: epochKeyId(file.chain, 200), secret: k200 },
      { sequence: 2000, signature: "x" },
    ).seal(event(1)).line;
    const parsed = parseRecord(Buffer.from(line));
    if (!parsed.ok) throw new Error(parsed.reason);
    expect(checkRecordSignature(parsed.record, k200)).toBe("valid");
    const moved = new Sealer(
      { id: epochKeyId(file.chain, 200), secret: k200 },
      { sequence: 2010, signature: "x" },
    ).seal(event(1)).line;
    const out = parseRecord(Buffer.from(moved));
    if (!out.ok) throw new Error(out.reason);
    expect(checkRecordSignature(out.record, k200)).toBe("invalid");
  });

  it("derives nothing before its first epoch, nor absurdly far ahead (a forged key id)", () => {
    const file = seedFile(10);
    const state = new ChainKeys({ ...file, kind: "state", epoch: 5, key: Buffer.alloc(32, 1) });
    expect(state.key(4)).toBeUndefined();
    expect(state.key(5)).toBeDefined();
    const started = performance.now();
    expect(new ChainKeys(file).key(2 ** 40)).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(100);
  });

  it("looks up plain keys and any epoch of a chain", () => {
    const file = seedFile(10);
    const ring = new Keyring();
    const plain = keyFromSecret(Buffer.alloc(32, 4), "test");
    ring.add(plain.id, plain.secret);
    ring.addChain(new ChainKeys(file));
    expect(ring.get(plain.id)).toBe(plain.secret);
    expect(ring.has(epochKeyId(file.chain, 5_000))).toBe(true);
    expect(ring.get(epochKeyId(chainIdOf(Buffer.alloc(32, 6), 10), 0))).toBeUndefined();
    expect(ring.get("hmac-0000000000000000")).toBeUndefined();
    expect(ring.has(epochKeyId(file.chain, 20_000))).toBe(true);
    expect(ring.size).toBe(2);
    expect(ring.plainKeyIds()).toEqual([plain.id]);
  });

  it("keeps the seed over a state of the same chain, refuses two epoch sizes, and merges rings", () => {
    const file = seedFile(10);
    const ring = new Keyring();
    ring.addChain(new ChainKeys({ ...file, kind: "state", epoch: 7, key: Buffer.alloc(32, 1) }));
    expect(ring.get(epochKeyId(file.chain, 0))).toBeUndefined();
    ring.addChain(new ChainKeys(file));
    ring.addChain(new ChainKeys({ ...file, kind: "state", epoch: 7, key: Buffer.alloc(32, 1) }));
    expect(ring.get(epochKeyId(file.chain, 0))).toBeDefined();
    expect(() => ring.addChain(new ChainKeys({ ...file, epochRecords: 11 }))).toThrow(
      /disagree on its epoch size/,
    );

    const merged = new Keyring();
    merged.merge(ring);
    expect(merged.get(epochKeyId(file.chain, 3_000))).toBeDefined();
    const plain = keyFromSecret(Buffer.alloc(32, 4), "test");
    merged.merge(new Map([[plain.id, plain.secret]]));
    expect(merged.get(plain.id)).toBe(plain.secret);
  });
});
