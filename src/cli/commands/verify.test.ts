import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runInProcess } from "../../../test/support/run-in-process.ts";
import { canonicalize } from "../../integrity/canonical.ts";
import { EMPTY_CHAIN, parseRecord, Sealer, type SigningKey } from "../../integrity/chain.ts";
import { signCheckpoint } from "../../integrity/checkpoint.ts";
import { keyFromSecret } from "../../integrity/keys.ts";
import { recordLeafHash } from "../../integrity/leaf.ts";
import { checkpointFileName } from "../../integrity/log-layout.ts";
import { MerkleFrontier } from "../../integrity/merkle.ts";
import { generateNoteKey } from "../../integrity/note.ts";
import { Progress, type ProgressStream } from "../progress.ts";
import { verifyCommand } from "./verify.ts";

let dir: string;
let secret: string;
let key: SigningKey;
let lines: string[];
let logPath: string;
let keyPath: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "vigil-verify-cli-"));
  secret = randomBytes(32).toString("hex");
  key = keyFromSecret(Buffer.from(secret), "test");
  const sealer = new Sealer(key, EMPTY_CHAIN);
  lines = [];
  for (let i = 1; i <= 100; i++) {
    lines.push(sealer.seal(canonicalize({ event_type: "backup.completed", event_id: `evt_${i}` })).line);
  }
  logPath = join(dir, "audit.log");
  keyPath = join(dir, "signing.key");
  await writeFile(logPath, `${lines.join("\n")}\n`);
  await writeFile(keyPath, `${secret}\n`);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const run = (args: string[]) => runInProcess(verifyCommand(), args);

async function tamperLine37(): Promise<void> {
  const tampered = [...lines];
  tampered[36] = (lines[36] as string).replace("evt_37", "evt_73");
  await writeFile(logPath, `${tampered.join("\n")}\n`);
}

