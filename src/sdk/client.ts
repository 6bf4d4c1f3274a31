/**
 * The Vigil SDK client: batches audit events, sends them as NDJSON to `POST /v1/events`, retries what can be
 * retried and settles each `log()` once the server has made its event durable.
 *
 * Delivery is at-least-once and safe to retry: the client assigns `event_id` and `timestamp` and serializes each
 * event exactly once, inside `log()`, so every attempt resends byte-identical events and the server deduplicates
 * them by id. This module ships to tools, so it imports nothing from the server at run time.
 */
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { InputEvent } from "../event/schema.ts";

/**
 * An audit event as a tool sends it: the spec's Standard Fields plus event-specific `details`.
 * `event_id` and `timestamp` are optional; the client fills them in.
 *
 * @example
 * const event: AuditEvent = {
 *   event_type: "backup.completed",
 *   resource: { type: "backup", id: "production-backup-20241201" },
 *   action: { operation: "backup", result: "success", duration_ms: 45000 },
 * };
 */
export type AuditEvent = InputEvent;

/**
 * Fields merged under every event (the event's own fields win; object fields such as `actor` are merged one level
 * deep). `event_id` and `timestamp` are excluded: a shared value would make distinct events look like retries.
 *
 * @example
 * const defaults: AuditEventDefaults = {
 *   actor: { type: "service", user_agent: "kafka-backup-cli/1.0.0" },
 *   context: { cluster_id: "prod-us-west-2", environment: "production" },
 * };
 */
export type AuditEventDefaults = Partial<Omit<AuditEvent, "event_id" | "timestamp">>;

/**
 * Options of {@link AuditClient}. Only `url` and `token` are required.
 *
 * @example
 * const options: AuditClientOptions = { url: "https://vigil.internal:8443", token: process.env.VIGIL_TOKEN ?? "" };
 */
export interface AuditClientOptions {
  /** Base URL of the Vigil server; events go to `{url}/v1/events`. */
  url: string;
  /** Bearer token with the ingest scope. Never appears in error messages. */
  token: string;
  /** Most events in one request. Default 100. */
  batchSize?: number;
  /** Most NDJSON bytes in one request; a single larger event is still sent alone. Default 1 MiB. */
  maxBatchBytes?: number;
  /** How long a batch waits for more events after its first one. Default 50 ms. */
  flushIntervalMs?: number;
  /** Attempts after the first before a batch fails with `retries_exhausted`. Default 8. */
  maxRetries?: number;
  /** Backoff ceiling of the first retry; doubles each retry (full jitter). Default 100 ms. */
  initialBackoffMs?: number;
  /** Largest computed backoff. A server's `Retry-After` is honoured as given. Default 10 000 ms. */
  maxBackoffMs?: number;
  /** Deadline of one HTTP request, response body included. Default 10 000 ms. */
  requestTimeoutMs?: number;
  /** Most events logged but not yet settled; beyond it `log()` rejects with `queue_full`. Default 10 000. */
  maxQueue?: number;
  /** Fields merged under every event, typically the tool's actor and context. */
  defaults?: AuditEventDefaults;
  /** The fetch implementation; defaults to the global one. */
  fetch?: typeof fetch;
}

/**
 * What became of one event: `sealed` (durable, with its place in the chain), or `excluded` / `dropped` by the
 * server's policy (excluded by a filter, dropped because the queue was full and the failure policy is permit).
 *
 * @example
 * const status: LogStatus = "sealed";
 */
export type LogStatus = "sealed" | "excluded" | "dropped";

/**
 * The settled outcome of {@link AuditClient.log}.
 *
 * @example
 * const result: LogResult = { event_id: "evt_0193a8c0f2e14b7c9d2a6f01e3b5c7d9", sequence_number: 12, status: "sealed" };
 */
export interface LogResult {
  event_id: string;
  /** Position in the server's chain; present only when `status` is `sealed`. */
  sequence_number?: number;
  status: LogStatus;
}

