import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.ts";
import type { InputEvent } from "../event/schema.ts";
import { decode } from "../formats/decode.ts";
import {
  compileRedpandaFilters,
  excludedTopic,
  type RedpandaEventType,
  redpandaEventType,
} from "./redpanda.ts";

const FIXTURES = new URL("../../../shared/fixtures/", import.meta.url);
const auditTopic = "audit-events";

async function fixture(name: string): Promise<InputEvent[]> {
  const text = await readFile(new URL(name, FIXTURES), "utf8");
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .flatMap((l) => decode(JSON.parse(l)));
}

/** Resource.service is one of the fields the schema allows beyond those it names. */
const viaService = (service: string): Partial<InputEvent> => ({
  resource: { service } as NonNullable<InputEvent["resource"]>,
});

describe("redpandaEventType", () => {
  const cases: [string, RedpandaEventType | undefined, Partial<InputEvent>?][] = [
    ["kafka.createtopics", "management"],
    ["kafka.deletetopics", "management"],
    ["kafka.createacls", "management"],
    ["kafka.incrementalalterconfigs", "management"],
    ["kafka.offsetdelete", "management"],
    ["kafka.produce", "produce"],
    ["kafka.initproducerid", "produce"],
    ["kafka.endtxn", "produce"],
    ["kafka.fetch", "consume"],
    ["kafka.fetchconsumer", "consume"],
    ["kafka.joingroup", "consume"],
    ["kafka.syncgroup", "consume"],
    ["kafka.listoffsets", "consume"],
    ["kafka.offsetcommit", "consume"],
    ["kafka.metadata", "describe"],
    ["kafka.describeconfigs", "describe"],
    ["kafka.findcoordinator", "describe"],
    ["kafka.offsetfetch", "describe"],
    ["kafka.heartbeat", "heartbeat"],
    ["kafka.saslauthenticate", "authenticate"],
    ["kafka.authentication", "authenticate"],
    ["auth.login", "authenticate"],
    ["auth.failed", "authenticate"],
    ["schema_registry.subject_get", "schema_registry"],
    ["admin.config_update", "admin"],
    ["api.read", "admin", viaService("Redpanda Admin HTTP Server")],
    ["api.create", "schema_registry", viaService("Redpanda Schema Registry")],
    ["api.read", undefined, viaService("Redpanda HTTP Proxy")],
    ["api.read", undefined],
    ["kafka.apiversions", "describe"],
    ["kafka.consumergroupheartbeat", "heartbeat"],
    ["kafka.electleaders", "management"],
    ["kafka.sometimenewapi", undefined],
    ["k8s.create", undefined],
    ["backup.completed", undefined],
  ];
  for (const [type, expected, extra] of cases) {
    it(`${type}${extra ? ` ${JSON.stringify(extra)}` : ""} → ${expected ?? "none"}`, () => {
      expect(redpandaEventType({ event_type: type, ...extra })).toBe(expected);
    });
  }

  it("types every Kafka record of the Redpanda and Confluent fixtures", async () => {
    const events = [
      ...(await fixture("redpanda-ocsf-samples.ndjson")),
      ...(await fixture("confluent-audit-cloudevents.ndjson")),
    ];
    const kafka = events.filter((e) => e.event_type.startsWith("kafka.") || e.event_type.startsWith("auth."));
    expect(kafka.length).toBeGreaterThan(5);
    const untyped = kafka.filter((e) => redpandaEventType(e) === undefined).map((e) => e.event_type);
    expect(untyped).toEqual([]);
  });
});

describe("excludedTopic", () => {
  it("reads a topic resource and details.topics, and answers only when all are excluded", () => {
    const event = {
      event_type: "kafka.produce",
      resource: { type: "topic", id: "a" },
      details: { topics: ["b", { name: "c" }, 7] },
    };
    expect(excludedTopic(event, new Set(["a", "b", "c"]))).toBe("a");
    expect(excludedTopic(event, new Set(["a", "b"]))).toBeUndefined();
    expect(excludedTopic(event, new Set(["b", "c"]))).toBeUndefined();
    expect(excludedTopic({ ...event, resource: undefined }, new Set(["b", "c"]))).toBe("b");
    const group = { event_type: "kafka.produce", resource: { type: "group", id: "g" } };
    expect(excludedTopic(group, new Set(["g"]))).toBeUndefined();
  });
});

