import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { canonicalize } from "./canonical.ts";
import {
  type ChainHead,
  EMPTY_CHAIN,
  GENESIS_SIGNATURE,
  parseRecord,
  Sealer,
  type SigningKey,
} from "./chain.ts";
import { signCheckpoint } from "./checkpoint.ts";
import { keyFromSecret } from "./keys.ts";
import { recordLeafHash } from "./leaf.ts";
import { checkpointFileName } from "./log-layout.ts";
import { MerkleFrontier } from "./merkle.ts";
import { formatKeyId, generateNoteKey, type NoteSigner } from "./note.ts";
import { type VerifyOptions, type VerifyReport, verifyPaths } from "./verify.ts";

function newKey(): SigningKey {
  return keyFromSecret(Buffer.from(randomBytes(32).toString("hex")), "test");
}

function event(i: number): string {
  return canonicalize({
    event_type: "backup.completed",
    event_id: `evt_${i}`,
    timestamp: new Date(Date.UTC(2025, 0, 1, 0, 0, i)).toISOString(),
    actor: { id: "alice" },
  });
}

/** Record lines (no newlines) for sequences head.sequence+1 … head.sequence+n. */
function seal(n: number, key: SigningKey, head: ChainHead = EMPTY_CHAIN): string[] {
  const sealer = new Sealer(key, head);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) lines.push(sealer.seal(event(sealer.head.sequence + 1)).line);
  return lines;
}

function signatureOf(line: string): string {
  return JSON.parse(line).integrity.signature;
}

function ndjson(lines: readonly (string | Buffer)[]): Buffer {
  return Buffer.concat(lines.flatMap((l) => [Buffer.from(l), Buffer.from("\n")]));
}

/** [kind, sequence] or [kind, sequence, toSequence] of each finding. */
function summary(report: VerifyReport): (string | number | null)[][] {
  return report.findings.map((f) =>
    f.toSequence === undefined ? [f.kind, f.sequence] : [f.kind, f.sequence, f.toSequence],
  );
}

let dir: string;
let key: SigningKey;
let log: string[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "vigil-verify-"));
  key = newKey();
  log = seal(100, key);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function verifyLines(
  lines: readonly (string | Buffer)[],
  options: Partial<VerifyOptions> & { trailingNewline?: boolean } = {},
): Promise<VerifyReport> {
  const path = join(dir, "audit.log");
  const body = ndjson(lines);
  await writeFile(path, options.trailingNewline === false ? body.subarray(0, body.length - 1) : body);
  return verifyPaths({ paths: [path], keyring: new Map([[key.id, key.secret]]), ...options });
}

