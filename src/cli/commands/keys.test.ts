import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runInProcess } from "../../../test/support/run-in-process.ts";
import { keyFromEnv, keysDir } from "../../integrity/keys.ts";
import { checkpointKeysDir } from "../../integrity/log-layout.ts";
import { readVerifierKeys } from "../../integrity/note.ts";
import { keysCommand } from "./keys.ts";

let root: string;
let dataDir: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "vigil-keys-cli-"));
  dataDir = join(root, "data");
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const run = (args: string[]) => runInProcess(keysCommand(), args);

const mode = async (path: string) => (await stat(path)).mode & 0o777;
const activeHmac = () => readFile(join(keysDir(dataDir), "active"), "utf8").then((s) => s.trim());
const activeCheckpoint = () =>
  readFile(join(checkpointKeysDir(dataDir), "active"), "utf8").then((s) => s.trim());

const HMAC_ID = /hmac-[0-9a-f]{16}/;

async function createdHmacId(args: string[] = []): Promise<string> {
  const r = await run(["create", "hmac", "-d", dataDir, ...args]);
  expect(r.code).toBe(0);
  return HMAC_ID.exec(r.out)?.[0] ?? "";
}

describe("vigil keys --help", () => {
  it("describes the subcommands and exits 0", async () => {
    const r = await run(["--help"]);
    expect(r.code).toBe(0);
    for (const sub of ["list", "create", "rotate", "activate", "export-public", "import"]) {
      expect(r.out).toContain(sub);
    }
  });

  it("describes each subcommand's options", async () => {
    expect((await run(["list", "--help"])).out).toContain("--json");
    expect((await run(["create", "--help"])).out).toContain("--activate");
    expect((await run(["export-public", "--help"])).out).toContain("--output");
    const r = await run(["import", "--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("--from-env");
    expect(r.out).toContain("--from-file");
  });
});

describe("vigil keys create and list", () => {
  it("creates an inactive HMAC key 0600 in a 0700 directory and never prints its secret", async () => {
    const r = await run(["create", "hmac", "-d", dataDir]);
    expect(r.code).toBe(0);
    const id = HMAC_ID.exec(r.out)?.[0] as string;
    expect(r.out).toContain("inactive");
    const file = join(keysDir(dataDir), `${id}.key`);
    const secret = (await readFile(file, "utf8")).trim();
    expect(await mode(file)).toBe(0o600);
    expect(await mode(keysDir(dataDir))).toBe(0o700);
    await expect(stat(join(keysDir(dataDir), "active"))).rejects.toMatchObject({ code: "ENOENT" });

    const text = await run(["list", "-d", dataDir]);
    const json = await run(["list", "-d", dataDir, "--json"]);
    for (const output of [r, text, json]) {
      expect(output.out + output.err).not.toContain(secret);
    }
    expect(text.out).toContain(id);
    expect(text.out).toContain("checkpoint keys (signed tree heads): none");
    expect(JSON.parse(json.out).hmac).toEqual([
      { id, active: false, file, created: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) },
    ]);
  });

  it("creates an active checkpoint key named after the origin, printing only its public key", async () => {
    const r = await run(["create", "checkpoint", "-d", dataDir, "--activate", "--origin", "example.com/log"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("restart");
    const [vkey] = await readVerifierKeys(
      join(checkpointKeysDir(dataDir), `${await activeCheckpoint()}.vkey`),
    );
    expect(vkey?.name).toBe("example.com/log");
    expect(r.out).toContain(vkey?.text);
    const signer = await readFile(
      join(checkpointKeysDir(dataDir), `${await activeCheckpoint()}.signer`),
      "utf8",
    );
    const seed = signer.trim().split("+").slice(4).join("+");

    const list = await run(["list", "-d", dataDir]);
    const json = await run(["list", "-d", dataDir, "--json"]);
    expect(list.out).toMatch(/example\.com\/log\+[0-9a-f]{8} {2}active/);
    expect(list.out).toContain(vkey?.text);
    expect(JSON.parse(json.out).checkpoint[0]).toMatchObject({ verifierKey: vkey?.text, active: true });
    for (const output of [r, list, json]) expect(output.out + output.err).not.toContain(seed);
  });

  it("warns when keys/active names a key that has no file", async () => {
    await mkdir(keysDir(dataDir), { recursive: true });
    await writeFile(join(keysDir(dataDir), "active"), "hmac-0123456789abcdef\n");
    const r = await run(["list", "-d", dataDir]);
    expect(r.code).toBe(0);
    expect(r.err).toContain("keys/active names hmac-0123456789abcdef");
  });

  it("exits 2 for a data directory that does not exist, an unknown kind, or --origin on an HMAC key", async () => {
    const missing = await run(["list", "-d", join(root, "nope")]);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain("does not exist");
    const kind = await run(["create", "rsa", "-d", dataDir]);
    expect(kind.code).toBe(2);
    expect(kind.err).toContain("hmac, checkpoint");
    expect((await run(["create", "hmac", "-d", dataDir, "--origin", "x"])).code).toBe(2);
    expect((await run(["rotate", "hmac", "-d", join(root, "nope")])).code).toBe(2);
  });
});

describe("vigil keys rotate and activate", () => {
  it("rotates the HMAC key, keeps the old one and says the server picks it up at its next start", async () => {
    const old = await createdHmacId(["--activate"]);
    const r = await run(["rotate", "hmac", "-d", dataDir]);
    expect(r.code).toBe(0);
    const now = await activeHmac();
    expect(now).not.toBe(old);
    expect(r.out).toContain(`HMAC key ${now} is now active`);
    expect(r.out).toContain(`${old} stays`);
    expect(r.out).toContain("vigil serve reads the active keys at start");
    expect(await mode(join(keysDir(dataDir), `${old}.key`))).toBe(0o600);
    const list = JSON.parse((await run(["list", "-d", dataDir, "--json"])).out);
    expect(list.hmac.map((k: { id: string; active: boolean }) => [k.id, k.active])).toEqual([
      [old, false],
      [now, true],
    ]);
  });

  it("rotates the checkpoint key and keeps the old one", async () => {
    await run(["create", "checkpoint", "-d", dataDir, "--activate"]);
    const old = await activeCheckpoint();
    const r = await run(["rotate", "checkpoint", "-d", dataDir]);
    expect(r.code).toBe(0);
    const now = await activeCheckpoint();
    expect(now).not.toBe(old);
    expect(r.out).toContain(`+${old} stays`);
    expect(r.out).toContain("export-public");
    expect(await mode(join(checkpointKeysDir(dataDir), `${old}.signer`))).toBe(0o600);
  });

  it("activates an existing key and refuses an unknown one", async () => {
    const first = await createdHmacId(["--activate"]);
    const second = await createdHmacId();
    expect((await run(["activate", "hmac", second, "-d", dataDir])).code).toBe(0);
    expect(await activeHmac()).toBe(second);
    const r = await run(["activate", "hmac", "hmac-ffffffffffffffff", "-d", dataDir]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("no HMAC key hmac-ffffffffffffffff");
    expect(await activeHmac()).toBe(second);
    expect(first).not.toBe(second);
  });
});

describe("vigil keys export-public", () => {
  it("writes every verifier key, active first, mode 0644, readable by readVerifierKeys", async () => {
    await run(["create", "checkpoint", "-d", dataDir, "--activate"]);
    const old = await activeCheckpoint();
    await run(["rotate", "checkpoint", "-d", dataDir]);
    const now = await activeCheckpoint();
    const file = join(root, "vigil-public.keys");
    // A restrictive umask must not make the auditor's file private.
    const umask = process.umask(0o077);
    const r = await run(["export-public", "-d", dataDir, "-o", file]).finally(() => process.umask(umask));
    expect(r.code).toBe(0);
    expect(r.out).toBe("");
    expect(r.err).toContain("wrote 2 verifier keys");
    expect(await mode(file)).toBe(0o644);
    const keys = await readVerifierKeys(file);
    expect(keys.map((k) => k.keyHash.toString(16).padStart(8, "0"))).toEqual([now, old]);
    const stdout = await run(["export-public", "-d", dataDir]);
    expect(stdout.out).toBe(await readFile(file, "utf8"));
  });

  it("exits 2 when there is no checkpoint key", async () => {
    await mkdir(dataDir);
    const r = await run(["export-public", "-d", dataDir]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("no checkpoint keys");
  });
});

describe("vigil keys import", () => {
  const VAR = "VIGIL_KEYS_TEST_SECRET";
  afterEach(() => {
    delete process.env[VAR];
  });

  it("stores the key of an environment variable under its id, inactive, without printing it", async () => {
    const secret = randomBytes(32).toString("hex");
    process.env[VAR] = secret;
    const r = await run(["import", "hmac", "--from-env", VAR, "-d", dataDir]);
    expect(r.code).toBe(0);
    const id = keyFromEnv(VAR).id;
    expect(r.out).toContain(`imported HMAC key ${id}`);
    expect(r.out + r.err).not.toContain(secret);
    const file = join(keysDir(dataDir), `${id}.key`);
    expect(await readFile(file, "utf8")).toBe(`${secret}\n`);
    expect(await mode(file)).toBe(0o600);
    await expect(stat(join(keysDir(dataDir), "active"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("stores the trimmed key of a file and activates it when asked", async () => {
    const secret = randomBytes(32).toString("base64");
    const source = join(root, "old.key");
    await writeFile(source, `  ${secret}\n\n`);
    const r = await run(["import", "hmac", "--from-file", source, "--activate", "-d", dataDir]);
    expect(r.code).toBe(0);
    process.env[VAR] = secret;
    expect(await activeHmac()).toBe(keyFromEnv(VAR).id);
    expect(r.out).toContain("active");
  });

  it("exits 2 without a source, with both, for a short secret, an unset variable or a checkpoint key", async () => {
    expect((await run(["import", "hmac", "-d", dataDir])).code).toBe(2);
    expect((await run(["import", "hmac", "--from-env", VAR, "--from-file", "x", "-d", dataDir])).code).toBe(
      2,
    );
    const unset = await run(["import", "hmac", "--from-env", VAR, "-d", dataDir]);
    expect(unset).toMatchObject({ code: 2, err: expect.stringContaining(`${VAR} is not set`) });
    process.env[VAR] = "too-short";
    const short = await run(["import", "hmac", "--from-env", VAR, "-d", dataDir]);
    expect(short).toMatchObject({ code: 2, err: expect.stringContaining("at least 32") });
    expect(short.err).not.toContain("too-short");
    expect((await run(["import", "checkpoint", "--from-env", VAR, "-d", dataDir])).code).toBe(2);
    expect((await run(["import", "hmac", "--from-file", join(root, "nope"), "-d", dataDir])).code).toBe(2);
  });
});
