import { afterEach, describe, expect, it, vi } from "vitest";
import { recordBatch } from "../../../test/support/kafka-codec.ts";
import { EventAggregator } from "./aggregate.ts";
import { authEvent, exchangeEvent, type Peer } from "./audit.ts";
import { APIS, type ApiSpec } from "./protocol/index.ts";

type Json = Record<string, unknown>;

const api = (key: number) => APIS.get(key) as ApiSpec;
const PRODUCE = api(0);
const HEARTBEAT = api(12);
const CREATE_TOPICS = api(19);

const peer: Peer = {
  principal: "alice",
  address: "10.0.0.7",
  port: 50123,
  listener: "127.0.0.1:9192",
  broker: "kafka-1:9092",
};
const T0 = Date.parse("2025-03-01T12:00:00.000Z");

/** A Produce v9 request of `values` records (one batch) to each topic, as exchangeEvent records it. */
function produce(
  n: { correlationId: number; at: number; durationMs: number; values?: number },
  topics: string[] = ["orders"],
): Json {
  const values = Array.from({ length: n.values ?? 1 }, (_, i) =>
    Buffer.from(`value-${n.correlationId}-${i}`),
  );
  return exchangeEvent(
    {
      api: PRODUCE,
      apiVersion: 9,
      correlationId: n.correlationId,
      clientId: "orders-app",
      request: {
        transactionalId: null,
        acks: -1,
        timeoutMs: 30000,
        topicData: topics.map((name) => ({
          name,
          partitionData: [{ index: 0, records: recordBatch(values, BigInt(T0)) }],
        })),
      },
      response: {
        responses: topics.map((name) => ({ name, partitionResponses: [{ index: 0, errorCode: 0 }] })),
        throttleTimeMs: 0,
      },
      startedAt: T0 + n.at,
      durationMs: n.durationMs,
    },
    peer,
    new Map(),
  );
}

function heartbeat(correlationId: number): Json {
  return exchangeEvent(
    {
      api: HEARTBEAT,
      apiVersion: 4,
      correlationId,
      clientId: "orders-app",
      request: { groupId: "billing", generationId: 1, memberId: "m-1", groupInstanceId: null },
      response: { throttleTimeMs: 0, errorCode: 0 },
      startedAt: T0 + correlationId,
      durationMs: 0.2,
    },
    peer,
    new Map(),
  );
}

function createTopic(correlationId: number, name: string): Json {
  return exchangeEvent(
    {
      api: CREATE_TOPICS,
      apiVersion: 7,
      correlationId,
      clientId: "admin",
      request: { topics: [{ name, numPartitions: 3, replicationFactor: 1, assignments: [], configs: [] }] },
      response: { topics: [{ name, errorCode: 0 }] },
      startedAt: T0 + correlationId,
      durationMs: 12,
    },
    peer,
    new Map(),
  );
}

const kafkaOf = (e: Json) => (e.details as { kafka: Json }).kafka;
const actionOf = (e: Json) => e.action as Json;