/**
 * Why a `log()` failed. `rejected`: the server refused the event (see `problems`), or it is not serializable
 * as JSON; `unauthorized`: the token is
 * unknown or lacks the scope; `too_large`: the event alone exceeds the server's body limit; `retries_exhausted`:
 * the server stayed unreachable or unavailable; `closed`: `log()` after `close()`; `queue_full`: `maxQueue` events
 * are already waiting.
 *
 * @example
 * const code: AuditClientErrorCode = "retries_exhausted";
 */
export type AuditClientErrorCode =
  | "rejected"
  | "unauthorized"
  | "too_large"
  | "retries_exhausted"
  | "closed"
  | "queue_full";

/**
 * A field-level problem the server found in one event. `field` is a dotted path (`actor.ip_address`), empty for
 * the event as a whole.
 *
 * @example
 * const problem: AuditProblem = { field: "event_type", message: "must match category.action" };
 */
export interface AuditProblem {
  field: string;
  message: string;
}

/**
 * The one error type `log()` rejects with. `retryable` says whether logging the same event again later can succeed
 * (true for `retries_exhausted` and `queue_full`).
 *
 * @example
 * try {
 *   await client.log({ event_type: "backup.completed" });
 * } catch (error) {
 *   if (error instanceof AuditClientError && error.code === "rejected") console.error(error.problems);
 * }
 */
export class AuditClientError extends Error {
  readonly code: AuditClientErrorCode;
  readonly retryable: boolean;
  /** HTTP status of the last response, when there was one. */
  readonly status?: number;
  /** The server's problems with this very event (`rejected` only). */
  readonly problems?: AuditProblem[];
  /** The id the event was sent with, when it got that far. */
  readonly event_id?: string;

  constructor(
    code: AuditClientErrorCode,
    message: string,
    options: { status?: number; problems?: AuditProblem[]; event_id?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AuditClientError";
    this.code = code;
    this.retryable = code === "retries_exhausted" || code === "queue_full";
    if (options.status !== undefined) this.status = options.status;
    if (options.problems !== undefined) this.problems = options.problems;
    if (options.event_id !== undefined) this.event_id = options.event_id;
  }
}

/** One logged event, serialized once; `seq` orders events by `log()` call. */
interface Pending {
  seq: number;
  eventId: string;
  line: string;
  /** UTF-8 bytes of `line` plus its newline. */
  bytes: number;
  enqueuedAt: number;
  resolve: (result: LogResult) => void;
  reject: (error: AuditClientError) => void;
}

/** A problem as the server reports it, still indexed into the batch. */
interface BatchProblem extends AuditProblem {
  index?: number;
}

/** How a batch ended, after retries. `failed` applies to every event of the batch. */
type Outcome =
  | { kind: "ok"; results: LogResult[] }
  | { kind: "invalid"; status: number; problems: BatchProblem[]; message: string }
  | { kind: "too_large"; status: number; message: string }
  | { kind: "failed"; code: AuditClientErrorCode; status?: number; message: string; cause?: unknown };

/** An attempt that may succeed if repeated; `retryAfterMs` is the server's own instruction. */
interface Retry {
  kind: "retry";
  status?: number;
  retryAfterMs?: number;
  message: string;
  cause?: unknown;
}

const STATUSES: ReadonlySet<string> = new Set<LogStatus>(["sealed", "excluded", "dropped"]);
/** Bearer tokens are header values: visible ASCII only, which also keeps them out of fetch's header errors. */
const TOKEN_PATTERN = /^[\x21-\x7e]+$/;

/**
 * Sends audit events to a Vigil server in ordered, size- and time-bounded batches, with retries.
 *
 * Always handle the promise `log()` returns: it rejects when the event is finally not accepted.
 *
 * @example
 * import { AuditClient } from "vigil";
 *
 * const audit = new AuditClient({
 *   url: "https://vigil.internal:8443",
 *   token: process.env.VIGIL_TOKEN ?? "",
 *   defaults: { actor: { type: "service", id: "kafka-backup" }, context: { environment: "production" } },
 * });
 * const { event_id, sequence_number } = await audit.log({
 *   event_type: "backup.completed",
 *   resource: { type: "backup", id: "production-backup-20241201" },
 *   details: { records_backed_up: 1500000 },
 * });
 * await audit.close();
 */
export class AuditClient {
  private readonly endpoint: string;
  private readonly token: string;
  private readonly batchSize: number;
  private readonly maxBatchBytes: number;
  private readonly flushIntervalMs: number;
  private readonly maxRetries: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly requestTimeoutMs: number;
  private readonly maxQueue: number;
  private readonly defaults: AuditEventDefaults;
  private readonly fetchImpl: typeof fetch;

