/**
 * The search index is derived data (issue 6, point 1): when it cannot be used — a damaged database file, an index
 * of another schema version — the real server parks it with a message naming `vigil reindex`, search answers 503
 * saying so, and ingest goes on untouched; `vigil reindex` then rebuilds it from the journal, events ingested
 * while it was parked included.
 */
import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { describe, expect, it } from "vitest";
import { waitIndexed, waitUntil } from "./support/files.ts";
import { event, get, ndjson, post, runVigil, startVigil, tempDir } from "./support/vigil-process.ts";

interface IndexStatus {
  state: string;
  lastError?: string;
  deliveredSequence: number;
}

async function indexStatus(vigil: Parameters<typeof get>[0]): Promise<IndexStatus> {
  return ((await (await get(vigil, "/v1/status")).json()) as { index: IndexStatus }).index;
}

/** Writes an index file another Vigil could not have made: a DuckDB database of schema version 99. */
async function futureIndex(path: string): Promise<void> {
  const db = await DuckDBInstance.create(path);
  const conn = await db.connect();
  await conn.run(
    "CREATE TABLE index_meta (schema_version INTEGER NOT NULL, last_sequence BIGINT NOT NULL, last_signature VARCHAR)",
  );
  await conn.run("INSERT INTO index_meta VALUES (99, 0, NULL)");
  conn.closeSync();
  db.closeSync();
}

describe.each([
  [
    "a damaged database file",
    (path: string) => writeFile(path, randomBytes(64 * 1024)),
    "cannot open the index",
  ],
  ["an index of another schema version", futureIndex, "schema version 99"],
])("search with %s", (_name, damage, reason) => {
  it("parks the index, keeps ingesting, answers 503 naming vigil reindex, and recovers after it", async () => {
    const dataDir = await tempDir();
    await damage(join(dataDir, "index.duckdb"));
    let vigil = await startVigil({ dataDir });
    try {
      const res = await post(vigil, ndjson([0, 1, 2].map((i) => event(i))));
      expect(res.status).toBe(200);
      const parked = await waitUntil("the index to park", async () => {
        const s = await indexStatus(vigil);
        return s.state === "parked" ? s : undefined;
      });
      expect(parked.lastError).toContain(reason);
      expect(vigil.stderr()).toContain("rebuild it with vigil reindex (ingest is not affected)");
      const search = await get(vigil, "/v1/events?q=event_type == 'backup.completed'");
      expect(search.status).toBe(503);
      expect(search.headers.get("content-type")).toContain("application/problem+json");
      const problem = (await search.json()) as { detail: string };
      expect(problem.detail).toContain("the search index is parked");
      expect(problem.detail).toContain("vigil reindex");
      // Ingest is not affected while the index is parked.
      expect((await post(vigil, ndjson([3, 4].map((i) => event(i))))).status).toBe(200);
    } finally {
      await vigil.stop();
    }

    const rebuilt = await runVigil(["reindex", "--data-dir", dataDir]);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    vigil = await startVigil({ dataDir });
    try {
      await waitIndexed(vigil);
      const page = (await (await get(vigil, "/v1/events?q=event_type == 'backup.completed'")).json()) as {
        events: { event: { resource: { id: string } } }[];
      };
      expect(page.events.map((e) => e.event.resource.id)).toEqual(
        [0, 1, 2, 3, 4].map((i) => `production-backup-${i}`),
      );
    } finally {
      await vigil.stop();
    }
  });
});

describe("search after the index file was deleted", () => {
  it("rebuilds the index from the start of the journal on the next start", async () => {
    const dataDir = await tempDir();
    let vigil = await startVigil({ dataDir });
    try {
      expect((await post(vigil, ndjson([0, 1, 2].map((i) => event(i))))).status).toBe(200);
      await waitIndexed(vigil);
    } finally {
      await vigil.stop();
    }
    await rm(join(dataDir, "index.duckdb"));
    await rm(join(dataDir, "index.duckdb.wal"), { force: true });
    vigil = await startVigil({ dataDir });
    try {
      expect((await post(vigil, ndjson([3].map((i) => event(i))))).status).toBe(200);
      await waitIndexed(vigil);
      const page = (await (await get(vigil, "/v1/events?q=event_type == 'backup.completed'")).json()) as {
        events: { event: { resource: { id: string } } }[];
      };
      expect(page.events.map((e) => e.event.resource.id)).toEqual(
        [0, 1, 2, 3].map((i) => `production-backup-${i}`),
      );
    } finally {
      await vigil.stop();
    }
  });
});
