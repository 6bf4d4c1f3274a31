/**
 * The `vigil` command line end to end: the real bin/vigil against a real server and its real data directory.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chainSequence, parseRecords, spawnVigil, waitUntil, writeConfig } from "./support/files.ts";
import { event, ndjson, runVigil, startVigil, tempDir, type VigilProcess } from "./support/vigil-process.ts";

interface SendLine {
  event_id: string;
  sequence_number: number;
  status: string;
}

function sendOutput(stdout: string): SendLine[] {
  return stdout
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as SendLine);
}

function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}

describe("vigil --help and usage errors", () => {
  const commands = [[], ["serve"], ["send"], ["tail"], ["verify"], ["config"], ["config", "validate"]];

  it.each(commands.map((c) => [c.join(" ") || "vigil", c] as const))("%s --help", async (_name, command) => {
    const res = await runVigil([...command, "--help"]);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(["Usage: vigil", ...command].join(" "));
  });

  it("an unknown flag exits 2", async () => {
    for (const args of [["--bogus"], ["send", "--bogus"], ["tail", "--bogus"], ["verify", "--bogus"]]) {
      const res = await runVigil(args);
      expect(res.code, args.join(" ")).toBe(2);
      expect(res.stderr).toContain("unknown option '--bogus'");
    }
  });

  it("an unknown command exits 2", async () => {
    const res = await runVigil(["bogus"]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("unknown command 'bogus'");
  });
});

describe("vigil send, tail", () => {
  let vigil: VigilProcess;
  let work: string;
  beforeAll(async () => {
    vigil = await startVigil();
    work = await tempDir("vigil-cli-");
  });
  afterAll(async () => {
    await vigil?.stop();
  });

  const server = () => ["--url", vigil.url, "--token", vigil.token];

  it("sends one event with --url and --token and prints its id, sequence number and status", async () => {
    const before = await chainSequence(vigil);
    const res = await runVigil(["send", ...server(), JSON.stringify(event(1))]);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    const [line] = sendOutput(res.stdout);
    expect(line).toEqual({
      event_id: expect.stringMatching(/^evt_/),
      sequence_number: before + 1,
      status: "sealed",
    });
    expect(await chainSequence(vigil)).toBe(before + 1);
  });

  it("reads the token from --data-dir's admin.token", async () => {
    const before = await chainSequence(vigil);
    const res = await runVigil(
      ["send", "--url", vigil.url, "--data-dir", vigil.dataDir, JSON.stringify(event(2))],
      {
        env: { VIGIL_TOKEN: undefined },
      },
    );
    expect(res.code).toBe(0);
    expect(sendOutput(res.stdout)).toEqual([
      expect.objectContaining({ sequence_number: before + 1, status: "sealed" }),
    ]);
  });

  it("sends every line of --file in order", async () => {
    const ids = range(1, 25).map((i) => `evt_cli_file_${i}`);
    const file = join(work, "events.ndjson");
    await writeFile(file, ndjson(ids.map((id, i) => event(i, { event_id: id }))));
    const before = await chainSequence(vigil);
    const res = await runVigil(["send", ...server(), "--file", file]);
    expect(res.code).toBe(0);
    const out = sendOutput(res.stdout);
    expect(out.map((l) => l.event_id)).toEqual(ids);
    expect(out.map((l) => l.sequence_number)).toEqual(range(before + 1, ids.length));
    expect(out.every((l) => l.status === "sealed")).toBe(true);
  });

  it("sends NDJSON from stdin in order", async () => {
    const ids = range(1, 10).map((i) => `evt_cli_stdin_${i}`);
    const before = await chainSequence(vigil);
    const res = await runVigil(["send", ...server()], {
      input: ndjson(ids.map((id, i) => event(i, { event_id: id }))),
    });
    expect(res.code).toBe(0);
    const out = sendOutput(res.stdout);
    expect(out.map((l) => l.event_id)).toEqual(ids);
    expect(out.map((l) => l.sequence_number)).toEqual(range(before + 1, ids.length));
  });

  it("refuses a file with a malformed line, naming file:line, and sends nothing from it", async () => {
    const file = join(work, "bad.ndjson");
    await writeFile(
      file,
      `${JSON.stringify(event(1))}\n${JSON.stringify(event(2))}\n{not json\n${JSON.stringify(event(3))}\n`,
    );
    const before = await chainSequence(vigil);
    const res = await runVigil(["send", ...server(), "--file", file]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`${file}:3`);
    expect(await chainSequence(vigil)).toBe(before);
  });

  it("an event the server refuses exits 1 and names the field", async () => {
    const before = await chainSequence(vigil);
    const res = await runVigil(["send", ...server(), JSON.stringify({ event_type: "Bad Type" })]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("event_type");
    expect(res.stdout).toBe("");
    expect(await chainSequence(vigil)).toBe(before);
  });

  it("without a token exits 2", async () => {
    const empty = await tempDir("vigil-cli-notoken-");
    const res = await runVigil(["send", "--url", vigil.url, "--data-dir", empty, JSON.stringify(event(1))], {
      env: { VIGIL_TOKEN: undefined },
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("no token");
  });

  it("tail -n 3 prints exactly the newest 3 records", async () => {
    const head = await chainSequence(vigil);
    expect(head).toBeGreaterThan(3);
    const res = await runVigil(["tail", "--data-dir", vigil.dataDir, "-n", "3"]);
    expect(res.code).toBe(0);
    expect(parseRecords(res.stdout).map((r) => r.integrity.sequence_number)).toEqual([
      head - 2,
      head - 1,
      head,
    ]);
  });

  it("tail -f prints records sealed after it started and exits 0 on SIGINT", async () => {
    const head = await chainSequence(vigil);
    const tail = spawnVigil(["tail", "--data-dir", vigil.dataDir, "-n", "1", "-f", "--poll-ms", "20"]);
    try {
      // The newest record printed means tail has found its starting point and is following.
      await waitUntil("tail to print the newest record", async () =>
        tail.stdout().includes(`"sequence_number":${head},`) ? true : undefined,
      );
      const ids = range(1, 5).map((i) => `evt_cli_follow_${i}`);
      const res = await runVigil(["send", ...server()], {
        input: ndjson(ids.map((id, i) => event(i, { event_id: id }))),
      });
      expect(res.code).toBe(0);
      await waitUntil("tail to print the new records", async () =>
        tail.stdout().includes(`"sequence_number":${head + ids.length},`) ? true : undefined,
      );
      tail.child.kill("SIGINT");
      expect(await tail.exit()).toBe(0);
      const records = parseRecords(tail.stdout());
      expect(records.map((r) => r.integrity.sequence_number)).toEqual(range(head, ids.length + 1));
      expect(records.slice(1).map((r) => r.event.event_id)).toEqual(ids);
    } finally {
      tail.child.kill("SIGKILL");
    }
  });
});

describe("vigil config validate", () => {
  it("accepts a valid file", async () => {
    const dir = await tempDir("vigil-config-");
    const file = await writeConfig(
      dir,
      [
        "data_dir: ./data",
        "enterprise:",
        "  audit:",
        "    destination:",
        "      type: file",
        "      path: ./audit.log",
        "      rotation: {max_size_mb: 1, max_files: 2, compress: true}",
        "    exclude_events: [backup.checkpoint]",
        "",
      ].join("\n"),
    );
    const res = await runVigil(["config", "validate", file]);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout).toContain("valid");
  });

  it("refuses an unknown key with its line and key path", async () => {
    const dir = await tempDir("vigil-config-");
    const file = await writeConfig(
      dir,
      [
        "enterprise:",
        "  audit:",
        "    destination:",
        "      type: file",
        "      path: ./audit.log",
        "      rotation:",
        "        max_sise_mb: 5",
        "",
      ].join("\n"),
    );
    const res = await runVigil(["config", "validate", file]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("line 7: enterprise.audit.destination.rotation.max_sise_mb");
    expect(res.stderr).toContain("unknown key");
  });

  it("a missing file exits 2", async () => {
    const dir = await tempDir("vigil-config-");
    const res = await runVigil(["config", "validate", join(dir, "absent.yaml")]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("absent.yaml");
  });
});
