import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runInProcess } from "../../../test/support/run-in-process.ts";
import { readChainFile, seedFileOf, stateFileOf } from "../../integrity/forward-secure.ts";
import { keysDir } from "../../integrity/keys.ts";
import { keysCommand } from "./keys.ts";

let root: string;
let dataDir: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "vigil-keys-fs-"));
  dataDir = join(root, "data");
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const run = (args: string[]) => runInProcess(keysCommand(), args);
const mode = async (path: string) => (await stat(path)).mode & 0o777;
const active = () => readFile(join(keysDir(dataDir), "active"), "utf8").then((s) => s.trim());
const CHAIN_ID = /fs-[0-9a-f]{16}/;

async function createdChain(args: string[]): Promise<string> {
  const r = await run(["create", "hmac", "-d", dataDir, "--forward-secure", ...args]);
  expect(r.code).toBe(0);
  return CHAIN_ID.exec(r.out)?.[0] ?? "";
}

describe("vigil keys with --forward-secure", () => {
  it("creates a chain: seed and state 0600, the seed's move-it-away note, no secret printed", async () => {
    const r = await run(["create", "hmac", "-d", dataDir, "--forward-secure", "--epoch-records", "500"]);
    expect(r.code).toBe(0);
    const chain = CHAIN_ID.exec(r.out)?.[0] as string;
    const seedFile = seedFileOf(keysDir(dataDir), chain);
    const stateFile = stateFileOf(keysDir(dataDir), chain);
    expect(r.out).toContain(`created forward-secure HMAC chain ${chain} (the key evolves every 500 records)`);
    expect(r.out).toContain("inactive");
    expect(r.out).toContain(`seed: ${seedFile} (mode 0600). Move this seed off this machine`);
    expect(await mode(seedFile)).toBe(0o600);
    expect(await mode(stateFile)).toBe(0o600);
    const seed = await readChainFile(seedFile);
    expect(seed).toMatchObject({ chain, epochRecords: 500, epoch: 0 });

    const text = await run(["list", "-d", dataDir]);
    const json = await run(["list", "-d", dataDir, "--json"]);
    for (const output of [r, text, json])
      expect(output.out + output.err).not.toContain(seed.key.toString("hex"));
    expect(text.out).toContain(`${chain}          created`);
    expect(text.out).toContain(`forward-secure, epoch 0, 500 records each  ${stateFile}`);
    expect(text.out).toContain(`seed still here: ${seedFile} (move it off this machine)`);
    expect(JSON.parse(json.out).hmac).toEqual([
      {
        id: chain,
        active: false,
        file: stateFile,
        created: seed.created.toISOString(),
        forwardSecure: { epochRecords: 500, epoch: 0, seed: seedFile },
      },
    ]);

    // Once the seed is moved away, the listing shows the chain from its state alone.
    await rm(seedFile);
    const after = JSON.parse((await run(["list", "-d", dataDir, "--json"])).out).hmac;
    expect(after[0].forwardSecure).toEqual({ epochRecords: 500, epoch: 0 });
  });

  it("creates with the default epoch size, activates, and says the server needs forward_secure set", async () => {
    const r = await run(["create", "hmac", "-d", dataDir, "--forward-secure", "--activate"]);
    expect(r.code).toBe(0);
    const chain = CHAIN_ID.exec(r.out)?.[0] as string;
    expect(r.out).toContain("every 10000 records");
    expect(r.out).toContain("integrity.signing.forward_secure");
    expect(await active()).toBe(chain);
    const list = await run(["list", "-d", dataDir]);
    expect(list.out).toContain(`${chain}  active  created`);
    expect(list.err).toBe("");
  });

  it("rotates from a plain key to a chain, keeping the old key, and activates back by id", async () => {
    const plain = await run(["create", "hmac", "-d", dataDir, "--activate"]);
    const plainId = /hmac-[0-9a-f]{16}/.exec(plain.out)?.[0] as string;
    const r = await run(["rotate", "hmac", "-d", dataDir, "--forward-secure", "--epoch-records", "7"]);
    expect(r.code).toBe(0);
    const chain = CHAIN_ID.exec(r.out)?.[0] as string;
    expect(r.out).toContain(
      `forward-secure HMAC chain ${chain} (the key evolves every 7 records) is now active`,
    );
    expect(r.out).toContain(`${plainId} stays for verifying the records it sealed`);
    expect(r.out).toContain("Move this seed off this machine");
    expect(await active()).toBe(chain);

    expect((await run(["activate", "hmac", plainId, "-d", dataDir])).code).toBe(0);
    expect(await active()).toBe(plainId);
    expect((await run(["activate", "hmac", chain, "-d", dataDir])).code).toBe(0);
    expect(await active()).toBe(chain);
  });

  it("does not activate a chain whose state is gone (only its seed is here)", async () => {
    const chain = await createdChain([]);
    await rm(stateFileOf(keysDir(dataDir), chain));
    const list = JSON.parse((await run(["list", "-d", dataDir, "--json"])).out).hmac;
    expect(list[0].forwardSecure).toEqual({ epochRecords: 10000, seed: seedFileOf(keysDir(dataDir), chain) });
    const r = await run(["activate", "hmac", chain, "-d", dataDir]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`no HMAC key ${chain}`);
  });

  it("refuses flags that do not go together, and a bad epoch size, with exit code 2", async () => {
    const cases: [string[], string][] = [
      [["create", "checkpoint", "--forward-secure"], "--forward-secure applies to HMAC keys only"],
      [["create", "hmac", "--epoch-records", "5"], "--epoch-records applies with --forward-secure only"],
      [["rotate", "hmac", "--epoch-records", "5"], "--epoch-records applies with --forward-secure only"],
      [["create", "hmac", "--forward-secure", "--epoch-records", "0"], "must be a positive integer"],
      [["create", "hmac", "--forward-secure", "--epoch-records", "1e3"], "must be a positive integer"],
    ];
    await run(["create", "hmac", "-d", dataDir]);
    for (const [args, message] of cases) {
      const r = await run([...args, "-d", dataDir]);
      expect(r.code).toBe(2);
      expect(r.err).toContain(message);
    }
  });

  it("refuses to import a seed as if it were a plain secret", async () => {
    const chain = await createdChain([]);
    const r = await run([
      "import",
      "hmac",
      "-d",
      dataDir,
      "--from-file",
      seedFileOf(keysDir(dataDir), chain),
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("is a forward-secure seed or state, not an HMAC secret");
  });
});