describe("verifyPaths on a 100-record log", () => {
  it("finds nothing wrong with an intact log", async () => {
    const report = await verifyLines(log);
    expect(report).toMatchObject({
      intact: true,
      records: 100,
      firstSequence: 1,
      lastSequence: 100,
      keyIds: [key.id],
      findings: [],
      findingCount: 0,
      files: [join(dir, "audit.log")],
    });
  });

  it("reports one byte changed inside record 37's event as modified at 37", async () => {
    const tampered = [...log];
    tampered[36] = (tampered[36] as string).replace('"alice"', '"alicf"');
    const report = await verifyLines(tampered);
    expect(summary(report)).toEqual([["modified", 37]]);
    expect(report.findings[0]).toMatchObject({ file: join(dir, "audit.log"), line: 37 });
    expect(report.intact).toBe(false);
  });

  it("reports one byte changed inside record 37's signature as modified at 37 only", async () => {
    const tampered = [...log];
    const line = tampered[36] as string;
    const at = line.indexOf('"signature":"sha256:') + '"signature":"sha256:'.length + 10;
    tampered[36] = line.slice(0, at) + (line[at] === "0" ? "1" : "0") + line.slice(at + 1);
    expect(summary(await verifyLines(tampered))).toEqual([["modified", 37]]);
  });

  it("reports a changed previous_signature as modified at that record only", async () => {
    const tampered = [...log];
    tampered[36] = (tampered[36] as string).replace(
      signatureOf(log[35] as string),
      signatureOf(log[0] as string),
    );
    expect(summary(await verifyLines(tampered))).toEqual([["modified", 37]]);
  });

  it("reports a deleted line as missing 37..37", async () => {
    const report = await verifyLines(log.filter((_, i) => i !== 36));
    expect(summary(report)).toEqual([["missing", 37, 37]]);
    expect(report.findings[0]).toMatchObject({ count: 1, line: 37 });
  });

  it("reports three deleted lines as missing 37..39", async () => {
    const report = await verifyLines(log.filter((_, i) => i < 36 || i > 38));
    expect(summary(report)).toEqual([["missing", 37, 39]]);
    expect(report.findings[0]?.count).toBe(3);
  });

  it("reports two swapped lines as reordered at the lower sequence, 37", async () => {
    const tampered = [...log];
    [tampered[36], tampered[37]] = [log[37] as string, log[36] as string];
    const report = await verifyLines(tampered);
    expect(summary(report)).toEqual([["reordered", 37]]);
    expect(report.findings[0]?.line).toBe(38);
  });

  it("reports a record moved far up as the one reordered record", async () => {
    const tampered = [...log.slice(0, 36), log[79] as string, ...log.slice(36, 79), ...log.slice(80)];
    expect(summary(await verifyLines(tampered))).toEqual([["reordered", 80]]);
  });

  it("reports a record moved to the end as the one reordered record", async () => {
    const tampered = [...log.slice(0, 36), ...log.slice(37), log[36] as string];
    expect(summary(await verifyLines(tampered))).toEqual([["reordered", 37]]);
  });

  it("reports a line copied right after itself as duplicated 37", async () => {
    const tampered = [...log.slice(0, 37), log[36] as string, ...log.slice(37)];
    const report = await verifyLines(tampered);
    expect(summary(report)).toEqual([["duplicated", 37]]);
    expect(report.findings[0]?.line).toBe(38);
  });

  it("reports a log re-signed with another secret under the same key id as bad_signature at 1", async () => {
    const impostor = { id: key.id, secret: newKey().secret };
    const report = await verifyLines(seal(100, impostor));
    expect(summary(report)).toEqual([["bad_signature", 1]]);
    expect(report.findings[0]?.count).toBe(100);
  });

  it("reports records 50..100 re-signed with another secret as bad_signature at 50", async () => {
    const impostor = { id: key.id, secret: newKey().secret };
    const head = { sequence: 49, signature: signatureOf(log[48] as string) };
    const report = await verifyLines([...log.slice(0, 49), ...seal(51, impostor, head)]);
    expect(summary(report)).toEqual([["bad_signature", 50]]);
    expect(report.findings[0]?.count).toBe(51);
  });

  it("reports two separately altered neighbours as two modified records", async () => {
    const tampered = [...log];
    const line = tampered[36] as string;
    const at = line.indexOf('"signature":"sha256:') + '"signature":"sha256:'.length;
    tampered[36] = line.slice(0, at) + (line[at] === "0" ? "1" : "0") + line.slice(at + 1);
    tampered[37] = (tampered[37] as string).replace('"alice"', '"alicf"');
    expect(summary(await verifyLines(tampered))).toEqual([
      ["modified", 37],
      ["modified", 38],
    ]);
  });

  it("reports a record signed with a key not in the keyring as unknown_key, without tampering findings", async () => {
    const other = newKey();
    const head = { sequence: 36, signature: signatureOf(log[35] as string) };
    const tampered = [...log];
    tampered[36] = seal(1, other, head)[0] as string;
    const report = await verifyLines(tampered);
    expect(summary(report)).toEqual([["unknown_key", 37]]);
    expect(report.findings[0]?.count).toBe(1);
    expect(report.keyIds).toEqual([key.id, other.id].sort());
  });

  it("reports a run of records under one unknown key once", async () => {
    const other = newKey();
    const head = { sequence: 49, signature: signatureOf(log[48] as string) };
    const report = await verifyLines([...log.slice(0, 49), ...seal(51, other, head)]);
    expect(summary(report)).toEqual([["unknown_key", 50]]);
    expect(report.findings[0]?.count).toBe(51);
  });

  it("reports a line without integrity block as malformed at the sequence due there", async () => {
    const tampered = [...log];
    tampered[36] = `{"event":${event(37)}}`;
    const report = await verifyLines(tampered);
    expect(summary(report)).toEqual([["malformed", 37]]);
    expect(report.findings[0]?.detail).toMatch(/no integrity block/);
  });

  it("reports a line of garbage bytes (invalid UTF-8) as malformed", async () => {
    const tampered: (string | Buffer)[] = [...log];
    tampered[36] = Buffer.from([0xff, 0xfe, 0x80, 0x7b, 0x22, 0xc3, 0x28, 0x00]);
    expect(summary(await verifyLines(tampered))).toEqual([["malformed", 37]]);
  });

  it("reports a garbage line inserted between records as malformed, with the chain intact around it", async () => {
    const tampered = [...log.slice(0, 37), "not json at all", ...log.slice(37)];
    expect(summary(await verifyLines(tampered))).toEqual([["malformed", 38]]);
  });

  it("reports the last line cut in half as truncated", async () => {
    const tampered = [...log];
    const last = log[99] as string;
    tampered[99] = last.slice(0, last.length >> 1);
    const report = await verifyLines(tampered, { trailingNewline: false });
    expect(summary(report)).toEqual([["truncated", 100]]);
    expect(report.records).toBe(99);
  });

  it("still checks a complete last line that has no trailing newline", async () => {
    const tampered = [...log];
    tampered[99] = (log[99] as string).replace('"alice"', '"alicf"');
    const report = await verifyLines(tampered, { trailingNewline: false });
    expect(summary(report)).toEqual([["modified", 100]]);
  });

  it("verifies a log re-serialized by another tool (keys sorted, whitespace added)", async () => {
    const sortKeys = (v: unknown): unknown =>
      v !== null && typeof v === "object" && !Array.isArray(v)
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .reverse()
              .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
          )
        : v;
    const reserialized = log.map((l) =>
      JSON.stringify(sortKeys(JSON.parse(l)))
        .replaceAll('":', '": ')
        .replaceAll(',"', ', "'),
    );
    expect(reserialized[0]).not.toBe(log[0]);
    const report = await verifyLines(reserialized);
    expect(report.findings).toEqual([]);
    expect(report.records).toBe(100);
  });

  it("reports a record spliced in from another chain as inserted, once", async () => {
    const foreign = seal(100, key, { sequence: 0, signature: `sha256:${"1".repeat(64)}` });
    const tampered = [...log];
    tampered[36] = foreign[36] as string;
    expect(summary(await verifyLines(tampered))).toEqual([["inserted", 37]]);
  });

  it("reports a second record with a reused sequence number and another signature as inserted", async () => {
    const forged = seal(1, key, { sequence: 36, signature: `sha256:${"2".repeat(64)}` })[0] as string;
    const tampered = [...log.slice(0, 37), forged, ...log.slice(37)];
    const report = await verifyLines(tampered);
    expect(summary(report)).toEqual([["inserted", 37]]);
    expect(report.findings[0]?.line).toBe(38);
  });

  it("reports the missing start of a log that begins after sequence 1, unless --partial", async () => {
    const tail = log.slice(50);
    expect(summary(await verifyLines(tail))).toEqual([["missing", 1, 50]]);
    const partial = await verifyLines(tail, { partial: true });
    expect(partial.findings).toEqual([]);
    expect(partial).toMatchObject({ intact: true, firstSequence: 51, lastSequence: 100, records: 50 });
  });

  it("still checks the first record's own signature with --partial", async () => {
    const tail = log.slice(50);
    tail[0] = (tail[0] as string).replace('"alice"', '"alicf"');
    expect(summary(await verifyLines(tail, { partial: true }))).toEqual([["modified", 51]]);
  });

  it("declares a gap once the look-ahead fills, and reports a record moved beyond it as reordered", async () => {
    const long = seal(12_000, key);
    const report = await verifyLines([...long.slice(0, 36), ...long.slice(37), long[36] as string]);
    expect(summary(report)).toEqual([
      ["missing", 37, 37],
      ["reordered", 37],
    ]);
    expect(report.findings[1]?.line).toBe(12_000);
  });

  it("stores at most maxFindings findings but counts them all", async () => {
    const tampered = [...log.slice(0, 10), ...Array.from({ length: 20 }, () => "garbage"), ...log.slice(10)];
    const report = await verifyLines(tampered, { maxFindings: 5 });
    expect(report.findings).toHaveLength(5);
    expect(report.findingCount).toBe(20);
    expect(report.findings.map((f) => f.sequence)).toEqual([11, 12, 13, 14, 15]);
  });
});

