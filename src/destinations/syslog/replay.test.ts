/**
 * The replay window: a frame leaves it only once a later write completed more than the window after it, never
 * for its age when the connection breaks, never to stay under the byte cap (a write waits for room instead).
 */
import { describe, expect, it } from "vitest";
import { ReplayWindow, type SentFrame } from "./replay.ts";

let next = 0;
const frame = (text: string): SentFrame => ({ frame: Buffer.from(text), sequence: ++next });
const texts = (frames: SentFrame[]) => frames.map((f) => f.frame.toString());

describe("replay window", () => {
  it("returns every frame kept, in order, with its sequence, and empties itself", () => {
    const w = new ReplayWindow(5000, 1024);
    const [a, b, c] = [frame("a"), frame("b"), frame("c")];
    w.add([a, b], 1000);
    w.add([c], 4000);
    expect(w.oldestSequence).toBe(a.sequence);
    expect(w.take()).toEqual([a, b, c]);
    expect(w.size).toBe(0);
    expect(w.oldestSequence).toBeUndefined();
    expect(w.take()).toEqual([]);
  });

  it("drops a frame once a later write completed more than the window after it", () => {
    const w = new ReplayWindow(5000, 1024);
    w.add([frame("old")], 1000);
    w.add([frame("mid")], 6000); // exactly the window after "old": kept
    expect(w.size).toBe(2);
    w.add([frame("new")], 6001);
    expect(texts(w.take())).toEqual(["mid", "new"]);
  });

  it("drops nothing for the time that passed without a write, however long (a hung or idle connection)", () => {
    const w = new ReplayWindow(5000, 1024);
    w.add([frame("a")], 1000);
    w.add([frame("b")], 1001);
    expect(texts(w.take())).toEqual(["a", "b"]); // taken an hour later: the break drops nothing
  });

  it("never drops frames for the byte cap: a write that does not fit waits until enough frames can age out", () => {
    const w = new ReplayWindow(60_000, 10);
    w.add([frame("aaaa"), frame("bbbb")], 1000);
    expect(w.waitMs(2, 2000)).toBe(0); // 8 + 2 fits
    w.add([frame("cc")], 2000);
    expect(w.bytes).toBe(10);
    // 4 more bytes: "aaaa" must go, dropped by a write completing more than 60 s after it.
    expect(w.waitMs(4, 2000)).toBe(59_001);
    expect(w.waitMs(4, 61_001)).toBe(0);
    // 5 more: "bbbb" too, written at the same time.
    expect(w.waitMs(5, 2000)).toBe(59_001);
    // 9 more: everything but "cc" is not enough; it waits for "cc" too.
    expect(w.waitMs(9, 2000)).toBe(60_001);
    // Larger than the cap: it waits until the whole window can go.
    expect(w.waitMs(100, 2000)).toBe(60_001);
    expect(texts(w.take())).toEqual(["aaaa", "bbbb", "cc"]);
    expect(w.waitMs(100, 2000)).toBe(0); // an empty window takes anything
  });

  it("keeps nothing with a window of 0", () => {
    const w = new ReplayWindow(0, 1024);
    w.add([frame("a")], 1);
    expect(w.size).toBe(0);
    expect(w.waitMs(1 << 20, 1)).toBe(0);
    expect(w.take()).toEqual([]);
  });

  it("stays correct over many adds (its arrays are compacted)", () => {
    const w = new ReplayWindow(100, 1 << 20);
    for (let t = 0; t < 5000; t++) w.add([frame(String(t))], t);
    expect(w.size).toBe(101);
    expect(texts(w.take())).toEqual(Array.from({ length: 101 }, (_, i) => String(4899 + i)));
  });
});
