/**
 * Signed Merkle checkpoints through the real server: served without a token in the C2SP format, published beside
 * the file destination, consistent with each other, and checkable with only the public key.
 */
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openCheckpoint } from "../src/integrity/checkpoint.ts";
import { verifyConsistency } from "../src/integrity/merkle.ts";
import { readVerifierKeys } from "../src/integrity/note.ts";
import { event, ndjson, post, startVigil, tempDir, type VigilProcess } from "./support/vigil-process.ts";

let vigil: VigilProcess;
/** The server beforeAll starts: `vigil` is pointed at other servers by some tests, this one must still stop. */
let shared: VigilProcess | undefined;
let origin: string;

async function latest(minSize: number): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`${vigil.url}/v1/checkpoints/latest`);
    if (res.status === 200) {
      const note = await res.text();
      if (Number(note.split("\n")[1]) >= minSize) return note;
    }
    if (Date.now() > deadline) throw new Error(`no checkpoint of size ${minSize} yet`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  const dir = await tempDir();
  const config = join(dir, "vigil.yaml");
  await writeFile(
    config,
    [
      "audit:",
      "  integrity:",
      "    checkpoints:",
      "      idle_seconds: 0.05",
      "      origin: audit.example/test-log",
      "",
    ].join("\n"),
  );
  shared = await startVigil({ args: ["--config", config] });
  vigil = shared;
  origin = "audit.example/test-log";
});

afterAll(async () => {
  await shared?.stop();
  await vigil?.stop();
});

describe("checkpoints through the server", () => {
  it("has none before the first record, and says so", async () => {
    const res = await fetch(`${vigil.url}/v1/checkpoints/latest`);
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
  });

  it("serves the newest checkpoint without a token, in the C2SP format, signed by the log's key", async () => {
    expect((await post(vigil, ndjson([event(1), event(2), event(3)]))).status).toBe(200);
    const note = await latest(3);
    expect(note).toMatch(
      /^audit\.example\/test-log\n3\n[A-Za-z0-9+/]{43}=\n\n— audit\.example\/test-log [A-Za-z0-9+/=]+\n$/,
    );
    const verifiers = await readVerifierKeys(
      join(
        vigil.dataDir,
        "keys/checkpoint",
        (await readdir(join(vigil.dataDir, "keys/checkpoint"))).find((n) => n.endsWith(".vkey")) as string,
      ),
    );
    const opened = openCheckpoint(note, verifiers, { origin });
    expect(opened.checkpoint.size).toBe(3);
  });

  it("serves a checkpoint by size, lists them, and proves two consistent", async () => {
    expect((await post(vigil, ndjson([event(4), event(5)]))).status).toBe(200);
    const newer = await latest(5);
    const bySize = await fetch(`${vigil.url}/v1/checkpoints?size=5`);
    expect(bySize.headers.get("content-type")).toContain("text/plain");
    expect(await bySize.text()).toBe(newer);
    const list = (await (await fetch(`${vigil.url}/v1/checkpoints`)).json()) as {
      checkpoints: { size: number }[];
    };
    expect(list.checkpoints.map((c) => c.size)).toEqual([3, 5]);

    const res = await fetch(`${vigil.url}/v1/checkpoints/consistency?from=3&to=5`);
    expect(res.status).toBe(200);
    const proof = (await res.json()) as { old_checkpoint: string; new_checkpoint: string; hashes: string[] };
    const keyDir = join(vigil.dataDir, "keys/checkpoint");
    const vkey = (await readdir(keyDir)).find((n) => n.endsWith(".vkey")) as string;
    const verifiers = await readVerifierKeys(join(keyDir, vkey));
    const older = openCheckpoint(proof.old_checkpoint, verifiers, { origin }).checkpoint;
    const newest = openCheckpoint(proof.new_checkpoint, verifiers, { origin }).checkpoint;
    const hashes = proof.hashes.map((h) => Buffer.from(h, "base64"));
    expect(verifyConsistency(older.size, newest.size, older.rootHash, newest.rootHash, hashes)).toBe(true);
    expect(verifyConsistency(older.size, newest.size, newest.rootHash, older.rootHash, hashes)).toBe(false);
  });

  it("publishes every checkpoint beside the file destination", async () => {
    await latest(5);
    const dir = join(vigil.dataDir, "audit.log.checkpoints");
    const deadline = Date.now() + 30_000;
    while (!(await readdir(dir).catch(() => [] as string[])).includes("00000000000000000005.note")) {
      if (Date.now() > deadline) throw new Error("checkpoint 5 was not published");
      await new Promise((r) => setTimeout(r, 20));
    }
    const published = await readFile(join(dir, "00000000000000000005.note"), "utf8");
    expect(published).toBe(await (await fetch(`${vigil.url}/v1/checkpoints?size=5`)).text());
  });

  it("answers bad and unknown sizes clearly", async () => {
    const missing = await fetch(`${vigil.url}/v1/checkpoints?size=4`);
    expect(missing.status).toBe(404);
    const bad = await fetch(`${vigil.url}/v1/checkpoints/consistency?from=x&to=5`);
    expect(bad.status).toBe(400);
    const problem = (await bad.json()) as { errors: { field: string }[] };
    expect(problem.errors[0]?.field).toBe("from");
    expect((await fetch(`${vigil.url}/v1/checkpoints/consistency?from=5&to=3`)).status).toBe(400);
  });
});

