import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type DuckDBAppender,
  DuckDBInstance,
  DuckDBTimestampTZValue,
  LIST,
  listValue,
  VARCHAR,
} from "@duckdb/node-api";
import { describe, expect, it } from "vitest";
import type { JournalLocation } from "../destinations/destination.ts";
import { canonicalize } from "../integrity/canonical.ts";
import { parseRecord, Sealer } from "../integrity/chain.ts";
import { keyFromSecret } from "../integrity/keys.ts";
import { CursorStore } from "../journal/cursor.ts";
import { fetchRecords } from "../journal/fetch.ts";
import { JournalWriter } from "../journal/writer.ts";
import { JournalConsumer } from "../pipeline/consumer.ts";
import { IndexDestination } from "./destination.ts";
import { reindex } from "./reindex.ts";
import { EVENT_COLUMNS, EventIndex } from "./store.ts";

const key = keyFromSecret(Buffer.alloc(32, 7), "test");

function event(i: number): Record<string, unknown> {
  const failed = i % 3 === 0;
  return {
    event_id: `evt-${i}`,
    event_type: failed ? "backup.failed" : "backup.completed",
    timestamp: `2024-03-01T10:00:${String(i % 60).padStart(2, "0")}.123456Z`,
    received_at: "2024-03-01T10:01:00.5Z",
    version: "1.0",
    origin: { source: "http", address: "10.0.0.1", token: "ci" },
    actor: { type: "service", id: `svc-${i % 2}`, roles: ["backup", `r${i % 2}`], ip_address: "10.1.1.1" },
    resource: { type: "database", id: "db-1", path: "/db/1" },
    action: { operation: "backup", result: failed ? "failure" : "success", duration_ms: i + 0.5 },
    context: { cluster_id: "c1", environment: "production", correlation_id: `corr-${i}` },
    details: { size_bytes: i * 10, target: { bucket: "b" }, note: 'é "quoted"' },
  };
}

async function journal(records: number) {
  const dataDir = await mkdtemp(join(tmpdir(), "vigil-index-"));
  const dir = join(dataDir, "journal");
  const { writer, recovery } = await JournalWriter.open({ dir, segmentBytes: 16 * 1024 });
  const sealer = new Sealer(key, recovery.head);
  const append = async (from: number, n: number) => {
    const lines = Array.from({ length: n }, (_, i) => sealer.seal(canonicalize(event(from + i))).line);
    await writer.append(lines, from);
  };
  // In appends of ten, so that the 16 KiB segments roll over between them.
  for (let from = 1; from <= records; from += 10) await append(from, Math.min(10, records - from + 1));
  return {
    dataDir,
    dir,
    writer,
    append,
    cursors: new CursorStore(dataDir),
    indexPath: join(dataDir, "index.duckdb"),
  };
}

type Journal = Awaited<ReturnType<typeof journal>>;

