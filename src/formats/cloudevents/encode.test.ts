import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import type { NativeEvent } from "../../event/schema.ts";
import { canonicalize } from "../../integrity/canonical.ts";
import {
  checkRecordSignature,
  EMPTY_CHAIN,
  formatRecord,
  parseRecord,
  Sealer,
} from "../../integrity/chain.ts";
import { keyFromSecret } from "../../integrity/keys.ts";
import { createEncoder, readSealedRecord, type SealedRecord } from "../encoder.ts";
import { toCloudEvent } from "./encode.ts";

const key = keyFromSecret(Buffer.alloc(32, 9), "test");
const options = { productVersion: "0.1.0", source: "vigil://audit.example.com/prod" };

const events: NativeEvent[] = [
  {
    timestamp: "2024-12-01T10:15:30.123Z",
    event_type: "backup.completed",
    event_id: "evt_abc123def456",
    version: "1.0",
    received_at: "2024-12-01T10:15:30.456Z",
    origin: { source: "http", address: "127.0.0.1", token: "backup-tool" },
    actor: { type: "user", id: "alice@company.com" },
    resource: { type: "backup", id: "production-backup-20241201" },
    action: { operation: "backup", result: "success", duration_ms: 45000 },
    // Integer-like keys: JSON.stringify of the parsed event would order them differently from the signed text.
    details: { "10": "ten", "9": "nine", topics: ["orders", "payments"], ratio: 5.5, note: "é \u2028" },
  },
  {
    timestamp: "2024-12-01T10:16:00+01:00",
    event_type: "access.denied",
    event_id: "evt_2",
    version: "1.0",
    received_at: "2024-12-01T09:16:00.001Z",
    origin: { source: "http" },
  },
  {
    timestamp: "2024-12-01T10:17:00Z",
    event_type: "kafka.produce",
    event_id: "evt_3",
    version: "1.0",
    received_at: "2024-12-01T10:17:00.002Z",
    origin: { source: "kafka-authorizer-log" },
    resource: { type: "topic", id: "orders" },
  },
];

function seal(list: NativeEvent[]): SealedRecord[] {
  const sealer = new Sealer(key, EMPTY_CHAIN);
  return list.map((e) => readSealedRecord(Buffer.from(sealer.seal(canonicalize(e)).line)));
}

/** CloudEvents 1.0.2 §"Attribute Naming Convention". */
const ATTRIBUTE_NAME = /^[a-z0-9]{1,20}$/;
const REQUIRED = ["id", "source", "specversion", "type"];
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** The checks of the spec's context attributes that a structured-mode JSON event must pass. */
function cloudEventProblems(ce: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const name of REQUIRED) {
    if (typeof ce[name] !== "string" || ce[name] === "") problems.push(`${name}: required non-empty string`);
  }
  if (ce.specversion !== "1.0") problems.push("specversion: must be 1.0");
  if (typeof ce.source === "string" && !URL.canParse(ce.source)) problems.push("source: not an absolute URI");
  if (ce.time !== undefined && !(typeof ce.time === "string" && RFC3339.test(ce.time))) problems.push("time");
  for (const [name, value] of Object.entries(ce)) {
    if (name === "data") continue;
    if (!ATTRIBUTE_NAME.test(name)) problems.push(`${name}: not a valid attribute name`);
    const scalar =
      typeof value === "string" ||
      typeof value === "boolean" ||
      (Number.isInteger(value) && Math.abs(value as number) <= 2 ** 31);
    if (!scalar) problems.push(`${name}: not a CloudEvents type`);
  }
  return problems;
}

/** The sealed record line rebuilt from the CloudEvent alone. */
function reassemble(ce: Record<string, unknown>): string {
  return formatRecord(canonicalize(ce.data), {
    sequence_number: Number(ce.vigilseq),
    previous_signature: ce.vigilprevsig as string,
    signature: ce.vigilsig as string,
    key_id: ce.vigilkeyid as string,
  });
}

describe("CloudEvents encoder", () => {
  const records = seal(events);
  const encoder = createEncoder("cloudevents", options);

  it("writes the context attributes and the integrity extensions, field by field", () => {
    const record = records[0] as SealedRecord;
    const ce = JSON.parse(encoder.encode(record));
    expect(ce).toEqual({
      specversion: "1.0",
      id: "evt_abc123def456",
      source: "vigil://audit.example.com/prod",
      type: "io.vigil.backup.completed",
      time: "2024-12-01T10:15:30.123Z",
      subject: "production-backup-20241201",
      datacontenttype: "application/json",
      vigilseq: "1",
      vigilprevsig: record.integrity.previous_signature,
      vigilsig: record.integrity.signature,
      vigilkeyid: key.id,
      data: events[0],
    });
    expect(toCloudEvent(record, options)).toEqual(ce);
  });

  it("leaves out subject when the event has no resource", () => {
    const ce = JSON.parse(encoder.encode(records[1] as SealedRecord));
    expect(ce).not.toHaveProperty("subject");
    expect(ce).toMatchObject({
      type: "io.vigil.access.denied",
      time: "2024-12-01T10:16:00+01:00",
      vigilseq: "2",
    });
  });

  it("passes the spec's attribute rules for every record", () => {
    for (const record of records) expect(cloudEventProblems(JSON.parse(encoder.encode(record)))).toEqual([]);
    expect(cloudEventProblems({ specversion: "0.3", id: "", Route: 5.5 })).toEqual([
      "id: required non-empty string",
      "source: required non-empty string",
      "type: required non-empty string",
      "specversion: must be 1.0",
      "Route: not a valid attribute name",
      "Route: not a CloudEvents type",
    ]);
  });

  it("keeps the signed text as data and rebuilds a sealed record that verifies", () => {
    for (const record of records) {
      const text = encoder.encode(record);
      expect(text.endsWith(`,"data":${record.eventText}}`)).toBe(true);
      const line = reassemble(JSON.parse(text));
      expect(line).toBe(Buffer.from(record.line).toString());
      const parsed = parseRecord(Buffer.from(line));
      expect(parsed.ok && checkRecordSignature(parsed.record, key.secret)).toBe("valid");
    }
    const ce = JSON.parse(encoder.encode(records[2] as SealedRecord));
    ce.vigilseq = "4";
    const parsed = parseRecord(Buffer.from(reassemble(ce)));
    expect(parsed.ok && checkRecordSignature(parsed.record, key.secret)).toBe("invalid");
  });

  it("batches records as one JSON array of the same events", () => {
    expect(encoder.batchMediaType).toBe("application/cloudevents-batch+json");
    expect(encoder.mediaType).toBe("application/cloudevents+json");
    const batch = JSON.parse(encoder.encodeBatch(records));
    expect(batch).toEqual(records.map((r) => JSON.parse(encoder.encode(r))));
    expect(batch.map((ce: Record<string, unknown>) => ce.vigilseq)).toEqual(["1", "2", "3"]);
    expect(encoder.encodeBatch([])).toBe("[]");
  });

  it("defaults the source to the log origin, else the host name", () => {
    const record = records[0] as SealedRecord;
    const fromOrigin = createEncoder("cloudevents", {
      productVersion: "0.1.0",
      logOrigin: "vigil/host/6c0ffee1",
    });
    expect(JSON.parse(fromOrigin.encode(record)).source).toBe("vigil://vigil/host/6c0ffee1");
    const fromHost = createEncoder("cloudevents", { productVersion: "0.1.0" });
    expect(JSON.parse(fromHost.encode(record)).source).toBe(`vigil://${encodeURI(hostname())}`);
  });
});
