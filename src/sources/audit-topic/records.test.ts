import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { fixturePath } from "../../../test/support/fixtures.ts";
import { ValidationError } from "../../errors.ts";
import type { NativeEvent } from "../../event/schema.ts";
import { DEFAULT_EVENT_LIMITS } from "../../event/validate.ts";
import { decodeCloudEvents } from "../../formats/cloudevents/decode.ts";
import { decodeOcsf } from "../../formats/ocsf/decode.ts";
import type { TopicFormat } from "./config.ts";
import {
  MAX_RAW_CHARS,
  type PreparedRecord,
  prepareRecord,
  prepareUnparsed,
  type RecordContext,
  type TopicRecord,
  UNPARSED_EVENT_TYPE,
} from "./records.ts";

const TOPIC_ID = "a4cb7be6-b293-4b11-9a85-ffe8c0626068";
const NOW = new Date("2026-01-02T03:04:05.000Z");
/** 2024-03-01T10:00:00.000Z */
const RECORD_TIME = 1709287200000n;

/** The fixture's lines exactly as written (a producer would send them so). */
function fixtureLines(name: string): string[] {
  return readFileSync(fixturePath(name), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "");
}

function record(value: string | Buffer | null, offset = 7n, partition = 2): TopicRecord {
  return {
    topic: "_redpanda.audit_log",
    partition,
    offset,
    timestamp: RECORD_TIME,
    value: typeof value === "string" ? Buffer.from(value) : value,
  };
}

function ctx(format: TopicFormat = "auto", limits = DEFAULT_EVENT_LIMITS): RecordContext {
  return {
    format,
    idPrefix: `kafka:${TOPIC_ID}`,
    timestampInIds: false,
    origin: { source: "kafka-audit-topic", token: "redpanda" },
    limits,
    now: NOW,
  };
}

/** The event's details, as the tests read them. */
const details = (event: NativeEvent) => (event.details ?? {}) as Record<string, unknown>;

function only(prepared: PreparedRecord): NativeEvent {
  expect(prepared.events).toHaveLength(1);
  return prepared.events[0] as NativeEvent;
}

const kafkaSource = (offset: number, partition = 2) => ({
  topic: "_redpanda.audit_log",
  partition,
  offset,
  timestamp: "2024-03-01T10:00:00.000Z",
});