describe("vigil verify", () => {
  it("exits 0 and prints a summary for an intact log", async () => {
    const r = await run([logPath, "--key-file", keyPath]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`intact: 100 records, sequences 1–100, keys ${key.id}\n`);
  });

  it("exits 1 and prints each finding and the summary for a tampered log", async () => {
    await tamperLine37();
    const r = await run([logPath, "--key-file", keyPath]);
    expect(r.code).toBe(1);
    expect(r.out).toBe(
      `sequence 37: modified — signature does not match the record (${logPath}:37)\n` +
        "NOT INTACT: 1 problem in 100 records; first at sequence 37 (modified)\n",
    );
  });

  it("shows a missing range as a range", async () => {
    await writeFile(logPath, `${lines.filter((_, i) => i < 36 || i > 38).join("\n")}\n`);
    const r = await run([logPath, "--key-file", keyPath]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^sequences 37–39: missing — 3 records never appear/);
    expect(r.out).toMatch(/NOT INTACT: 1 problem in 97 records; first at sequences 37–39 \(missing\)\n$/);
  });

  it("prints the report as JSON with --json", async () => {
    await tamperLine37();
    const r = await run([logPath, "--key-file", keyPath, "--json"]);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.out);
    expect(report).toMatchObject({ intact: false, records: 100, findingCount: 1, files: [logPath] });
    expect(report.findings).toEqual([
      {
        kind: "modified",
        sequence: 37,
        file: logPath,
        line: 37,
        detail: "signature does not match the record",
      },
    ]);
  });

  it("prints nothing with --quiet; the exit code tells", async () => {
    await tamperLine37();
    const r = await run([logPath, "--key-file", keyPath, "--quiet"]);
    expect(r).toEqual({ code: 1, out: "", err: "" });
  });

  it("takes the key from an environment variable", async () => {
    process.env.VIGIL_VERIFY_TEST_KEY = secret;
    try {
      expect((await run([logPath, "--key-env", "VIGIL_VERIFY_TEST_KEY"])).code).toBe(0);
    } finally {
      delete process.env.VIGIL_VERIFY_TEST_KEY;
    }
  });

  it("verifies the data directory's journal with its own keys when no path is given", async () => {
    const dataDir = join(dir, "data");
    await mkdir(join(dataDir, "journal"), { recursive: true });
    await mkdir(join(dataDir, "keys"));
    await writeFile(join(dataDir, "keys", `${key.id}.key`), `${secret}\n`);
    await writeFile(join(dataDir, "journal", "00000000000000000001.log"), `${lines.join("\n")}\n`);
    const r = await run(["--data-dir", dataDir]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^intact: 100 records/);
  });

  it("accepts --partial for a log whose oldest records were deleted", async () => {
    await writeFile(logPath, `${lines.slice(40).join("\n")}\n`);
    expect((await run([logPath, "--key-file", keyPath])).code).toBe(1);
    const r = await run([logPath, "--key-file", keyPath, "--partial"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^intact: 60 records, sequences 41–100/);
  });

  it("exits 2 when no key is available, saying how to pass one", async () => {
    const empty = join(dir, "empty");
    await mkdir(empty);
    const r = await run([logPath, "--data-dir", empty]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--key-env/);
    expect(r.err).toMatch(/--key-file/);
  });

  it("exits 2 for an unset --key-env variable and for an unreadable --key-file", async () => {
    expect((await run([logPath, "--key-env", "VIGIL_VERIFY_TEST_UNSET"])).code).toBe(2);
    expect((await run([logPath, "--key-file", join(dir, "nope.key")])).code).toBe(2);
  });

  it("exits 2 for a path that does not exist", async () => {
    const r = await run([join(dir, "nope.log"), "--key-file", keyPath]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/nope\.log does not exist/);
  });

  it("exits 2 for an unknown flag and for conflicting flags", async () => {
    expect((await run([logPath, "--key-file", keyPath, "--frobnicate"])).code).toBe(2);
    expect((await run([logPath, "--key-file", keyPath, "--json", "--quiet"])).code).toBe(2);
  });

  it("exits 0 for --help, which documents the exit codes", async () => {
    const r = await run(["--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/--key-env <var>/);
    expect(r.out).toMatch(/Exit codes: 0 intact, 1 problems found, 2 bad usage/);
  });
});

describe("vigil verify --public-key", () => {
  const origin = "vigil.test/cli";
  const noteKey = generateNoteKey(origin);
  let publicKeyPath: string;

  /** A signed checkpoint of the first `size` lines of the intact log. */
  function checkpoint(size: number): string {
    const frontier = new MerkleFrontier();
    for (const line of lines.slice(0, size)) {
      const parsed = parseRecord(Buffer.from(line));
      if (!parsed.ok) throw new Error(parsed.reason);
      frontier.append(recordLeafHash(parsed.record));
    }
    return signCheckpoint({ origin, size, rootHash: frontier.root() }, [noteKey.signer]);
  }

  async function publish(sizes: number[]): Promise<void> {
    await mkdir(`${logPath}.checkpoints`);
    for (const size of sizes) {
      await writeFile(join(`${logPath}.checkpoints`, checkpointFileName(size)), checkpoint(size));
    }
  }

  beforeEach(async () => {
    publicKeyPath = join(dir, "vigil.pub");
    await writeFile(publicKeyPath, `${noteKey.verifierText}\n`);
  });

  it("verifies with only the public key, saying what it did not check", async () => {
    await publish([50, 100]);
    const r = await run([logPath, "--public-key", publicKeyPath]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      `intact: 100 records, sequences 1–100, keys ${key.id}; sealed through sequence 100 (2 checkpoints ` +
        "matched); record signatures not checked (no HMAC key); contents covered by the checkpoints\n",
    );
  });

  it("mentions an unsealed tail in the summary, exit 0, and exits 1 with --require-sealed", async () => {
    await publish([50, 90]);
    const r = await run([logPath, "--public-key", publicKeyPath, "--key-file", keyPath]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      `intact: 100 records, sequences 1–100, keys ${key.id}; sealed through sequence 90 (2 checkpoints ` +
        "matched); records 91–100 not yet covered by a checkpoint\n",
    );
    const sealed = await run([logPath, "--public-key", publicKeyPath, "--require-sealed"]);
    expect(sealed.code).toBe(1);
    expect(sealed.out).toMatch(/^sequences 91–100: unsealed_tail — 10 records after the newest checkpoint/);
  });

  it("finds the log cut off against a checkpoint given with --checkpoint, in text and JSON", async () => {
    await writeFile(logPath, `${lines.slice(0, 90).join("\n")}\n`);
    await publish([50, 90]);
    const latest = join(dir, "latest.note");
    await writeFile(latest, checkpoint(100));
    expect((await run([logPath, "--public-key", publicKeyPath])).code).toBe(0);
    const r = await run([logPath, "--public-key", publicKeyPath, "--checkpoint", latest]);
    expect(r.code).toBe(1);
    expect(r.out).toBe(
      `sequences 91–100: truncated — records 91–100, covered by signed checkpoint 100, are missing (the log was ` +
        `cut off) (${logPath}:91)\n` +
        "NOT INTACT: 1 problem in 90 records; first at sequences 91–100 (truncated); sealed through sequence 90 " +
        "(2 checkpoints matched); record signatures not checked (no HMAC key); contents covered by the checkpoints\n",
    );
    const json = JSON.parse(
      (await run([logPath, "--public-key", publicKeyPath, "--checkpoint", latest, "--json"])).out,
    );
    expect(json).toMatchObject({
      intact: false,
      sealedThrough: 90,
      recordSignaturesChecked: false,
      notices: [],
    });
    expect(json.checkpoints).toEqual([
      { size: 50, origin, status: "matched", source: join(`${logPath}.checkpoints`, checkpointFileName(50)) },
      { size: 90, origin, status: "matched", source: join(`${logPath}.checkpoints`, checkpointFileName(90)) },
      { size: 100, origin, status: "beyond_log", source: latest },
    ]);
  });

  it("exits 2 for an unreadable --public-key or --checkpoint, and documents the kinds in --help", async () => {
    expect((await run([logPath, "--public-key", join(dir, "nope.pub")])).code).toBe(2);
    await writeFile(join(dir, "bad.pub"), "not a key\n");
    expect((await run([logPath, "--public-key", join(dir, "bad.pub")])).code).toBe(2);
    const noNote = await run([
      logPath,
      "--public-key",
      publicKeyPath,
      "--checkpoint",
      join(dir, "nope.note"),
    ]);
    expect(noNote.code).toBe(2);
    expect(noNote.err).toMatch(/cannot read --checkpoint/);
    const help = await run(["--help"]);
    expect(help.out).toMatch(/--public-key <file>/);
    for (const kind of [
      "tampered",
      "bad_checkpoint",
      "unverifiable_checkpoint",
      "inconsistent_checkpoints",
      "unsealed_tail",
    ]) {
      expect(help.out).toContain(kind);
    }
  });

  it("treats a checkpoint given without any key as unverifiable rather than a usage error", async () => {
    const latest = join(dir, "latest.note");
    await writeFile(latest, checkpoint(100));
    const r = await run([logPath, "--checkpoint", latest]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^sequence 100: unverifiable_checkpoint — note has no signature by a known key/m);
    // No key checked any record's content either.
    expect(r.out).toMatch(/^sequences 1–100: unsealed_tail — /);
  });
});

describe("Progress", () => {
  function fakeStream(isTTY: boolean): ProgressStream & { written: string[] } {
    const written: string[] = [];
    return {
      isTTY,
      columns: 200,
      written,
      write(text: string) {
        written.push(text);
        return true;
      },
    };
  }

  it("writes nothing when the stream is not a terminal", () => {
    const stream = fakeStream(false);
    const progress = new Progress({ label: "verifying", unit: "records", stream });
    progress.update(10, 100, 1000);
    progress.done();
    expect(stream.written).toEqual([]);
  });

  it("redraws at most ten times a second and clears its line when done", () => {
    const stream = fakeStream(true);
    let now = 0;
    const progress = new Progress({ label: "verifying", unit: "records", stream, now: () => now });
    for (let i = 1; i <= 100; i++) {
      now = i * 10;
      progress.update(i * 1000, i * 1024 * 1024, 100 * 1024 * 1024);
    }
    expect(stream.written).toHaveLength(10);
    expect(stream.written.at(-1)).toBe(
      "\rverifying  91,000 records  100,000/s  [##################--] 91%  91.0 MiB / 100.0 MiB\x1b[K",
    );
    progress.done();
    expect(stream.written.at(-1)).toBe("\r\x1b[K");
  });
});
