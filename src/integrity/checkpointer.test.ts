import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { JournalWriter } from "../journal/writer.ts";
import { canonicalize } from "./canonical.ts";
import { parseRecord, Sealer } from "./chain.ts";
import { openCheckpoint } from "./checkpoint.ts";
import { Checkpointer, type SignedCheckpoint } from "./checkpointer.ts";
import { keyFromSecret } from "./keys.ts";
import { recordLeafHash } from "./leaf.ts";
import { checkpointFileName, listCheckpointSizes } from "./log-layout.ts";
import { rootFromLeafHashes, verifyConsistency } from "./merkle.ts";
import { MerkleStore } from "./merkle-store.ts";
import { generateNoteKey } from "./note.ts";
import { consistencyProofJson } from "./proof.ts";

const hmac = keyFromSecret(Buffer.alloc(32, 4), "test");
const ORIGIN = "vigil.test/log";

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setImmediate(r));
}

async function setup(settings: { everyRecords?: number; everySeconds?: number; idleSeconds?: number } = {}) {
  const dataDir = await mkdtemp(join(tmpdir(), "vigil-checkpointer-"));
  const journal = join(dataDir, "journal");
  const { writer, recovery } = await JournalWriter.open({ dir: journal, segmentBytes: 1 << 20 });
  const sealer = new Sealer(hmac, recovery.head);
  const key = generateNoteKey(ORIGIN);
  const lines: string[] = [];
  const append = async (n: number) => {
    const batch = Array.from(
      { length: n },
      () => sealer.seal(canonicalize({ event_type: "a.b", n: lines.length })).line,
    );
    const first = lines.length + 1;
    lines.push(...batch);
    await writer.append(batch, first);
  };
  const open = async () =>
    Checkpointer.open({
      journalDir: journal,
      writer,
      store: await MerkleStore.open(join(dataDir, "merkle")),
      dir: join(dataDir, "checkpoints"),
      signer: key.signer,
      verifiers: [key.verifier],
      origin: ORIGIN,
      everyRecords: settings.everyRecords ?? 1000,
      everySeconds: settings.everySeconds ?? 3600,
      idleSeconds: settings.idleSeconds ?? 3600,
      log: () => {},
    });
  const expectedRoot = (size: number) =>
    rootFromLeafHashes(
      lines.slice(0, size).map((l) => {
        const p = parseRecord(Buffer.from(l));
        if (!p.ok) throw new Error(p.reason);
        return recordLeafHash(p.record);
      }),
    );
  return { dataDir, writer, key, append, open, expectedRoot };
}

describe("Checkpointer", () => {
  it("signs every N records a checkpoint of the journal's tree, each consistent with the one before", async () => {
    const t = await setup({ everyRecords: 10 });
    const cp = await t.open();
    const signed: SignedCheckpoint[] = [];
    cp.onCheckpoint((c) => signed.push(c));
    cp.start();
    // Each append becomes durable at once, so the checkpointer sees whole appends.
    await t.append(10);
    await until(() => cp.latest()?.size === 10);
    await t.append(12);
    await until(() => cp.latest()?.size === 22);
    await t.append(5);
    for (const s of signed) {
      const { checkpoint } = openCheckpoint(s.note, [t.key.verifier], { origin: ORIGIN });
      expect(checkpoint.size).toBe(s.size);
      expect(checkpoint.rootHash.equals(t.expectedRoot(s.size))).toBe(true);
    }
    expect(await listCheckpointSizes(join(t.dataDir, "checkpoints"))).toEqual(signed.map((s) => s.size));
    const first = signed[0] as SignedCheckpoint;
    const last = signed.at(-1) as SignedCheckpoint;
    const proof = await consistencyProofJson(t.dataDir, first.size, last.size, {
      verifiers: [t.key.verifier],
    });
    const hashes = proof.hashes.map((h) => Buffer.from(h, "base64"));
    expect(verifyConsistency(first.size, last.size, first.rootHash, last.rootHash, hashes)).toBe(true);
    expect(signed.map((c) => c.size)).toEqual([10, 22]);
    await cp.stop();
    // Stopping signs the records beyond the last checkpoint.
    expect(cp.latest()?.size).toBe(27);
    await cp.stop();
    await t.writer.close();
  });

  it("signs once the log has been idle, and not again while nothing changes", async () => {
    const t = await setup({ idleSeconds: 0.01 });
    const cp = await t.open();
    const signed: number[] = [];
    cp.onCheckpoint((c) => signed.push(c.size));
    cp.start();
    await t.append(3);
    await until(() => signed.length === 1);
    await t.append(2);
    await until(() => signed.length === 2);
    expect(signed).toEqual([3, 5]);
    await cp.stop();
    expect(signed).toEqual([3, 5]);
    await t.writer.close();
  });

  it("continues after a restart from the stored checkpoint", async () => {
    const t = await setup({ idleSeconds: 0.01 });
    let cp = await t.open();
    cp.start();
    await t.append(4);
    await until(() => cp.latest()?.size === 4);
    await cp.stop();
    cp = await t.open();
    expect(cp.latest()?.size).toBe(4);
    cp.start();
    await t.append(3);
    await until(() => cp.latest()?.size === 7);
    expect(cp.latest()?.rootHash.equals(t.expectedRoot(7))).toBe(true);
    expect(cp.state).toBe("running");
    await cp.stop();
    await t.writer.close();
  });

  it("halts instead of signing over a tree that disagrees with a signed checkpoint", async () => {
    const t = await setup({ idleSeconds: 0.01 });
    let cp = await t.open();
    cp.start();
    await t.append(4);
    await until(() => cp.latest()?.size === 4);
    await cp.stop();
    // Replace the stored checkpoint by one, validly signed, for a different tree of the same size.
    const other = (await import("./checkpoint.ts")).signCheckpoint(
      { origin: ORIGIN, size: 4, rootHash: Buffer.alloc(32, 7) },
      [t.key.signer],
    );
    await writeFile(join(t.dataDir, "checkpoints", checkpointFileName(4)), other);
    cp = await t.open();
    expect(cp.state).toBe("halted");
    expect(cp.error).toMatch(/does not match the signed checkpoint/);
    cp.start();
    await t.append(2);
    await cp.stop();
    expect(await listCheckpointSizes(join(t.dataDir, "checkpoints"))).toEqual([4]);
    await t.writer.close();
  });
});