describe("compileRedpandaFilters", () => {
  const produce = (extra: Partial<InputEvent> = {}): InputEvent => ({
    event_type: "kafka.produce",
    actor: { id: "User:alice" },
    resource: { type: "topic", id: "orders" },
    ...extra,
  });

  it("keeps everything when nothing is configured", () => {
    const f = compileRedpandaFilters({}, { auditTopics: [auditTopic] });
    expect(f.decide(produce())).toEqual({ keep: true, eventType: "produce" });
    expect(f.decide({ event_type: "k8s.get" })).toEqual({ keep: true });
  });

  it("drops types that are not enabled and leaves events of no Kafka type alone", () => {
    const f = compileRedpandaFilters(
      { enabled_event_types: ["management", "authenticate"] },
      { auditTopics: [auditTopic] },
    );
    expect(f.decide(produce())).toEqual({
      keep: false,
      reason: "event_type_disabled",
      eventType: "produce",
      match: "produce",
    });
    expect(f.decide({ event_type: "kafka.createtopics" }).keep).toBe(true);
    expect(f.decide({ event_type: "auth.login" }).keep).toBe(true);
    expect(f.decide({ event_type: "backup.completed" })).toEqual({ keep: true });
    expect(
      compileRedpandaFilters({ enabled_event_types: [] }, { auditTopics: [auditTopic] }).decide(produce())
        .keep,
    ).toBe(false);
  });

  it("matches principals with or without User:", () => {
    for (const configured of ["alice", "User:alice"]) {
      const f = compileRedpandaFilters({ excluded_principals: [configured] }, { auditTopics: [auditTopic] });
      for (const actor of ["alice", "User:alice"]) {
        expect(f.decide(produce({ actor: { id: actor } }))).toMatchObject({
          keep: false,
          reason: "excluded_principal",
          match: configured,
        });
      }
      expect(f.decide(produce({ actor: { id: "User:bob" } })).keep).toBe(true);
      expect(f.decide(produce({ actor: { id: "User:alice2" } })).keep).toBe(true);
    }
  });

  it("drops an event only when every topic it names is excluded", () => {
    const f = compileRedpandaFilters({ excluded_topics: ["orders", "tmp"] }, { auditTopics: [auditTopic] });
    expect(f.decide(produce())).toMatchObject({ keep: false, reason: "excluded_topic", match: "orders" });
    expect(f.decide(produce({ resource: { type: "topic", id: "payments" } })).keep).toBe(true);
    expect(f.decide(produce({ resource: undefined, details: { topics: ["orders", "tmp"] } })).keep).toBe(
      false,
    );
    expect(f.decide(produce({ resource: undefined, details: { topics: ["orders", "payments"] } })).keep).toBe(
      true,
    );
    // A resource named like the topic but of another type is not a topic.
    expect(f.decide(produce({ resource: { type: "group", id: "orders" } })).keep).toBe(true);
  });

  it("applies the settings to the Redpanda OCSF fixture", async () => {
    const f = compileRedpandaFilters(
      { enabled_event_types: ["produce", "authenticate"], excluded_principals: ["admin"] },
      { auditTopics: [auditTopic] },
    );
    const kept = (await fixture("redpanda-ocsf-samples.ndjson")).filter((e) => f.decide(e).keep);
    expect(kept.map((e) => `${e.event_type} ${e.actor?.id}`)).toEqual([
      "auth.login user",
      "auth.login alice@example.com",
      "kafka.produce alice",
    ]);
  });

  it("refuses unknown event types, naming the entry", () => {
    try {
      compileRedpandaFilters(
        { enabled_event_types: ["produce", "consumer", "audit"] },
        { auditTopics: [auditTopic] },
      );
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ValidationError);
      const problems = (e as ValidationError).problems;
      expect(problems.map((p) => p.field)).toEqual(["enabled_event_types[1]", "enabled_event_types[2]"]);
      expect(problems[0]?.message).toContain('unknown event type "consumer" (did you mean "consume"?)');
    }
  });

  it("refuses a configuration that excludes the audit topic itself", () => {
    expect(() =>
      compileRedpandaFilters({ excluded_topics: ["tmp", "audit-events"] }, { auditTopics: [auditTopic] }),
    ).toThrow(/excluded_topics\[1\]: cannot exclude the audit topic "audit-events"/);
    expect(() =>
      compileRedpandaFilters({ excluded_topics: ["audit-events"] }, { auditTopics: ["_redpanda.audit_log"] }),
    ).not.toThrow();
  });
});