describe("prepareRecord", () => {
  it("maps every Redpanda OCSF record as the OCSF decoder does, with the record's position as event id", () => {
    fixtureLines("redpanda-ocsf-samples.ndjson").forEach((text, i) => {
      for (const format of ["auto", "ocsf"] as const) {
        const prepared = prepareRecord(record(text, BigInt(i)), ctx(format));
        expect(prepared.unparsed).toBeUndefined();
        const event = only(prepared);
        const [decoded] = decodeOcsf(JSON.parse(text));
        expect(event).toEqual({
          ...decoded,
          event_id: `kafka:${TOPIC_ID}:2:${i}`,
          version: "1.0",
          received_at: NOW.toISOString(),
          origin: { source: "kafka-audit-topic", token: "redpanda" },
          details: { ...decoded?.details, kafka_source: kafkaSource(i) },
        });
      }
    });
  });

  it("maps every Confluent CloudEvent as the CloudEvents decoder does, keeping its id", () => {
    for (const text of fixtureLines("confluent-audit-cloudevents.ndjson")) {
      const value = JSON.parse(text) as { id: string };
      const event = only(prepareRecord(record(text), ctx("cloudevents")));
      const [decoded] = decodeCloudEvents(value);
      expect(event.event_id).toBe(value.id);
      expect(event).toMatchObject({
        ...decoded,
        details: { ...decoded?.details, kafka_source: kafkaSource(7) },
      });
      expect(only(prepareRecord(record(text), ctx("auto")))).toEqual(event);
    }
  });

  it("keeps an OCSF metadata.uid as the event id, and stamps the record's time on an event that has none", () => {
    const ocsf = JSON.parse(fixtureLines("redpanda-ocsf-samples.ndjson")[0] as string) as {
      metadata: Record<string, unknown>;
    };
    ocsf.metadata.uid = "evt-42";
    expect(only(prepareRecord(record(JSON.stringify(ocsf)), ctx())).event_id).toBe("evt-42");

    const cloudevent = {
      specversion: "1.0",
      id: "x-1",
      source: "crn://c",
      type: "io.confluent.kafka.server/authorization",
    };
    expect(only(prepareRecord(record(JSON.stringify(cloudevent)), ctx())).timestamp).toBe(
      "2024-03-01T10:00:00.000Z",
    );
  });

  it("numbers the events of a record holding several that have no id of their own", () => {
    const batch = [1, 2].map((n) => ({ specversion: "1.0", id: `ce-${n}`, source: "s", type: "a.b" }));
    const prepared = prepareRecord(record(JSON.stringify(batch)), ctx("cloudevents"));
    expect(prepared.events.map((e) => e.event_id)).toEqual(["ce-1", "ce-2"]);
  });

  it.each([
    ["not json", "not json", /^malformed JSON: /],
    ["an empty value", "", /^malformed JSON: /],
    ["a JSON value of neither format", '{"hello":"world"}', /^neither an OCSF record nor a CloudEvent$/],
    [
      "a record the decoder refuses",
      '{"class_uid":4001,"metadata":{},"time":1,"activity_id":1}',
      /^not a valid OCSF record: class_uid: must be 3002/,
    ],
    ["an empty CloudEvents batch", "[]", /^neither an OCSF record nor a CloudEvent$/],
  ])("keeps %s raw as an unparsed event", (_what, text, reason) => {
    const prepared = prepareRecord(record(text), ctx());
    expect(prepared.unparsed).toMatch(reason);
    const event = only(prepared);
    expect(event).toMatchObject({
      event_type: UNPARSED_EVENT_TYPE,
      event_id: `kafka:${TOPIC_ID}:2:7`,
      timestamp: "2024-03-01T10:00:00.000Z",
      details: { kafka_source: kafkaSource(7), raw_bytes: text.length },
    });
    expect(details(event).reason).toMatch(reason);
    if (text !== "") expect(details(event).raw).toBe(text);
  });

  it("refuses a record of the other format when the format is named", () => {
    const cloudevent = fixtureLines("confluent-audit-cloudevents.ndjson")[0] as string;
    const prepared = prepareRecord(record(cloudevent), ctx("ocsf"));
    expect(prepared.unparsed).toBe("not a valid OCSF record: class_uid: is required");
    expect(details(only(prepared)).raw).toBe(cloudevent);
  });

  it("keeps a record without a value, and one that is not UTF-8 (as base64)", () => {
    expect(only(prepareRecord(record(null), ctx())).details).toEqual({
      kafka_source: kafkaSource(7),
      reason: "the record has no value",
      raw_bytes: 0,
    });
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x41]);
    expect(only(prepareRecord(record(binary), ctx())).details).toMatchObject({
      reason: "the value is not UTF-8 text",
      raw_base64: binary.toString("base64"),
      raw_bytes: 4,
    });
  });

  it("cuts a long raw value, and leaves it out when even the cut one is over the event size limit", () => {
    const long = "x".repeat(MAX_RAW_CHARS + 10);
    const cut = only(prepareRecord(record(long), ctx()));
    expect(cut.details).toMatchObject({ raw_truncated: true, raw_bytes: MAX_RAW_CHARS + 10 });
    expect(details(cut).raw).toHaveLength(MAX_RAW_CHARS);

    const small = { maxDepth: 32, maxEventBytes: 2000 };
    const bare = only(prepareRecord(record("y".repeat(5000)), ctx("auto", small)));
    expect(details(bare).raw).toBeUndefined();
    expect(details(bare).reason).toMatch(
      /^malformed JSON: .*\(raw value left out: refused as an event: it is \d+ bytes, over the 2000-byte limit/,
    );
  });

  it("keeps a decoded event over the size limit raw, and a too deep one", () => {
    const ocsf = JSON.parse(fixtureLines("redpanda-ocsf-samples.ndjson")[3] as string) as Record<
      string,
      unknown
    >;
    const limits = { maxDepth: 32, maxEventBytes: 2500 };
    const text = JSON.stringify({ ...ocsf, padding: "p".repeat(2000) });
    const prepared = prepareRecord(record(text), ctx("auto", limits));
    expect(prepared.unparsed).toMatch(/^refused as an event: it is \d+ bytes, over the 2500-byte limit/);
    expect(only(prepared).event_type).toBe(UNPARSED_EVENT_TYPE);

    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = { d: deep };
    const tooDeep = prepareRecord(record(JSON.stringify({ ...ocsf, deep })), ctx());
    expect(tooDeep.unparsed).toMatch(/^refused as an event: /);
    expect(details(only(tooDeep)).raw).toBeDefined();
  });

  it("throws when not even the bare unparsed event fits the limit", () => {
    expect(() =>
      prepareUnparsed(record("z"), ctx("auto", { maxDepth: 32, maxEventBytes: 100 }), "why"),
    ).toThrow(ValidationError);
  });

  it("without a topic id, ends position ids with the record's timestamp, so a topic created again gets new ids", () => {
    const noId = { ...ctx(), idPrefix: "kafka:redpanda", timestampInIds: true };
    const ocsf = fixtureLines("redpanda-ocsf-samples.ndjson")[0] as string;
    const before = only(prepareRecord(record(ocsf, 3n), noId));
    expect(before.event_id).toBe(`kafka:redpanda:2:3:t${RECORD_TIME}`);
    // The same record read again: the same id. Another record at the same position (the topic created again): not.
    expect(only(prepareRecord(record(ocsf, 3n), noId)).event_id).toBe(before.event_id);
    const again = { ...record(ocsf, 3n), timestamp: RECORD_TIME + 86_400_000n };
    expect(only(prepareRecord(again, noId)).event_id).toBe(
      `kafka:redpanda:2:3:t${RECORD_TIME + 86_400_000n}`,
    );
    expect(only(prepareRecord(record("not json", 4n), noId)).event_id).toBe(
      `kafka:redpanda:2:4:t${RECORD_TIME}`,
    );
  });

  it("writes an offset beyond 2^53 as a string", () => {
    const event = only(prepareRecord(record("nope", 2n ** 60n), ctx()));
    expect(event.event_id).toBe(`kafka:${TOPIC_ID}:2:${2n ** 60n}`);
    expect(details(event).kafka_source).toMatchObject({ offset: String(2n ** 60n) });
  });
});
