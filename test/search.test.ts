/**
 * Search through the real server (issue 6): events ingested over HTTP, indexed by the index consumer, then
 * `GET /v1/events` (SQL and in-process paths, pagination, time windows, bad expressions), the aggregate,
 * `audit.read` records of every query, `vigil reindex`, and the index switched off.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileQuery } from "../src/query/cel.ts";
import { waitIndexed, writeConfig } from "./support/files.ts";
import {
  event,
  get,
  ndjson,
  post,
  runVigil,
  startVigil,
  tempDir,
  type VigilProcess,
} from "./support/vigil-process.ts";

interface Page {
  events: {
    sequence: number;
    event: Record<string, unknown>;
    integrity: { signature: string; key_id: string };
  }[];
  next_cursor?: string;
  indexed_through: number;
}

const NOW = Date.now();
const OLD = NOW - 10 * 86_400_000;

/** 30 events: every third backup.failed, every second in production; the first ten 10 days old. */
function events(): Record<string, unknown>[] {
  return Array.from({ length: 30 }, (_, i) =>
    event(i, {
      event_type: i % 3 === 0 ? "backup.failed" : "backup.completed",
      timestamp: new Date(i < 10 ? OLD + i * 1000 : NOW - (30 - i) * 60_000).toISOString(),
      context: {
        cluster_id: "prod",
        environment: i % 2 === 0 ? "production" : "staging",
        correlation_id: `r${i}`,
      },
    }),
  );
}

async function search(vigil: VigilProcess, params: Record<string, string>): Promise<Response> {
  return get(vigil, `/v1/events?${new URLSearchParams(params)}`);
}

async function page(vigil: VigilProcess, params: Record<string, string>): Promise<Page> {
  const res = await search(vigil, params);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as Page;
}

const seqs = (p: Page) => p.events.map((e) => e.sequence);
const index = (p: Page) =>
  p.events.map((e) => Number((e.event.context as { correlation_id: string }).correlation_id.slice(1)));

const SPEC_QUERY = "event_type == 'backup.failed' and context.environment == 'production'";
const FALLBACK_QUERY = "(context.environment == 'production' ? event_type : 'none') == 'backup.failed'";
const BACKUPS = "event_type.startsWith('backup.')";

