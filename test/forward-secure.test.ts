/**
 * Forward-secure sealing through the real server: a chain created at first start with its seed set aside for
 * auditors, epochs advancing across restarts and a crash, the seed verifying every epoch while the server's own
 * state verifies only the current one, and the refusals (a journal older than the key, a plain-key config).
 */
import { cp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { epochKeyId, readChainFile, seedFileOf, stateFileOf } from "../src/integrity/forward-secure.ts";
import { keysDir, loadKeyring } from "../src/integrity/keys.ts";
import { verifyPaths } from "../src/integrity/verify.ts";
import { event, get, ndjson, post, runVigil, startVigil, tempDir } from "./support/vigil-process.ts";

async function config(dir: string, signing: string[]): Promise<string> {
  const path = join(dir, "vigil.yaml");
  await writeFile(path, ["audit:", "  integrity:", "    signing:", ...signing, ""].join("\n"));
  return path;
}

const FORWARD_SECURE = ["      forward_secure:", "        epoch_records: 5"];

async function send(vigil: Parameters<typeof post>[0], from: number, count: number): Promise<void> {
  const events = Array.from({ length: count }, (_, i) => event(from + i));
  expect((await post(vigil, ndjson(events))).status).toBe(200);
}

async function chainKeyId(vigil: Parameters<typeof get>[0]): Promise<string> {
  return ((await (await get(vigil, "/v1/status")).json()) as { chain: { key_id: string } }).chain.key_id;
}

describe("forward-secure sealing", () => {
  it("creates a chain, advances across restarts, and only the seed verifies the earlier epochs", async () => {
    const dir = await tempDir();
    const dataDir = join(dir, "data");
    const args = ["--config", await config(dir, FORWARD_SECURE)];

    let vigil = await startVigil({ dataDir, args, cwd: dir });
    const created = /created forward-secure chain (fs-[0-9a-f]{16}) \(the key evolves every 5 records\)/.exec(
      vigil.stderr(),
    );
    const chain = created?.[1] as string;
    expect(vigil.stderr()).toContain(
      `Its seed is ${seedFileOf(keysDir(dataDir), chain)} (mode 0600): move this seed off this machine; it is ` +
        "what auditors verify with; the server never needs it again",
    );
    await send(vigil, 1, 12); // epochs 0, 1 and 2 (11-12)
    expect(await chainKeyId(vigil)).toBe(epochKeyId(chain, 2));
    expect(await vigil.stop()).toBe(0);
    const stateFile = stateFileOf(keysDir(dataDir), chain);
    expect((await readChainFile(stateFile)).epoch).toBe(2);

    // The operator moves the seed off the machine, as told.
    const seed = join(dir, "auditor.seed");
    await rename(seedFileOf(keysDir(dataDir), chain), seed);

    // Restart mid-epoch 2, then into epoch 3 (16).
    vigil = await startVigil({ dataDir, args, cwd: dir });
    expect(vigil.stderr()).not.toContain("still in");
    await send(vigil, 13, 4);
    expect(await chainKeyId(vigil)).toBe(epochKeyId(chain, 3));
    expect(await vigil.stop()).toBe(0);
    const journalAt16 = join(dir, "journal-at-16");
    await cp(join(dataDir, "journal"), journalAt16, { recursive: true });

    // Restart mid-epoch 3, then into epoch 4 (21).
    vigil = await startVigil({ dataDir, args, cwd: dir });
    await send(vigil, 17, 5);
    expect(await vigil.stop()).toBe(0);
    expect((await readChainFile(stateFile)).epoch).toBe(4);

    const journal = join(dataDir, "journal");
    const withSeed = await verifyPaths({
      paths: [journal],
      keyring: await loadKeyring({ keyFiles: [seed] }),
    });
    expect(withSeed).toMatchObject({ intact: true, records: 21, findings: [] });
    expect(withSeed.keyIds).toEqual([0, 1, 2, 3, 4].map((e) => epochKeyId(chain, e)));

    // The data directory now holds only the epoch 4 key: records of epochs 0-3 cannot be checked with it.
    const withState = await verifyPaths({ paths: [journal], keyring: await loadKeyring({ dataDir }) });
    expect(withState.intact).toBe(false);
    expect(withState.findings.map((f) => [f.kind, f.sequence])).toEqual([
      ["unknown_key", 1],
      ["unknown_key", 6],
      ["unknown_key", 11],
      ["unknown_key", 16],
    ]);

    const cli = await runVigil(["verify", journal, "--key-file", seed]);
    expect(cli.stdout).toContain("intact: 21 records");
    expect(cli.code).toBe(0);

    // A journal older than the key (restored from a backup: it ends at 16, the key is at epoch 4 from 21).
    await rm(journal, { recursive: true });
    await cp(journalAt16, journal, { recursive: true });
    await expect(startVigil({ dataDir, args, cwd: dir })).rejects.toThrow(
      /holds the key of epoch 4 \(from sequence 21\), but the chain continues at sequence 17, in epoch 3, whose key was erased/,
    );

    // A server configured without forward_secure does not silently replace the active chain.
    await expect(
      startVigil({
        dataDir,
        cwd: dir,
        args: ["--config", await config(dir, ["      algorithm: HMAC-SHA256"])],
      }),
    ).rejects.toThrow(`names forward-secure chain ${chain}: set integrity.signing.forward_secure`);
    await rm(dir, { recursive: true, force: true });
  });

  it("on a quiet log, leaves an epoch once its last record is durable, and restarts on the boundary", async () => {
    const dir = await tempDir();
    const dataDir = join(dir, "data");
    const args = ["--config", await config(dir, FORWARD_SECURE)];
    let vigil = await startVigil({ dataDir, args, cwd: dir });
    const chain = /created forward-secure chain (fs-[0-9a-f]{16})/.exec(vigil.stderr())?.[1] as string;
    const stateFile = stateFileOf(keysDir(dataDir), chain);
    await send(vigil, 1, 5); // exactly epoch 0, then nothing
    expect(await chainKeyId(vigil)).toBe(epochKeyId(chain, 1));
    // The state file is written just after the acknowledgement (same durability, a later callback).
    const deadline = Date.now() + 5000;
    while ((await readChainFile(stateFile)).epoch === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const seed = await readChainFile(seedFileOf(keysDir(dataDir), chain));
    const state = await readChainFile(stateFile);
    expect(state.epoch).toBe(1);
    expect(state.key.equals(seed.key)).toBe(false);
    expect(await vigil.stop()).toBe(0);

    vigil = await startVigil({ dataDir, args, cwd: dir });
    expect(await chainKeyId(vigil)).toBe(epochKeyId(chain, 1));
    await send(vigil, 6, 2);
    expect(await vigil.stop()).toBe(0);
    const report = await verifyPaths({
      paths: [join(dataDir, "journal")],
      keyring: await loadKeyring({ keyFiles: [seedFileOf(keysDir(dataDir), chain)] }),
    });
    expect(report).toMatchObject({ intact: true, records: 7, findings: [] });
    expect(report.keyIds).toEqual([0, 1].map((e) => epochKeyId(chain, e)));
    await rm(dir, { recursive: true, force: true });
  });

  it("restarts after SIGKILL under load, wherever in an epoch it fell, and the seed verifies the whole log", async () => {
    const dir = await tempDir();
    const dataDir = join(dir, "data");
    const args = ["--config", await config(dir, ["      forward_secure:", "        epoch_records: 7"])];
    let vigil = await startVigil({ dataDir, args, cwd: dir });
    const chain = /created forward-secure chain (fs-[0-9a-f]{16})/.exec(vigil.stderr())?.[1] as string;
    let acked = 0;
    let next = 1;
    const client = async () => {
      for (;;) {
        const from = next;
        next += 3;
        const r = await post(vigil, ndjson([event(from), event(from + 1), event(from + 2)])).catch(
          () => undefined,
        );
        if (r?.status !== 200) return;
        acked += 3;
      }
    };
    const clients = [client(), client(), client(), client()];
    while (acked < 600) await new Promise((r) => setTimeout(r, 5));
    await vigil.kill();
    await Promise.all(clients);

    vigil = await startVigil({ dataDir, args, cwd: dir });
    await send(vigil, 100_000, 10);
    expect(await vigil.stop()).toBe(0);
    const seed = seedFileOf(keysDir(dataDir), chain);
    const report = await verifyPaths({
      paths: [join(dataDir, "journal")],
      keyring: await loadKeyring({ keyFiles: [seed] }),
    });
    expect(report.findings).toEqual([]);
    expect(report.intact).toBe(true);
    expect(report.records).toBeGreaterThanOrEqual(acked + 10);
    const state = await readChainFile(stateFileOf(keysDir(dataDir), chain));
    // The epoch of the next record: a log ending on a boundary has already left the full epoch.
    expect(state.epoch).toBe(Math.floor(report.records / 7));
    expect(await readFile(seed, "utf8")).toContain("vigil forward-secure seed v1");
    await rm(dir, { recursive: true, force: true });
  });
});
