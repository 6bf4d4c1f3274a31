import { describe, expect, it } from "vitest";
import { canonicalize } from "./canonical.ts";
import { recordReceivedAt, Sealer } from "./chain.ts";
import { keyFromSecret } from "./keys.ts";

const seal = (event: Record<string, unknown>) =>
  new Sealer(keyFromSecret(Buffer.alloc(32, 1), "k"), { sequence: 0, signature: "" }).seal(
    canonicalize(event),
  ).line;

describe("recordReceivedAt", () => {
  it("reads the event's own received_at, not one nested in details or actor", () => {
    const line = seal({
      event_type: "a.b",
      actor: { id: "x", received_at: "2001-01-01T00:00:00Z" },
      details: { received_at: "2002-02-02T00:00:00Z", nested: { received_at: "2003-03-03T00:00:00Z" } },
      received_at: "2026-11-22T15:00:00.123Z",
      timestamp: "2026-11-22T14:59:59Z",
    });
    expect(recordReceivedAt(line)).toBe(Date.parse("2026-11-22T15:00:00.123Z"));
    expect(recordReceivedAt(Buffer.from(line))).toBe(Date.parse("2026-11-22T15:00:00.123Z"));
  });

  it("is undefined for a record without one, or with a value that is not a time", () => {
    expect(
      recordReceivedAt(seal({ event_type: "a.b", details: { note: '"received_at":"x' } })),
    ).toBeUndefined();
    expect(recordReceivedAt(seal({ event_type: "a.b", received_at: "yesterday" }))).toBeUndefined();
  });
});