/** `line` with `from` replaced by `to`; throws if `from` is not there, so a test cannot pass on an unchanged line. */
function alter(line: string, from: string, to: string): string {
  if (!line.includes(from)) throw new Error(`${from} is not in ${line}`);
  return line.replace(from, to);
}

/** The line with the last character of its key_id changed: it now names a key no keyring holds. */
function alterKeyId(line: string): string {
  const keyId: string = JSON.parse(line).integrity.key_id;
  const last = keyId.at(-1) === "0" ? "1" : "0";
  return alter(line, `"key_id":"${keyId}"`, `"key_id":"${keyId.slice(0, -1)}${last}"`);
}

describe("verifyPaths on altered integrity fields", () => {
  it("reports record 37's sequence_number changed to 38 as modified at 37 only", async () => {
    const tampered = [...log];
    tampered[36] = alter(log[36] as string, '"sequence_number":37,', '"sequence_number":38,');
    const report = await verifyLines(tampered);
    expect(summary(report)).toEqual([["modified", 37]]);
    expect(report.findings[0]).toMatchObject({ line: 37 });
    expect(report.findings[0]?.detail).toMatch(/sealed as sequence 37.*claims 38/);
    expect(report).toMatchObject({ firstSequence: 1, lastSequence: 100 });
  });

  it("reports a sequence_number changed to a far higher or a lower number as modified at the record only", async () => {
    for (const claimed of [99_999, 36, 3]) {
      const tampered = [...log];
      tampered[36] = alter(log[36] as string, '"sequence_number":37,', `"sequence_number":${claimed},`);
      expect(summary(await verifyLines(tampered))).toEqual([["modified", 37]]);
    }
  });

  it("recognises a changed sequence_number on the first and on the last record", async () => {
    const first = [...log];
    first[0] = alter(log[0] as string, '"sequence_number":1,', '"sequence_number":2,');
    expect(summary(await verifyLines(first))).toEqual([["modified", 1]]);
    const last = [...log];
    last[99] = alter(log[99] as string, '"sequence_number":100,', '"sequence_number":101,');
    expect(summary(await verifyLines(last))).toEqual([["modified", 100]]);
  });

  it("recognises a changed sequence_number after a line of garbage", async () => {
    const tampered = [...log];
    tampered[35] = "garbage";
    tampered[36] = alter(log[36] as string, '"sequence_number":37,', '"sequence_number":40,');
    expect(summary(await verifyLines(tampered))).toEqual([
      ["malformed", 36],
      ["modified", 37],
    ]);
  });

  it("reports a changed previous_signature beside a modified record as two modified records, not a re-signed run", async () => {
    const tampered = [...log];
    tampered[36] = alter(log[36] as string, signatureOf(log[35] as string), signatureOf(log[0] as string));
    tampered[37] = alter(log[37] as string, '"alice"', '"alicf"');
    const report = await verifyLines(tampered);
    expect(summary(report)).toEqual([
      ["modified", 37],
      ["modified", 38],
    ]);
    expect(report.findings[0]?.detail).toMatch(/previous_signature/);
  });

  it("reports one byte changed in record 37's key_id as modified, not as an unknown key", async () => {
    const tampered = [...log];
    tampered[36] = alterKeyId(log[36] as string);
    const report = await verifyLines(tampered);
    expect(summary(report)).toEqual([["modified", 37]]);
    expect(report.findings[0]?.detail).toMatch(/not in the keyring.*neighbours/);
  });

  it("keeps a run of records under an unknown key amid the log as unknown_key, even when it links", async () => {
    const other = newKey();
    const before = log.slice(0, 49);
    const run = seal(2, other, { sequence: 49, signature: signatureOf(log[48] as string) });
    const after = seal(49, key, { sequence: 51, signature: signatureOf(run[1] as string) });
    const report = await verifyLines([...before, ...run, ...after]);
    expect(summary(report)).toEqual([["unknown_key", 50]]);
    expect(report.findings[0]?.count).toBe(2);
  });

  it("keeps an unknown key id on the first or the last record as unknown_key (a key rotated away)", async () => {
    const first = [...log];
    first[0] = alterKeyId(log[0] as string);
    expect(summary(await verifyLines(first))).toEqual([["unknown_key", 1]]);
    const last = [...log];
    last[99] = alterKeyId(log[99] as string);
    expect(summary(await verifyLines(last))).toEqual([["unknown_key", 100]]);
  });
});