  /** Events not yet taken into a request, in `log()` order. */
  private readonly queue: Pending[] = [];
  private queuedBytes = 0;
  /** Every event not yet settled (queued or in flight); a Set keeps insertion order, so its first is the oldest. */
  private readonly unsettled = new Set<Pending>();
  private readonly flushWaiters: { through: number; resolve: () => void }[] = [];
  private nextSeq = 1;
  /** Events with `seq` up to this are sent without waiting for their batch to fill (set by `flush()`). */
  private forcedThrough = 0;
  private sending = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: AuditClientOptions) {
    const base = new URL(options.url);
    if (base.protocol !== "http:" && base.protocol !== "https:") {
      throw new TypeError(`AuditClient url must be http or https, got ${base.protocol}`);
    }
    // fetch refuses such URLs, which would otherwise surface only as retries exhausted.
    if (base.username !== "" || base.password !== "") {
      throw new TypeError("AuditClient url must not carry credentials; pass the token option");
    }
    this.endpoint = `${base.href.replace(/\/+$/, "")}/v1/events`;
    if (typeof options.token !== "string" || !TOKEN_PATTERN.test(options.token)) {
      throw new TypeError("AuditClient token must be a non-empty string of visible ASCII characters");
    }
    this.token = options.token;
    this.batchSize = count("batchSize", options.batchSize, 100, 1);
    this.maxBatchBytes = count("maxBatchBytes", options.maxBatchBytes, 1024 * 1024, 1);
    this.flushIntervalMs = count("flushIntervalMs", options.flushIntervalMs, 50, 0);
    this.maxRetries = count("maxRetries", options.maxRetries, 8, 0);
    this.initialBackoffMs = count("initialBackoffMs", options.initialBackoffMs, 100, 0);
    this.maxBackoffMs = count("maxBackoffMs", options.maxBackoffMs, 10_000, 0);
    this.requestTimeoutMs = count("requestTimeoutMs", options.requestTimeoutMs, 10_000, 1);
    this.maxQueue = count("maxQueue", options.maxQueue, 10_000, 1);
    this.defaults = options.defaults ?? {};
    this.fetchImpl = options.fetch ?? globalThis.fetch;
  }

  /**
   * Queues an event into the next batch. Resolves once the server has made it durable (or excluded or dropped it,
   * as `status` says); rejects with an {@link AuditClientError} when it finally fails. `event_id` and `timestamp`
   * are assigned here when missing, and the event is serialized now: changing the object afterwards has no effect.
   *
   * @example
   * const result = await client.log({ event_type: "access.denied", details: { reason: "insufficient_permissions" } });
   * console.log(result.event_id, result.status);
   */
  log(event: AuditEvent): Promise<LogResult> {
    if (this.closing !== undefined) {
      return Promise.reject(new AuditClientError("closed", "the audit client is closed"));
    }
    if (this.unsettled.size >= this.maxQueue) {
      return Promise.reject(
        new AuditClientError(
          "queue_full",
          `the audit client already holds ${this.maxQueue} undelivered events`,
        ),
      );
    }
    const now = Date.now();
    const merged = mergeDefaults(this.defaults, event);
    const eventId = event.event_id ?? newEventId(now);
    merged.event_id = eventId;
    merged.timestamp = event.timestamp ?? new Date(now).toISOString();
    let line: string;
    try {
      line = JSON.stringify(merged);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return Promise.reject(
        new AuditClientError("rejected", `event is not serializable as JSON: ${this.redact(reason)}`, {
          event_id: eventId,
        }),
      );
    }
    const { promise, resolve, reject } = Promise.withResolvers<LogResult>();
    const pending: Pending = {
      seq: this.nextSeq++,
      eventId,
      line,
      bytes: Buffer.byteLength(line) + 1,
      enqueuedAt: now,
      resolve,
      reject,
    };
    this.queue.push(pending);
    this.queuedBytes += pending.bytes;
    this.unsettled.add(pending);
    this.kick();
    return promise;
  }

