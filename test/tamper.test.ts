/**
 * The tamper suite on a log written by the real server: each change to a copy of its file destination is found
 * by `vigil verify` with the right sequence number and kind, and exit code 1.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { canonicalize } from "../src/integrity/canonical.ts";
import { computeSignature, formatRecord, GENESIS_SIGNATURE } from "../src/integrity/chain.ts";
import { keyFromSecret } from "../src/integrity/keys.ts";
import {
  event,
  ndjson,
  post,
  runVigil,
  startVigil,
  tempDir,
  waitForDelivery,
} from "./support/vigil-process.ts";

interface Report {
  intact: boolean;
  records: number;
  findings: { kind: string; sequence: number; toSequence?: number; detail: string }[];
}

let dataDir: string;
let lines: string[];

beforeAll(async () => {
  const vigil = await startVigil();
  dataDir = vigil.dataDir;
  for (let b = 0; b < 5; b++) {
    const res = await post(vigil, ndjson(Array.from({ length: 10 }, (_, i) => event(b * 10 + i))));
    expect(res.status).toBe(200);
  }
  await waitForDelivery(vigil);
  expect(await vigil.stop()).toBe(0);
  lines = (await readFile(join(dataDir, "audit.log"), "utf8")).trimEnd().split("\n");
  expect(lines).toHaveLength(50);
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