describe("checkpoints across damage to the Merkle store", () => {
  async function serverWithData(): Promise<{ dataDir: string; config: string }> {
    const dir = await tempDir();
    const config = join(dir, "vigil.yaml");
    await writeFile(
      config,
      [
        "audit:",
        "  integrity:",
        "    checkpoints:",
        "      idle_seconds: 0.05",
        "      every_seconds: 0.01",
        "",
      ].join("\n"),
    );
    const first = await startVigil({ args: ["--config", config] });
    expect((await post(first, ndjson([event(1), event(2), event(3), event(4)]))).status).toBe(200);
    vigil = first;
    await latest(4);
    expect(await first.stop()).toBe(0);
    return { dataDir: first.dataDir, config };
  }

  async function status(
    v: VigilProcess,
  ): Promise<{ checkpoints: { state: string; size: number; error?: string } }> {
    const res = await fetch(`${v.url}/v1/status`, { headers: { authorization: `Bearer ${v.token}` } });
    return (await res.json()) as { checkpoints: { state: string; size: number; error?: string } };
  }

  it("rebuilds a lost tree from the journal and goes on signing consistent checkpoints", async () => {
    const { dataDir, config } = await serverWithData();
    await rm(join(dataDir, "merkle"), { recursive: true });
    vigil = await startVigil({ dataDir, args: ["--config", config] });
    expect((await post(vigil, ndjson([event(5), event(6)]))).status).toBe(200);
    await latest(6);
    expect((await status(vigil)).checkpoints.state).toBe("running");
    const proof = await fetch(`${vigil.url}/v1/checkpoints/consistency?from=4&to=6`);
    expect(proof.status).toBe(200);
    await vigil.stop();
  });

  it("keeps ingesting, with checkpoints halted and said so, when the tree disagrees with a signed checkpoint", async () => {
    const { dataDir, config } = await serverWithData();
    // Four records: level 2 holds the one perfect subtree, which is the root at size 4.
    const leaves = join(dataDir, "merkle", "level-02.bin");
    const bytes = await readFile(leaves);
    bytes[0] = (bytes[0] ?? 0) ^ 0xff;
    await writeFile(leaves, bytes);
    vigil = await startVigil({ dataDir, args: ["--config", config] });
    expect((await post(vigil, ndjson([event(7)]))).status).toBe(200);
    const s = await status(vigil);
    expect(s.checkpoints.state).toBe("halted");
    expect(s.checkpoints.error).toMatch(/does not match the signed checkpoint/);
    expect(vigil.stderr()).toMatch(/checkpoints HALTED/);
    await vigil.stop();
  });
});