describe("search API", () => {
  let vigil: VigilProcess;
  let dataDir: string;
  const asked: string[] = [];

  /** The index is opt-in while issue 6 is in progress (it costs ingest throughput; docs/benchmarks.md). */
  let config: string;

  beforeAll(async () => {
    dataDir = await tempDir();
    config = await writeConfig(dataDir, "audit:\n  index:\n    enabled: true\n");
    vigil = await startVigil({ dataDir, args: ["--config", config] });
    expect((await post(vigil, ndjson(events()))).status).toBe(200);
    const head = await waitIndexed(vigil);
    const first = await page(vigil, { limit: "1" });
    asked.push("");
    expect(first.indexed_through).toBeGreaterThanOrEqual(head);
  });

  afterAll(async () => {
    await vigil?.stop();
  });

  it("answers spec/000's spelling from the index", async () => {
    const p = await page(vigil, { q: SPEC_QUERY });
    asked.push(SPEC_QUERY);
    expect(index(p)).toEqual([0, 6, 12, 18, 24]);
    expect(seqs(p)).toEqual([...seqs(p)].sort((a, b) => a - b));
    expect(p.events[0]?.integrity.signature).toMatch(/.+/);
    expect(p.events[0]?.integrity.key_id).toMatch(/.+/);
    expect(p.next_cursor).toBeUndefined();
  });

  it("evaluates in process what SQL cannot express, with the same answers", async () => {
    expect(compileQuery(FALLBACK_QUERY).sql).toBeUndefined();
    const p = await page(vigil, { q: FALLBACK_QUERY });
    asked.push(FALLBACK_QUERY);
    expect(index(p)).toEqual([0, 6, 12, 18, 24]);
    const paged = await page(vigil, { q: FALLBACK_QUERY, limit: "2" });
    asked.push(FALLBACK_QUERY);
    expect(index(paged)).toEqual([0, 6]);
    expect(paged.next_cursor).toBeDefined();
  });

  it("pages through results with a stable cursor while ingest goes on", async () => {
    const one = await page(vigil, { q: BACKUPS, limit: "12" });
    // Events arriving meanwhile are after the first page's indexed_through: not part of this search.
    expect((await post(vigil, ndjson([event(99, { event_type: "backup.failed" })]))).status).toBe(200);
    await waitIndexed(vigil);
    const two = await page(vigil, { q: BACKUPS, limit: "12", cursor: one.next_cursor as string });
    const three = await page(vigil, { q: BACKUPS, limit: "12", cursor: two.next_cursor as string });
    asked.push(BACKUPS, BACKUPS, BACKUPS);
    expect([one.events.length, two.events.length, three.events.length]).toEqual([12, 12, 6]);
    expect(three.next_cursor).toBeUndefined();
    expect([...index(one), ...index(two), ...index(three)]).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(two.indexed_through).toBe(one.indexed_through);
    // The same cursor again gives the same page.
    const again = await page(vigil, { q: BACKUPS, limit: "12", cursor: one.next_cursor as string });
    asked.push(BACKUPS);
    expect(seqs(again)).toEqual(seqs(two));

    const bad = await search(vigil, { cursor: "not-a-cursor" });
    expect(bad.status).toBe(400);
    expect(bad.headers.get("content-type")).toContain("application/problem+json");
    expect(((await bad.json()) as { errors: { field: string }[] }).errors[0]?.field).toBe("cursor");
  });

  it("filters on time: since, from and to", async () => {
    const recent = await page(vigil, { q: `${BACKUPS} and context.cluster_id == 'prod'`, since: "7d" });
    expect(index(recent)).toEqual(Array.from({ length: 20 }, (_, i) => i + 10));
    const old = await page(vigil, {
      q: BACKUPS,
      from: new Date(OLD - 3_600_000).toISOString(),
      to: new Date(OLD + 5_000).toISOString(),
    });
    asked.push(`${BACKUPS} and context.cluster_id == 'prod'`, BACKUPS);
    expect(index(old)).toEqual([0, 1, 2, 3, 4]);
    const bad = await search(vigil, { since: "a week" });
    expect(bad.status).toBe(400);
  });

  it("points at the column of a bad expression", async () => {
    for (const [q, column] of [
      ["event_type == ", 15],
      ["actr.id == 'bob'", 1],
    ] as const) {
      const res = await search(vigil, { q });
      expect(res.status).toBe(400);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      const body = (await res.json()) as { errors: { field: string; message: string; column: number }[] };
      expect(body.errors[0]).toMatchObject({ field: "q", column });
    }
  });

  it("counts by a field, most frequent first", async () => {
    const res = await get(
      vigil,
      `/v1/events/aggregate?${new URLSearchParams({ q: BACKUPS, by: "event_type", since: "30d" })}`,
    );
    asked.push(BACKUPS);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      buckets: [
        { key: "backup.completed", count: 20 },
        { key: "backup.failed", count: 11 },
      ],
    });
    const bad = await get(vigil, "/v1/events/aggregate?by=details.code");
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { field: string }[] }).errors[0]?.field).toBe("by");
  });

  it("counts by typed fields with the same keys in SQL and in process", async () => {
    const sqlForm = "context.environment == 'production' && event_type == 'backup.failed'";
    expect(compileQuery(sqlForm).sql).toBeDefined();
    for (const by of ["action.duration_ms", "actor.roles", "timestamp", "event_type"]) {
      const counts = async (q: string) => {
        const res = await get(vigil, `/v1/events/aggregate?${new URLSearchParams({ q, by })}`);
        expect(res.status, await res.clone().text()).toBe(200);
        return ((await res.json()) as { buckets: { key: string | null; count: number }[] }).buckets;
      };
      const inSql = await counts(sqlForm);
      const inProcess = await counts(FALLBACK_QUERY);
      expect(inProcess, by).toEqual(inSql);
      expect(inSql.reduce((n, b) => n + b.count, 0)).toBeGreaterThanOrEqual(5);
      asked.push(sqlForm, FALLBACK_QUERY);
    }
    const byKey = async (by: string) =>
      (
        (await (
          await get(vigil, `/v1/events/aggregate?${new URLSearchParams({ q: sqlForm, by })}`)
        ).json()) as {
          buckets: { key: string | null }[];
        }
      ).buckets.map((b) => b.key);
    // Keys as the event writes them: JS number text, RFC 3339 times, lists as JSON.
    expect(await byKey("action.duration_ms")).toEqual(["45000"]);
    expect(await byKey("actor.roles")).toEqual(['["backup-operator"]']);
    expect((await byKey("timestamp")).every((k) => k !== null && /^\d{4}-\d\d-\d\dT.*Z$/.test(k))).toBe(true);
    asked.push(sqlForm, sqlForm, sqlForm);
  });

  it("counts by time bucket, in time order, the same in SQL and in process", async () => {
    const aggregate = async (params: Record<string, string>) => {
      const res = await get(vigil, `/v1/events/aggregate?${new URLSearchParams(params)}`);
      expect(res.status, await res.clone().text()).toBe(200);
      return (await res.json()) as {
        buckets: { key: string | null; count: number }[];
        indexed_through: number;
      };
    };
    /** Expected buckets of the fixture's events `i` that pass `keep`, computed from their timestamps. */
    const expected = (interval: number, keep: (i: number) => boolean) => {
      const counts = new Map<string, number>();
      for (const [i, e] of events().entries()) {
        if (!keep(i)) continue;
        const ms = Date.parse(e.timestamp as string);
        const key = new Date(ms - (ms % interval)).toISOString();
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      return [...counts].map(([key, count]) => ({ key, count })).sort((x, y) => (x.key < y.key ? -1 : 1));
    };
    const window = { from: new Date(OLD - 86_400_000).toISOString(), to: new Date(NOW).toISOString() };

    const hourly = await aggregate({ q: "context.cluster_id == 'prod'", interval: "1h", ...window });
    expect(hourly.buckets).toEqual(expected(3_600_000, () => true));
    expect(hourly.buckets.reduce((n, b) => n + b.count, 0)).toBe(30);
    for (const b of hourly.buckets) expect(Date.parse(b.key as string) % 3_600_000).toBe(0);

    const daily = await aggregate({ q: "context.cluster_id == 'prod'", interval: "1d", ...window });
    expect(daily.buckets).toEqual(expected(86_400_000, () => true));
    const oldDay = new Date(OLD - (OLD % 86_400_000)).toISOString();
    expect(daily.buckets[0]?.key).toBe(oldDay);
    expect(daily.buckets.map((b) => b.key?.slice(11))).toEqual(daily.buckets.map(() => "00:00:00.000Z"));

    // An expression without SQL form is evaluated in process: the same buckets.
    const sqlForm =
      "context.environment == 'production' && event_type == 'backup.failed' && context.cluster_id == 'prod'";
    const fallback = `${FALLBACK_QUERY} and context.cluster_id == 'prod'`;
    expect(compileQuery(fallback).sql).toBeUndefined();
    const inProcess = await aggregate({ q: fallback, interval: "1h", ...window });
    const inSql = await aggregate({ q: sqlForm, interval: "1h", ...window });
    expect(inProcess.buckets).toEqual(inSql.buckets);
    expect(inProcess.buckets).toEqual(expected(3_600_000, (i) => i % 6 === 0));
    const recent = await aggregate({ q: fallback, interval: "30s", since: "7d" });
    expect(recent.buckets).toEqual(expected(30_000, (i) => i >= 10 && i % 6 === 0));
    asked.push("context.cluster_id == 'prod'", "context.cluster_id == 'prod'", fallback, sqlForm, fallback);

    for (const [params, field] of [
      [{ by: "event_type", interval: "1h" }, "interval"],
      [{}, "by"],
      [{ interval: "an hour" }, "interval"],
      [{ interval: "0s" }, "interval"],
    ] as const) {
      const res = await get(vigil, `/v1/events/aggregate?${new URLSearchParams(params)}`);
      expect(res.status).toBe(400);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      expect(((await res.json()) as { errors: { field: string }[] }).errors[0]?.field).toBe(field);
    }
  });

  it("records every query as an audit.read event", async () => {
    await waitIndexed(vigil);
    const reads = await page(vigil, { q: "event_type == 'audit.read'", limit: "1000" });
    const recorded = reads.events.map((e) => e.event);
    expect(recorded.map((e) => (e.details as { expression: string }).expression)).toEqual(asked);
    expect(recorded[1]).toMatchObject({
      actor: { type: "token", id: "admin" },
      action: { operation: "query", result: "success" },
      origin: { source: "http", token: "admin" },
      details: { expression: SPEC_QUERY, limit: 100, results: 5, endpoint: "/v1/events" },
    });
    expect(recorded.at(-17)).toMatchObject({
      details: { endpoint: "/v1/events/aggregate", by: "event_type", results: 31 },
    });
    expect(recorded.at(-1)).toMatchObject({
      details: { endpoint: "/v1/events/aggregate", interval: "30s", since: "7d", results: 3 },
    });
  });

  it("vigil reindex refuses while the server runs, then rebuilds the same index", async () => {
    const before = await page(vigil, { q: SPEC_QUERY });
    const busy = await runVigil(["reindex", "--data-dir", dataDir]);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toContain("stop the server");
    await waitIndexed(vigil);
    await vigil.stop();
    const done = await runVigil(["reindex", "--data-dir", dataDir]);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toMatch(/indexed \d+ records/);
    vigil = await startVigil({ dataDir, args: ["--config", config] });
    await waitIndexed(vigil);
    const after = await page(vigil, { q: SPEC_QUERY });
    expect(seqs(after)).toEqual(seqs(before));
    expect(after.events).toEqual(before.events);
  });
});