describe("verifyPaths on duplicate member names (not I-JSON)", () => {
  it("reports a forged event_type placed before the sealed one as malformed, not intact", async () => {
    const tampered = [...log];
    tampered[36] = alter(log[36] as string, '"event_type":', '"event_type":"access.denied","event_type":');
    const report = await verifyLines(tampered);
    expect(summary(report)).toEqual([["malformed", 37]]);
    expect(report.findings[0]?.detail).toMatch(/duplicate member name.*not I-JSON/);
  });

  it("reports a duplicate inside a nested object, and one spelled with an escape, as malformed", async () => {
    const nested = [...log];
    nested[36] = alter(log[36] as string, '{"id":"alice"}', '{"id":"mallory","id":"alice"}');
    expect(summary(await verifyLines(nested))).toEqual([["malformed", 37]]);
    const escaped = [...log];
    escaped[36] = alter(log[36] as string, '{"id":"alice"}', '{"\\u0069d":"mallory","id":"alice"}');
    expect(summary(await verifyLines(escaped))).toEqual([["malformed", 37]]);
  });

  it("reports a duplicate in a line another tool re-serialized as malformed", async () => {
    const tampered = [...log];
    tampered[36] = alter(
      JSON.stringify(JSON.parse(log[36] as string), null, 1).replaceAll("\n", ""),
      '"event_type":',
      '"event_type": "access.denied", "event_type":',
    );
    expect(summary(await verifyLines(tampered))).toEqual([["malformed", 37]]);
  });

  it("reports a duplicate in the integrity block as malformed", async () => {
    for (const forged of ['"sequence_number":999,', '"sequence\\u005fnumber":999,', '"key_id":"hmac-0",']) {
      const tampered = [...log];
      tampered[36] = alter(log[36] as string, '"integrity":{', `"integrity":{${forged}`);
      expect(summary(await verifyLines(tampered))).toEqual([["malformed", 37]]);
    }
  });
});

describe("verifyPaths on members outside the sealed layout", () => {
  it("reports a member added beside event and integrity, or inside integrity, as malformed, with or without the key", async () => {
    const approved = JSON.parse(log[36] as string);
    approved.approved = true;
    approved.integrity.approved_by = "ciso";
    const withType = JSON.parse(log[36] as string);
    const typed = { event_type: "admin.approved", ...withType };
    const inIntegrity = JSON.parse(log[36] as string);
    inIntegrity.integrity.approved_by = "ciso";
    for (const [line, member] of [
      [JSON.stringify(approved), "approved"],
      [JSON.stringify(typed), "event_type"],
      [JSON.stringify(inIntegrity), "approved_by"],
    ] as const) {
      const copy = [...log];
      copy[36] = line;
      const report = await verifyLines(copy);
      expect(summary(report)).toEqual([["malformed", 37]]);
      expect(report.findings[0]?.detail).toContain(`unexpected member "${member}"`);
    }
  });

  it("still verifies a re-serialized record that has exactly the sealed members", async () => {
    const copy = [...log];
    const { event: e, integrity } = JSON.parse(log[36] as string);
    copy[36] = JSON.stringify({ integrity: { ...integrity }, event: e }, null, 1).replaceAll("\n", "");
    expect(await verifyLines(copy)).toMatchObject({ intact: true });
  });
});

