import { describe, expect, it } from "vitest";
import { firstProblem, ndjsonFixture } from "../../../test/support/fixtures.ts";
import type { InputEvent } from "../../event/schema.ts";
import { prepareEvents } from "../../event/validate.ts";
import { decodeOcsf } from "./decode.ts";

type Json = Record<string, unknown>;

const lines = ndjsonFixture("redpanda-ocsf-samples.ndjson");
const line = (n: number) => lines[n - 1] as Json;

function one(record: unknown): InputEvent {
  const events = decodeOcsf(record);
  expect(events).toHaveLength(1);
  return events[0] as InputEvent;
}

const problem = firstProblem;

describe("decodeOcsf: the Redpanda samples", () => {
  it("decodes every line to a valid native event that keeps the whole record", () => {
    expect(lines).toHaveLength(8);
    const events = lines.map(one);
    lines.forEach((record, i) => {
      expect(events[i]?.details).toEqual({ ocsf: record });
    });
    expect(
      prepareEvents(
        events.map((value) => ({ value })),
        { source: "test" },
      ),
    ).toHaveLength(8);
    expect(events.map((e) => e.event_type)).toEqual([
      "auth.login",
      "auth.login",
      "auth.failed",
      "kafka.createacls",
      "kafka.produce",
      "kafka.metadata",
      "api.read",
      "api.read",
    ]);
  });

  it("3002 SCRAM logon: the user, the client and the service authenticated to", () => {
    expect(one(line(1))).toEqual({
      event_type: "auth.login",
      timestamp: "2023-11-21T02:24:29.078Z",
      actor: { type: "user", id: "user", ip_address: "127.0.0.1", client_id: "rpk" },
      resource: { type: "service", id: "kafka rpc protocol" },
      action: { operation: "logon", protocol: "SASL-SCRAM", result: "success" },
      details: { ocsf: line(1) },
    });
  });

  it("3002 OIDC logon: identity-provider groups become roles", () => {
    expect(one(line(2)).actor).toEqual({
      type: "user",
      id: "alice@example.com",
      roles: ["engineering", "analytics"],
      ip_address: "10.0.1.50",
      client_id: "kafka-client",
    });
  });

  it("3002 failure (status_id 2) is auth.failed with result failure", () => {
    const event = one(line(3));
    expect(event.event_type).toBe("auth.failed");
    expect(event.actor).toMatchObject({ type: "user", id: "admin" });
    expect(event.action).toEqual({ operation: "logon", protocol: "SASL-SCRAM", result: "failure" });
  });

  it("6003 on the Kafka protocol: the API name, the first resource, an admin user", () => {
    expect(one(line(4))).toEqual({
      event_type: "kafka.createacls",
      timestamp: "2023-11-21T02:23:13.776Z",
      actor: { type: "admin", id: "admin", ip_address: "127.0.0.1", client_id: "rpk" },
      resource: { type: "acl_binding", id: "create acl", service: "kafka rpc protocol" },
      action: { operation: "create_acls", result: "success" },
      details: { ocsf: line(4) },
    });
  });

  it("6003 folded repeats: count and the last repeat's time (end_time) are kept on the action", () => {
    const event = one(line(6));
    expect(event.action).toEqual({
      operation: "metadata",
      result: "success",
      count: 2,
      ended_at: "2023-11-21T02:24:40.725Z",
    });
    expect(event.timestamp).toBe("2023-11-21T02:24:40.724Z");
    expect(event.resource).toEqual({ type: "topic", id: "test", service: "kafka rpc protocol" });
  });

  it("ignores an end_time that is no time in milliseconds", () => {
    for (const end_time of ["1700533480725", 1.5, -1, 1e16, null]) {
      expect(one({ ...line(6), end_time }).action).toEqual({
        operation: "metadata",
        result: "success",
        count: 2,
      });
    }
  });

  it("6003 over HTTP: api.<activity>, the URL path, the user agent; a denied decision is denied", () => {
    expect(one(line(7))).toMatchObject({
      event_type: "api.read",
      timestamp: "2023-11-21T14:08:34.976Z",
      actor: { type: "admin", id: "admin", ip_address: "127.0.0.1", user_agent: "Go-http-client/1.1" },
      resource: { path: "/v1/cluster_config?include_defaults=true", service: "Redpanda Admin HTTP Server" },
      action: { operation: "GET", result: "success" },
    });
    expect(one(line(8)).action).toEqual({ operation: "GET", result: "denied" });
  });
});

describe("decodeOcsf: other activities and refusals", () => {
  it("6002 Application Lifecycle (broker start, as Redpanda's schema tests write it) is app.start", () => {
    const record = {
      category_uid: 6,
      class_uid: 6002,
      metadata: {
        product: { name: "Redpanda", uid: "0", vendor_name: "Redpanda Data, Inc." },
        version: "1.0.0",
      },
      severity_id: 1,
      time: 1,
      type_uid: 600203,
      activity_id: 3,
      app: { feature: { name: "test-feature" }, name: "test-product", uid: "0" },
    };
    expect(one(record)).toEqual({
      event_type: "app.start",
      timestamp: "1970-01-01T00:00:00.001Z",
      resource: { type: "application", id: "test-product" },
      action: { operation: "start" },
      details: { ocsf: record },
    });
  });

  it("names other authentication activities and keeps a failed non-logon activity's own type", () => {
    const base = line(1);
    expect(one({ ...base, activity_id: 2 }).event_type).toBe("auth.logout");
    expect(one({ ...base, activity_id: 6, status_id: 2 })).toMatchObject({
      event_type: "auth.preauth",
      action: { result: "failure" },
    });
    expect(one({ ...base, activity_id: 42 }).event_type).toBe("auth.activity_42");
    expect(one({ ...base, status_id: 0 }).action).not.toHaveProperty("result");
  });

  it("refuses what is not a supported OCSF record, naming the field", () => {
    const base = line(4);
    expect(problem(() => decodeOcsf("x"))?.field).toBe("");
    expect(problem(() => decodeOcsf({ ...base, class_uid: 4001 }))).toEqual({
      field: "class_uid",
      message: "must be 3002 (Authentication), 6002 (Application Lifecycle) or 6003 (API Activity)",
    });
    expect(problem(() => decodeOcsf({ ...base, class_uid: "6003" }))?.field).toBe("class_uid");
    expect(problem(() => decodeOcsf({ ...base, activity_id: undefined }))?.field).toBe("activity_id");
    expect(problem(() => decodeOcsf({ ...base, metadata: undefined }))?.field).toBe("metadata");
    expect(problem(() => decodeOcsf({ ...base, time: "2023-11-21T02:23:13Z" }))?.field).toBe("time");
    expect(problem(() => decodeOcsf({ ...base, time: 1e16 }))?.field).toBe("time");
  });

  it("neither changes nor shares the input", () => {
    const record = structuredClone(line(5));
    const event = one(record);
    const { ocsf } = event.details as { ocsf: Json };
    ocsf.time = 0;
    expect(record).toEqual(line(5));
  });
});