describe("search with the index off", () => {
  it("answers 503 problem+json saying the index is off; ingest works", async () => {
    const dir = await tempDir();
    const config = await writeConfig(dir, "audit:\n  index:\n    enabled: false\n");
    const vigil = await startVigil({ dataDir: dir, args: ["--config", config] });
    try {
      expect((await post(vigil, ndjson([event(1)]))).status).toBe(200);
      const res = await search(vigil, { q: SPEC_QUERY });
      expect(res.status).toBe(503);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      expect(((await res.json()) as { detail: string }).detail).toContain("the search index is off");
      const status = (await (await get(vigil, "/v1/status")).json()) as { index: unknown };
      expect(status.index).toEqual({ enabled: false });
    } finally {
      await vigil.stop();
    }
  });
});

describe("aggregates with more buckets than an answer holds", () => {
  it("answers the first 1,000 and says the rest were left out", async () => {
    const dir = await tempDir();
    const config = await writeConfig(dir, "audit:\n  index:\n    enabled: true\n");
    const vigil = await startVigil({ dataDir: dir, args: ["--config", config] });
    try {
      const many = Array.from({ length: 1001 }, (_, i) =>
        event(i, {
          event_id: `many-${i}`,
          action: { operation: "backup", result: "success", duration_ms: 1000 - i },
        }),
      );
      expect((await post(vigil, ndjson(many))).status).toBe(200);
      await waitIndexed(vigil);
      const cut = (await (await get(vigil, "/v1/events/aggregate?by=event_id")).json()) as {
        buckets: unknown[];
        truncated?: boolean;
      };
      expect(cut.buckets).toHaveLength(1000);
      expect(cut.truncated).toBe(true);
      const whole = (await (await get(vigil, "/v1/events/aggregate?by=event_type")).json()) as {
        buckets: { key: string; count: number }[];
        truncated?: boolean;
      };
      expect(whole.buckets).toEqual([{ key: "backup.completed", count: 1001 }]);
      expect(whole).not.toHaveProperty("truncated");
      // Cut among ties (every duration once): both paths keep the same 1,000, in the column's order (numeric).
      const byDuration = async (q: string) =>
        (await (
          await get(vigil, `/v1/events/aggregate?${new URLSearchParams({ q, by: "action.duration_ms" })}`)
        ).json()) as { buckets: { key: string | null; count: number }[]; truncated?: boolean };
      const inSql = await byDuration("event_type == 'backup.completed'");
      const inProcess = await byDuration("(event_type == 'backup.completed') ? true : false");
      expect(compileQuery("(event_type == 'backup.completed') ? true : false").sql).toBeUndefined();
      // (indexed_through may differ: each query's own audit.read record is indexed in between.)
      expect(inProcess.buckets).toEqual(inSql.buckets);
      expect(inProcess.truncated).toBe(true);
      expect(inSql.truncated).toBe(true);
      expect(inSql.buckets.slice(0, 12).map((b) => b.key)).toEqual([
        "0",
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
        "7",
        "8",
        "9",
        "10",
        "11",
      ]);
      expect(inSql.buckets.at(-1)?.key).toBe("999");
    } finally {
      await vigil.stop();
    }
  });
});