describe("verifyPaths inputs", () => {
  const keyring = () => new Map([[key.id, key.secret]]);

  it("reads a rotated set oldest first, gunzipping .gz files and ignoring .tmp", async () => {
    const path = join(dir, "audit.log");
    await writeFile(`${path}.2.gz`, gzipSync(ndjson(log.slice(0, 30))));
    await writeFile(`${path}.1`, ndjson(log.slice(30, 60)));
    await writeFile(`${path}.1.gz.tmp`, gzipSync(ndjson(log.slice(30, 45))).subarray(0, 50));
    await writeFile(path, ndjson(log.slice(60)));
    const report = await verifyPaths({ paths: [path], keyring: keyring() });
    expect(report.findings).toEqual([]);
    expect(report).toMatchObject({ intact: true, records: 100, files: [`${path}.2.gz`, `${path}.1`, path] });
  });

  it("reads the plain copy when a crash left both path.K and path.K.gz", async () => {
    const path = join(dir, "audit.log");
    await writeFile(`${path}.1`, ndjson(log.slice(0, 60)));
    await writeFile(`${path}.1.gz`, gzipSync(ndjson(log.slice(0, 60))));
    await writeFile(path, ndjson(log.slice(60)));
    const report = await verifyPaths({ paths: [path], keyring: keyring() });
    expect(report).toMatchObject({ intact: true, records: 100, files: [`${path}.1`, path] });
  });

  it("points at the rotated file and line of a problem", async () => {
    const path = join(dir, "audit.log");
    const tampered = [...log];
    tampered[36] = (log[36] as string).replace('"alice"', '"alicf"');
    await writeFile(`${path}.3.gz`, gzipSync(ndjson(tampered.slice(0, 30))));
    await writeFile(`${path}.2.gz`, gzipSync(ndjson(tampered.slice(30, 60))));
    await writeFile(`${path}.1`, ndjson(tampered.slice(60, 61)));
    await writeFile(path, ndjson(tampered.slice(61)));
    const report = await verifyPaths({ paths: [path], keyring: keyring() });
    expect(summary(report)).toEqual([["modified", 37]]);
    expect(report.findings[0]).toMatchObject({ file: `${path}.2.gz`, line: 7 });
  });

  it("accepts a rotated set whose active file was just rotated away, and reports a deleted middle file", async () => {
    const path = join(dir, "audit.log");
    await writeFile(`${path}.3`, ndjson(log.slice(0, 30)));
    await writeFile(`${path}.1.gz`, gzipSync(ndjson(log.slice(60))));
    const report = await verifyPaths({ paths: [path], keyring: keyring() });
    expect(summary(report)).toEqual([["missing", 31, 60]]);
    expect(report.findings[0]).toMatchObject({ file: `${path}.1.gz`, line: 1, count: 30 });
  });

  it("reports corrupt gzip data as malformed and goes on with the next file", async () => {
    const path = join(dir, "audit.log");
    const gz = gzipSync(ndjson(log.slice(0, 50)));
    await writeFile(`${path}.1.gz`, gz.subarray(0, gz.length >> 1));
    await writeFile(path, ndjson(log.slice(50)));
    const report = await verifyPaths({ paths: [path], keyring: keyring() });
    const kinds = report.findings.map((f) => f.kind);
    expect(kinds).toContain("malformed");
    expect(kinds.filter((k) => k !== "malformed" && k !== "missing")).toEqual([]);
    expect(report.findings.find((f) => f.kind === "malformed")?.file).toBe(`${path}.1.gz`);
  });

  it("verifies a journal directory with several segments, and a data directory with its own keys", async () => {
    const dataDir = join(dir, "data");
    const journal = join(dataDir, "journal");
    await mkdir(journal, { recursive: true });
    await mkdir(join(dataDir, "keys"));
    await writeFile(join(dataDir, "keys", `${key.id}.key`), `${key.secret.export().toString("utf8")}\n`);
    const segments = [0, 40, 75];
    for (const [i, start] of segments.entries()) {
      const name = `${String(start + 1).padStart(20, "0")}.log`;
      await writeFile(join(journal, name), ndjson(log.slice(start, segments[i + 1] ?? 100)));
    }
    await writeFile(join(journal, "not-a-segment.txt"), "ignored\n");

    const fromJournal = await verifyPaths({ paths: [journal], keyring: keyring() });
    expect(fromJournal).toMatchObject({ intact: true, records: 100, lastSequence: 100 });
    expect(fromJournal.files.map((f) => f.slice(journal.length + 1))).toEqual([
      "00000000000000000001.log",
      "00000000000000000041.log",
      "00000000000000000076.log",
    ]);

    const fromDataDir = await verifyPaths({ paths: [dataDir] });
    expect(fromDataDir).toMatchObject({ intact: true, records: 100, keyIds: [key.id] });
  });

  it("finds a segment deleted from a journal", async () => {
    const journal = join(dir, "journal");
    await mkdir(journal);
    await writeFile(join(journal, "00000000000000000001.log"), ndjson(log.slice(0, 40)));
    await writeFile(join(journal, "00000000000000000076.log"), ndjson(log.slice(75)));
    const report = await verifyPaths({ paths: [journal], keyring: keyring() });
    expect(summary(report)).toEqual([["missing", 41, 75]]);
  });

  it("reads stdin, joining lines split across chunks", async () => {
    const body = ndjson(log);
    const chunks: Buffer[] = [];
    for (let at = 0; at < body.length; at += 97) chunks.push(body.subarray(at, at + 97));
    const report = await verifyPaths({ paths: ["-"], keyring: keyring(), stdin: Readable.from(chunks) });
    expect(report).toMatchObject({ intact: true, records: 100, files: ["-"] });
  });

  it("reports progress as bytes are read", async () => {
    const path = join(dir, "audit.log");
    await writeFile(path, ndjson(log));
    const seen: number[] = [];
    await verifyPaths({
      paths: [path],
      keyring: keyring(),
      onProgress: (p) => seen.push(p.bytes, p.totalBytes ?? -1),
    });
    const size = (await readFile(path)).length;
    expect(seen.slice(-2)).toEqual([size, size]);
  });

  it("refuses to run without any key, and on a path that does not exist", async () => {
    const path = join(dir, "audit.log");
    await writeFile(path, ndjson(log));
    await expect(verifyPaths({ paths: [path] })).rejects.toMatchObject({ code: "key_missing" });
    await expect(verifyPaths({ paths: [join(dir, "nope.log")], keyring: keyring() })).rejects.toMatchObject({
      code: "usage",
    });
    await expect(
      verifyPaths({ paths: [join(dir, "no-dir", "a.log")], keyring: keyring() }),
    ).rejects.toMatchObject({
      code: "usage",
    });
  });

  it("reads several paths in order as one chain", async () => {
    const a = join(dir, "a.log");
    const b = join(dir, "b.log");
    await writeFile(a, ndjson(log.slice(0, 50)));
    await writeFile(b, ndjson(log.slice(50)));
    expect((await verifyPaths({ paths: [a, b], keyring: keyring() })).intact).toBe(true);
    expect(summary(await verifyPaths({ paths: [b], keyring: keyring() }))).toEqual([["missing", 1, 50]]);
  });

  it("reports every line of an unsigned (downgraded) file as malformed", async () => {
    const unsigned = log.slice(0, 3).map((l) => JSON.stringify({ event: JSON.parse(l).event }));
    const report = await verifyLines(unsigned);
    expect(summary(report)).toEqual([
      ["malformed", 1],
      ["malformed", 2],
      ["malformed", 3],
    ]);
  });
});

