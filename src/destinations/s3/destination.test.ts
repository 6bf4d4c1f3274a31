/**
 * The S3 destination's object names: deterministic for a batch (sequence range, then the time Vigil received its
 * first record), sorting by sequence, and read back by start(). The destination itself is tested against moto in
 * test/s3-destination.test.ts.
 */
import { describe, expect, it } from "vitest";
import { canonicalize } from "../../integrity/canonical.ts";
import { Sealer } from "../../integrity/chain.ts";
import { keyFromSecret } from "../../integrity/keys.ts";
import type { RecordBatch } from "../destination.ts";
import { keyTime, parseRecordObjectName, recordObjectName, sequenceKeyPart } from "./destination.ts";

const key = keyFromSecret(Buffer.alloc(32, 9), "s3-unit");

function batchOf(firstSequence: number, events: Record<string, unknown>[]): RecordBatch {
  const sealer = new Sealer(key, { sequence: firstSequence - 1, signature: "" });
  return { firstSequence, lines: events.map((e) => Buffer.from(sealer.seal(canonicalize(e)).line)) };
}

describe("s3 object names", () => {
  it("name a batch by its first and last sequence and the time its first record was received", () => {
    const batch = batchOf(41, [
      { event_type: "a.b", timestamp: "2020-01-01T00:00:00Z", received_at: "2026-11-22T14:25:01.999Z" },
      { event_type: "a.b", received_at: "2026-11-22T15:00:00Z" },
    ]);
    const name = recordObjectName(batch);
    expect(name).toBe("00000000000000000041-00000000000000000042_20261122T142501Z.ndjson.gz");
    expect(recordObjectName(batch)).toBe(name);
    expect(parseRecordObjectName(name)).toEqual({ first: 41, last: 42 });
  });

  it("fall back to the event's timestamp, then to a fixed placeholder, never to the clock", () => {
    expect(
      recordObjectName(batchOf(1, [{ event_type: "a.b", timestamp: "2026-01-02T03:04:05+01:00" }])),
    ).toBe("00000000000000000001-00000000000000000001_20260102T020405Z.ndjson.gz");
    expect(keyTime("not a date")).toBe("00000000T000000Z");
    expect(keyTime(undefined)).toBe("00000000T000000Z");
  });

  it("sort by sequence, and other keys under the prefix are not record objects", () => {
    const names = [99, 100, 9, 1_000_000].map((n) => `${sequenceKeyPart(n)}-${sequenceKeyPart(n)}_NOW`);
    expect([...names].sort()).toEqual(
      [9, 99, 100, 1_000_000].map((n) => `${sequenceKeyPart(n)}-${sequenceKeyPart(n)}_NOW`),
    );
    expect(sequenceKeyPart(2 ** 53)).toHaveLength(20);
    for (const other of [
      "checkpoints/00000000000000000030",
      "00000000000000000001-00000000000000000002_20261122T142501Z.ndjson",
      "1-2_20261122T142501Z.ndjson.gz",
      "notes.txt",
    ]) {
      expect(parseRecordObjectName(other)).toBeUndefined();
    }
  });
});
