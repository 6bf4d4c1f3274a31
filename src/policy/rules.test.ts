import { describe, expect, it } from "vitest";
import type { InputEvent } from "../event/schema.ts";
import { compilePolicy } from "./rules.ts";

const ev = (event_type: string, extra: Partial<InputEvent> = {}) => ({ event_type, ...extra });

describe("policy v1 (spec/000 events / exclude_events)", () => {
  it("keeps everything without lists", () => {
    expect(compilePolicy({ excludeEvents: [] }).decide(ev("anything.at_all"))).toEqual({ keep: true });
  });

  it("applies the include list with globs, then the exclude list", () => {
    const p = compilePolicy({
      events: ["backup.*", "restore.*", "access.denied"],
      excludeEvents: ["backup.checkpoint"],
    });
    expect(p.decide(ev("backup.started")).keep).toBe(true);
    expect(p.decide(ev("restore.failed")).keep).toBe(true);
    expect(p.decide(ev("access.denied")).keep).toBe(true);
    expect(p.decide(ev("access.granted"))).toEqual({ keep: false, reason: "not_in_events" });
    expect(p.decide(ev("backup.checkpoint"))).toEqual({ keep: false, reason: "excluded" });
    expect(p.decide(ev("backupXstarted")).keep).toBe(false);
  });

  it("treats ? as one character and escapes regex syntax", () => {
    const p = compilePolicy({ events: ["auth.log?n", "a+b.c"], excludeEvents: [] });
    expect(p.decide(ev("auth.login")).keep).toBe(true);
    expect(p.decide(ev("auth.logn")).keep).toBe(false);
    expect(p.decide(ev("a+b.c")).keep).toBe(true);
    expect(p.decide(ev("aab.c")).keep).toBe(false);
  });

  it("drops everything when audit is disabled", () => {
    expect(compilePolicy({ excludeEvents: [] }, false).decide(ev("backup.started"))).toEqual({
      keep: false,
      reason: "disabled",
    });
  });

  it("applies the Redpanda settings after the globs, each drop with its own reason", () => {
    const p = compilePolicy({
      excludeEvents: ["kafka.heartbeat"],
      redpanda: {
        enabled_event_types: ["produce", "consume", "heartbeat"],
        excluded_topics: ["tmp"],
        excluded_principals: ["User:bob"],
      },
    });
    const produce = (extra: Partial<InputEvent>) => ev("kafka.produce", { actor: { id: "alice" }, ...extra });
    expect(p.decide(ev("kafka.heartbeat")).reason).toBe("excluded");
    expect(p.decide(ev("kafka.createtopics")).reason).toBe("event_type_disabled");
    expect(p.decide(produce({ actor: { id: "bob" } })).reason).toBe("excluded_principal");
    expect(p.decide(produce({ resource: { type: "topic", id: "tmp" } })).reason).toBe("excluded_topic");
    expect(p.decide(produce({ resource: { type: "topic", id: "orders" } })).keep).toBe(true);
    expect(p.decide(ev("backup.started", { actor: { id: "bob" } })).keep).toBe(true);
  });

  it("refuses to exclude the audit topic", () => {
    expect(() =>
      compilePolicy({ excludeEvents: [], redpanda: { excluded_topics: ["audit"] }, auditTopics: ["audit"] }),
    ).toThrow(/cannot exclude the audit topic/);
  });
});
