import { describe, expect, it } from "vitest";
import { firstProblem, ndjsonFixture } from "../../../test/support/fixtures.ts";
import { EVENT_ID_PATTERN, type InputEvent } from "../../event/schema.ts";
import { prepareEvents } from "../../event/validate.ts";
import { decodeCloudEvents } from "./decode.ts";

type Json = Record<string, unknown>;

const lines = ndjsonFixture("confluent-audit-cloudevents.ndjson");
const line = (n: number) => lines[n - 1] as Json;

function one(record: unknown): InputEvent {
  const events = decodeCloudEvents(record);
  expect(events).toHaveLength(1);
  return events[0] as InputEvent;
}

const problem = firstProblem;

describe("decodeCloudEvents: the Confluent samples", () => {
  it("decodes every line (specversion 0.3 and 1.0) to a valid native event that keeps the whole event", () => {
    expect(lines).toHaveLength(11);
    expect(new Set(lines.map((l) => l.specversion))).toEqual(new Set(["0.3", "1.0"]));
    const events = lines.map(one);
    lines.forEach((record, i) => {
      expect(events[i]?.details).toEqual({ cloudevents: record });
      expect(events[i]?.event_id).toBe(record.id);
      expect(events[i]?.timestamp).toBe(record.time);
    });
    expect(
      prepareEvents(
        events.map((value) => ({ value })),
        { source: "test" },
      ),
    ).toHaveLength(11);
    expect(events.map((e) => e.event_type)).toEqual([
      "kafka.createtopics",
      "kafka.incrementalalterconfigs",
      "kafka.produce",
      "kafka.deleterecords",
      "kafka.fetchconsumer",
      "kafka.listoffsets",
      "kafka.listoffsets",
      "kafka.fetchconsumer",
      "kafka.fetchconsumer",
      "kafka.authentication",
      "kafka.metadata",
    ]);
  });

  it("CP 5.5 CreateTopics: principal, client address without Java's slash, the topic, the cluster", () => {
    expect(one(line(1))).toEqual({
      event_type: "kafka.createtopics",
      event_id: "b17cc9c7-96f0-413a-b94c-124e21834a55",
      timestamp: "2020-05-12T12:24:37.838Z",
      actor: { type: "user", id: "User:producer", ip_address: "172.27.0.3", client_id: "adminclient-1" },
      resource: {
        type: "topic",
        id: "bar",
        pattern_type: "LITERAL",
        path: "crn:///kafka=STOiZ_jWTxqgum3T5zEoqA/topic=bar",
      },
      action: { operation: "Create", result: "success" },
      context: { cluster_id: "STOiZ_jWTxqgum3T5zEoqA" },
      details: { cloudevents: line(1) },
    });
  });

  it("CP 5.4 FetchConsumer by a super user keeps the routing extension in details", () => {
    const event = one(line(5));
    expect(event).toMatchObject({
      event_type: "kafka.fetchconsumer",
      actor: {
        id: "User:admin",
        ip_address: "192.168.176.4",
        client_id: "_confluent-metadata-auth-consumer-1",
      },
      resource: { type: "topic", id: "_confluent-metadata-auth" },
      action: { operation: "Read", result: "success" },
      context: { cluster_id: "qL97v6UYSyOOwnIPIHurGg" },
    });
    expect(event.details).toHaveProperty("cloudevents.confluentRouting", {
      route: "confluent-audit-log-events",
    });
  });

  it("CP 7 (1.0) authentication: result from result.status, the resource from the CRN", () => {
    expect(one(line(10))).toEqual({
      event_type: "kafka.authentication",
      event_id: "fbdeefc6-2ae9-4ae9-88cc-159c4f360c0e",
      timestamp: "2023-02-21T06:07:38.958333Z",
      actor: { type: "user", id: "User:alice", ip_address: "172.21.0.1" },
      resource: { type: "kafka", id: "EyVCDzKYSc2vXhyD-z9PXg", path: "crn:///kafka=EyVCDzKYSc2vXhyD-z9PXg" },
      action: { operation: "kafka.Authentication", result: "success" },
      context: { cluster_id: "EyVCDzKYSc2vXhyD-z9PXg" },
      details: { cloudevents: line(10) },
    });
    const failed = structuredClone(line(10));
    (failed.data as Json).result = { status: "UNAUTHENTICATED", message: "bad password" };
    expect(one(failed).action?.result).toBe("failure");
  });

  it("CP 7 (1.0) authorization not granted is denied", () => {
    expect(one(line(11)).action).toEqual({ operation: "Describe", result: "denied" });
  });
});

