import { mkdtemp, open, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import type { FailurePolicy, PolicyConfig } from "../config/types.ts";
import { DEFAULT_EVENT_LIMITS, prepareEvents } from "../event/validate.ts";
import { Sealer } from "../integrity/chain.ts";
import { keyFromSecret } from "../integrity/keys.ts";
import { JournalWriter } from "../journal/writer.ts";
import { compileRedaction, type RedactionConfig } from "../policy/redact.ts";
import { compilePolicy } from "../policy/rules.ts";
import { Pipeline, type PipelineCounters } from "./pipeline.ts";
import { RecentIds } from "./recent-ids.ts";

const key = keyFromSecret(Buffer.alloc(32, 3), "test");

async function setup(
  opts: {
    failurePolicy?: FailurePolicy;
    queueMaxEvents?: number;
    events?: string[];
    policy?: Omit<PolicyConfig, "excludeEvents">;
    enabled?: boolean;
    redaction?: RedactionConfig;
  } = {},
) {
  const dir = join(await mkdtemp(join(tmpdir(), "vigil-pipeline-")), "journal");
  const { writer, recovery } = await JournalWriter.open({ dir, segmentBytes: 1 << 20 });
  const counts = { sealed: 0, excluded: 0, dropped: 0, duplicates: 0, reasons: {} as Record<string, number> };
  const counters: PipelineCounters = {
    sealed: (n) => {
      counts.sealed += n;
    },
    excluded: (reason, n) => {
      counts.excluded += n;
      counts.reasons[reason] = (counts.reasons[reason] ?? 0) + n;
    },
    dropped: (_r, n) => {
      counts.dropped += n;
    },
    duplicates: (n) => {
      counts.duplicates += n;
    },
  };
  const logs: string[] = [];
  const pipeline = new Pipeline({
    sealer: new Sealer(key, recovery.head),
    writer,
    policy: compilePolicy(
      {
        ...(opts.events ? { events: opts.events } : {}),
        ...opts.policy,
        excludeEvents: ["backup.checkpoint"],
      },
      opts.enabled,
    ),
    redaction: compileRedaction(opts.redaction ?? {}),
    limits: DEFAULT_EVENT_LIMITS,
    failurePolicy: opts.failurePolicy ?? "reject",
    queueMaxEvents: opts.queueMaxEvents ?? 1000,
    counters,
    recentIds: new RecentIds(),
    log: (m) => logs.push(m),
  });
  return { dir, writer, pipeline, counts, logs };
}

const events = (...types: string[]) =>
  prepareEvents(
    types.map((t, i) => ({ value: { event_type: t, event_id: `evt_${t}_${i}` } })),
    { source: "test" },
  );

describe("pipeline", () => {
  it("seals kept events in order and counts excluded ones", async () => {
    const { pipeline, writer, counts } = await setup();
    const r = await pipeline.ingest(events("backup.started", "backup.checkpoint", "backup.completed"));
    expect(r).toMatchObject({ accepted: 2, excluded: 1, dropped: 0 });
    expect(r.events.map((e) => [e.status, e.sequence_number])).toEqual([
      ["sealed", 1],
      ["excluded", undefined],
      ["sealed", 2],
    ]);
    expect(writer.durableSequence).toBe(2);
    expect(counts).toMatchObject({ sealed: 2, excluded: 1 });
    await writer.close();
  });

  it("answers a repeated event_id with its original sequence number instead of sealing it again", async () => {
    const { pipeline, writer, counts } = await setup();
    const first = await pipeline.ingest(events("a.b", "c.d"));
    const again = await pipeline.ingest(events("a.b", "c.d"));
    expect(again.events).toEqual(first.events);
    expect(again.accepted).toBe(0);
    const within = prepareEvents(
      [
        { value: { event_type: "x.y", event_id: "evt_same" } },
        { value: { event_type: "x.y", event_id: "evt_same" } },
      ],
      { source: "test" },
    );
    const r = await pipeline.ingest(within);
    expect(r.events.map((e) => e.sequence_number)).toEqual([3, 3]);
    expect(writer.durableSequence).toBe(3);
    expect(counts.duplicates).toBe(3);
    await writer.close();
  });

  it("reloads recent ids from the journal after a restart", async () => {
    const { pipeline, writer, dir } = await setup();
    await pipeline.ingest(events("a.b", "c.d", "e.f"));
    await writer.close();
    const ids = new RecentIds(2);
    await ids.loadFromJournal(dir, 3);
    expect(ids.size).toBe(2);
    expect(ids.get("evt_a.b_0")).toBeUndefined();
    expect(ids.get("evt_c.d_1")).toBe(2);
    expect(ids.get("evt_e.f_2")).toBe(3);
  });

  it("answers a retry of an event still in flight only once it is durable, and never if its write failed", async () => {
    const { pipeline, writer } = await setup();
    const probe = await open(join(tmpdir(), `vigil-probe-${process.pid}`), "w");
    const proto = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
    await probe.close();
    const spy = vi
      .spyOn(proto, "datasync")
      .mockRejectedValueOnce(Object.assign(new Error("eio"), { code: "EIO" }));
    try {
      const original = pipeline.ingest(events("a.b"));
      const retry = pipeline.ingest(events("a.b"));
      await expect(original).rejects.toMatchObject({ code: "journal_failed" });
      await expect(retry).rejects.toMatchObject({ code: "journal_failed" });
      expect(writer.durableSequence).toBe(0);
    } finally {
      spy.mockRestore();
      await writer.close();
    }
  });

  it("refuses with a retryable queue_full when the queue is full (fail closed)", async () => {
    const { pipeline, writer } = await setup({ queueMaxEvents: 1 });
    const first = pipeline.ingest(events("a.b"));
    await expect(pipeline.ingest(events("c.d"))).rejects.toMatchObject({
      code: "queue_full",
      retryable: true,
    });
    await first;
    expect(writer.durableSequence).toBe(1);
    await writer.close();
  });

  it("admits a batch larger than the queue limit when the journal is idle", async () => {
    const { pipeline, writer } = await setup({ queueMaxEvents: 1 });
    const r = await pipeline.ingest(events("a.b", "c.d", "e.f"));
    expect(r.accepted).toBe(3);
    await writer.close();
  });

  it("accepts and drops, counted and logged, with failure_policy permit", async () => {
    const { pipeline, writer, counts, logs } = await setup({ failurePolicy: "permit", queueMaxEvents: 1 });
    const first = pipeline.ingest(events("x.y"));
    const r = await pipeline.ingest(events("a.b", "c.d"));
    await first;
    expect(r).toMatchObject({ accepted: 0, dropped: 2 });
    expect(r.events.every((e) => e.status === "dropped")).toBe(true);
    expect(counts.dropped).toBe(2);
    expect(logs.join("\n")).toMatch(/dropped 2 events/);
    expect(writer.durableSequence).toBe(1);
    await writer.close();
  });

  it("refuses an oversized event before sealing anything in its batch", async () => {
    const { pipeline, writer } = await setup();
    const big = prepareEvents(
      [
        { value: { event_type: "a.b" } },
        { value: { event_type: "a.b", details: { blob: "x".repeat(DEFAULT_EVENT_LIMITS.maxEventBytes) } } },
      ],
      { source: "test" },
    );
    await expect(pipeline.ingest(big)).rejects.toMatchObject({ code: "invalid_event" });
    expect(writer.durableSequence).toBe(0);
    await writer.close();
  });

  it("drops by each policy rule in turn, counting each under its own reason", async () => {
    const { pipeline, writer, counts } = await setup({
      policy: {
        events: ["backup.*", "kafka.*"],
        redpanda: {
          enabled_event_types: ["produce"],
          excluded_topics: ["tmp"],
          excluded_principals: ["User:bob"],
        },
      },
    });
    const batch = prepareEvents(
      [
        { event_type: "restore.started" },
        { event_type: "backup.checkpoint" },
        { event_type: "kafka.createtopics" },
        { event_type: "kafka.produce", resource: { type: "topic", id: "tmp" } },
        { event_type: "kafka.produce", actor: { id: "bob" }, resource: { type: "topic", id: "orders" } },
        { event_type: "kafka.produce", actor: { id: "alice" }, resource: { type: "topic", id: "orders" } },
        { event_type: "backup.started", actor: { id: "bob" } },
      ].map((value, i) => ({ value: { ...value, event_id: `evt_${i}` } })),
      { source: "test" },
    );
    const r = await pipeline.ingest(batch);
    expect(r.events.map((e) => e.status)).toEqual([
      "excluded",
      "excluded",
      "excluded",
      "excluded",
      "excluded",
      "sealed",
      "sealed",
    ]);
    expect(counts.reasons).toEqual({
      not_in_events: 1,
      excluded: 1,
      event_type_disabled: 1,
      excluded_topic: 1,
      excluded_principal: 1,
    });
    await writer.close();
  });

  it("counts every event as disabled when audit is disabled", async () => {
    const { pipeline, writer, counts } = await setup({ enabled: false });
    expect(await pipeline.ingest(events("a.b", "c.d"))).toMatchObject({ accepted: 0, excluded: 2 });
    expect(counts.reasons).toEqual({ disabled: 2 });
    await writer.close();
  });

  it("redacts before sealing: the sealed record holds <redacted>, never the secret", async () => {
    const { pipeline, writer, dir } = await setup({ redaction: { fields: ["details.password"] } });
    const secret = "hunter2-do-not-seal";
    const batch = prepareEvents(
      [
        {
          value: { event_type: "user.created", event_id: "evt_pw", details: { password: secret, name: "x" } },
        },
        {
          value: {
            event_type: "k8s.create",
            event_id: "evt_k8s",
            details: {
              kubernetes: {
                objectRef: { resource: "secrets", namespace: "ns", name: "s" },
                requestObject: { kind: "Secret", data: { token: Buffer.from(secret).toString("base64") } },
              },
            },
          },
        },
      ],
      { source: "test" },
    );
    const r = await pipeline.ingest(batch);
    expect(r.accepted).toBe(2);
    await writer.close();
    const files = await readdir(dir);
    const sealed = (await Promise.all(files.map((f) => readFile(join(dir, f), "utf8")))).join("");
    expect(sealed).toContain('"password":"<redacted>"');
    expect(sealed).toContain('"token":"<redacted>"');
    expect(sealed).toContain('"name":"x"');
    expect(sealed).not.toContain(secret);
    expect(sealed).not.toContain(Buffer.from(secret).toString("base64"));
    // The caller's event is left as it was.
    expect(batch[0]?.details).toEqual({ password: secret, name: "x" });
  });
});