/** An aggregator over produce, consume, describe and heartbeat (the defaults), its output, and its clock. */
function setup(windowMs = 500, categories = ["produce", "consume", "describe", "heartbeat"]) {
  const out: Json[] = [];
  const clock = { t: 0 };
  const aggregator = new EventAggregator({
    windowMs,
    categories: new Set(categories),
    emit: (e) => out.push(e),
    now: () => clock.t,
  });
  return { aggregator, out, clock };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("EventAggregator: folding", () => {
  it("folds identical requests into one event: count, summed records, mean and longest duration, ends", () => {
    const { aggregator, out } = setup();
    const events = [
      produce({ correlationId: 5, at: 0, durationMs: 1.5, values: 2 }),
      produce({ correlationId: 6, at: 40, durationMs: 2.25, values: 3 }),
      produce({ correlationId: 7, at: 90, durationMs: 4.0004, values: 1 }),
    ];
    const before = structuredClone(events);
    for (const e of events) aggregator.add(e);
    expect(out).toEqual([]);
    aggregator.flush();
    expect(out).toHaveLength(1);
    const first = events[0] as Json;
    const topicsOf = (e: Json) => kafkaOf(e).topics as { records: number; batches: number; bytes: number }[];
    const bytes = events.reduce((sum, e) => sum + (topicsOf(e)[0]?.bytes ?? 0), 0);
    expect(out[0]).toEqual({
      ...first,
      action: {
        operation: "Produce",
        result: "success",
        duration_ms: 2.583, // (1.5 + 2.25 + 4) / 3, to the µs
        count: 3,
        ended_at: "2025-03-01T12:00:00.090Z",
      },
      details: {
        kafka: {
          ...kafkaOf(first),
          correlation_id: 5,
          topics: [{ name: "orders", partitions: 1, records: 6, batches: 3, bytes }],
          last_correlation_id: 7,
          duration_ms_max: 4,
        },
      },
    });
    expect(bytes).toBeGreaterThan(0);
    expect(out[0]?.timestamp).toBe("2025-03-01T12:00:00.000Z");
    // The events added are left as they were.
    expect(events).toEqual(before);
  });

  it("emits an event never repeated unchanged (the same object, without count)", () => {
    const { aggregator, out } = setup();
    const once = produce({ correlationId: 1, at: 0, durationMs: 1 });
    const before = structuredClone(once);
    aggregator.add(once);
    aggregator.flush();
    expect(out).toHaveLength(1);
    expect(out[0]).toBe(once);
    expect(once).toEqual(before);
    expect(actionOf(once)).not.toHaveProperty("count");
  });

  it("sums each topic's counts in order, and leaves counts out where no request had them (acks=0)", () => {
    const { aggregator, out } = setup();
    for (let i = 0; i < 2; i++)
      aggregator.add(produce({ correlationId: i, at: i, durationMs: 1, values: 2 }, ["a", "b"]));
    const noAnswer = (id: number): Json => {
      const e = produce({ correlationId: id, at: id, durationMs: 1 }, ["a"]);
      // What exchangeEvent makes of a request without records and without an answer.
      const kafka = kafkaOf(e);
      kafka.topics = [{ name: "a", partitions: 1 }];
      kafka.response = "none (acks=0)";
      delete actionOf(e).duration_ms;
      return e;
    };
    aggregator.add(noAnswer(10));
    aggregator.add(noAnswer(11));
    aggregator.flush();
    expect(out.map((e) => kafkaOf(e).topics)).toEqual([
      [
        { name: "a", partitions: 1, records: 4, batches: 2, bytes: expect.any(Number) },
        { name: "b", partitions: 1, records: 4, batches: 2, bytes: expect.any(Number) },
      ],
      [{ name: "a", partitions: 1 }],
    ]);
    expect(actionOf(out[1] as Json)).toEqual({
      operation: "Produce",
      result: "success",
      count: 2,
      ended_at: expect.any(String),
    });
    expect(kafkaOf(out[1] as Json)).not.toHaveProperty("duration_ms_max");
    expect(kafkaOf(out[1] as Json).last_correlation_id).toBe(11);
  });

  const base = () => produce({ correlationId: 1, at: 0, durationMs: 1 });
  /** An event without what differs between repeats and what folding adds. */
  const identity = (e: Json): Json => {
    const { timestamp: _t, ...copy } = structuredClone(e);
    const { duration_ms: _d, count: _c, ended_at: _e, ...action } = actionOf(copy);
    const { correlation_id: _i, last_correlation_id: _l, duration_ms_max: _m, ...kafka } = kafkaOf(copy);
    const topics = (kafka.topics as Json[]).map(({ records: _r, batches: _b, bytes: _y, ...t }) => t);
    return { ...copy, action, details: { kafka: { ...kafka, topics } } };
  };
  const differing: [string, (e: Json) => void][] = [
    ["event_type", (e) => (e.event_type = "kafka.fetch")],
    ["actor.type", (e) => ((e.actor as Json).type = "anonymous")],
    ["actor.id", (e) => ((e.actor as Json).id = "User:bob")],
    ["actor.ip_address", (e) => ((e.actor as Json).ip_address = "10.0.0.8")],
    ["resource.type", (e) => ((e.resource as Json).type = "group")],
    ["resource.id", (e) => ((e.resource as Json).id = "payments")],
    ["action.operation", (e) => (actionOf(e).operation = "Fetch")],
    ["action.result", (e) => (actionOf(e).result = "failure")],
    ["api_version", (e) => (kafkaOf(e).api_version = 10)],
    ["client_id", (e) => (kafkaOf(e).client_id = "other-app")],
    ["client_id null", (e) => (kafkaOf(e).client_id = null)],
    ["client_port", (e) => (kafkaOf(e).client_port = 50124)],
    ["listener", (e) => (kafkaOf(e).listener = "127.0.0.1:9193")],
    ["broker", (e) => (kafkaOf(e).broker = "kafka-2:9092")],
    ["topic name", (e) => (((kafkaOf(e).topics as Json[])[0] as Json).name = "payments")],
    ["topic partitions", (e) => (((kafkaOf(e).topics as Json[])[0] as Json).partitions = 2)],
    ["another topic", (e) => (kafkaOf(e).topics as Json[]).push({ name: "payments", partitions: 1 })],
    ["groups", (e) => (kafkaOf(e).groups = ["billing"])],
    ["transactional_ids", (e) => (kafkaOf(e).transactional_ids = ["tx-1"])],
    [
      "acls",
      (e) =>
        (kafkaOf(e).acls = [
          {
            resource_type: "TOPIC",
            resource_name: "orders",
            pattern_type: "LITERAL",
            principal: "User:bob",
            host: "*",
            operation: "READ",
            permission: "ALLOW",
          },
        ]),
    ],
    ["error_codes", (e) => (kafkaOf(e).error_codes = { "29": 1 })],
    ["response", (e) => (kafkaOf(e).response = "none (acks=0)")],
    ["decode_error", (e) => (kafkaOf(e).decode_error = "request: 3 bytes left over")],
    ["refused_audit_topics", (e) => (kafkaOf(e).refused_audit_topics = ["vigil-audit"])],
    ["refused", (e) => (kafkaOf(e).refused = "audit path full (failure_policy: reject)")],
    // Values run together would be equal: the key writes each value's length.
    [
      "where listener ends and broker begins",
      (e) => {
        kafkaOf(e).listener = "127.0.0.1:9192k";
        kafkaOf(e).broker = "afka-1:9092";
      },
    ],
  ];

  it.each(differing)("keeps events apart that differ in %s", (_field, change) => {
    const { aggregator, out } = setup();
    const other = base();
    change(other);
    aggregator.add(base());
    aggregator.add(other);
    aggregator.add(base());
    aggregator.add(other);
    aggregator.flush();
    expect(out).toHaveLength(2);
    expect(out.map((e) => actionOf(e).count)).toEqual([2, 2]);
    expect(out.map(identity)).toEqual([identity(base()), identity(other)]);
  });

  it("folds events that differ only in correlation id, start, duration and record counts", () => {
    const { aggregator, out } = setup();
    aggregator.add(produce({ correlationId: 1, at: 0, durationMs: 1, values: 1 }));
    aggregator.add(produce({ correlationId: 900, at: 499, durationMs: 30, values: 50 }));
    aggregator.flush();
    expect(out.map((e) => actionOf(e).count)).toEqual([2]);
  });

  it("emits held events in the order their first occurrence arrived", () => {
    const { aggregator, out } = setup();
    aggregator.add(produce({ correlationId: 1, at: 0, durationMs: 1 }, ["x"]));
    aggregator.add(heartbeat(2));
    aggregator.add(produce({ correlationId: 3, at: 2, durationMs: 1 }, ["y"]));
    aggregator.add(produce({ correlationId: 4, at: 3, durationMs: 1 }, ["x"]));
    aggregator.add(heartbeat(5));
    aggregator.flush();
    expect(out.map((e) => [e.event_type, kafkaOf(e).correlation_id, actionOf(e).count])).toEqual([
      ["kafka.produce", 1, 2],
      ["kafka.heartbeat", 2, 2],
      ["kafka.produce", 3, undefined],
    ]);
  });
});

describe("EventAggregator: what is not folded", () => {
  it("passes events of other categories, and events without one, straight through in order", () => {
    const { aggregator, out } = setup(500, ["produce"]);
    const a = createTopic(1, "a");
    const login = authEvent(peer, true, {});
    const b = heartbeat(2);
    const c = createTopic(3, "a");
    aggregator.add(produce({ correlationId: 10, at: 0, durationMs: 1 }));
    aggregator.add(a);
    aggregator.add(login);
    aggregator.add(produce({ correlationId: 11, at: 1, durationMs: 1 }));
    aggregator.add(b);
    aggregator.add(c);
    expect(out).toEqual([a, login, b, c]);
    expect(out[0]).toBe(a);
    aggregator.flush();
    expect(out.slice(4).map((e) => actionOf(e).count)).toEqual([2]);
  });

  it("passes everything at once with a window of 0, and starts no timer", () => {
    vi.useFakeTimers();
    const { aggregator, out } = setup(0);
    const events = [1, 2, 3].map((id) => produce({ correlationId: id, at: id, durationMs: 1 }));
    for (const e of events) aggregator.add(e);
    expect(out).toEqual(events);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("EventAggregator: windows", () => {
  it("emits what a window held when it ends, and stops its timer once a window holds nothing", () => {
    vi.useFakeTimers();
    const { aggregator, out, clock } = setup(500);
    const tick = (ms: number) => {
      clock.t += ms;
      vi.advanceTimersByTime(ms);
    };
    expect(vi.getTimerCount()).toBe(0);
    aggregator.add(produce({ correlationId: 1, at: 0, durationMs: 1 }));
    expect(vi.getTimerCount()).toBe(1);
    tick(200);
    aggregator.add(produce({ correlationId: 2, at: 200, durationMs: 1 }));
    tick(299);
    expect(out).toEqual([]);
    tick(1);
    expect(out.map((e) => actionOf(e).count)).toEqual([2]);
    // The next window starts afresh: an identical request is a new event.
    tick(100);
    aggregator.add(produce({ correlationId: 3, at: 600, durationMs: 1 }));
    tick(400);
    expect(out.map((e) => kafkaOf(e).correlation_id)).toEqual([1, 3]);
    expect(actionOf(out[1] as Json)).not.toHaveProperty("count");
    expect(vi.getTimerCount()).toBe(1);
    tick(500); // a window that held nothing
    expect(vi.getTimerCount()).toBe(0);
    aggregator.add(produce({ correlationId: 4, at: 1600, durationMs: 1 }));
    expect(vi.getTimerCount()).toBe(1);
    aggregator.stop();
  });

  it("closes a window that outlived windowMs when the next event comes, even if the timer is late", () => {
    const { aggregator, out, clock } = setup(500);
    aggregator.add(produce({ correlationId: 1, at: 0, durationMs: 1 }));
    clock.t = 499;
    aggregator.add(produce({ correlationId: 2, at: 499, durationMs: 1 }));
    expect(out).toEqual([]);
    clock.t = 500;
    aggregator.add(produce({ correlationId: 3, at: 500, durationMs: 1 }));
    expect(out.map((e) => [kafkaOf(e).correlation_id, actionOf(e).count])).toEqual([[1, 2]]);
    aggregator.stop();
    expect(out.map((e) => [kafkaOf(e).correlation_id, actionOf(e).count])).toEqual([
      [1, 2],
      [3, undefined],
    ]);
  });

  it("does not keep the process alive: its timer is unref'd", () => {
    const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const before = timeouts();
    const aggregator = new EventAggregator({
      windowMs: 60_000,
      categories: new Set(["produce"]),
      emit: () => {},
    });
    aggregator.add(produce({ correlationId: 1, at: 0, durationMs: 1 }));
    expect(timeouts()).toBe(before);
    aggregator.stop();
  });

  it("stop() emits what is held, leaves no timer, and later events go straight out", () => {
    vi.useFakeTimers();
    const { aggregator, out } = setup(500);
    aggregator.add(produce({ correlationId: 1, at: 0, durationMs: 1 }));
    aggregator.add(produce({ correlationId: 2, at: 1, durationMs: 1 }));
    aggregator.stop();
    expect(out.map((e) => actionOf(e).count)).toEqual([2]);
    expect(vi.getTimerCount()).toBe(0);
    const late = produce({ correlationId: 3, at: 2, durationMs: 1 });
    aggregator.add(late);
    expect(out[1]).toBe(late);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("never changes an event after emitting it", () => {
    vi.useFakeTimers();
    const { aggregator, out, clock } = setup(500);
    const add = (id: number) =>
      aggregator.add(produce({ correlationId: id, at: id, durationMs: id, values: id }));
    add(1);
    add(2);
    clock.t += 500;
    vi.advanceTimersByTime(500);
    add(3); // alone in its window: emitted as it was added
    aggregator.flush();
    const snapshots = structuredClone(out);
    // More identical requests, windows, and a stop: what went out stays as it went out.
    for (let id = 4; id < 10; id++) add(id);
    clock.t += 500;
    vi.advanceTimersByTime(500);
    add(10);
    add(11);
    aggregator.stop();
    expect(out.slice(0, 2)).toEqual(snapshots);
    expect(out.map((e) => actionOf(e).count)).toEqual([2, undefined, 6, 2]);
  });
});
