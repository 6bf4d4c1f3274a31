/**
 * `vigil query` (issue 6, point 3) against the real server with the index on: spec/000's query as a table and
 * as NDJSON, `--count-by` (with `--limit`, and buckets the server left out), `--interval`, `--fields` with CSV, a
 * bad expression (exit 2 naming the column), and the index off (exit 1 with the server's message).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitIndexed, writeConfig } from "./support/files.ts";
import {
  event,
  ndjson,
  post,
  runVigil,
  startVigil,
  tempDir,
  type VigilProcess,
} from "./support/vigil-process.ts";

const SPEC_QUERY = "event_type == 'backup.failed' and context.environment == 'production'";

/** 20 events: every third backup.failed, every second in production; one actor id with a comma and a quote. */
function events(): Record<string, unknown>[] {
  return Array.from({ length: 20 }, (_, i) =>
    event(i, {
      event_type: i % 3 === 0 ? "backup.failed" : "backup.completed",
      actor: { type: "user", id: i === 0 ? 'ops, "night" shift' : `user${i}@company.com` },
      context: {
        cluster_id: "prod",
        environment: i % 2 === 0 ? "production" : "staging",
        correlation_id: `r${i}`,
      },
    }),
  );
}

describe("vigil query", () => {
  let vigil: VigilProcess;
  const query = (args: string[]) => runVigil(["query", ...args, "--url", vigil.url, "--token", vigil.token]);

  beforeAll(async () => {
    const dataDir = await tempDir();
    const config = await writeConfig(dataDir, "audit:\n  index:\n    enabled: true\n");
    vigil = await startVigil({ dataDir, args: ["--config", config] });
    expect((await post(vigil, ndjson(events()))).status).toBe(200);
    await waitIndexed(vigil);
  });

  afterAll(async () => {
    await vigil?.stop();
  });

  it("prints spec/000's query as an aligned table", async () => {
    const r = await query([SPEC_QUERY, "--since", "7d"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^SEQUENCE\s+TIMESTAMP\s+EVENT_TYPE\s+ACTOR\.ID\s+ACTION\.RESULT$/);
    expect(lines).toHaveLength(1 + 4); // events 0, 6, 12, 18
    for (const line of lines.slice(1)) expect(line).toContain("backup.failed");
    // Columns are aligned: EVENT_TYPE starts at the same offset on every line.
    const at = lines[0]?.indexOf("EVENT_TYPE");
    for (const line of lines.slice(1)) expect(line.indexOf("backup.failed")).toBe(at);
  });

  it("prints NDJSON, one hit per line, and follows pages up to --limit", async () => {
    const r = await query([SPEC_QUERY, "--format", "ndjson"]);
    expect(r.code).toBe(0);
    const hits = r.stdout
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { sequence: number; event: { context: { correlation_id: string } } });
    expect(hits.map((h) => h.event.context.correlation_id)).toEqual(["r0", "r6", "r12", "r18"]);
    expect(hits.map((h) => h.sequence)).toEqual([...hits.map((h) => h.sequence)].sort((a, b) => a - b));

    const all = await query(["event_type.startsWith('backup.')", "--limit", "15", "--format", "json"]);
    expect(all.code).toBe(0);
    expect((JSON.parse(all.stdout) as unknown[]).length).toBe(15);
    // Pages of 4: the command follows next_cursor and returns the same 15, in order.
    const paged = await query([
      "event_type.startsWith('backup.')",
      "--limit",
      "15",
      "--format",
      "json",
      "--page-size",
      "4",
    ]);
    expect(paged.code).toBe(0);
    expect(JSON.parse(paged.stdout)).toEqual(JSON.parse(all.stdout));
  });

  it("counts by a field", async () => {
    const r = await query([
      "event_type.startsWith('backup.')",
      "--count-by",
      "event_type",
      "--format",
      "json",
    ]);
    expect(r.code).toBe(0);
    const buckets = JSON.parse(r.stdout) as { key: string; count: number }[];
    expect(Object.fromEntries(buckets.map((b) => [b.key, b.count]))).toEqual({
      "backup.failed": 7,
      "backup.completed": 13,
    });
    const table = await query(["event_type.startsWith('backup.')", "--count-by", "event_type"]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/backup\.failed\s+7\n/);
    expect(table.stdout).toMatch(/backup\.completed\s+13\n/);
  });

  it("keeps the most frequent buckets with --limit, as head -N does after sort -rn", async () => {
    const top = await query([
      "event_type.startsWith('backup.')",
      "--count-by",
      "event_type",
      "--limit",
      "1",
      "--format",
      "json",
    ]);
    expect(top.code, top.stderr).toBe(0);
    expect(JSON.parse(top.stdout)).toEqual([{ key: "backup.completed", count: 13 }]);
    const two = await query(["event_type.startsWith('backup.')", "--count-by", "event_type", "--limit", "2"]);
    expect(two.code, two.stderr).toBe(0);
    expect(two.stdout).toMatch(/^EVENT_TYPE\s+COUNT\nbackup\.completed\s+13\nbackup\.failed\s+7\n$/);
    const bad = await query(["", "--count-by", "event_type", "--limit", "0"]);
    expect(bad.code).toBe(2);
  });

  it("says on stderr when the server left buckets out", async () => {
    const bulk = Array.from({ length: 1001 }, (_, i) =>
      event(i, { event_id: `bulk-${i}`, event_type: "bulk.imported" }),
    );
    expect((await post(vigil, ndjson(bulk))).status).toBe(200);
    await waitIndexed(vigil);
    const all = await query([
      "event_type == 'bulk.imported'",
      "--count-by",
      "event_id",
      "--format",
      "ndjson",
    ]);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout.trimEnd().split("\n")).toHaveLength(1000);
    expect(all.stderr).toBe(
      "vigil: the server answered the 1000 most frequent buckets and left out the rest\n",
    );
    const some = await query(["event_type == 'bulk.imported'", "--count-by", "event_id", "--limit", "5"]);
    expect(some.code, some.stderr).toBe(0);
    expect(some.stdout.trimEnd().split("\n")).toHaveLength(1 + 5);
    expect(some.stderr).toBe("");
  });

  it("counts by time bucket with --interval", async () => {
    const r = await query(["event_type.startsWith('backup.')", "--interval", "1d", "--format", "json"]);
    expect(r.code, r.stderr).toBe(0);
    const buckets = JSON.parse(r.stdout) as { key: string | null; count: number }[];
    expect(buckets.reduce((n, b) => n + b.count, 0)).toBe(20);
    for (const b of buckets) expect(b.key).toMatch(/^\d{4}-\d{2}-\d{2}T00:00:00\.000Z$/);
    const table = await query(["event_type.startsWith('backup.')", "--interval", "1h"]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^TIME\s+COUNT\n/);
    expect(table.stdout).toMatch(/\d{4}-\d{2}-\d{2}T\d{2}:00:00\.000Z\s+\d+\n/);
    const both = await query(["", "--interval", "1h", "--count-by", "event_type"]);
    expect(both.code).toBe(2);
    const bad = await query(["", "--interval", "an hour"]);
    expect(bad.code).toBe(2);
  });

  it("prints the chosen fields as CSV with a header and RFC 4180 quoting", async () => {
    const r = await query([
      SPEC_QUERY,
      "--fields",
      "sequence,actor.id,context.correlation_id",
      "--format",
      "csv",
    ]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\r\n");
    expect(lines[0]).toBe("sequence,actor.id,context.correlation_id");
    expect(lines[1]).toMatch(/^\d+,"ops, ""night"" shift",r0$/);
    expect(lines[2]).toMatch(/^\d+,user6@company\.com,r6$/);
    expect(lines).toHaveLength(1 + 4 + 1); // header, 4 rows, the empty string after the last CRLF
  });

  it("exits 2 naming the column of a bad expression", async () => {
    const r = await query(["event_type == 'x' and event_typ == 'y'"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("vigil: q: column 23: unknown field event_typ; did you mean event_type?\n");
  });

  it("exits 2 on bad usage without asking the server", async () => {
    const r = await query(["", "--format", "xml"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--format");
  });
});

describe("vigil query with the index off", () => {
  it("exits 1 with the server's message", async () => {
    const dir = await tempDir();
    const config = await writeConfig(dir, "audit:\n  index:\n    enabled: false\n");
    const vigil = await startVigil({ dataDir: dir, args: ["--config", config] });
    try {
      const r = await runVigil(["query", SPEC_QUERY, "--url", vigil.url, "--token", vigil.token]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("the search index is off");
    } finally {
      await vigil.stop();
    }
  });
});
