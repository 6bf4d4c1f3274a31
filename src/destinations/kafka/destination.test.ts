import { describe, expect, it } from "vitest";
import { cutRequests, partitionOf } from "./destination.ts";

describe("kafka produce requests", () => {
  it("cuts messages into record batches within the limit (61 bytes of batch header), in order", () => {
    const sized = (...bytes: number[]) => bytes.map((b, i) => ({ i, bytes: b }));
    const ids = (runs: { i: number }[][]) => runs.map((run) => run.map((m) => m.i));
    expect(ids(cutRequests(sized(300, 300, 300, 300), 61 + 600))).toEqual([
      [0, 1],
      [2, 3],
    ]);
    expect(ids(cutRequests(sized(300, 300, 300), 61 + 599))).toEqual([[0], [1], [2]]);
    // A message over the limit goes alone: the broker says whether it is too large (compression may save it).
    expect(ids(cutRequests(sized(100, 5000, 100), 1000))).toEqual([[0], [1], [2]]);
    expect(cutRequests([], 1000)).toEqual([]);
  });

  it("chooses the partition Kafka's Java client chooses for the key", () => {
    // Kafka's UtilsTest: murmur2("foobar") is -790332482; toPositive(-790332482) % 12 = 1357151166 % 12 = 6.
    expect(partitionOf(Buffer.from("foobar"), 12)).toBe(6);
    // murmur2("21") is -973932308: 1173551340 % 7 = 3.
    expect(partitionOf(Buffer.from("21"), 7)).toBe(3);
    expect(partitionOf(Buffer.from("vigil/node-7/5f2a9c01"), 1)).toBe(0);
  });
});