  /**
   * Sends everything buffered now and waits until every event logged before this call has settled. Never rejects:
   * failures are reported through each `log()` promise.
   *
   * @example
   * client.log({ event_type: "restore.started" }).catch(console.error);
   * await client.flush();
   */
  flush(): Promise<void> {
    const through = this.nextSeq - 1;
    const oldest = first(this.unsettled);
    if (oldest === undefined || oldest.seq > through) return Promise.resolve();
    this.forcedThrough = through;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.flushWaiters.push({ through, resolve });
    this.kick();
    return promise;
  }

  /**
   * Refuses further `log()` calls (with `closed`) and flushes what was logged before. Safe to call more than once:
   * every call returns the same promise.
   *
   * @example
   * process.on("SIGTERM", () => void client.close().then(() => process.exit(0)));
   */
  close(): Promise<void> {
    this.closing ??= this.flush();
    return this.closing;
  }

  /** Starts a send when the head batch is due, or arms the timer for when it will be. */
  private kick(): void {
    const head = this.queue[0];
    if (this.sending || head === undefined) return;
    const waited = Date.now() - head.enqueuedAt;
    if (
      this.queue.length >= this.batchSize ||
      this.queuedBytes >= this.maxBatchBytes ||
      head.seq <= this.forcedThrough ||
      waited >= this.flushIntervalMs
    ) {
      void this.pump();
    } else if (this.timer === undefined) {
      // Firing means the head's interval has elapsed: the head only leaves the queue through pump(), which
      // clears this timer, so the callback sends without re-checking the clock.
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (!this.sending) void this.pump();
      }, this.flushIntervalMs - waited);
    }
  }

  /** Sends one batch at a time, in order, then re-evaluates; only one pump runs per client. */
  private async pump(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.sending = true;
    try {
      await this.deliver(this.takeBatch());
    } finally {
      this.sending = false;
    }
    this.kick();
  }

  private takeBatch(): Pending[] {
    let n = 0;
    let bytes = 0;
    for (const p of this.queue) {
      if (n === this.batchSize || (n > 0 && bytes + p.bytes > this.maxBatchBytes)) break;
      n++;
      bytes += p.bytes;
    }
    this.queuedBytes -= bytes;
    return this.queue.splice(0, n);
  }

  /**
   * Delivers a batch and settles every event in it. A 400 rejects only the events the problems name and resends
   * the rest (the server refuses a batch all-or-nothing); a 413 halves the batch until single events remain.
   */
  private async deliver(batch: Pending[]): Promise<void> {
    const outcome = await this.sendWithRetries(batch);
    switch (outcome.kind) {
      case "ok":
        // parseResults checked that there is one result per event, in batch order.
        for (const [i, result] of outcome.results.entries()) this.settle(batch[i] as Pending, result);
        return;
      case "invalid": {
        const named = new Map<number, AuditProblem[]>();
        for (const { index, field, message } of outcome.problems) {
          if (index === undefined || !Number.isInteger(index) || index < 0 || index >= batch.length) continue;
          named.set(index, [...(named.get(index) ?? []), { field, message }]);
        }
        const problemsOf = (i: number) =>
          named.size === 0
            ? outcome.problems.map(({ field, message }) => ({ field, message }))
            : named.get(i);
        const rest: Pending[] = [];
        batch.forEach((p, i) => {
          const problems = problemsOf(i);
          if (problems === undefined) {
            rest.push(p);
            return;
          }
          const detail = problems.length > 0 ? problems.map(formatProblem).join("; ") : outcome.message;
          this.settle(
            p,
            new AuditClientError(
              "rejected",
              `event ${p.eventId} rejected (HTTP ${outcome.status}): ${detail}`,
              {
                status: outcome.status,
                problems,
                event_id: p.eventId,
              },
            ),
          );
        });
        if (rest.length > 0) await this.deliver(rest);
        return;
      }
      case "too_large": {
        if (batch.length > 1) {
          const half = Math.ceil(batch.length / 2);
          await this.deliver(batch.slice(0, half));
          await this.deliver(batch.slice(half));
          return;
        }
        const [p] = batch as [Pending];
        this.settle(
          p,
          new AuditClientError(
            "too_large",
            `event ${p.eventId} is too large for the server: ${outcome.message}`,
            {
              status: outcome.status,
              event_id: p.eventId,
            },
          ),
        );
        return;
      }
      case "failed":
        for (const p of batch) {
          this.settle(
            p,
            new AuditClientError(outcome.code, outcome.message, {
              status: outcome.status,
              event_id: p.eventId,
              cause: outcome.cause,
            }),
          );
        }
    }
  }

  private async sendWithRetries(batch: Pending[]): Promise<Outcome> {
    const body = `${batch.map((p) => p.line).join("\n")}\n`;
    for (let retry = 0; ; retry++) {
      const result = await this.sendOnce(body, batch);
      if (result.kind !== "retry") return result;
      if (retry >= this.maxRetries) {
        return {
          kind: "failed",
          code: "retries_exhausted",
          status: result.status,
          message: `audit events not accepted after ${retry + 1} attempts: ${result.message}`,
          cause: result.cause,
        };
      }
      // Full jitter spreads the retries of many clients released by the same outage.
      const ceiling = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** retry);
      await sleep(result.retryAfterMs ?? Math.random() * ceiling);
    }
  }

  private async sendOnce(body: string, batch: Pending[]): Promise<Outcome | Retry> {
    const fetchImpl = this.fetchImpl;
    let response: Response;
    let text: string;
    try {
      response = await fetchImpl(this.endpoint, {
        method: "POST",
        headers: { authorization: `Bearer ${this.token}`, "content-type": "application/x-ndjson" },
        body,
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      });
      text = await response.text();
    } catch (error) {
      return { kind: "retry", message: this.describeNetworkError(error), cause: error };
    }
    const status = response.status;
    if (response.ok) {
      const results = parseResults(text, batch);
      if (results !== undefined) return { kind: "ok", results };
      // The events may or may not be durable; resending is safe because the server deduplicates by event_id.
      return { kind: "retry", status, message: `HTTP ${status} with a malformed response body` };
    }
    const problem = parseProblem(text);
    const message = this.redact(`HTTP ${status}${problem.detail ? `: ${problem.detail}` : ""}`);
    if (status === 400) {
      const problems = problem.errors.map((p) => ({
        ...p,
        field: this.redact(p.field),
        message: this.redact(p.message),
      }));
      return { kind: "invalid", status, problems, message };
    }
    if (status === 401 || status === 403) {
      return {
        kind: "failed",
        code: "unauthorized",
        status,
        message: `the server refused the token: ${message}`,
      };
    }
    if (status === 413) return { kind: "too_large", status, message };
    if (status === 408 || status === 429 || status >= 500) {
      const retryAfterMs = parseRetryAfter(response.headers.get("retry-after"), Date.now());
      return retryAfterMs === undefined
        ? { kind: "retry", status, message }
        : { kind: "retry", status, message, retryAfterMs };
    }
    return { kind: "failed", code: "rejected", status, message: `the server refused the batch: ${message}` };
  }

  /** Settles one event and releases the `flush()` calls that were waiting for it. */
  private settle(p: Pending, outcome: LogResult | AuditClientError): void {
    this.unsettled.delete(p);
    if (outcome instanceof AuditClientError) p.reject(outcome);
    else p.resolve(outcome);
    const oldest = first(this.unsettled)?.seq ?? Number.POSITIVE_INFINITY;
    for (let i = this.flushWaiters.length - 1; i >= 0; i--) {
      const waiter = this.flushWaiters[i] as { through: number; resolve: () => void };
      if (waiter.through < oldest) {
        this.flushWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  private describeNetworkError(error: unknown): string {
    if (error instanceof Error && error.name === "TimeoutError") {
      return `no response within ${this.requestTimeoutMs} ms`;
    }
    const message = error instanceof Error ? error.message : String(error);
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : "";
    return this.redact(`${message}${cause}`);
  }

  /** Server text and transport errors end up in messages; none of them may carry the token. */
  private redact(text: string): string {
    return text.split(this.token).join("[redacted]");
  }
}

/** Reads an integer option, refusing values that would make the client misbehave silently. */
function count(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`AuditClient ${name} must be an integer >= ${min}, got ${value}`);
  }
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Defaults under the event, object fields merged one level deep. Null-prototype targets keep a `__proto__` key a
 * plain member instead of a prototype change.
 */
function mergeDefaults(defaults: AuditEventDefaults, event: AuditEvent): Record<string, unknown> {
  const merged: Record<string, unknown> = Object.assign(Object.create(null), defaults);
  for (const [key, value] of Object.entries(event)) {
    if (value === undefined) continue;
    const under = merged[key];
    merged[key] =
      isObject(under) && isObject(value) ? Object.assign(Object.create(null), under, value) : value;
  }
  return merged;
}

/** `evt_` + 12 hex digits of the millisecond clock + 20 random hex digits: unique and sortable by time. */
function newEventId(now: number): string {
  return `evt_${now.toString(16).padStart(12, "0").slice(-12)}${randomBytes(10).toString("hex")}`;
}

function first<T>(set: Set<T>): T | undefined {
  for (const value of set) return value;
  return undefined;
}

function formatProblem(p: AuditProblem): string {
  return p.field === "" ? p.message : `${p.field}: ${p.message}`;
}

/** `Retry-After` as delay-seconds or an HTTP date; undefined when absent or unreadable. */
function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The success body, checked against the batch: one entry per event, in order, with the ids that were sent. */
function parseResults(text: string, batch: Pending[]): LogResult[] | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(body) || !Array.isArray(body.events) || body.events.length !== batch.length) return undefined;
  const results: LogResult[] = [];
  for (const [i, entry] of body.events.entries()) {
    const eventId = batch[i]?.eventId;
    if (!isObject(entry) || eventId === undefined || entry.event_id !== eventId) return undefined;
    const status = entry.status;
    if (typeof status !== "string" || !STATUSES.has(status)) return undefined;
    const result: LogResult = { event_id: eventId, status: status as LogStatus };
    if (status === "sealed") {
      if (typeof entry.sequence_number !== "number") return undefined;
      result.sequence_number = entry.sequence_number;
    }
    results.push(result);
  }
  return results;
}

/** An RFC 9457 body, read leniently: an error answer is classified by its status even when the body is not JSON. */
function parseProblem(text: string): { detail?: string; errors: BatchProblem[] } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { errors: [] };
  }
  if (!isObject(body)) return { errors: [] };
  const detail = [body.title, body.detail].filter((s) => typeof s === "string" && s !== "").join(": ");
  const errors: BatchProblem[] = [];
  if (Array.isArray(body.errors)) {
    for (const e of body.errors) {
      if (!isObject(e) || typeof e.message !== "string") continue;
      const problem: BatchProblem = { field: typeof e.field === "string" ? e.field : "", message: e.message };
      if (typeof e.index === "number") problem.index = e.index;
      errors.push(problem);
    }
  }
  return detail === "" ? { errors } : { detail, errors };
}
