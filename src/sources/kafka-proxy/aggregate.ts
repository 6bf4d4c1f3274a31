/**
 * Folds identical high-rate proxy events into one event per window, with a count, as Redpanda does.
 *
 * A client producing 1,000 requests a second makes 1,000 audit events a second, nearly all alike: same principal,
 * same connection, same topic, same outcome. Redpanda's audit log batches its events in memory and drains them
 * every `audit_queue_drain_interval_ms` (spec/001, default 500 ms); identical events queued in one interval are
 * written once, with OCSF's `count`, `start_time` and `end_time`. The proxy does the same for the Redpanda event
 * types configured (`aggregate.event_types`, by default produce, consume, describe and heartbeat: the traffic a
 * busy client repeats), so who did what, where, and with what result stays exact while the trail grows with the
 * variety of the traffic rather than its rate. Management, authentication and admin events are never folded
 * unless configured: each of those is worth its own record.
 *
 * Identical means the same event_type, actor (type, id, address), resource, operation and result, and the same
 * Kafka details but for what differs between two requests that are otherwise the same: API version, client id,
 * client port (so the same connection), listener, broker, topics with their partition counts (in order),
 * groups, transactional ids, ACLs, error codes, the acks=0 marker, a decode error, refused audit topics and the
 * refusal. The correlation id, the start time, the duration and the record counts are not compared: they are
 * what differs between repeats, and the merged event summarises them.
 *
 * The first event of its kind in a window is held; later identical ones are folded into it; every `windowMs`,
 * the held events go out in the order their first occurrence arrived and the window starts afresh. An event
 * never repeated goes out unchanged. A folded one is the first event's fields plus `action.count` (the requests
 * folded, at least 2), `action.ended_at` (the start of the latest of them), `action.duration_ms` their mean
 * (µs, as audit.ts rounds) and `details.kafka.duration_ms_max`, each topic's records / batches / bytes summed
 * (where the requests counted them), and `details.kafka.last_correlation_id` next to the first one's
 * `correlation_id`. The OCSF encoder writes count, start_time and end_time from these, as Redpanda does.
 *
 * Events of other types, and every event when the window is 0, go to `emit` at once: folding reorders only the
 * folded events relative to the rest, by about one window. When the timer is late (a busy event loop), the
 * first event to arrive after the window's end closes it, so repeats never fold across more than `windowMs`.
 *
 * This runs per request on the proxy's hot path, so the identity is a string key built field by field (each
 * value written with its kind and length, so no two different events share a key), not a serialisation of the
 * whole event. Events are never mutated: a folded event is built anew when it goes out, and nothing emitted is
 * referenced afterwards.
 */

type Json = Record<string, unknown>;

export interface EventAggregatorOptions {
  /** How long identical events are folded before they go out; 0: every event goes out at once. */
  windowMs: number;
  /** The Redpanda event types (`details.kafka.category`) whose identical events fold. */
  categories: ReadonlySet<string>;
  /** Receives every event, folded or not; must not throw. */
  emit: (event: Json) => void;
  /** A monotonic clock in milliseconds (performance.now by default), for tests. */
  now?: () => number;
}

/** Records, batches and bytes of one topic, summed over the folded requests (only those counted). */
interface TopicSums {
  records?: number;
  batches?: number;
  bytes?: number;
}

const COUNTED = ["records", "batches", "bytes"] as const;

/** An event held in the current window, and what its repeats add up to. */
interface Held {
  first: Json;
  count: number;
  endedAt: unknown;
  lastCorrelationId: unknown;
  durationSum: number;
  durations: number;
  durationMax: number;
  topics: TopicSums[];
}

const asObject = (v: unknown): Json | undefined =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : undefined;

/**
 * A value as a self-delimiting string: a primitive as its kind, length and text; an array as its length and
 * members; an object as its keys and values. Two different values never give the same string.
 */
function token(v: unknown): string {
  if (v === undefined) return "u";
  if (v === null) return "z";
  if (typeof v !== "object") {
    const s = String(v);
    return `${(typeof v)[0]}${s.length}:${s}`;
  }
  if (Array.isArray(v)) {
    let out = `[${v.length};`;
    for (const item of v) out += token(item);
    return out;
  }
  let out = "{";
  for (const k in v) out += token(k) + token((v as Record<string, unknown>)[k]);
  return `${out}}`;
}

/** Kafka details compared as they are (topics are compared without their counts). */
const SAME_CONNECTION = ["api_version", "client_id", "client_port", "listener", "broker"] as const;
const SAME_OUTCOME = [
  "groups",
  "transactional_ids",
  "acls",
  "error_codes",
  "response",
  "decode_error",
  "refused_audit_topics",
  "refused",
] as const;

