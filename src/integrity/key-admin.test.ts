import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, stat, unlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { journalDir, segmentName } from "../journal/segment.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { canonicalize } from "./canonical.ts";
import { EMPTY_CHAIN, Sealer } from "./chain.ts";
import { openCheckpoint, signCheckpoint } from "./checkpoint.ts";
import {
  activateKey,
  createCheckpointSigningKey,
  createHmacKey,
  exportPublicKeys,
  importHmacKey,
  listKeys,
  rotateCheckpointKey,
  rotateHmacKey,
} from "./key-admin.ts";
import { deriveKeyId, keyFromEnv, keysDir, loadKeyring, loadOrCreateLocalKey } from "./keys.ts";
import {
  checkpointKeysDir,
  loadCheckpointVerifiers,
  loadOrCreateCheckpointSigner,
  loadOrCreateOrigin,
} from "./log-layout.ts";
import { readVerifierKeys } from "./note.ts";
import { verifyPaths } from "./verify.ts";

let dataDir: string;

beforeEach(async () => {
  dataDir = join(await mkdtemp(join(tmpdir(), "vigil-key-admin-")), "data");
});

afterEach(async () => {
  await rm(join(dataDir, ".."), { recursive: true, force: true });
});

const mode = async (path: string) => (await stat(path)).mode & 0o777;
const pointer = (path: string) => readFile(path, "utf8").then((s) => s.trim());

/** Makes a key file look older, so creation order does not hang on timestamps within one millisecond. */
async function age(path: string, seconds: number): Promise<void> {
  const t = new Date(Date.now() - seconds * 1000);
  await utimes(path, t, t);
}

function event(i: number): string {
  return canonicalize({ event_type: "backup.completed", event_id: `evt_${i}`, actor: { id: "alice" } });
}

