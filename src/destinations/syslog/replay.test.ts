/** The replay window: what a broken connection re-sends, bounded by time and by bytes, oldest dropped first. */
import { describe, expect, it } from "vitest";
import { ReplayWindow } from "./replay.ts";

const frame = (text: string) => Buffer.from(text);
const texts = (frames: Buffer[]) => frames.map((f) => f.toString());

describe("replay window", () => {
  it("returns the frames written within the window, in order, and empties itself", () => {
    const w = new ReplayWindow(5000, 1024);
    w.add([frame("a"), frame("b")], 1000);
    w.add([frame("c")], 4000);
    expect(texts(w.take(6000))).toEqual(["a", "b", "c"]);
    expect(w.size).toBe(0);
    expect(w.take(6000)).toEqual([]);
  });

  it("drops frames older than the window at the time the break is noticed", () => {
    const w = new ReplayWindow(5000, 1024);
    w.add([frame("old")], 1000);
    w.add([frame("new")], 5000);
    expect(texts(w.take(7000))).toEqual(["new"]);
  });

  it("keeps at most maxBytes, dropping the oldest", () => {
    const w = new ReplayWindow(60_000, 10);
    w.add([frame("aaaa"), frame("bbbb")], 1);
    w.add([frame("cccc")], 2);
    expect(w.bytes).toBe(8);
    expect(texts(w.take(3))).toEqual(["bbbb", "cccc"]);
  });

  it("keeps nothing with a window of 0", () => {
    const w = new ReplayWindow(0, 1024);
    w.add([frame("a")], 1);
    expect(w.size).toBe(0);
    expect(w.take(1)).toEqual([]);
  });

  it("stays correct over many adds (its arrays are compacted)", () => {
    const w = new ReplayWindow(100, 1 << 20);
    for (let t = 0; t < 5000; t++) w.add([frame(String(t))], t);
    expect(w.size).toBe(101);
    expect(texts(w.take(4999))).toEqual(Array.from({ length: 101 }, (_, i) => String(4899 + i)));
  });
});