async function until(check: () => Promise<boolean>, why: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${why()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Runs a consumer feeding an IndexDestination until the index holds `upTo`, then stops it. */
async function feed(j: Journal, upTo: number, dest = new IndexDestination(j.indexPath)): Promise<void> {
  const consumer = new JournalConsumer(dest, {
    journalDir: j.dir,
    writer: j.writer,
    cursors: j.cursors,
    log: () => {},
    delivery: { maxRecords: 7 },
  });
  await consumer.start();
  await until(
    async () => consumer.status().deliveredSequence >= upTo,
    () => JSON.stringify(consumer.status()),
  );
  await consumer.stop();
}

const ORDERED = `SELECT ${EVENT_COLUMNS.map((c) => `CAST("${c.name}" AS VARCHAR) AS "${c.name}"`).join(", ")} FROM events ORDER BY sequence`;

describe("IndexDestination", () => {
  it("indexes every record with typed columns", async () => {
    const j = await journal(30);
    await feed(j, 30);
    const index = await EventIndex.open(j.indexPath);
    try {
      expect(await index.count()).toBe(30);
      expect(await index.lastSequence()).toBe(30);
      expect(index.last?.sequence).toBe(30);
      expect(await index.countBy("event_type")).toEqual([
        { value: "backup.completed", count: 20 },
        { value: "backup.failed", count: 10 },
      ]);
      const types = await index.query(
        "SELECT column_name AS name, data_type AS type FROM information_schema.columns WHERE table_name = 'events' ORDER BY ordinal_position",
      );
      expect(types.map((t) => t.name)).toEqual(EVENT_COLUMNS.map((c) => c.name));
      expect(types.find((t) => t.name === "timestamp")?.type).toBe("TIMESTAMP WITH TIME ZONE");
      expect(types.find((t) => t.name === "actor_roles")?.type).toBe("VARCHAR[]");
      expect(types.find((t) => t.name === "details")?.type).toBe("JSON");

      const [row] = await index.query(
        "SELECT sequence, event_id, epoch_us(timestamp) AS ts, epoch_ms(received_at) AS rx, actor_roles, " +
          "len(actor_roles) AS nroles, action_duration_ms, context_environment, origin_token, " +
          "json_extract_string(details, '$.target.bucket') AS bucket, json_extract_string(details, '$.note') AS note, " +
          "CAST(json_extract(details, '$.size_bytes') AS INTEGER) AS size FROM events WHERE sequence = 4",
      );
      expect(row).toMatchObject({
        event_id: "evt-4",
        // Truncated to the millisecond, as the in-process evaluator sees it (store.ts).
        ts: BigInt(Date.parse("2024-03-01T10:00:04Z")) * 1000n + 123000n,
        rx: BigInt(Date.parse("2024-03-01T10:01:00.5Z")),
        actor_roles: ["backup", "r0"],
        nroles: 2n,
        action_duration_ms: 4.5,
        context_environment: "production",
        origin_token: "ci",
        bucket: "b",
        note: 'é "quoted"',
        size: 40,
      });
      // Every row names where its record lies in the journal (over several segments here).
      const at = await index.query(
        "SELECT sequence, journal_segment, journal_offset, journal_length FROM events ORDER BY sequence",
      );
      expect(new Set(at.map((r) => r.journal_segment)).size).toBeGreaterThan(1);
      const records = await fetchRecords(
        j.dir,
        at.map((r) => ({
          sequence: Number(r.sequence),
          segment: Number(r.journal_segment),
          offset: Number(r.journal_offset),
          length: Number(r.journal_length),
        })),
      );
      expect(records.map((r) => r.integrity.sequence_number)).toEqual(at.map((r) => Number(r.sequence)));
      expect(JSON.parse(Buffer.from(records[3]?.event ?? []).toString())).toMatchObject({
        event_id: "evt-4",
      });
      const since = await index.query(
        "SELECT count(*) AS n FROM events WHERE timestamp >= TIMESTAMPTZ '2024-03-01 10:00:20+00' AND list_contains(actor_roles, 'r1')",
      );
      expect(Number(since[0]?.n)).toBe(5);
    } finally {
      index.close();
      await j.writer.close();
      await rm(j.dataDir, { recursive: true, force: true });
    }
  });

  it("does not index a record twice after a crash, and keeps everything across reopening", async () => {
    const j = await journal(20);
    await feed(j, 20);
    // A crash after the index committed but before the cursor did: the cursor is gone.
    await rm(join(j.dataDir, "cursors"), { recursive: true, force: true });
    await j.append(21, 5);
    await feed(j, 25);
    const index = await EventIndex.open(j.indexPath);
    try {
      expect(await index.count()).toBe(25);
      const dup = await index.query("SELECT count(DISTINCT sequence) AS n, min(sequence) AS lo FROM events");
      expect(dup[0]).toMatchObject({ n: 25n, lo: 1n });
      expect(index.last?.sequence).toBe(25);
      // A batch delivered again directly is skipped whole.
      const dest = new IndexDestination(join(j.dataDir, "other.duckdb"));
      expect(await dest.start({ committedSequence: 0 })).toEqual({});
      await dest.stop();
    } finally {
      index.close();
      await j.writer.close();
      await rm(j.dataDir, { recursive: true, force: true });
    }
  });

  it("skips the already indexed part of a batch delivered again", async () => {
    const j = await journal(10);
    await feed(j, 10);
    const index = await EventIndex.open(j.indexPath);
    try {
      const { JournalReader } = await import("../journal/reader.ts");
      const reader = new JournalReader(j.dir, 5);
      const batch = await reader.readAvailable(100, 1 << 20);
      await reader.close();
      expect(await index.append(batch)).toBe(0);
      expect(await index.count()).toBe(10);
    } finally {
      index.close();
      await j.writer.close();
      await rm(j.dataDir, { recursive: true, force: true });
    }
  });

  it("reindex builds the same rows as incremental indexing", async () => {
    const j = await journal(40);
    await feed(j, 40);
    const incremental = await EventIndex.open(j.indexPath);
    const before = await incremental.query(ORDERED);
    const last = incremental.last;
    incremental.close();

    const rebuilt = join(j.dataDir, "rebuilt.duckdb");
    expect(await reindex(j.dir, rebuilt, { batchRecords: 9 })).toEqual({ records: 40, lastSequence: 40 });
    // Over an existing index too.
    expect(await reindex(j.dir, j.indexPath)).toEqual({ records: 40, lastSequence: 40 });
    try {
      for (const path of [rebuilt, j.indexPath]) {
        const index = await EventIndex.open(path);
        try {
          expect(await index.query(ORDERED)).toEqual(before);
          expect(index.last).toEqual(last);
        } finally {
          index.close();
        }
      }
    } finally {
      await j.writer.close();
      await rm(j.dataDir, { recursive: true, force: true });
    }
  });
});

/**
 * The previous loader, one Appender call per value straight into `events` (with the times truncated to the
 * millisecond, as now documented): the reference the staged bulk load must reproduce exactly.
 */
function appendRowPerValue(a: DuckDBAppender, line: Buffer, sequence: number, at: JournalLocation): void {
  const parsed = parseRecord(line);
  if (!parsed.ok) throw new Error(parsed.reason);
  const { event: bytes } = parsed.record;
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
  const ev = JSON.parse(text) as Record<string, unknown>;
  const obj = (v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  const str = (v: unknown) => {
    if (typeof v === "string") a.appendVarchar(v);
    else if (typeof v === "number" || typeof v === "boolean") a.appendVarchar(String(v));
    else a.appendNull();
  };
  const time = (v: unknown) => {
    const ms = typeof v === "string" ? Date.parse(v) : Number.NaN;
    if (Number.isNaN(ms)) a.appendNull();
    else a.appendTimestampTZ(new DuckDBTimestampTZValue(BigInt(ms) * 1000n));
  };
  const [origin, actor, resource, action, context] = [
    ev.origin,
    ev.actor,
    ev.resource,
    ev.action,
    ev.context,
  ].map(obj);
  a.appendBigInt(BigInt(sequence));
  str(ev.event_id);
  str(ev.event_type);
  time(ev.timestamp);
  time(ev.received_at);
  str(ev.version);
  str(origin?.source);
  str(origin?.address);
  str(origin?.token);
  str(actor?.type);
  str(actor?.id);
  const roles = actor?.roles;
  if (Array.isArray(roles))
    a.appendList(listValue(roles.filter((r): r is string => typeof r === "string")), LIST(VARCHAR));
  else a.appendNull();
  str(actor?.ip_address);
  str(actor?.user_agent);
  str(resource?.type);
  str(resource?.id);
  str(resource?.path);
  str(action?.operation);
  str(action?.result);
  const duration = action?.duration_ms;
  if (typeof duration === "number") a.appendDouble(duration);
  else a.appendNull();
  str(context?.cluster_id);
  str(context?.environment);
  str(context?.correlation_id);
  if (ev.details === undefined) a.appendNull();
  else a.appendVarchar(JSON.stringify(ev.details));
  a.appendBigInt(BigInt(at.segment));
  a.appendBigInt(BigInt(at.offset));
  a.appendInteger(line.length);
  a.endRow();
}

const TRICKY: Record<string, unknown>[] = [
  event(1),
  {},
  { event_id: 42, event_type: true, version: 1.5, timestamp: "not a time", received_at: 1709287200 },
  {
    event_id: { nested: 1 },
    event_type: ["a"],
    version: null,
    timestamp: "2024-03-01T10:00:00.999999Z",
    received_at: "2024-03-01T12:00:00.1234567+02:00",
    origin: "http",
    actor: { type: false, id: 1e21, roles: ["a", 1, null, { r: 1 }, "", "null", '["x"]'], ip_address: -0.5 },
    resource: [],
    action: { operation: 0, result: 123456789012345680000, duration_ms: 1e-7 },
    context: {
      cluster_id: 0.1,
      environment: "prod\u0000uction",
      correlation_id: "😀 ünïcødé \u202e \\ \" '",
    },
    details: null,
  },
  {
    event_id: "é\u00e9\ud83d\ude00",
    timestamp: "1969-12-31T23:59:59.9995Z",
    received_at: "2024-03-01",
    actor: { roles: [], user_agent: 'Mozilla/5.0 (X11; Linux x86_64) "quoted"' },
    action: { duration_ms: 12345678901234567000 },
    details: ["x", 1, { y: [true, null] }],
  },
  {
    timestamp: "Fri, 01 Mar 2024 10:00:00 GMT",
    received_at: "0001-01-01T00:00:00Z",
    actor: { roles: "admin" },
    action: { duration_ms: "12" },
    details: "just a string",
    extra: { anything: 1 },
  },
  { timestamp: "+275760-09-13T00:00:00.000Z", received_at: "2024-02-30T00:00:00Z", details: 0 },
];

describe("IndexDestination lifecycle", () => {
  const workers = () => process.getActiveResourcesInfo().filter((r) => r === "MessagePort").length;

  it("opens the index once when a start is retried while the first is still opening", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vigil-index-"));
    const before = workers();
    const dest = new IndexDestination(join(dir, "index.duckdb"));
    try {
      const [a, b] = await Promise.all([
        dest.start({ committedSequence: 0 }),
        dest.start({ committedSequence: 0 }),
      ]);
      expect(a).toEqual({});
      expect(b).toEqual({});
      expect(workers()).toBe(before + 1);
      expect(dest.index).toBeDefined();
    } finally {
      await dest.stop();
      await rm(dir, { recursive: true, force: true });
    }
    expect(dest.index).toBeUndefined();
    expect(workers()).toBe(before);
  });

  it("ends the thread of an index stopped while it was opening", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vigil-index-"));
    const before = workers();
    const dest = new IndexDestination(join(dir, "index.duckdb"));
    try {
      // The outcome is taken as soon as it comes (it settles while stop() is awaited).
      const starting = dest.start({ committedSequence: 0 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      await dest.stop();
      expect(await starting).toMatchObject({ retryable: true, message: "the index is stopping" });
      expect(workers()).toBe(before);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses an empty index whose cursor says records were indexed", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vigil-index-"));
    const dest = new IndexDestination(join(dir, "index.duckdb"));
    try {
      await expect(dest.start({ committedSequence: 12 })).rejects.toMatchObject({
        retryable: false,
        message: expect.stringContaining("is empty but its cursor says 12 records were indexed"),
      });
    } finally {
      await dest.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("answers calls still waiting before it closes, then refuses new ones", async () => {
    const j = await journal(30);
    await feed(j, 30);
    const dest = new IndexDestination(j.indexPath);
    try {
      await dest.start({ committedSequence: 30 });
      const index = dest.index;
      if (!index) throw new Error("no index");
      const queries = Array.from({ length: 5 }, () => index.query("SELECT count(*) AS n FROM events"));
      const stopping = dest.stop();
      for (const rows of await Promise.all(queries)) expect(Number(rows[0]?.n)).toBe(30);
      await stopping;
      expect(index.alive).toBe(false);
      await expect(index.query("SELECT 1")).rejects.toThrow(/is closed/);
    } finally {
      await j.writer.close();
      await rm(j.dataDir, { recursive: true, force: true });
    }
  });
});

describe("staged bulk load", () => {
  it("stores exactly the rows of the per-value Appender", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "vigil-index-"));
    try {
      const { writer, recovery } = await JournalWriter.open({
        dir: join(dataDir, "journal"),
        segmentBytes: 1 << 20,
      });
      await writer.close();
      const sealer = new Sealer(key, recovery.head);
      const lines = TRICKY.map((e) => Buffer.from(sealer.seal(canonicalize(e)).line));
      // As one segment starting at sequence 1 holds them.
      const positions: JournalLocation[] = [];
      lines.reduce((offset, line) => {
        positions.push({ segment: 1, offset });
        return offset + line.length + 1;
      }, 0);
      const part = (from: number, to?: number) => ({
        firstSequence: from + 1,
        lines: lines.slice(from, to),
        positions: positions.slice(from, to),
      });
      const index = await EventIndex.open(join(dataDir, "staged.duckdb"));
      let staged: Record<string, unknown>[];
      let stagedTyped: Record<string, unknown>[];
      try {
        // In two batches, the second one partly delivered again.
        await index.append(part(0, 3));
        await index.append(part(1));
        staged = await index.query(ORDERED);
        stagedTyped = await index.query("SELECT * FROM events ORDER BY sequence");
      } finally {
        index.close();
      }

      const db = await DuckDBInstance.create(join(dataDir, "reference.duckdb"));
      const conn = await db.connect();
      try {
        await conn.run(
          `CREATE TABLE events (${EVENT_COLUMNS.map((c) => `"${c.name}" ${c.type}`).join(", ")})`,
        );
        const a = await conn.createAppender("events");
        lines.forEach((line, i) => {
          appendRowPerValue(a, line, i + 1, positions[i] as JournalLocation);
        });
        a.closeSync();
        const reference = (await conn.runAndReadAll(ORDERED)).getRowObjectsJS();
        const referenceTyped = (
          await conn.runAndReadAll("SELECT * FROM events ORDER BY sequence")
        ).getRowObjectsJS();
        expect(staged).toHaveLength(TRICKY.length);
        expect(staged).toEqual(reference);
        expect(stagedTyped).toEqual(referenceTyped);
        // The cases the test is about did occur.
        expect(staged[2]).toMatchObject({
          event_id: "42",
          event_type: "true",
          version: "1.5",
          timestamp: null,
        });
        expect(staged[3]).toMatchObject({ event_id: null, actor_id: "1e+21" });
        expect(stagedTyped[3]?.actor_roles).toEqual(["a", "", "null", '["x"]']);
        expect(stagedTyped[4]?.timestamp).toBeTruthy();
      } finally {
        conn.closeSync();
        db.closeSync();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
