import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.ts";
import { decodeBody, prepareEvents } from "./validate.ts";

const origin = { source: "http", address: "127.0.0.1", token: "t" };

function problems(fn: () => unknown) {
  try {
    fn();
  } catch (e) {
    if (e instanceof ValidationError) return e.problems;
    throw e;
  }
  throw new Error("expected a ValidationError");
}

describe("decodeBody", () => {
  it("decodes one object, an array, and NDJSON with blank lines", () => {
    expect(decodeBody(Buffer.from('{"a":1}'), "json")).toEqual([{ value: { a: 1 } }]);
    expect(decodeBody(Buffer.from('[{"a":1},{"a":2}]'), "json")).toHaveLength(2);
    expect(decodeBody(Buffer.from('{"a":1}\r\n\n{"a":2}\n'), "ndjson")).toEqual([
      { value: { a: 1 }, line: 1 },
      { value: { a: 2 }, line: 3 },
    ]);
  });

  it("names every malformed NDJSON line", () => {
    expect(problems(() => decodeBody(Buffer.from('{"a":1}\n{oops\n[\n'), "ndjson"))).toEqual([
      expect.objectContaining({ index: 1, line: 2 }),
      expect.objectContaining({ index: 2, line: 3 }),
    ]);
  });

  it("refuses invalid UTF-8", () => {
    expect(problems(() => decodeBody(Buffer.from([0x7b, 0xff, 0x7d]), "json"))[0]?.message).toBe(
      "body is not valid UTF-8",
    );
  });
});

describe("prepareEvents", () => {
  const now = new Date("2026-11-22T10:00:00.000Z");

  it("fills id, timestamp, version, receive time and origin without touching the input", () => {
    const input = { event_type: "backup.started", actor: { id: "alice" } };
    const [e] = prepareEvents([{ value: input }], origin, undefined, now);
    expect(e).toMatchObject({
      event_type: "backup.started",
      timestamp: "2026-11-22T10:00:00.000Z",
      received_at: "2026-11-22T10:00:00.000Z",
      version: "1.0",
      origin,
    });
    expect(e?.event_id).toMatch(/^evt_[0-9a-f]{32}$/);
    expect(input).toEqual({ event_type: "backup.started", actor: { id: "alice" } });
  });

  it("keeps a client's id and timestamp", () => {
    const [e] = prepareEvents(
      [{ value: { event_type: "a.b", event_id: "evt_abc123def456", timestamp: "2024-12-01T10:15:30.123Z" } }],
      origin,
    );
    expect(e).toMatchObject({ event_id: "evt_abc123def456", timestamp: "2024-12-01T10:15:30.123Z" });
  });

  it("accepts the spec/000 standard-fields example as written", () => {
    const spec = {
      timestamp: "2024-12-01T10:15:30.123Z",
      event_type: "backup.completed",
      event_id: "evt_abc123def456",
      version: "1.0",
      actor: {
        type: "user",
        id: "alice@company.com",
        roles: ["backup-operator"],
        ip_address: "10.0.0.50",
        user_agent: "kafka-backup-cli/1.0.0",
      },
      resource: { type: "backup", id: "production-backup-20241201", path: "s3://kafka-backups/production/" },
      action: { operation: "backup", result: "success", duration_ms: 45000 },
      context: { cluster_id: "prod-us-west-2", environment: "production", correlation_id: "req_xyz789" },
      details: { backup_id: "production-backup-20241201", topics: ["orders", "payments", "users"] },
    };
    expect(prepareEvents([{ value: spec }], origin)).toHaveLength(1);
  });

  it("reports every problem of every event, all or nothing", () => {
    const got = problems(() =>
      prepareEvents(
        [
          { value: { event_type: "ok.event" } },
          { value: { event_type: "Bad Type", actor: { ip_address: "300.1.1.1" }, extra: 1 }, line: 2 },
          { value: [1, 2], line: 3 },
        ],
        origin,
      ),
    );
    expect(got.map((p) => `${p.index}:${p.line}:${p.field}`).sort()).toEqual(
      ["1:2:actor.ip_address", "1:2:event_type", "1:2:extra", "2:3:"].sort(),
    );
  });

  it("refuses server-only fields, __proto__ keys and deep nesting", () => {
    expect(
      problems(() => prepareEvents([{ value: { event_type: "a.b", origin: {} } }], origin))[0]?.field,
    ).toBe("origin");
    const proto = JSON.parse('{"event_type":"a.b","details":{"x":[{"__proto__":1}]}}');
    expect(problems(() => prepareEvents([{ value: proto }], origin))[0]?.field).toBe(
      "details.x[0].__proto__",
    );
    let deep: unknown = 0;
    for (let i = 0; i < 100; i++) deep = [deep];
    expect(
      problems(() => prepareEvents([{ value: { event_type: "a.b", details: { d: deep } } }], origin))[0]
        ?.message,
    ).toMatch(/nested deeper than 32/);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it("refuses an empty request", () => {
    expect(problems(() => prepareEvents([], origin))[0]?.message).toMatch(/no events/);
  });
});