describe("decodeCloudEvents: batches, fallbacks and refusals", () => {
  it("decodes a batch (application/cloudevents-batch+json) and names the item that does not fit", () => {
    expect(decodeCloudEvents(lines)).toHaveLength(11);
    expect(decodeCloudEvents([])).toEqual([]);
    expect(problem(() => decodeCloudEvents([line(1), { ...line(2), id: "" }]))).toEqual({
      field: "[1].id",
      message: "is required",
    });
    expect(problem(() => decodeCloudEvents([line(1), 7]))?.field).toBe("[1]");
  });

  it("without a methodName takes the type; a one-part method name goes under confluent.", () => {
    const { data: _, ...bare } = line(1);
    expect(one(bare)).toEqual({
      event_type: "io.confluent.kafka.server.authorization",
      event_id: "b17cc9c7-96f0-413a-b94c-124e21834a55",
      timestamp: "2020-05-12T12:24:37.838Z",
      context: { cluster_id: "STOiZ_jWTxqgum3T5zEoqA" },
      details: { cloudevents: bare },
    });
    const named = (methodName: string) => one({ ...line(1), data: { methodName } }).event_type;
    expect(named("CreateApiKey")).toBe("confluent.createapikey");
    expect(named("mds.Authorize")).toBe("mds.authorize");
    expect(named(`${"a".repeat(100)}.${"b".repeat(100)}.c`)).toBe(`${"a".repeat(63)}.${"b".repeat(63)}`);
  });

  it("rewrites an id outside the id alphabet deterministically; no time is left for the server", () => {
    const { time: _, ...untimed } = line(3);
    const event = one({ ...untimed, id: "urn:uuid/7789 d492" });
    expect(event.event_id).toMatch(new RegExp(EVENT_ID_PATTERN));
    expect(event.event_id).toMatch(/^urn:uuid_7789_d492:[0-9a-f]{32}$/);
    expect(event).not.toHaveProperty("timestamp");
    expect(prepareEvents([{ value: event }], { source: "test" })).toHaveLength(1);
  });

  it("refuses what is not a CloudEvent, naming the field", () => {
    expect(problem(() => decodeCloudEvents("x"))?.field).toBe("");
    expect(problem(() => decodeCloudEvents({ ...line(1), specversion: "2.0" }))).toEqual({
      field: "specversion",
      message: "must be one of 0.3, 1.0",
    });
    expect(problem(() => decodeCloudEvents({ ...line(1), source: undefined }))?.field).toBe("source");
    expect(problem(() => decodeCloudEvents({ ...line(1), type: 3 }))?.field).toBe("type");
    expect(problem(() => decodeCloudEvents({ ...line(1), time: "12 May 2020" }))?.field).toBe("time");
    const { data: _, ...bare } = line(1);
    expect(problem(() => decodeCloudEvents({ ...bare, type: "//" }))?.field).toBe("type");
  });

  it("neither changes nor shares the input", () => {
    const record = structuredClone(line(4));
    const event = one(record);
    const { cloudevents } = event.details as { cloudevents: { data: Json } };
    cloudevents.data.methodName = "changed";
    expect(record).toEqual(line(4));
  });
});