describe("verifyPaths with signed checkpoints (public-key verification)", () => {
  const ORIGIN = "vigil.test/log";
  let signer: NoteSigner;
  let path: string;

  beforeEach(() => {
    signer = generateNoteKey(ORIGIN).signer;
    path = join(dir, "audit.log");
  });

  function rootOf(lines: readonly string[], size: number): Buffer {
    const frontier = new MerkleFrontier();
    for (const line of lines.slice(0, size)) {
      const parsed = parseRecord(Buffer.from(line));
      if (!parsed.ok) throw new Error(parsed.reason);
      frontier.append(recordLeafHash(parsed.record));
    }
    return frontier.root();
  }

  function note(size: number, options: { by?: NoteSigner[]; origin?: string; root?: Buffer } = {}): string {
    return signCheckpoint(
      { origin: options.origin ?? ORIGIN, size, rootHash: options.root ?? rootOf(log, size) },
      options.by ?? [signer],
    );
  }

  /** Writes `lines` as the file destination and each note into `<path>.checkpoints/`, where the server publishes. */
  async function publish(lines: readonly string[], notes: readonly string[]): Promise<void> {
    await writeFile(path, ndjson(lines));
    await mkdir(`${path}.checkpoints`, { recursive: true });
    for (const text of notes) {
      const size = Number(text.split("\n")[1]);
      await writeFile(join(`${path}.checkpoints`, checkpointFileName(size)), text);
    }
  }

  const every10 = (upTo = 100) => Array.from({ length: upTo / 10 }, (_, i) => note((i + 1) * 10));

  const publicOnly = (extra: Partial<VerifyOptions> = {}) =>
    verifyPaths({ paths: [path], publicKeys: [signer.verifier], ...extra });

  it("verifies an intact log with only the public key, matching every checkpoint", async () => {
    await publish(log, every10());
    const report = await publicOnly();
    expect(report).toMatchObject({
      intact: true,
      findings: [],
      records: 100,
      recordSignaturesChecked: false,
      sealedThrough: 100,
      notices: [],
    });
    expect(report.checkpoints.map((c) => [c.size, c.status])).toEqual(
      Array.from({ length: 10 }, (_, i) => [(i + 1) * 10, "matched"]),
    );
    expect(report.checkpoints[0]).toEqual({
      size: 10,
      origin: ORIGIN,
      status: "matched",
      source: join(`${path}.checkpoints`, checkpointFileName(10)),
    });
  });

  it("reports one byte modified as tampered between the last matching checkpoint and the first that fails", async () => {
    const copy = [...log];
    copy[36] = (log[36] as string).replace('"alice"', '"alicf"');
    await publish(copy, every10());
    const report = await publicOnly();
    expect(summary(report)).toEqual([["tampered", 31, 40]]);
    expect(report.findings[0]?.detail).toMatch(
      /^a record between sequences 31 and 40 differs from what checkpoint 40 signed; checkpoints 50, 60, 70, 80, 90, 100, which cover these records too, do not match either$/,
    );
    expect(report.findings[0]).toMatchObject({ file: path, line: 40, count: 10 });
    expect(report.sealedThrough).toBe(30);
    expect(report.checkpoints.filter((c) => c.status === "tampered").map((c) => c.size)).toEqual([
      40, 50, 60, 70, 80, 90, 100,
    ]);
  });

  it("with the HMAC key too, reports both the record and the checkpoint, one finding per checkpoint", async () => {
    const copy = [...log];
    copy[36] = (log[36] as string).replace('"alice"', '"alicf"');
    await publish(copy, every10());
    const report = await publicOnly({ keyring: new Map([[key.id, key.secret]]) });
    expect(summary(report)).toEqual([
      ["tampered", 31, 40],
      ["modified", 37],
    ]);
    expect(report.findings[0]?.detail).toContain("the record checks report sequence 37 (modified)");
    expect(report.recordSignaturesChecked).toBe(true);
  });

  it("finds the tail cut off when the newest checkpoint is there", async () => {
    await publish(log.slice(0, 95), every10());
    const report = await publicOnly();
    expect(summary(report)).toEqual([["truncated", 96, 100]]);
    expect(report.findings[0]?.detail).toBe(
      "records 96–100, covered by signed checkpoint 100, are missing (the log was cut off)",
    );
    expect(report.checkpoints.at(-1)).toMatchObject({ size: 100, status: "beyond_log" });
    expect(report.sealedThrough).toBe(90);
  });

  it("cannot see the newest records deleted with their checkpoint, until given the auditor's copy", async () => {
    const auditorCopy = join(dir, "latest.note");
    await writeFile(auditorCopy, note(100));
    await publish(log.slice(0, 90), every10(90));
    // The HMAC chain alone, and the checkpoints left beside the log, show an intact log of 90 records.
    expect(await verifyPaths({ paths: [path], keyring: new Map([[key.id, key.secret]]) })).toMatchObject({
      intact: true,
      records: 90,
    });
    expect(await publicOnly()).toMatchObject({ intact: true, sealedThrough: 90, notices: [] });
    const report = await publicOnly({
      checkpoints: [{ source: auditorCopy, note: await readFile(auditorCopy, "utf8") }],
    });
    expect(summary(report)).toEqual([["truncated", 91, 100]]);
    expect(report.checkpoints.at(-1)).toEqual({
      size: 100,
      origin: ORIGIN,
      status: "beyond_log",
      source: auditorCopy,
    });
  });

  it("counts the same checkpoint found twice once", async () => {
    await publish(log, every10());
    const report = await publicOnly({ checkpoints: [{ source: "latest.note", note: note(100) }] });
    expect(report.intact).toBe(true);
    expect(report.checkpoints).toHaveLength(10);
  });

  it("reports records after the newest checkpoint as a notice with the HMAC key, and as a problem with requireSealed", async () => {
    await publish(log, every10(80));
    const hmac = new Map([[key.id, key.secret]]);
    const report = await publicOnly({ keyring: hmac });
    expect(report).toMatchObject({ intact: true, findings: [], sealedThrough: 80 });
    expect(report.notices).toEqual([
      expect.objectContaining({ kind: "unsealed_tail", sequence: 81, toSequence: 100, count: 20, line: 81 }),
    ]);
    const sealed = await publicOnly({ keyring: hmac, requireSealed: true });
    expect(sealed.intact).toBe(false);
    expect(summary(sealed)).toEqual([["unsealed_tail", 81, 100]]);
    expect(sealed.notices).toEqual([]);
  });

  it("reports records no checkpoint covers as a problem without an HMAC key: nothing checked their content", async () => {
    const copy = [...log];
    copy[89] = (log[89] as string).replace('"alice"', '"alicf"');
    await publish(copy, every10(80));
    const report = await publicOnly();
    expect(report).toMatchObject({ intact: false, sealedThrough: 80, notices: [] });
    expect(summary(report)).toEqual([["unsealed_tail", 81, 100]]);
    expect(report.findings[0]?.detail).toBe(
      "20 records after the newest checkpoint (size 80) are not yet covered by a checkpoint, and without an " +
        "HMAC key their content is not checked at all",
    );
  });

  it("a forged checkpoint (root changed, signature kept) is bad and not used", async () => {
    const genuine = note(100);
    const forgedRoot = rootOf(log.slice(0, 99).concat(log[98] as string), 100).toString("base64");
    const forged = genuine.replace(rootOf(log, 100).toString("base64"), forgedRoot);
    expect(forged).not.toBe(genuine);
    await publish(log, [...every10(90), forged]);
    const report = await publicOnly();
    // Records 91–100 are covered by no usable checkpoint, and without an HMAC key that is a problem too.
    expect(summary(report)).toEqual([
      ["unsealed_tail", 91, 100],
      ["bad_checkpoint", 100],
    ]);
    expect(report.findings[1]?.detail).toMatch(/does not verify: the checkpoint was forged or altered/);
    expect(report.checkpoints.at(-1)).toMatchObject({ size: 100, status: "bad" });
    expect(report.notices).toEqual([]);
  });

  it("a checkpoint signed by another key under the log's key name is unverifiable and not used", async () => {
    const impostor = generateNoteKey(ORIGIN).signer;
    const copy = log.slice(0, 90);
    await publish(copy, [...every10(90), note(100, { by: [impostor], root: rootOf(log, 90) })]);
    const report = await publicOnly();
    expect(summary(report)).toEqual([["unverifiable_checkpoint", 100]]);
    expect(report.findings[0]?.detail).toContain(formatKeyId(impostor));
    expect(report.checkpoints.at(-1)).toMatchObject({ size: 100, status: "unverifiable" });
    // Not used: it would have said the log was cut off at 90.
    expect(report.sealedThrough).toBe(90);
  });

  it("a validly signed checkpoint of another origin, or a malformed note, is bad", async () => {
    await publish(log, [...every10(), note(50, { origin: "vigil.test/other" })]);
    await writeFile(join(`${path}.checkpoints`, checkpointFileName(7)), "not a note\n");
    const report = await publicOnly();
    expect(summary(report)).toEqual([
      ["bad_checkpoint", null],
      ["bad_checkpoint", 50],
    ]);
    expect(report.findings[1]?.detail).toMatch(
      /origin "vigil.test\/other", but this log's checkpoints are for "vigil.test\/log"/,
    );
    expect(report.checkpoints[0]).toMatchObject({ size: null, origin: null, status: "bad" });
  });

  it("two validly signed roots for one size are a split view", async () => {
    const other = join(dir, "other.note");
    const split = note(50, { root: rootOf(log.slice(0, 49).concat(log[48] as string), 50) });
    const report = await (async () => {
      await publish(log, every10());
      return publicOnly({ checkpoints: [{ source: other, note: split }] });
    })();
    expect(summary(report)).toEqual([["inconsistent_checkpoints", 50]]);
    expect(report.findings[0]?.detail).toContain(other);
    expect(report.findings[0]?.detail).toContain(checkpointFileName(50));
    expect(report.checkpoints.filter((c) => c.size === 50)).toEqual([
      expect.objectContaining({
        source: join(`${path}.checkpoints`, checkpointFileName(50)),
        status: "matched",
      }),
      expect.objectContaining({ source: other, status: "tampered" }),
    ]);
    expect(report.sealedThrough).toBe(100);
  });

  it("accepts a rotated checkpoint key when both verifier keys are given", async () => {
    const next = generateNoteKey(ORIGIN).signer;
    await publish(log, [
      ...[10, 20, 30, 40, 50].map((n) => note(n)),
      note(60, { by: [signer, next] }),
      ...[70, 80, 90, 100].map((n) => note(n, { by: [next] })),
    ]);
    const both = await publicOnly({ publicKeys: [signer.verifier, next.verifier] });
    expect(both).toMatchObject({ intact: true, sealedThrough: 100 });
    const newOnly = await publicOnly({ publicKeys: [next.verifier] });
    expect(summary(newOnly)).toEqual([10, 20, 30, 40, 50].map((n) => ["unverifiable_checkpoint", n]));
    expect(newOnly.sealedThrough).toBe(100);
  });

  it("still checks the structure without an HMAC key: a downgrade, deletion, duplicate, reorder, broken link", async () => {
    const stripped = [...log];
    stripped[4] = JSON.stringify({ event: JSON.parse(log[4] as string).event });
    await publish(stripped, every10());
    expect(summary(await publicOnly())).toEqual([
      ["tampered", 1, 10],
      ["malformed", 5],
    ]);

    await publish(
      log.filter((_, i) => i !== 22),
      every10(),
    );
    const deleted = await publicOnly();
    expect(summary(deleted)).toEqual([
      ["tampered", 21, 30],
      ["missing", 23, 23],
    ]);
    expect(deleted.findings[0]?.detail).toContain("sequence 23 is missing or unreadable");

    const moved = [...log];
    moved.splice(8, 0, log[7] as string);
    [moved[30], moved[31]] = [moved[31] as string, moved[30] as string];
    await publish(moved, every10());
    expect(summary(await publicOnly())).toEqual([
      ["duplicated", 8],
      ["reordered", 30],
    ]);

    const relinked = [...log];
    relinked[19] = (log[19] as string).replace(
      JSON.parse(log[19] as string).integrity.previous_signature,
      GENESIS_SIGNATURE,
    );
    await publish(relinked, every10());
    expect(summary(await publicOnly())).toEqual([
      ["tampered", 11, 20],
      ["modified", 20],
    ]);
  });

  it("without an HMAC key or any checkpoint, says nothing is covered: not intact", async () => {
    await publish(log, []);
    const report = await publicOnly();
    expect(report).toMatchObject({ intact: false, sealedThrough: 0, checkpoints: [], notices: [] });
    expect(summary(report)).toEqual([["unsealed_tail", 1, 100]]);
    expect(report.findings[0]?.detail).toMatch(/after any signed checkpoint .* not checked at all$/);
  });

  it("compares nothing with --partial when the log does not start at sequence 1, but still sees a cut-off", async () => {
    await publish(log.slice(40, 95), every10());
    const report = await publicOnly({ partial: true });
    // No checkpoint can be compared and there is no HMAC key: nothing checked records 41–95.
    expect(summary(report)).toEqual([
      ["unsealed_tail", 41, 95],
      ["truncated", 96, 100],
    ]);
    expect(report.findings[0]?.detail).toBe(
      "55 records not covered by a checkpoint: the log does not start at sequence 1 (--partial), so no " +
        "checkpoint's root can be recomputed, and without an HMAC key their content is not checked at all",
    );
    expect(report.checkpoints.map((c) => c.status)).toEqual([
      ...Array.from({ length: 9 }, () => "unchecked"),
      "beyond_log",
    ]);
    // With the HMAC key the signatures cover the records, and the log is intact up to the cut-off.
    const hmac = await publicOnly({ partial: true, keyring: new Map([[key.id, key.secret]]) });
    expect(summary(hmac)).toEqual([["truncated", 96, 100]]);
  });

  it("leaves checkpoints alone when only HMAC keys are at hand", async () => {
    await publish(log, [note(50, { root: rootOf(log, 40) })]);
    const report = await verifyPaths({ paths: [path], keyring: new Map([[key.id, key.secret]]) });
    expect(report).toMatchObject({ intact: true, checkpoints: [], sealedThrough: 0, notices: [] });
  });

  it("trusts only the caller's keys when a public key or checkpoint is given, not the data directory's", async () => {
    // The attacker controls the data directory: record 37 altered, the whole chain re-sealed with their own
    // HMAC key, and checkpoints signed with a checkpoint key they made, all of it left in the directory.
    const attackerKey = newKey();
    const sealer = new Sealer(attackerKey, EMPTY_CHAIN);
    const altered = Array.from(
      { length: 100 },
      (_, i) => sealer.seal(i === 36 ? event(37).replace('"alice"', '"mallory"') : event(i + 1)).line,
    );
    const forger = generateNoteKey(ORIGIN).signer;
    const dataDir = join(dir, "data");
    await mkdir(join(dataDir, "journal"), { recursive: true });
    await mkdir(join(dataDir, "checkpoints"));
    await mkdir(join(dataDir, "keys", "checkpoint"), { recursive: true });
    await writeFile(join(dataDir, "journal", "00000000000000000001.log"), ndjson(altered));
    await writeFile(
      join(dataDir, "keys", `${attackerKey.id}.key`),
      `${attackerKey.secret.export().toString("utf8")}\n`,
    );
    await writeFile(join(dataDir, "keys", "checkpoint", "forged.vkey"), `${forger.verifier.text}\n`);
    await writeFile(join(dataDir, "origin"), `${ORIGIN}\n`);
    await writeFile(
      join(dataDir, "checkpoints", checkpointFileName(100)),
      note(100, { by: [forger], root: rootOf(altered, 100) }),
    );
    // The operator checking their own node trusts its keys/: the forgery holds together.
    expect(await verifyPaths({ paths: [dataDir] })).toMatchObject({ intact: true, sealedThrough: 100 });

    // An auditor with the genuine public key (as a path, or as --data-dir) is not fooled.
    for (const options of [{ paths: [dataDir] }, { paths: [join(dataDir, "journal")], dataDir }]) {
      const report = await verifyPaths({ ...options, publicKeys: [signer.verifier] });
      expect(report).toMatchObject({ intact: false, recordSignaturesChecked: false, sealedThrough: 0 });
      expect(summary(report)).toEqual([
        ["unsealed_tail", 1, 100],
        ["unverifiable_checkpoint", 100],
      ]);
    }
    // Nor is one who brings only the genuine checkpoint: the directory's keys do not vouch for anything.
    const genuine = await verifyPaths({
      paths: [dataDir],
      checkpoints: [{ source: "latest.note", note: note(100) }],
    });
    expect(genuine.intact).toBe(false);
    expect(genuine.recordSignaturesChecked).toBe(false);
    expect(genuine.sealedThrough).toBe(0);
  });

  it("takes a data directory's checkpoints, verifier keys and origin", async () => {
    const dataDir = join(dir, "data");
    await mkdir(join(dataDir, "journal"), { recursive: true });
    await mkdir(join(dataDir, "checkpoints"));
    await mkdir(join(dataDir, "keys", "checkpoint"), { recursive: true });
    await writeFile(join(dataDir, "journal", "00000000000000000001.log"), ndjson(log));
    await writeFile(join(dataDir, "keys", "checkpoint", "log.vkey"), `${signer.verifier.text}\n`);
    await writeFile(join(dataDir, "origin"), `${ORIGIN}\n`);
    // Most checkpoints claim another origin: the one the data directory recorded still decides.
    for (const n of [10, 20, 30]) {
      await writeFile(
        join(dataDir, "checkpoints", checkpointFileName(n)),
        note(n, { origin: "vigil.test/other" }),
      );
    }
    await writeFile(join(dataDir, "checkpoints", checkpointFileName(100)), note(100));
    const report = await verifyPaths({ paths: [dataDir], keyring: new Map([[key.id, key.secret]]) });
    expect(summary(report)).toEqual([
      ["bad_checkpoint", 10],
      ["bad_checkpoint", 20],
      ["bad_checkpoint", 30],
    ]);
    expect(report.sealedThrough).toBe(100);

    // A log outside the data directory, checked with the data directory's verifier keys (--data-dir).
    await publish(log, [note(100)]);
    const hmac = new Map([[key.id, key.secret]]);
    expect(await verifyPaths({ paths: [path], keyring: hmac, dataDir })).toMatchObject({
      intact: true,
      sealedThrough: 100,
    });
    expect(await verifyPaths({ paths: [path], keyring: hmac })).toMatchObject({
      checkpoints: [],
      sealedThrough: 0,
    });
  });
});
