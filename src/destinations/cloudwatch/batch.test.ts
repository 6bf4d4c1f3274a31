import { describe, expect, it } from "vitest";
import {
  AGE_MARGIN_MS,
  AHEAD_MARGIN_MS,
  acceptanceWindow,
  EVENT_OVERHEAD_BYTES,
  eventBytes,
  MAX_AGE_MS,
  MAX_AHEAD_MS,
  MAX_REQUEST_BYTES,
  MAX_REQUEST_EVENTS,
  MAX_SPAN_MS,
  splitRequests,
  stampTimes,
} from "./batch.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.parse("2026-03-01T12:00:00Z");

/** Checks every PutLogEvents rule on a list of requests. */
function expectWithinLimits(requests: { timestamp: number; bytes: number }[][]): void {
  for (const request of requests) {
    expect(request.length).toBeGreaterThan(0);
    expect(request.length).toBeLessThanOrEqual(MAX_REQUEST_EVENTS);
    expect(request.reduce((n, e) => n + e.bytes, 0)).toBeLessThanOrEqual(MAX_REQUEST_BYTES);
    const times = request.map((e) => e.timestamp);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect((times.at(-1) as number) - (times[0] as number)).toBeLessThan(DAY);
  }
}

describe("CloudWatch batch rules", () => {
  it("counts an event as its UTF-8 bytes plus 26", () => {
    expect(eventBytes("abc")).toBe(3 + EVENT_OVERHEAD_BYTES);
    expect(eventBytes("é€")).toBe(5 + EVENT_OVERHEAD_BYTES);
  });

  it("splits 25,000 small events into requests of at most 10,000, in order", () => {
    const events = Array.from({ length: 25_000 }, (_, i) => ({ seq: i, timestamp: NOW, bytes: 100 }));
    const requests = splitRequests(events);
    expect(requests.map((r) => r.length)).toEqual([10_000, 10_000, 5_000]);
    expect(requests.flat().map((e) => e.seq)).toEqual(events.map((e) => e.seq));
    expectWithinLimits(requests);
  });

  it("splits by bytes: a request never passes 1,048,576 bytes, and a full-size event goes alone", () => {
    const events = [
      ...Array.from({ length: 10 }, (_, i) => ({ seq: i, timestamp: NOW, bytes: 300_000 })),
      { seq: 10, timestamp: NOW, bytes: MAX_REQUEST_BYTES },
      { seq: 11, timestamp: NOW, bytes: 27 },
    ];
    const requests = splitRequests(events);
    expect(requests.map((r) => r.map((e) => e.seq))).toEqual([
      [0, 1, 2],
      [3, 4, 5],
      [6, 7, 8],
      [9],
      [10],
      [11],
    ]);
    expectWithinLimits(requests);
  });

  it("splits so that no request spans 24 hours", () => {
    const events = [0, 1, 23, 24, 25, 48, 49].map((h, i) => ({
      seq: i,
      timestamp: NOW + h * HOUR,
      bytes: 30,
    }));
    const requests = splitRequests(events);
    expect(requests.map((r) => r.map((e) => e.seq))).toEqual([
      [0, 1, 2],
      [3, 4],
      [5, 6],
    ]);
    expect(
      splitRequests([
        { timestamp: 0, bytes: 1 },
        { timestamp: MAX_SPAN_MS, bytes: 1 },
      ]),
    ).toHaveLength(1);
    expectWithinLimits(requests);
  });

  it("has nothing to split for no events", () => {
    expect(splitRequests([])).toEqual([]);
  });

  it("clamps timestamps into the window CloudWatch accepts: 14 days, or the group's retention", () => {
    const w = acceptanceWindow(NOW);
    expect(w).toEqual({
      oldest: NOW - MAX_AGE_MS + AGE_MARGIN_MS,
      now: NOW,
      newest: NOW + MAX_AHEAD_MS - AHEAD_MARGIN_MS,
    });
    expect(acceptanceWindow(NOW, 3).oldest).toBe(NOW - 3 * DAY + AGE_MARGIN_MS);
    expect(acceptanceWindow(NOW, 3653).oldest).toBe(w.oldest);
    const stamps = stampTimes([NOW - 20 * DAY, NOW - HOUR, NOW + 5 * HOUR], 0, w);
    expect(stamps).toEqual([w.oldest, NOW - HOUR, NOW]);
  });

  it("never goes back: each timestamp is at least the previous one, starting from the last sent", () => {
    const w = acceptanceWindow(NOW);
    expect(
      stampTimes([NOW - 3 * HOUR, NOW - 2 * HOUR, NOW - 170 * 60_000, NOW - HOUR], NOW - 150 * 60_000, w),
    ).toEqual([NOW - 150 * 60_000, NOW - 2 * HOUR, NOW - 2 * HOUR, NOW - HOUR]);
    // Unknown times are taken as now.
    expect(stampTimes([undefined, Number.NaN], 0, w)).toEqual([NOW, NOW]);
    // A stream whose last timestamp is ahead of this clock is followed, but never past what CloudWatch accepts.
    expect(stampTimes([NOW], NOW + HOUR, w)).toEqual([NOW + HOUR]);
    expect(stampTimes([NOW, NOW], NOW + 5 * HOUR, w)).toEqual([w.newest, w.newest]);
  });

  it("turns a backlog spanning weeks into requests within every limit", () => {
    const w = acceptanceWindow(NOW);
    const times = Array.from({ length: 30_000 }, (_, i) => NOW - 30 * DAY + i * 90_000);
    const stamps = stampTimes(times, 0, w);
    const events = stamps.map((timestamp, i) => ({ seq: i, timestamp, bytes: 60 + (i % 7) * 20 }));
    const requests = splitRequests(events);
    expectWithinLimits(requests);
    expect(requests.flat().map((e) => e.seq)).toEqual(events.map((e) => e.seq));
    expect(requests.length).toBeGreaterThan(3);
  });
});
