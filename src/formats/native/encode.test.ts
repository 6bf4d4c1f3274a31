import { describe, expect, it } from "vitest";
import { VigilError } from "../../errors.ts";
import type { NativeEvent } from "../../event/schema.ts";
import { canonicalize } from "../../integrity/canonical.ts";
import { checkRecordSignature, EMPTY_CHAIN, parseRecord, Sealer } from "../../integrity/chain.ts";
import { keyFromSecret } from "../../integrity/keys.ts";
import { createEncoder, FORMAT_NAMES, isFormatName, readSealedRecord } from "../encoder.ts";

const key = keyFromSecret(Buffer.alloc(32, 3), "test");

const events: NativeEvent[] = [1, 2, 3].map((i) => ({
  timestamp: `2024-12-01T10:15:3${i}.000Z`,
  event_type: "backup.completed",
  event_id: `evt_${i}`,
  version: "1.0",
  received_at: `2024-12-01T10:15:3${i}.500Z`,
  origin: { source: "http", address: "127.0.0.1" },
  actor: { type: "user", id: "alice@company.com" },
  details: { records_backed_up: 1500000 * i, note: "ünïcode \u2028" },
}));

function sealLines(list: NativeEvent[]): string[] {
  const sealer = new Sealer(key, EMPTY_CHAIN);
  return list.map((e) => sealer.seal(canonicalize(e)).line);
}

describe("native encoder", () => {
  const encoder = createEncoder("native", { productVersion: "0.1.0" });
  const lines = sealLines(events);

  it("is the record line as sealed, byte for byte, and it verifies", () => {
    for (const line of lines) {
      const text = encoder.encode(readSealedRecord(Buffer.from(line)));
      expect(text).toBe(line);
      const parsed = parseRecord(Buffer.from(text as string));
      expect(parsed.ok && checkRecordSignature(parsed.record, key.secret)).toBe("valid");
    }
    expect(encoder.mediaType).toBe("application/json");
  });

  it("keeps a line another tool re-serialized as it is", () => {
    const reserialized = JSON.stringify(JSON.parse(lines[0] as string), null, 1).replaceAll("\n", "");
    expect(encoder.encode(readSealedRecord(Buffer.from(reserialized)))).toBe(reserialized);
  });
});

describe("readSealedRecord", () => {
  const lines = sealLines(events);

  it("parses the event, its signed text and the integrity block", () => {
    const record = readSealedRecord(Buffer.from(lines[1] as string));
    expect(record.event).toEqual(events[1]);
    expect(record.eventText).toBe(canonicalize(events[1]));
    expect(record.integrity).toEqual(JSON.parse(lines[1] as string).integrity);
  });

  it("gives the integrity block in the sealer's order whatever the line's order", () => {
    const { event, integrity } = JSON.parse(lines[0] as string);
    const { key_id, signature, previous_signature, sequence_number } = integrity;
    const reordered = JSON.stringify({
      integrity: { key_id, signature, previous_signature, sequence_number },
      event,
    });
    const record = readSealedRecord(Buffer.from(reordered));
    expect(Object.keys(record.integrity)).toEqual([
      "sequence_number",
      "previous_signature",
      "signature",
      "key_id",
    ]);
    expect(record.integrity).toEqual(integrity);
  });

  it("refuses what is not a sealed record", () => {
    const event = JSON.stringify({ event: events[0] });
    expect(() => readSealedRecord(Buffer.from(event))).toThrow(VigilError);
    expect(() => readSealedRecord(Buffer.from(event))).toThrow(
      /not a sealed record: record has no integrity block/,
    );
  });
});

describe("encoder registry", () => {
  it("has an encoder for every format name, and only for those", () => {
    for (const name of FORMAT_NAMES) {
      expect(isFormatName(name)).toBe(true);
      expect(createEncoder(name, { productVersion: "0.1.0" }).format).toBe(name);
    }
    expect(isFormatName("syslog")).toBe(false);
  });
});