/** The identity of an event: equal for events that fold together (see the header). */
function fingerprint(event: Json, kafka: Json): string {
  const actor = asObject(event.actor);
  const action = asObject(event.action);
  let key =
    token(event.event_type) +
    token(actor?.type) +
    token(actor?.id) +
    token(actor?.ip_address) +
    token(event.resource) +
    token(action?.operation) +
    token(action?.result);
  for (const name of SAME_CONNECTION) key += token(kafka[name]);
  const topics = kafka.topics;
  if (Array.isArray(topics)) {
    key += `[${topics.length};`;
    for (const t of topics) {
      const topic = asObject(t);
      key += token(topic?.name) + token(topic?.partitions);
    }
  } else {
    key += token(topics);
  }
  for (const name of SAME_OUTCOME) key += token(kafka[name]);
  return key;
}

/** Adds an event's duration, start, correlation id and record counts to what `held` has summed. */
function absorb(held: Held, event: Json, kafka: Json): void {
  const duration = asObject(event.action)?.duration_ms;
  if (typeof duration === "number") {
    held.durationSum += duration;
    held.durations++;
    if (duration > held.durationMax) held.durationMax = duration;
  }
  // ISO timestamps of one format: the text order is the time order.
  if (
    typeof event.timestamp === "string" &&
    !(typeof held.endedAt === "string" && held.endedAt >= event.timestamp)
  )
    held.endedAt = event.timestamp;
  held.lastCorrelationId = kafka.correlation_id;
  const topics = kafka.topics;
  if (!Array.isArray(topics)) return;
  topics.forEach((t, i) => {
    const topic = asObject(t);
    let sums = held.topics[i];
    if (sums === undefined) {
      sums = {};
      held.topics[i] = sums;
    }
    for (const name of COUNTED) {
      const n = topic?.[name];
      if (typeof n === "number") sums[name] = (sums[name] ?? 0) + n;
    }
  });
}

/** The event that stands for a held one and its repeats (the first event's fields are copied, not changed). */
function folded(held: Held): Json {
  const { first } = held;
  const action = asObject(first.action);
  const details = asObject(first.details);
  const kafka = asObject(details?.kafka);
  const topics = kafka?.topics;
  const timed = held.durations > 0;
  return {
    ...first,
    action: {
      ...action,
      ...(timed ? { duration_ms: Math.round((held.durationSum / held.durations) * 1000) / 1000 } : {}),
      count: held.count,
      ...(held.endedAt === undefined ? {} : { ended_at: held.endedAt }),
    },
    details: {
      ...details,
      kafka: {
        ...kafka,
        ...(Array.isArray(topics)
          ? { topics: topics.map((t, i) => ({ ...asObject(t), ...held.topics[i] })) }
          : {}),
        last_correlation_id: held.lastCorrelationId,
        ...(timed ? { duration_ms_max: held.durationMax } : {}),
      },
    },
  };
}

export class EventAggregator {
  readonly #windowMs: number;
  readonly #categories: ReadonlySet<string>;
  readonly #emit: (event: Json) => void;
  readonly #now: () => number;
  /** The events held in the current window by fingerprint, in the order their first occurrence arrived. */
  #held = new Map<string, Held>();
  #windowStart = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: EventAggregatorOptions) {
    this.#windowMs = options.windowMs;
    this.#categories = options.categories;
    this.#emit = options.emit;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Events held in the current window (each folding one or more requests). */
  get size(): number {
    return this.#held.size;
  }

  /** Holds or folds an event of a folding category; emits any other at once (after stop(), every event). */
  add(event: Json): void {
    const kafka = asObject(asObject(event.details)?.kafka);
    const category = kafka?.category;
    if (
      kafka === undefined ||
      typeof category !== "string" ||
      !this.#categories.has(category) ||
      this.#windowMs <= 0 ||
      this.#stopped
    ) {
      this.#emit(event);
      return;
    }
    if (this.#held.size > 0 && this.#now() - this.#windowStart >= this.#windowMs) this.flush();
    const key = fingerprint(event, kafka);
    const held = this.#held.get(key);
    if (held !== undefined) {
      held.count++;
      absorb(held, event, kafka);
      return;
    }
    if (this.#held.size === 0) this.#windowStart = this.#now();
    const fresh: Held = {
      first: event,
      count: 1,
      endedAt: undefined,
      lastCorrelationId: undefined,
      durationSum: 0,
      durations: 0,
      durationMax: 0,
      topics: [],
    };
    absorb(fresh, event, kafka);
    this.#held.set(key, fresh);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#tick(), this.#windowMs);
      this.#timer.unref();
    }
  }

  /** Emits every held event now, in the order their first occurrence arrived; the next window starts afresh. */
  flush(): void {
    const held = this.#held;
    this.#held = new Map();
    for (const h of held.values()) this.#emit(h.count === 1 ? h.first : folded(h));
  }

  /** Flushes and stops the timer; events added afterwards go out at once. */
  stop(): void {
    this.#stopped = true;
    this.flush();
    this.#stopTimer();
  }

  /** The window's end: what it held goes out; a window that held nothing stops the timer until the next event. */
  #tick(): void {
    if (this.#held.size === 0) this.#stopTimer();
    else this.flush();
  }

  #stopTimer(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
