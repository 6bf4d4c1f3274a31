/**
 * Crash safety: SIGKILL the server while several clients ingest, restart it, and check that every acknowledged
 * event is present exactly once, in the journal and in the file destination, and that both verify intact.
 * The kill is triggered by a count of acknowledged events, not by a timer.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseRecord } from "../src/integrity/chain.ts";
import { openCheckpoint } from "../src/integrity/checkpoint.ts";
import { recordLeafHash } from "../src/integrity/leaf.ts";
import { rootFromLeafHashes } from "../src/integrity/merkle.ts";
import { readVerifierKeys } from "../src/integrity/note.ts";
import { event, ndjson, post, runVigil, startVigil, waitForDelivery } from "./support/vigil-process.ts";

const CLIENTS = 4;
const BATCH = 25;
const KILL_AFTER_ACKED = 4000;

function eventIds(text: string): string[] {
  return text
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => (JSON.parse(l) as { event: { event_id: string } }).event.event_id);
}

/** Polls the public endpoint until the newest checkpoint covers `size` records. */
async function checkpointCovering(url: string, size: number): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`${url}/v1/checkpoints/latest`);
    const note = res.status === 200 ? await res.text() : "";
    if (Number(note.split("\n")[1]) === size) return note;
    if (Date.now() > deadline) throw new Error(`no checkpoint of size ${size}; newest: ${note}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("crash safety", () => {
  it("loses no acknowledged event and never duplicates one", async () => {
    const vigil = await startVigil();
    const acked = new Map<string, number>();
    let killed = false;
    let killing: Promise<void> | undefined;

    const client = async (c: number) => {
      for (let b = 0; !killed; b++) {
        const batch = Array.from({ length: BATCH }, (_, i) => event(i, { event_id: `evt_c${c}_b${b}_${i}` }));
        try {
          const res = await post(vigil, ndjson(batch));
          if (res.status !== 200) continue;
          for (const e of (res.body as { events: { event_id: string; sequence_number: number }[] }).events) {
            acked.set(e.event_id, e.sequence_number);
          }
        } catch {
          return; // the server is gone: this request was never acknowledged
        }
        if (acked.size >= KILL_AFTER_ACKED && !killing) {
          killed = true;
          killing = vigil.kill();
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
    await killing;
    expect(acked.size).toBeGreaterThanOrEqual(KILL_AFTER_ACKED);

    const again = await startVigil({ dataDir: vigil.dataDir });
    try {
      await waitForDelivery(again);
      const segments = await runVigil([
        "verify",
        "--json",
        "--data-dir",
        vigil.dataDir,
        join(vigil.dataDir, "journal"),
      ]);
      expect(segments.code).toBe(0);

      const fileText = await readFile(join(vigil.dataDir, "audit.log"), "utf8");
      const ids = eventIds(fileText);
      const counts = new Map<string, number>();
      for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
      const duplicated = [...counts].filter(([, n]) => n > 1);
      expect(duplicated).toEqual([]);
      const missing = [...acked.keys()].filter((id) => !counts.has(id));
      expect(missing).toEqual([]);
      // Sequence numbers acknowledged before the crash still name the same events.
      const bySeq = new Map(
        fileText
          .split("\n")
          .filter(Boolean)
          .map((l) => {
            const r = JSON.parse(l) as {
              event: { event_id: string };
              integrity: { sequence_number: number };
            };
            return [r.integrity.sequence_number, r.event.event_id] as const;
          }),
      );
      for (const [id, seq] of acked) expect(bySeq.get(seq)).toBe(id);

      const file = await runVigil(["verify", "--data-dir", vigil.dataDir, join(vigil.dataDir, "audit.log")]);
      expect(file.code).toBe(0);

      // The Merkle tree survived the crash too: the checkpoint signed after restart covers exactly these records.
      const lines = fileText.split("\n").filter(Boolean);
      const note = await checkpointCovering(again.url, lines.length);
      const vkeys = join(vigil.dataDir, "keys/checkpoint");
      const vkey = (await readdir(vkeys)).find((n) => n.endsWith(".vkey")) as string;
      const { checkpoint } = openCheckpoint(note, await readVerifierKeys(join(vkeys, vkey)));
      const leaves = lines.map((l) => {
        const parsed = parseRecord(Buffer.from(l));
        if (!parsed.ok) throw new Error(parsed.reason);
        return recordLeafHash(parsed.record);
      });
      expect(checkpoint.rootHash.equals(rootFromLeafHashes(leaves))).toBe(true);
    } finally {
      await again.stop();
    }
  });
});
