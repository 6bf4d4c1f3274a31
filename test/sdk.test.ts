/**
 * The SDK against the real server process: ordering, durability in the file destination, idempotent retries,
 * per-event rejection inside a batch, and the built package entry imported the way users import it.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditClient, AuditClientError, type AuditEvent, type LogResult } from "../src/sdk/index.ts";
import { chainSequence, readRecords } from "./support/files.ts";
import {
  event,
  get,
  ndjson,
  post,
  ROOT,
  startVigil,
  type VigilProcess,
  waitForDelivery,
} from "./support/vigil-process.ts";

const run = promisify(execFile);

interface IngestBody {
  events: { event_id: string; status: string; sequence_number?: number }[];
}

/** The shared fixture event, typed for the SDK (it always carries an event_type). */
function auditEvent(i: number, extra: Record<string, unknown> = {}): AuditEvent {
  return event(i, extra) as AuditEvent;
}

async function duplicatesCounted(vigil: VigilProcess): Promise<number> {
  const metrics = await (await get(vigil, "/metrics")).text();
  const m = /^vigil_events_duplicate_total (\d+)$/m.exec(metrics);
  if (!m?.[1]) throw new Error("vigil_events_duplicate_total is missing from /metrics");
  return Number(m[1]);
}

describe("SDK against the real server", () => {
  let vigil: VigilProcess;
  beforeAll(async () => {
    vigil = await startVigil();
  });
  afterAll(async () => {
    await vigil?.stop();
  });

  it("1,000 log() calls are sealed with consecutive sequence numbers in call order, and reach the file", async () => {
    const before = await chainSequence(vigil);
    const client = new AuditClient({ url: vigil.url, token: vigil.token });
    const results: LogResult[] = [];
    try {
      results.push(...(await Promise.all(Array.from({ length: 1000 }, (_, i) => client.log(auditEvent(i))))));
    } finally {
      await client.close();
    }
    expect(results.every((r) => r.status === "sealed")).toBe(true);
    expect(results.map((r) => r.sequence_number)).toEqual(
      Array.from({ length: 1000 }, (_, i) => before + i + 1),
    );

    await waitForDelivery(vigil);
    const bySequence = new Map(
      (await readRecords(join(vigil.dataDir, "audit.log"))).map((r) => [r.integrity.sequence_number, r]),
    );
    expect(
      results.map((r) => {
        const record = bySequence.get(r.sequence_number as number);
        return [record?.event.event_id, (record?.event.resource as { id?: string } | undefined)?.id];
      }),
    ).toEqual(results.map((r, i) => [r.event_id, `production-backup-${i}`]));
  });

  it("a retried batch gets the same sequence numbers and is not sealed twice", async () => {
    const batch = ndjson(Array.from({ length: 5 }, (_, i) => event(i, { event_id: `evt_sdk_retry_${i}` })));
    const duplicatesBefore = await duplicatesCounted(vigil);
    const first = await post(vigil, batch);
    expect(first.status).toBe(200);
    const head = await chainSequence(vigil);
    const again = await post(vigil, batch);
    expect(again.status).toBe(200);
    expect((again.body as IngestBody).events).toEqual((first.body as IngestBody).events);
    expect((first.body as IngestBody).events.map((e) => e.sequence_number)).toEqual([
      head - 4,
      head - 3,
      head - 2,
      head - 1,
      head,
    ]);
    expect(await chainSequence(vigil)).toBe(head);
    expect(await duplicatesCounted(vigil)).toBe(duplicatesBefore + 5);

    await waitForDelivery(vigil);
    const ids = (await readRecords(join(vigil.dataDir, "audit.log"))).map((r) => r.event.event_id);
    for (let i = 0; i < 5; i++) expect(ids.filter((id) => id === `evt_sdk_retry_${i}`)).toHaveLength(1);
  });

  it("an invalid event rejects only its own log(); the rest of its batch is sealed", async () => {
    const bodies: string[] = [];
    const client = new AuditClient({
      url: vigil.url,
      token: vigil.token,
      fetch: (input, init) => {
        bodies.push(String(init?.body));
        return fetch(input, init);
      },
    });
    const before = await chainSequence(vigil);
    let settled: PromiseSettledResult<LogResult>[];
    try {
      settled = await Promise.allSettled([
        client.log(auditEvent(1)),
        client.log(auditEvent(2, { event_type: "Bad Type" })),
        client.log(auditEvent(3)),
      ]);
    } finally {
      await client.close();
    }
    // All three went out in one request: the rejection was split out of a shared batch.
    expect(bodies[0]?.trimEnd().split("\n")).toHaveLength(3);
    const [a, bad, c] = settled;
    expect(a).toEqual({
      status: "fulfilled",
      value: expect.objectContaining({ status: "sealed", sequence_number: before + 1 }),
    });
    expect(c).toEqual({
      status: "fulfilled",
      value: expect.objectContaining({ status: "sealed", sequence_number: before + 2 }),
    });
    expect(bad?.status).toBe("rejected");
    const error = (bad as PromiseRejectedResult).reason;
    expect(error).toBeInstanceOf(AuditClientError);
    expect((error as AuditClientError).code).toBe("rejected");
    expect((error as AuditClientError).problems?.map((p) => p.field)).toContain("event_type");
    expect(await chainSequence(vigil)).toBe(before + 2);
  });

  describe("the built package entry", () => {
    beforeAll(async () => {
      await run("npm", ["run", "build"], { cwd: ROOT });
    });

    it("import { AuditClient } from 'vigil' logs an event to the server", async () => {
      const before = await chainSequence(vigil);
      const script = [
        "import { AuditClient } from 'vigil';",
        "const audit = new AuditClient({ url: process.env.VIGIL_URL, token: process.env.VIGIL_TOKEN });",
        "const r = await audit.log({ event_type: 'restore.started', actor: { type: 'user', id: 'alice@company.com' } });",
        "await audit.close();",
        "console.log(JSON.stringify(r));",
      ].join("\n");
      const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], {
        cwd: ROOT,
        env: { ...process.env, VIGIL_URL: vigil.url, VIGIL_TOKEN: vigil.token },
      });
      const result = JSON.parse(stdout) as LogResult;
      expect(result).toMatchObject({ status: "sealed", sequence_number: before + 1 });

      await waitForDelivery(vigil);
      const record = (await readRecords(join(vigil.dataDir, "audit.log"))).find(
        (r) => r.integrity.sequence_number === result.sequence_number,
      );
      expect(record?.event).toMatchObject({ event_id: result.event_id, event_type: "restore.started" });
    });
  });
});
