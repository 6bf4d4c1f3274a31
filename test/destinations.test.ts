/**
 * The file destination through the real server, configured by a real vigil.yaml: several destinations at once,
 * rotation with gzip and max_files, a destination that is down and catches up after a restart, the events /
 * exclude_events policy, and a signing key taken from the environment.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { deriveKeyId } from "../src/integrity/keys.ts";
import {
  chainSequence,
  destinationStatuses,
  readRecords,
  spawnVigil,
  waitUntil,
  writeConfig,
} from "./support/files.ts";
import {
  event,
  get,
  ndjson,
  post,
  runVigil,
  startVigil,
  tempDir,
  waitForDelivery,
} from "./support/vigil-process.ts";

interface IngestBody {
  accepted: number;
  excluded: number;
  events: { event_id: string; status: string; sequence_number?: number }[];
}

interface VerifyJson {
  intact: boolean;
  records: number;
  firstSequence: number | null;
  lastSequence: number | null;
  findings: { kind: string; sequence: number | null }[];
}

function fileDestinations(paths: string[], extra = ""): string {
  return [
    "enterprise:",
    "  audit:",
    "    destinations:",
    ...paths.flatMap((p) => ["      - type: file", `        path: ${p}`]),
    extra,
  ].join("\n");
}

async function sendBatches(
  vigil: Parameters<typeof post>[0],
  batches: number,
  size: number,
  afterEach?: () => Promise<void>,
): Promise<void> {
  for (let b = 0; b < batches; b++) {
    const res = await post(vigil, ndjson(Array.from({ length: size }, (_, i) => event(b * size + i))));
    expect(res.status).toBe(200);
    await afterEach?.();
  }
}

describe("file destinations configured in vigil.yaml", () => {
  it("two destinations both receive every record, byte-identical", async () => {
    const dir = await tempDir("vigil-dest-");
    const a = join(dir, "a/audit.log");
    const b = join(dir, "b/audit.log");
    const vigil = await startVigil({ args: ["--config", await writeConfig(dir, fileDestinations([a, b]))] });
    try {
      expect((await destinationStatuses(vigil)).map((d) => d.name)).toEqual([`file:${a}`, `file:${b}`]);
      await sendBatches(vigil, 3, 10);
      await waitForDelivery(vigil);
    } finally {
      await vigil.stop();
    }
    const [bytesA, bytesB] = await Promise.all([readFile(a), readFile(b)]);
    expect(bytesA.equals(bytesB)).toBe(true);
    expect((await readRecords(a)).map((r) => r.integrity.sequence_number)).toEqual(
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
  });

  it("rotates, gzips and prunes to max_files; the kept files verify only with --partial", async () => {
    const dir = await tempDir("vigil-dest-");
    const path = join(dir, "logs/audit.log");
    const config = await writeConfig(
      dir,
      fileDestinations([path], "        rotation: {max_size_mb: 0.01, max_files: 3, compress: true}\n"),
    );
    const check = await runVigil(["config", "validate", config]);
    expect(check.code).toBe(0);
    const vigil = await startVigil({ args: ["--config", config] });
    try {
      // Each request is delivered on its own and is larger than 0.01 MiB, so each one ends in a rotation.
      await sendBatches(vigil, 10, 20, () => waitForDelivery(vigil));
    } finally {
      // Stopping waits for the background compression of the newest rotated file.
      expect(await vigil.stop()).toBe(0);
    }

    // Besides the rotated files: the directory of checkpoints published with them (the final one at shutdown).
    const entries = (await readdir(join(dir, "logs"))).sort();
    expect(entries).toEqual([
      "audit.log",
      "audit.log.1.gz",
      "audit.log.2.gz",
      "audit.log.3.gz",
      "audit.log.checkpoints",
    ]);
    const names = entries.filter((n) => n !== "audit.log.checkpoints");
    for (const name of names) expect((await stat(join(dir, "logs", name))).mode & 0o777).toBe(0o600);

    const whole = await runVigil(["verify", "--json", "--data-dir", vigil.dataDir, path]);
    expect(whole.code).toBe(1);
    const report = JSON.parse(whole.stdout) as VerifyJson;
    expect(report.findings[0]).toMatchObject({ kind: "missing", sequence: 1 });

    const partial = await runVigil(["verify", "--json", "--partial", "--data-dir", vigil.dataDir, path]);
    expect(partial.code).toBe(0);
    const kept = JSON.parse(partial.stdout) as VerifyJson;
    expect(kept).toMatchObject({ intact: true, lastSequence: 200 });
    expect(kept.firstSequence).toBeGreaterThan(1);
    expect(kept.records).toBe(200 - (kept.firstSequence as number) + 1);
  });

  it("a destination that is down is parked without blocking ingest, and catches up after a restart", async () => {
    const dir = await tempDir("vigil-dest-");
    const good = join(dir, "good/audit.log");
    const blocker = join(dir, "blocked");
    const blocked = join(blocker, "audit.log");
    await writeFile(blocker, "a regular file where the destination's directory should be\n");
    const config = await writeConfig(dir, fileDestinations([good, blocked]));

    const vigil = await startVigil({ args: ["--config", config] });
    try {
      await sendBatches(vigil, 3, 10);
      const statuses = await waitUntil("the good destination to deliver all 30 records", async () => {
        const s = await destinationStatuses(vigil);
        return s.find((d) => d.name === `file:${good}`)?.deliveredSequence === 30 ? s : undefined;
      });
      expect(statuses.find((d) => d.name === `file:${blocked}`)).toMatchObject({
        state: "parked",
        deliveredSequence: 0,
        lagRecords: 30,
        lastError: expect.stringContaining("ENOTDIR"),
      });
    } finally {
      expect(await vigil.stop()).toBe(0);
    }

    await rm(blocker);
    await mkdir(blocker, { mode: 0o700 });
    const again = await startVigil({ dataDir: vigil.dataDir, args: ["--config", config] });
    try {
      await waitForDelivery(again);
      expect((await destinationStatuses(again)).map((d) => [d.state, d.lagRecords])).toEqual([
        ["running", 0],
        ["running", 0],
      ]);
    } finally {
      await again.stop();
    }
    const verified = await runVigil(["verify", "--data-dir", vigil.dataDir, blocked]);
    expect(verified.stdout).toMatch(/intact: 30 records, sequences 1–30/);
    expect(verified.code).toBe(0);
    expect((await readFile(blocked)).equals(await readFile(good))).toBe(true);
  });

  it("events / exclude_events: excluded events are answered excluded, kept out of the file and counted", async () => {
    const dir = await tempDir("vigil-dest-");
    const path = join(dir, "audit.log");
    const policy = ["    events: [backup.*, access.denied]", "    exclude_events: [backup.checkpoint]", ""];
    const config = await writeConfig(dir, fileDestinations([path], policy.join("\n")));
    const vigil = await startVigil({ args: ["--config", config] });
    try {
      const types = ["backup.completed", "backup.checkpoint", "restore.started", "access.denied"];
      const res = await post(
        vigil,
        ndjson(types.map((t, i) => event(i, { event_type: t, event_id: `evt_policy_${i}` }))),
      );
      expect(res.status).toBe(200);
      const body = res.body as IngestBody;
      expect(body).toMatchObject({ accepted: 2, excluded: 2 });
      expect(body.events.map((e) => [e.status, e.sequence_number])).toEqual([
        ["sealed", 1],
        ["excluded", undefined],
        ["excluded", undefined],
        ["sealed", 2],
      ]);
      await waitForDelivery(vigil);
      expect((await readRecords(path)).map((r) => r.event.event_id)).toEqual([
        "evt_policy_0",
        "evt_policy_3",
      ]);
      const metrics = await (await get(vigil, "/metrics")).text();
      expect(metrics).toMatch(/^vigil_events_excluded_total\{reason="excluded"\} 1$/m);
      expect(metrics).toMatch(/^vigil_events_excluded_total\{reason="not_in_events"\} 1$/m);
      expect(metrics).toMatch(/^vigil_events_sealed_total 2$/m);
    } finally {
      await vigil.stop();
    }
  });

  describe("integrity.signing.key_env_var", () => {
    const signing = [
      "enterprise:",
      "  audit:",
      "    integrity:",
      "      signing:",
      "        algorithm: HMAC-SHA256",
      "        key_env_var: AUDIT_SIGNING_KEY",
      "",
    ].join("\n");

    it("signs with the key from the environment; verify needs that key", async () => {
      const key = randomBytes(32).toString("hex");
      const dir = await tempDir("vigil-dest-");
      const vigil = await startVigil({
        args: ["--config", await writeConfig(dir, signing)],
        env: { AUDIT_SIGNING_KEY: key },
      });
      try {
        await sendBatches(vigil, 2, 5);
        await waitForDelivery(vigil);
        expect(await chainSequence(vigil)).toBe(10);
      } finally {
        await vigil.stop();
      }
      const path = join(vigil.dataDir, "audit.log");
      const keyId = deriveKeyId(Buffer.from(key, "utf8"));
      expect(new Set((await readRecords(path)).map((r) => r.integrity.key_id))).toEqual(new Set([keyId]));
      // The HMAC key lives only in the environment: the data directory holds none a verifier could use (only the
      // checkpoint signing keys, which sign the Merkle checkpoints, not records).
      expect(await readdir(join(vigil.dataDir, "keys"))).toEqual(["checkpoint"]);

      const withKey = await runVigil(
        ["verify", "--key-env", "AUDIT_SIGNING_KEY", "--data-dir", vigil.dataDir, path],
        { env: { AUDIT_SIGNING_KEY: key } },
      );
      expect(withKey.stdout).toContain(`intact: 10 records, sequences 1–10, keys ${keyId}`);
      expect(withKey.code).toBe(0);

      // Without it there is no key at all to check the signatures with.
      const withoutKey = await runVigil(["verify", "--data-dir", vigil.dataDir, path], {
        env: { AUDIT_SIGNING_KEY: undefined },
      });
      expect(withoutKey.code).toBe(2);
      expect(withoutKey.stderr).toContain("no key to verify with");
    });

    it("refuses to start, exit 2, naming the variable, when it is unset", async () => {
      const dir = await tempDir("vigil-dest-");
      const serve = spawnVigil(
        [
          "serve",
          "--config",
          await writeConfig(dir, signing),
          "--data-dir",
          join(dir, "data"),
          "--listen",
          "127.0.0.1:0",
        ],
        { env: { AUDIT_SIGNING_KEY: undefined }, cwd: dir },
      );
      expect(await serve.exit()).toBe(2);
      expect(serve.stderr()).toContain("AUDIT_SIGNING_KEY");
      expect(serve.stderr()).not.toContain("listening on");
    });
  });
});
