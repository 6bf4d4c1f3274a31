/**
 * PutLogEvents' rules, applied before anything is sent (moto, the test server, enforces almost none of them, and
 * CloudWatch refuses a whole request, or silently drops events, for breaking one):
 * - at most 10,000 events and 1,048,576 bytes per request, an event counting its UTF-8 message plus 26 bytes;
 * - one event at most 1,048,576 bytes with those 26 (a larger record is refused as too large: the consumer
 *   truncates or parks it, as `on_oversize` says);
 * - events in non-decreasing timestamp order within a request, spanning less than 24 hours;
 * - no event older than 14 days (or than the log group's retention) or more than 2 hours ahead: CloudWatch
 *   drops those and only says so in `rejectedLogEventsInfo`.
 *
 * Timestamps (`stampTimes`): each record's own time (the server's `received_at`) is clamped into the window
 * CloudWatch accepts, so that a record delivered after a long outage or imported from old logs is stored rather
 * than dropped, and made non-decreasing across the stream (never before the last timestamp sent), so that the
 * stream, which CloudWatch orders by timestamp, reads back in sequence order. The record's real times stay in the
 * message; the event timestamp only says where it sits in the stream.
 */

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export const MAX_REQUEST_EVENTS = 10_000;
export const MAX_REQUEST_BYTES = 1_048_576;
/** What CloudWatch adds to each event's message bytes when counting a request's size. */
export const EVENT_OVERHEAD_BYTES = 26;
/** Most bytes of one event, overhead included. */
export const MAX_EVENT_BYTES = 1_048_576;
/** A request's events must span less than 24 hours. */
export const MAX_SPAN_MS = DAY - 1;
/** Events older than this (or than the group's retention, if shorter) are dropped by CloudWatch. */
export const MAX_AGE_MS = 14 * DAY;
/** Events further ahead than this are dropped by CloudWatch. */
export const MAX_AHEAD_MS = 2 * HOUR;
/**
 * Kept from the old end of the window: a delivery retried for a while, or a CloudWatch clock a little ahead of
 * this host's, must not push a clamped timestamp out of it.
 */
export const AGE_MARGIN_MS = HOUR;
/** Kept from the new end of the window, for a CloudWatch clock a little behind this host's. */
export const AHEAD_MARGIN_MS = 10 * 60_000;

/** One log event about to be sent, with the sequence of the record it carries. */
export interface LogEvent {
  sequence: number;
  timestamp: number;
  message: string;
  /** UTF-8 bytes of the message plus EVENT_OVERHEAD_BYTES: what it counts against a request's size. */
  bytes: number;
}

export function eventBytes(message: string): number {
  return Buffer.byteLength(message, "utf8") + EVENT_OVERHEAD_BYTES;
}

/** The timestamps CloudWatch stores at `now`, for a log group whose events expire after `retentionDays`. */
export interface AcceptanceWindow {
  /** The oldest timestamp sent. */
  oldest: number;
  now: number;
  /** The newest timestamp sent (only ever used to stay after a newer one already in the stream). */
  newest: number;
}

export function acceptanceWindow(now: number, retentionDays?: number): AcceptanceWindow {
  const maxAge = Math.min(MAX_AGE_MS, (retentionDays ?? Number.POSITIVE_INFINITY) * DAY);
  return {
    oldest: now - maxAge + AGE_MARGIN_MS,
    now,
    newest: now + MAX_AHEAD_MS - AHEAD_MARGIN_MS,
  };
}

/**
 * The timestamp of each record, in order: its own time (undefined or NaN: unknown, taken as now) clamped into
 * [oldest, now], then moved up to the previous timestamp (starting from `last`, the newest already sent) so the
 * sequence never goes back, but never beyond `newest` (a stream whose last timestamp is further ahead, written
 * while this host's clock was, is followed at `newest`: CloudWatch would drop anything later).
 */
export function stampTimes(
  times: readonly (number | undefined)[],
  last: number,
  window: AcceptanceWindow,
): number[] {
  let previous = last;
  return times.map((time) => {
    const own =
      time === undefined || Number.isNaN(time)
        ? window.now
        : Math.min(Math.max(time, window.oldest), window.now);
    previous = Math.min(Math.max(own, previous), window.newest);
    return previous;
  });
}

/**
 * Splits events (timestamps non-decreasing, each within MAX_EVENT_BYTES) into PutLogEvents requests, in order:
 * each at most MAX_REQUEST_EVENTS events and MAX_REQUEST_BYTES bytes, spanning at most MAX_SPAN_MS.
 */
export function splitRequests<T extends Pick<LogEvent, "timestamp" | "bytes">>(events: readonly T[]): T[][] {
  const requests: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const event of events) {
    const first = current[0];
    if (
      first !== undefined &&
      (current.length >= MAX_REQUEST_EVENTS ||
        bytes + event.bytes > MAX_REQUEST_BYTES ||
        event.timestamp - first.timestamp > MAX_SPAN_MS)
    ) {
      requests.push(current);
      current = [];
      bytes = 0;
    }
    current.push(event);
    bytes += event.bytes;
  }
  if (current.length > 0) requests.push(current);
  return requests;
}
