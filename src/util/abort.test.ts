import { getEventListeners } from "node:events";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { unlessAborted } from "./abort.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/**
 * How many of `n` waits made by `wait` are still in memory once each has resolved and the heap was collected. V8
 * may keep one or two (the last one awaited), as it does plain promises: a leak keeps them all.
 */
async function retained(n: number, wait: (i: number) => Promise<unknown>): Promise<number> {
  const refs: WeakRef<Promise<unknown>>[] = [];
  for (let i = 0; i < n; i++) {
    const waiting = wait(i);
    refs.push(new WeakRef(waiting));
    await waiting;
  }
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  return refs.filter((r) => r.deref() !== undefined).length;
}

describe("unlessAborted", () => {
  it("leaves nothing behind once a wait is decided, however many there were", async () => {
    const abort = new AbortController();
    let sum = 0;
    for (let i = 0; i < 10_000; i++) sum += (await unlessAborted(Promise.resolve(i), abort.signal)) ?? 0;
    expect(sum).toBe((10_000 * 9_999) / 2);
    expect(getEventListeners(abort.signal, "abort")).toHaveLength(0);
    expect(await retained(1000, (i) => unlessAborted(Promise.resolve(i), abort.signal))).toBeLessThan(10);

    // What the source did before: racing each wait against a promise that settles only at stop keeps every one.
    const stopped = new Promise<void>((resolve) =>
      abort.signal.addEventListener("abort", () => resolve(), { once: true }),
    );
    const racing = <T>(p: Promise<T>) => Promise.race([p, stopped.then(() => undefined)]);
    expect(await retained(1000, (i) => racing(Promise.resolve(i)))).toBe(1000);
  });

  it("passes a rejection on, and removes its listener", async () => {
    const abort = new AbortController();
    await expect(unlessAborted(Promise.reject(new Error("refused")), abort.signal)).rejects.toThrow(
      "refused",
    );
    expect(getEventListeners(abort.signal, "abort")).toHaveLength(0);
  });

  it("resolves undefined when the signal aborts first, ignoring a later rejection", async () => {
    const abort = new AbortController();
    let fail: (e: Error) => void = () => {};
    const pending = new Promise<number>((_, reject) => {
      fail = reject;
    });
    const waiting = unlessAborted(pending, abort.signal);
    expect(getEventListeners(abort.signal, "abort")).toHaveLength(1);
    abort.abort();
    expect(await waiting).toBeUndefined();
    expect(getEventListeners(abort.signal, "abort")).toHaveLength(0);
    fail(new Error("too late")); // handled: no unhandled rejection fails the test run
    expect(await unlessAborted(Promise.reject(new Error("after the stop")), abort.signal)).toBeUndefined();
  });
});