describe("HMAC keys", () => {
  it("creates an inactive 64-hex-character key, 0600 in a 0700 directory", async () => {
    const key = await createHmacKey(dataDir, { activate: false });
    const secret = (await readFile(key.file, "utf8")).trim();
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    expect(key.id).toBe(deriveKeyId(Buffer.from(secret, "utf8")));
    expect(key.file).toBe(join(keysDir(dataDir), `${key.id}.key`));
    expect(key.active).toBe(false);
    expect(await mode(key.file)).toBe(0o600);
    expect(await mode(keysDir(dataDir))).toBe(0o700);
    await expect(stat(join(keysDir(dataDir), "active"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("with activate, points keys/active at the key, which the server then loads", async () => {
    const key = await createHmacKey(dataDir, { activate: true });
    expect(key.active).toBe(true);
    expect(await pointer(join(keysDir(dataDir), "active"))).toBe(key.id);
    expect(await mode(join(keysDir(dataDir), "active"))).toBe(0o600);
    const loaded = await loadOrCreateLocalKey(dataDir);
    expect(loaded).toMatchObject({ created: false, key: { id: key.id } });
  });

  it("rotates to a new active key and keeps the old one", async () => {
    const first = (await loadOrCreateLocalKey(dataDir)).key;
    const { key, previous } = await rotateHmacKey(dataDir);
    expect(previous).toBe(first.id);
    expect(key.id).not.toBe(first.id);
    const listing = await listKeys(dataDir);
    expect(listing.hmac.map((k) => [k.id, k.active]).sort()).toEqual(
      [
        [first.id, false],
        [key.id, true],
      ].sort(),
    );
    expect(listing.activeHmac).toBe(key.id);
    expect((await loadKeyring({ dataDir })).plainKeyIds().sort()).toEqual([first.id, key.id].sort());
  });

  it("rotates in a data directory without keys: there is no previous key", async () => {
    const { key, previous } = await rotateHmacKey(dataDir);
    expect(previous).toBeUndefined();
    expect(await pointer(join(keysDir(dataDir), "active"))).toBe(key.id);
  });

  it("lists keys oldest first, with the file's modification time as creation time", async () => {
    const older = await createHmacKey(dataDir, { activate: false });
    await age(older.file, 3600);
    const newer = await createHmacKey(dataDir, { activate: true });
    const { hmac } = await listKeys(dataDir);
    expect(hmac.map((k) => k.id)).toEqual([older.id, newer.id]);
    expect(hmac[0]?.created.getTime()).toBe((await stat(older.file)).mtime.getTime());
  });

  it("lists no secret", async () => {
    const key = await createHmacKey(dataDir, { activate: true });
    const secret = (await readFile(key.file, "utf8")).trim();
    const cp = await createCheckpointSigningKey(dataDir, { activate: true });
    const signerText = await readFile(join(checkpointKeysDir(dataDir), `${cp.keyHash}.signer`), "utf8");
    const seed = signerText.trim().split("+").slice(4).join("+");
    const text = JSON.stringify(await listKeys(dataDir));
    expect(text).toContain(key.id);
    expect(text).not.toContain(secret);
    expect(seed.length).toBeGreaterThan(40);
    expect(text).not.toContain(seed);
  });

  it("imports a secret under the id its records carry, once", async () => {
    const secret = randomBytes(32).toString("base64");
    const { key, existed } = await importHmacKey(dataDir, secret, "$OLD", { activate: false });
    expect(existed).toBe(false);
    expect(key.id).toBe(keyFromEnv("OLD", { OLD: secret }).id);
    expect(key.active).toBe(false);
    expect(await readFile(key.file, "utf8")).toBe(`${secret}\n`);
    expect(await mode(key.file)).toBe(0o600);
    await age(key.file, 60);
    const before = (await stat(key.file)).mtimeMs;

    const again = await importHmacKey(dataDir, secret, "$OLD", { activate: true });
    expect(again.existed).toBe(true);
    expect(again.key.active).toBe(true);
    expect((await stat(key.file)).mtimeMs).toBe(before);
    expect((await loadKeyring({ dataDir })).has(key.id)).toBe(true);
  });

  it("refuses a short secret, one with surrounding whitespace, and a file holding another key", async () => {
    await expect(importHmacKey(dataDir, "short", "$X", { activate: false })).rejects.toMatchObject({
      code: "key_missing",
      message: expect.stringContaining("at least 32"),
    });
    const padded = ` ${"a".repeat(40)}`;
    await expect(importHmacKey(dataDir, padded, "$X", { activate: false })).rejects.toMatchObject({
      code: "usage",
      message: expect.stringContaining("whitespace"),
    });
    const secret = "b".repeat(40);
    const id = deriveKeyId(Buffer.from(secret));
    await mkdir(keysDir(dataDir), { recursive: true });
    await writeFile(join(keysDir(dataDir), `${id}.key`), `${"c".repeat(40)}\n`);
    await expect(importHmacKey(dataDir, secret, "$X", { activate: false })).rejects.toThrow(
      `does not hold key ${id}`,
    );
  });

  it("activates an existing key by id and refuses an unknown one", async () => {
    const a = await createHmacKey(dataDir, { activate: true });
    const b = await createHmacKey(dataDir, { activate: false });
    expect(await activateKey(dataDir, "hmac", b.id)).toBe(b.id);
    expect((await loadOrCreateLocalKey(dataDir)).key.id).toBe(b.id);
    await expect(activateKey(dataDir, "hmac", "hmac-0000000000000000")).rejects.toMatchObject({
      code: "usage",
    });
    expect(await activateKey(dataDir, "hmac", a.id)).toBe(a.id);
  });
});

describe("records sealed across an HMAC rotation", () => {
  /** Seals 5 records with the active key as a server run would, rotates, then 5 more after a "restart". */
  async function sealAcrossRotation(): Promise<{ oldId: string; newId: string; segment: string }> {
    const before = (await loadOrCreateLocalKey(dataDir)).key;
    const sealer = new Sealer(before, EMPTY_CHAIN);
    const lines: string[] = [];
    for (let i = 1; i <= 5; i++) lines.push(sealer.seal(event(i)).line);
    const { key } = await rotateHmacKey(dataDir);
    const after = await loadOrCreateLocalKey(dataDir);
    expect(after).toMatchObject({ created: false, key: { id: key.id } });
    const resumed = new Sealer(after.key, sealer.head);
    for (let i = 6; i <= 10; i++) lines.push(resumed.seal(event(i)).line);
    await mkdir(journalDir(dataDir), { recursive: true });
    const segment = join(journalDir(dataDir), segmentName(1));
    await writeFile(segment, `${lines.join("\n")}\n`);
    return { oldId: before.id, newId: key.id, segment };
  }

  it("verify finds the log intact with the data directory's keyring", async () => {
    const { oldId, newId, segment } = await sealAcrossRotation();
    const report = await verifyPaths({ paths: [segment], keyring: await loadKeyring({ dataDir }) });
    expect(report).toMatchObject({ intact: true, records: 10, findings: [] });
    expect(report.keyIds).toEqual([oldId, newId].sort());
    expect(await verifyPaths({ paths: [dataDir] })).toMatchObject({ intact: true, records: 10 });
  });

  it("reports records under a key missing from the keyring as unknown_key, not tampered", async () => {
    const { oldId, segment } = await sealAcrossRotation();
    await unlink(join(keysDir(dataDir), `${oldId}.key`));
    const report = await verifyPaths({ paths: [segment], keyring: await loadKeyring({ dataDir }) });
    expect(report.intact).toBe(false);
    expect(report.findings.map((f) => [f.kind, f.sequence, f.count])).toEqual([["unknown_key", 1, 5]]);
  });
});

describe("checkpoint keys", () => {
  it("creates a key named after the log's origin, inactive unless asked", async () => {
    const key = await createCheckpointSigningKey(dataDir, { activate: false });
    expect(key.name).toBe(await loadOrCreateOrigin(dataDir));
    expect(key.active).toBe(false);
    expect(key.signer).toBe(true);
    const dir = checkpointKeysDir(dataDir);
    expect(await mode(dir)).toBe(0o700);
    expect(await mode(join(dir, `${key.keyHash}.signer`))).toBe(0o600);
    expect(await mode(key.file)).toBe(0o644);
    await expect(stat(join(dir, "active"))).rejects.toMatchObject({ code: "ENOENT" });
    expect((await loadCheckpointVerifiers(dataDir)).map((v) => v.text)).toEqual([key.verifierKey]);
  });

  it("records a given origin and refuses one that differs from the recorded origin", async () => {
    const key = await createCheckpointSigningKey(dataDir, {
      activate: true,
      origin: "audit.example.com/prod",
    });
    expect(key.id).toBe(`audit.example.com/prod+${key.keyHash}`);
    expect(await loadOrCreateOrigin(dataDir)).toBe("audit.example.com/prod");
    await expect(
      createCheckpointSigningKey(dataDir, { activate: true, origin: "other.example.com" }),
    ).rejects.toMatchObject({ code: "usage" });
  });

  it("rotates: the server signs with the new key, and checkpoints signed before stay verifiable", async () => {
    const old = await createCheckpointSigningKey(dataDir, { activate: true });
    const origin = old.name;
    const { signer: oldSigner } = await loadOrCreateCheckpointSigner(dataDir, origin);
    const before = signCheckpoint({ origin, size: 5, rootHash: randomBytes(32) }, [oldSigner]);

    const { key, previous } = await rotateCheckpointKey(dataDir);
    expect(previous?.id).toBe(old.id);
    const { signer, created } = await loadOrCreateCheckpointSigner(dataDir, origin);
    expect(created).toBe(false);
    expect(signer.keyHash.toString(16).padStart(8, "0")).toBe(key.keyHash);
    const after = signCheckpoint({ origin, size: 10, rootHash: randomBytes(32) }, [signer]);

    const verifiers = await loadCheckpointVerifiers(dataDir);
    expect(openCheckpoint(before, verifiers, { origin }).checkpoint.size).toBe(5);
    expect(openCheckpoint(after, verifiers, { origin }).checkpoint.size).toBe(10);
  });

  it("exports every verifier key, active first, in the format readVerifierKeys reads", async () => {
    const a = await createCheckpointSigningKey(dataDir, { activate: false });
    await age(a.file, 7200);
    const b = await createCheckpointSigningKey(dataDir, { activate: true });
    await age(b.file, 3600);
    const c = await createCheckpointSigningKey(dataDir, { activate: false });
    const text = await exportPublicKeys(dataDir);
    expect(text).toBe(`${b.verifierKey}\n${a.verifierKey}\n${c.verifierKey}\n`);
    const file = join(dataDir, "public.keys");
    await writeFileAtomic(file, text, 0o644);
    expect((await readVerifierKeys(file)).map((v) => v.text)).toEqual([
      b.verifierKey,
      a.verifierKey,
      c.verifierKey,
    ]);
  });

  it("refuses to export when there is no checkpoint key", async () => {
    await mkdir(dataDir);
    await expect(exportPublicKeys(dataDir)).rejects.toMatchObject({
      code: "usage",
      message: expect.stringContaining("vigil keys create checkpoint"),
    });
  });

  it("activates by key hash or id, but not a key kept only for verification", async () => {
    const a = await createCheckpointSigningKey(dataDir, { activate: true });
    const b = await createCheckpointSigningKey(dataDir, { activate: false });
    expect(await activateKey(dataDir, "checkpoint", b.keyHash)).toBe(b.id);
    expect(await pointer(join(checkpointKeysDir(dataDir), "active"))).toBe(b.keyHash);
    expect(await activateKey(dataDir, "checkpoint", a.id)).toBe(a.id);
    await unlink(join(checkpointKeysDir(dataDir), `${b.keyHash}.signer`));
    const listed = (await listKeys(dataDir)).checkpoint.find((k) => k.id === b.id);
    expect(listed?.signer).toBe(false);
    await expect(activateKey(dataDir, "checkpoint", b.id)).rejects.toThrow("it can only verify");
    await expect(activateKey(dataDir, "checkpoint", "00000000")).rejects.toMatchObject({ code: "usage" });
  });

  it("lists an empty data directory as no keys", async () => {
    await mkdir(dataDir);
    expect(await listKeys(dataDir)).toEqual({
      hmac: [],
      checkpoint: [],
      activeHmac: undefined,
      activeCheckpoint: undefined,
    });
  });
});
