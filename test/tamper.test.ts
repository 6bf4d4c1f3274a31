/**
 * The tamper suite on a log written by the real server: each change to a copy of its file destination is found
 * by `vigil verify` with the right sequence number and kind, and exit code 1 — with the HMAC key, and with only
 * the log's public key and its signed checkpoints.
 */
import { cp, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { canonicalize } from "../src/integrity/canonical.ts";
import { computeSignature, formatRecord, GENESIS_SIGNATURE, parseRecord } from "../src/integrity/chain.ts";
import { parseCheckpoint, signCheckpoint } from "../src/integrity/checkpoint.ts";
import { keyFromSecret } from "../src/integrity/keys.ts";
import { recordLeafHash } from "../src/integrity/leaf.ts";
import { checkpointFileName, listCheckpointSizes, readCheckpointNote } from "../src/integrity/log-layout.ts";
import { MerkleFrontier } from "../src/integrity/merkle.ts";
import { formatKeyId, generateNoteKey, openNote, readVerifierKeys } from "../src/integrity/note.ts";
import { writeConfig } from "./support/files.ts";
import {
  event,
  ndjson,
  post,
  runVigil,
  startVigil,
  tempDir,
  type VigilProcess,
  waitForDelivery,
} from "./support/vigil-process.ts";

interface Report {
  intact: boolean;
  records: number;
  findings: { kind: string; sequence: number; toSequence?: number; detail: string }[];
  recordSignaturesChecked: boolean;
  checkpoints: { size: number | null; origin: string | null; status: string; source: string }[];
  sealedThrough: number;
  notices: { kind: string; sequence: number; toSequence?: number }[];
}

/** A checkpoint every 10 records, and none from the timers, so the sizes are exactly 10, 20, … */
const CHECKPOINT_EVERY_10 = [
  "audit:",
  "  integrity:",
  "    checkpoints:",
  "      every_records: 10",
  "      every_seconds: 600",
  "      idle_seconds: 600",
  "",
].join("\n");

let dataDir: string;
let lines: string[];
/** The server's signed checkpoints by size, read from `<data-dir>/checkpoints/` after it stopped. */
let notes: Map<number, string>;
/** The newest checkpoint as `GET /v1/checkpoints/latest` served it: the copy an auditor keeps. */
let auditorNote: string;
/** The log's public key file: every `keys/checkpoint/*.vkey` of the data directory, one per line. */
let publicKey: string;

/** Waits until the server's newest checkpoint covers `size` records and returns it as served. */
async function latestCheckpoint(vigil: VigilProcess, size: number): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`${vigil.url}/v1/checkpoints/latest`);
    const note = res.status === 200 ? await res.text() : "";
    if (Number(note.split("\n")[1]) === size) return note;
    if (Date.now() > deadline) throw new Error(`no checkpoint of size ${size}; newest: ${note}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Sends `batches` requests of 10 events, each followed by its checkpoint; returns the last checkpoint. */
async function sendSealed(vigil: VigilProcess, first: number, batches: number): Promise<string> {
  let latest = "";
  for (let b = 0; b < batches; b++) {
    const res = await post(vigil, ndjson(Array.from({ length: 10 }, (_, i) => event(first + b * 10 + i))));
    expect(res.status).toBe(200);
    latest = await latestCheckpoint(vigil, first + (b + 1) * 10);
  }
  return latest;
}

async function readNotes(dir: string): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (const size of await listCheckpointSizes(dir))
    out.set(size, (await readCheckpointNote(dir, size)) as string);
  return out;
}

/** Concatenates the data directory's checkpoint verifier keys, as `vigil keys export-public` does. */
async function exportPublicKey(dir: string): Promise<string> {
  const keys = join(dir, "keys", "checkpoint");
  let text = "";
  for (const name of (await readdir(keys)).filter((n) => n.endsWith(".vkey"))) {
    text += await readFile(join(keys, name), "utf8");
  }
  const path = join(await tempDir("vigil-pub-"), "vigil.pub");
  await writeFile(path, text);
  return path;
}

beforeAll(async () => {
  const vigil = await startVigil({
    args: ["--config", await writeConfig(await tempDir("vigil-tamper-config-"), CHECKPOINT_EVERY_10)],
  });
  dataDir = vigil.dataDir;
  auditorNote = await sendSealed(vigil, 0, 5);
  await waitForDelivery(vigil);
  expect(await vigil.stop()).toBe(0);
  lines = (await readFile(join(dataDir, "audit.log"), "utf8")).trimEnd().split("\n");
  expect(lines).toHaveLength(50);
  notes = await readNotes(join(dataDir, "checkpoints"));
  expect([...notes.keys()]).toEqual([10, 20, 30, 40, 50]);
  expect(notes.get(50)).toBe(auditorNote);
  publicKey = await exportPublicKey(dataDir);
});

async function verifyTampered(tampered: string[]): Promise<{ code: number | null; report: Report }> {
  const dir = await tempDir("vigil-tamper-");
  const path = join(dir, "audit.log");
  await writeFile(path, `${tampered.join("\n")}\n`);
  const r = await runVigil(["verify", "--json", "--data-dir", dataDir, path]);
  return { code: r.code, report: JSON.parse(r.stdout) as Report };
}

const at = (i: number) => lines[i - 1] as string;

/** `line` with `from` replaced by `to`; throws if `from` is not there, so a test cannot pass on an unchanged line. */
function alter(line: string, from: string, to: string): string {
  if (!line.includes(from)) throw new Error(`${from} is not in ${line}`);
  return line.replace(from, to);
}

describe("tamper suite on a real server's file destination", () => {
  it("the untouched copy is intact", async () => {
    const { code, report } = await verifyTampered(lines);
    expect(code).toBe(0);
    expect(report).toMatchObject({ intact: true, records: 50, findings: [] });
  });

  it("one byte modified in record 17", async () => {
    const copy = [...lines];
    copy[16] = at(17).replace("production-backup-16", "production-backup-X6");
    const { code, report } = await verifyTampered(copy);
    expect(code).toBe(1);
    expect(report.findings).toEqual([expect.objectContaining({ kind: "modified", sequence: 17 })]);
  });

  it("line 23 deleted", async () => {
    const { code, report } = await verifyTampered(lines.filter((_, i) => i !== 22));
    expect(code).toBe(1);
    expect(report.findings).toEqual([
      expect.objectContaining({ kind: "missing", sequence: 23, toSequence: 23 }),
    ]);
  });

  it("lines 30 and 31 swapped", async () => {
    const copy = [...lines];
    copy[29] = at(31);
    copy[30] = at(30);
    const { code, report } = await verifyTampered(copy);
    expect(code).toBe(1);
    expect(report.findings).toEqual([expect.objectContaining({ kind: "reordered", sequence: 30 })]);
  });

  it("line 8 duplicated", async () => {
    const copy = [...lines];
    copy.splice(8, 0, at(8));
    const { code, report } = await verifyTampered(copy);
    expect(code).toBe(1);
    expect(report.findings).toEqual([expect.objectContaining({ kind: "duplicated", sequence: 8 })]);
  });

  it("the whole log re-signed with another key under the same key id", async () => {
    const impostor = keyFromSecret(Buffer.from("f".repeat(64)), "impostor");
    let previous = GENESIS_SIGNATURE;
    const copy = lines.map((line) => {
      const rec = JSON.parse(line) as {
        event: unknown;
        integrity: { sequence_number: number; key_id: string };
      };
      const canonical = canonicalize(rec.event);
      const { sequence_number, key_id } = rec.integrity;
      const signature = computeSignature(impostor.secret, canonical, key_id, previous, sequence_number);
      const out = formatRecord(canonical, {
        sequence_number,
        previous_signature: previous,
        signature,
        key_id,
      });
      previous = signature;
      return out;
    });
    const { code, report } = await verifyTampered(copy);
    expect(code).toBe(1);
    expect(report.findings).toEqual([expect.objectContaining({ kind: "bad_signature", sequence: 1 })]);
  });

  it("a record forged with the attacker's own key is an unknown key, not a valid record", async () => {
    const attacker = keyFromSecret(Buffer.from("a".repeat(64)), "attacker");
    const rec = JSON.parse(at(42)) as { event: unknown; integrity: { previous_signature: string } };
    const canonical = canonicalize({ ...(rec.event as object), event_type: "access.granted" });
    const signature = computeSignature(
      attacker.secret,
      canonical,
      attacker.id,
      rec.integrity.previous_signature,
      42,
    );
    const copy = [...lines];
    copy[41] = formatRecord(canonical, {
      sequence_number: 42,
      previous_signature: rec.integrity.previous_signature,
      signature,
      key_id: attacker.id,
    });
    const { code, report } = await verifyTampered(copy);
    expect(code).toBe(1);
    expect(report.findings[0]).toMatchObject({ kind: "unknown_key", sequence: 42 });
  });

  it("record 12's sequence number changed to 13", async () => {
    const copy = [...lines];
    copy[11] = alter(at(12), '"sequence_number":12,', '"sequence_number":13,');
    const { code, report } = await verifyTampered(copy);
    expect(code).toBe(1);
    expect(report.findings).toEqual([expect.objectContaining({ kind: "modified", sequence: 12 })]);
  });

  it("record 20's previous_signature changed", async () => {
    const rec = JSON.parse(at(20)) as { integrity: { previous_signature: string } };
    const copy = [...lines];
    copy[19] = alter(at(20), rec.integrity.previous_signature, GENESIS_SIGNATURE);
    const { code, report } = await verifyTampered(copy);
    expect(code).toBe(1);
    expect(report.findings).toEqual([
      expect.objectContaining({
        kind: "modified",
        sequence: 20,
        detail: expect.stringMatching(/previous_signature says sha256:0{64}/),
      }),
    ]);
  });

  it("one byte of record 33's key_id changed, so it names a key no keyring holds", async () => {
    const keyId = (JSON.parse(at(33)) as { integrity: { key_id: string } }).integrity.key_id;
    const forged = `${keyId.slice(0, -1)}${keyId.endsWith("0") ? "1" : "0"}`;
    const copy = [...lines];
    copy[32] = alter(at(33), `"key_id":"${keyId}"`, `"key_id":"${forged}"`);
    const { code, report } = await verifyTampered(copy);
    expect(code).toBe(1);
    expect(report.findings).toEqual([expect.objectContaining({ kind: "modified", sequence: 33 })]);
  });

  it("a forged event_type placed before record 27's sealed one (a duplicate member name)", async () => {
    const copy = [...lines];
    copy[26] = alter(
      at(27),
      '"event_type":"backup.completed"',
      '"event_type":"access.denied","event_type":"backup.completed"',
    );
    const { code, report } = await verifyTampered(copy);
    expect(code).toBe(1);
    expect(report.findings).toEqual([expect.objectContaining({ kind: "malformed", sequence: 27 })]);
  });

  it("integrity fields stripped (a downgrade to unsigned)", async () => {
    const copy = [...lines];
    copy[4] = JSON.stringify({ event: (JSON.parse(at(5)) as { event: unknown }).event });
    const { code, report } = await verifyTampered(copy);
    expect(code).toBe(1);
    expect(report.findings[0]).toMatchObject({ kind: "malformed", sequence: 5 });
  });
});

/**
 * Copies `records` and the server's checkpoints of `sizes` (all by default) into a directory of their own, with
 * no HMAC key anywhere, and runs `vigil verify --public-key` on it there.
 */
async function verifyPublic(
  records: string[],
  options: { sizes?: number[]; args?: string[]; json?: boolean } = {},
): Promise<{ code: number | null; report: Report; stdout: string; dir: string }> {
  const dir = await tempDir("vigil-public-");
  const path = join(dir, "audit.log");
  await writeFile(path, `${records.join("\n")}\n`);
  await mkdir(`${path}.checkpoints`);
  for (const size of options.sizes ?? [...notes.keys()]) {
    await writeFile(join(`${path}.checkpoints`, checkpointFileName(size)), notes.get(size) as string);
  }
  const json = options.json ?? true;
  const args = [
    "verify",
    ...(json ? ["--json"] : []),
    "--public-key",
    publicKey,
    ...(options.args ?? []),
    path,
  ];
  const r = await runVigil(args, { cwd: dir });
  return {
    code: r.code,
    report: json ? (JSON.parse(r.stdout) as Report) : ({} as Report),
    stdout: r.stdout,
    dir,
  };
}

describe("public-key verification of the real server's log, without any HMAC key", () => {
  it("the untouched copy is intact, every checkpoint matched", async () => {
    const { code, report, dir } = await verifyPublic(lines);
    expect(await readdir(dir)).toEqual(["audit.log", "audit.log.checkpoints"]);
    expect(code).toBe(0);
    expect(report).toMatchObject({
      intact: true,
      records: 50,
      findings: [],
      recordSignaturesChecked: false,
      sealedThrough: 50,
      notices: [],
    });
    expect(report.checkpoints.map((c) => [c.size, c.status])).toEqual(
      [10, 20, 30, 40, 50].map((n) => [n, "matched"]),
    );
  });

  it("one byte modified in record 17 is tampered between checkpoints 10 and 20", async () => {
    const copy = [...lines];
    copy[16] = at(17).replace("production-backup-16", "production-backup-X6");
    const { code, report } = await verifyPublic(copy);
    expect(code).toBe(1);
    expect(report.findings).toEqual([
      expect.objectContaining({ kind: "tampered", sequence: 11, toSequence: 20 }),
    ]);
    expect(report.sealedThrough).toBe(10);
  });

  it("the last 5 lines deleted are truncated against the newest checkpoint (the HMAC chain alone sees nothing)", async () => {
    const cut = lines.slice(0, 45);
    expect(await verifyTampered(cut)).toMatchObject({ code: 0, report: { intact: true, records: 45 } });
    const { code, report } = await verifyPublic(cut);
    expect(code).toBe(1);
    expect(report.findings).toEqual([
      expect.objectContaining({
        kind: "truncated",
        sequence: 46,
        toSequence: 50,
        detail: "records 46–50, covered by signed checkpoint 50, are missing (the log was cut off)",
      }),
    ]);
  });

  it("the newest records deleted with their checkpoint from the data directory: intact, until the auditor's copy", async () => {
    // A copy of the data directory without its keys: the journal cut back to 40 records, checkpoint 50 deleted.
    const copy = join(await tempDir("vigil-cut-"), "data");
    await mkdir(join(copy, "journal"), { recursive: true });
    await mkdir(join(copy, "checkpoints"));
    const segments = (await readdir(join(dataDir, "journal"))).filter((n) => n.endsWith(".log"));
    expect(segments).toEqual(["00000000000000000001.log"]);
    const journal = (await readFile(join(dataDir, "journal", segments[0] as string), "utf8"))
      .trimEnd()
      .split("\n");
    expect(journal).toEqual(lines);
    await writeFile(join(copy, "journal", segments[0] as string), `${journal.slice(0, 40).join("\n")}\n`);
    for (const size of [10, 20, 30, 40]) {
      await writeFile(join(copy, "checkpoints", checkpointFileName(size)), notes.get(size) as string);
    }
    // The HMAC chain cannot see it (a log cut after record N is an intact log of N records), nor can the
    // checkpoints left beside it: this is what the auditor's own copy of a newer checkpoint is for.
    const hmac = await runVigil(["verify", "--data-dir", dataDir, join(copy, "journal")]);
    expect(hmac.code).toBe(0);
    const left = await runVigil(["verify", "--json", "--public-key", publicKey, copy], { cwd: copy });
    expect(left.code).toBe(0);
    expect(JSON.parse(left.stdout)).toMatchObject({
      intact: true,
      records: 40,
      sealedThrough: 40,
      notices: [],
    });

    const kept = join(await tempDir("vigil-auditor-"), "latest.note");
    await writeFile(kept, auditorNote);
    const r = await runVigil(["verify", "--json", "--public-key", publicKey, "--checkpoint", kept, copy], {
      cwd: copy,
    });
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.findings).toEqual([
      expect.objectContaining({ kind: "truncated", sequence: 41, toSequence: 50 }),
    ]);
    expect(report.checkpoints.at(-1)).toEqual(
      expect.objectContaining({ size: 50, status: "beyond_log", source: kept }),
    );
  });

  it("a forged checkpoint, its root changed and its signature kept, is a bad checkpoint", async () => {
    const genuine = notes.get(30) as string;
    const root = parseCheckpoint(`${genuine.split("\n").slice(0, 3).join("\n")}\n`).rootHash.toString(
      "base64",
    );
    const other = parseCheckpoint(`${(notes.get(20) as string).split("\n").slice(0, 3).join("\n")}\n`);
    const forged = genuine.replace(root, other.rootHash.toString("base64"));
    expect(forged).not.toBe(genuine);
    const dir = await tempDir("vigil-forged-");
    await writeFile(join(dir, "forged.note"), forged);
    const { code, report } = await verifyPublic(lines, { args: ["--checkpoint", join(dir, "forged.note")] });
    expect(code).toBe(1);
    expect(report.findings).toEqual([expect.objectContaining({ kind: "bad_checkpoint", sequence: 30 })]);
    expect(report.sealedThrough).toBe(50);
  });

  it("a checkpoint signed with another key under the log's key name is unverifiable and not used", async () => {
    const [logKey] = await readVerifierKeys(publicKey);
    if (!logKey) throw new Error("no verifier key exported");
    const impostor = generateNoteKey(logKey.name).signer;
    expect(impostor.name).toBe(logKey.name);
    expect(formatKeyId(impostor)).not.toBe(formatKeyId(logKey));
    const origin = parseCheckpoint(`${auditorNote.split("\n").slice(0, 3).join("\n")}\n`).origin;
    const forged = signCheckpoint({ origin, size: 60, rootHash: Buffer.alloc(32, 7) }, [impostor]);
    const dir = await tempDir("vigil-forged-");
    await writeFile(join(dir, "latest.note"), forged);
    const { code, report } = await verifyPublic(lines, { args: ["--checkpoint", join(dir, "latest.note")] });
    expect(code).toBe(1);
    // Had it been used, the log would look cut off at 50.
    expect(report.findings).toEqual([
      expect.objectContaining({ kind: "unverifiable_checkpoint", sequence: 60 }),
    ]);
    expect(report.checkpoints.at(-1)).toMatchObject({ size: 60, status: "unverifiable" });
  });

  it("records after the newest checkpoint are a notice with the HMAC key, exit 0, and a problem without it or with --require-sealed", async () => {
    const keys = join(dataDir, "keys");
    const keyFile = join(keys, (await readdir(keys)).find((n) => n.endsWith(".key")) as string);
    const hmac = ["--key-file", keyFile];
    const live = await verifyPublic(lines, { sizes: [10, 20, 30, 40], json: false, args: hmac });
    expect(live.code).toBe(0);
    expect(live.stdout).toMatch(
      /^intact: 50 records, sequences 1–50, .*; records 41–50 not yet covered by a checkpoint\n$/,
    );
    const notice = await verifyPublic(lines, { sizes: [10, 20, 30, 40], args: hmac });
    expect(notice.report).toMatchObject({ intact: true, sealedThrough: 40 });
    expect(notice.report.notices).toEqual([
      expect.objectContaining({ kind: "unsealed_tail", sequence: 41, toSequence: 50 }),
    ]);
    // Without an HMAC key nothing checked records 41–50: not intact, and no claim that the checkpoints cover them.
    const unchecked = await verifyPublic(lines, { sizes: [10, 20, 30, 40], json: false });
    expect(unchecked.code).toBe(1);
    expect(unchecked.stdout).toMatch(/^sequences 41–50: unsealed_tail — /);
    expect(unchecked.stdout).not.toContain("contents covered by the checkpoints;");
    expect(unchecked.stdout).toMatch(/contents covered by the checkpoints through sequence 40 only\n$/);
    const sealed = await verifyPublic(lines, { sizes: [10, 20, 30, 40], args: ["--require-sealed"] });
    expect(sealed.code).toBe(1);
    expect(sealed.report.findings).toEqual([
      expect.objectContaining({ kind: "unsealed_tail", sequence: 41 }),
    ]);
  });

  it("integrity fields stripped (a downgrade to unsigned) are malformed with only the public key too", async () => {
    const copy = [...lines];
    copy[4] = JSON.stringify({ event: (JSON.parse(at(5)) as { event: unknown }).event });
    const { code, report } = await verifyPublic(copy);
    expect(code).toBe(1);
    expect(report.findings).toEqual([
      expect.objectContaining({ kind: "tampered", sequence: 1, toSequence: 10 }),
      expect.objectContaining({ kind: "malformed", sequence: 5 }),
    ]);
  });
});

describe("an attacker who controls the data directory", () => {
  it("cannot vouch for an altered record with a checkpoint key of their own against the genuine public key", async () => {
    const copy = await tempDir("vigil-attacked-");
    await cp(dataDir, copy, { recursive: true });
    // Record 17 altered in the journal; merkle/, checkpoints/, keys/checkpoint/ and the HMAC keys replaced by
    // the attacker's: a checkpoint key of their own signs the altered tree.
    const journal = join(copy, "journal");
    const altered: string[] = [];
    for (const name of (await readdir(journal)).filter((n) => n.endsWith(".log")).sort()) {
      const text = await readFile(join(journal, name), "utf8");
      const edited = text.replace("production-backup-16", "production-backup-X6");
      await writeFile(join(journal, name), edited);
      altered.push(...edited.trimEnd().split("\n"));
    }
    expect(altered).toHaveLength(50);
    for (const sub of ["merkle", "checkpoints", join("keys", "checkpoint")]) {
      await rm(join(copy, sub), { recursive: true, force: true });
    }
    for (const name of (await readdir(join(copy, "keys"))).filter((n) => n.endsWith(".key"))) {
      await rm(join(copy, "keys", name));
    }
    const origin = parseCheckpoint(`${auditorNote.split("\n").slice(0, 3).join("\n")}\n`).origin;
    const forger = generateNoteKey(origin);
    const frontier = new MerkleFrontier();
    for (const line of altered) {
      const parsed = parseRecord(Buffer.from(line));
      if (!parsed.ok) throw new Error(parsed.reason);
      frontier.append(recordLeafHash(parsed.record));
    }
    await mkdir(join(copy, "checkpoints"));
    await writeFile(
      join(copy, "checkpoints", checkpointFileName(50)),
      signCheckpoint({ origin, size: 50, rootHash: frontier.root() }, [forger.signer]),
    );
    await mkdir(join(copy, "keys", "checkpoint"));
    await writeFile(join(copy, "keys", "checkpoint", "forged.vkey"), `${forger.verifierText}\n`);

    // Before the fix the directory's forged.vkey was trusted beside the genuine key and this was intact.
    const r = await runVigil(["verify", "--json", copy, "--public-key", publicKey]);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as Report;
    expect(report).toMatchObject({ intact: false, recordSignaturesChecked: false, sealedThrough: 0 });
    expect(report.findings.map((f) => f.kind)).toEqual(["unsealed_tail", "unverifiable_checkpoint"]);
  });
});

describe("a rotated checkpoint key on the real server", () => {
  it("checkpoints signed by the old and the new key verify with both verifier keys", async () => {
    const config = await writeConfig(await tempDir("vigil-rotate-config-"), CHECKPOINT_EVERY_10);
    const first = await startVigil({ args: ["--config", config] });
    await sendSealed(first, 0, 2);
    await waitForDelivery(first);
    expect(await first.stop()).toBe(0);
    const rotated = await runVigil(["keys", "rotate", "checkpoint", "--data-dir", first.dataDir]);
    expect(rotated.code).toBe(0);
    const second = await startVigil({ dataDir: first.dataDir, args: ["--config", config] });
    await sendSealed(second, 20, 2);
    await waitForDelivery(second);
    expect(await second.stop()).toBe(0);

    const pub = join(await tempDir("vigil-rotate-pub-"), "vigil.pub");
    expect((await runVigil(["keys", "export-public", "--data-dir", first.dataDir, "-o", pub])).code).toBe(0);
    const keys = await readVerifierKeys(pub);
    expect(keys).toHaveLength(2);
    const signed = await readNotes(join(first.dataDir, "checkpoints"));
    expect([...signed.keys()]).toEqual([10, 20, 30, 40]);
    const signers = [...signed.values()].map((n) => openNote(n, keys).verifiedBy.map(formatKeyId).join());
    expect(new Set(signers).size).toBe(2);
    expect(signers[0]).not.toBe(signers[3]);

    const dir = await tempDir("vigil-rotate-");
    const path = join(dir, "audit.log");
    await writeFile(path, await readFile(join(first.dataDir, "audit.log")));
    await mkdir(`${path}.checkpoints`);
    for (const [size, text] of signed)
      await writeFile(join(`${path}.checkpoints`, checkpointFileName(size)), text);
    const both = await runVigil(["verify", "--json", "--public-key", pub, path], { cwd: dir });
    expect(both.code).toBe(0);
    expect(JSON.parse(both.stdout)).toMatchObject({ intact: true, records: 40, sealedThrough: 40 });

    // With only the new key the old checkpoints cannot be checked, and say so.
    const newOnly = join(dir, "new.pub");
    await writeFile(newOnly, `${keys[0]?.text}\n`);
    const partial = await runVigil(["verify", "--json", "--public-key", newOnly, path], { cwd: dir });
    expect(partial.code).toBe(1);
    const kinds = (JSON.parse(partial.stdout) as Report).findings.map((f) => [f.kind, f.sequence]);
    expect(kinds).toEqual([
      ["unverifiable_checkpoint", 10],
      ["unverifiable_checkpoint", 20],
    ]);
  });
});
