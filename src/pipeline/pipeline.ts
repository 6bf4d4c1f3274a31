/**
 * The ingest path shared by every source: policy → redaction → canonicalize → admission → seal → journal. A caller is
 * answered only once its events are durable.
 *
 * Sealing is synchronous and happens in the order `ingest` is called, so one Pipeline is the one sequencer of
 * its chain. Everything that can refuse a request (validation, size, admission) happens before any event is
 * sealed, so a refused batch leaves no trace in the chain.
 *
 * Ingest is idempotent by event_id within the RecentIds window: an SDK retrying a request whose answer was lost
 * gets the original sequence numbers (once they are durable) rather than a second copy of its events.
 */
import type { FailurePolicy } from "../config/types.ts";
import { VigilError } from "../errors.ts";
import type { NativeEvent } from "../event/schema.ts";
import { type EventLimits, eventTooLarge } from "../event/validate.ts";
import { canonicalize } from "../integrity/canonical.ts";
import type { Sealer } from "../integrity/chain.ts";
import type { JournalWriter } from "../journal/writer.ts";
import type { Redaction } from "../policy/redact.ts";
import type { Policy, PolicyDecision } from "../policy/rules.ts";
import type { RecentIds } from "./recent-ids.ts";

export type EventStatus = "sealed" | "excluded" | "dropped";

export interface EventOutcome {
  event_id: string;
  status: EventStatus;
  sequence_number?: number;
}

export interface IngestResult {
  accepted: number;
  excluded: number;
  dropped: number;
  events: EventOutcome[];
}

/** Counters the pipeline reports to; the server backs them with Prometheus metrics. */
export interface PipelineCounters {
  sealed(n: number): void;
  excluded(reason: NonNullable<PolicyDecision["reason"]>, n: number): void;
  dropped(reason: "queue_full", n: number): void;
  /** Events whose id was already sealed (a client retry), answered with the original sequence number. */
  duplicates(n: number): void;
}

export interface PipelineOptions {
  sealer: Sealer;
  writer: JournalWriter;
  policy: Policy;
  /** Applied to each kept event before it is canonicalized: a sealed record can never be edited afterwards. */
  redaction: Redaction;
  limits: EventLimits;
  failurePolicy: FailurePolicy;
  queueMaxEvents: number;
  counters: PipelineCounters;
  /** Recently sealed event ids; a repeated id is answered with its first sequence number, not sealed again. */
  recentIds: RecentIds;
  log: (msg: string) => void;
}

/** How long a refused client is told to wait before retrying, in seconds. */
export const RETRY_AFTER_SECONDS = 1;

export class Pipeline {
  readonly #o: PipelineOptions;
  #lastDropWarning = 0;

  constructor(options: PipelineOptions) {
    this.#o = options;
  }

  /** Whether the pipeline can accept events (the journal has not failed). */
  get ready(): boolean {
    return this.#o.writer.failure === undefined;
  }

  async ingest(events: NativeEvent[]): Promise<IngestResult> {
    const { policy, redaction, limits, writer, sealer, counters } = this.#o;
    if (writer.failure) throw writer.failure;

    const outcomes: EventOutcome[] = new Array(events.length);
    const kept: { index: number; canonical: string }[] = [];
    const batchIds = new Map<string, number>();
    // Counted only once the request succeeds, so a refused request (and its retry) is not counted twice.
    const exclusions = new Map<NonNullable<PolicyDecision["reason"]>, number>();
    let excluded = 0;
    let repeated = 0;
    let waitFor = 0;
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as NativeEvent;
      const earlier = this.#o.recentIds.get(event.event_id);
      if (earlier !== undefined) {
        outcomes[i] = { event_id: event.event_id, status: "sealed", sequence_number: earlier };
        waitFor = Math.max(waitFor, earlier);
        repeated++;
        continue;
      }
      if (batchIds.has(event.event_id)) {
        repeated++;
        continue; // answered below with the sequence number of its first occurrence in this batch
      }
      batchIds.set(event.event_id, i);
      // Decided on the event as sent, so a redacted actor or topic still matches its exclusion.
      const decision = policy.decide(event);
      if (!decision.keep) {
        outcomes[i] = { event_id: event.event_id, status: "excluded" };
        const reason = decision.reason ?? "excluded";
        exclusions.set(reason, (exclusions.get(reason) ?? 0) + 1);
        excluded++;
        continue;
      }
      let canonical: string;
      try {
        canonical = canonicalize(redaction.applies(event) ? redaction.redact(event) : event);
      } catch (e) {
        throw new VigilError("invalid_event", `event ${i}: ${(e as Error).message}`);
      }
      const size = Buffer.byteLength(canonical);
      if (size > limits.maxEventBytes) throw eventTooLarge(i, size, limits.maxEventBytes);
      kept.push({ index: i, canonical });
    }

    // An idle journal admits any batch, so a batch larger than the limit is not refused forever.
    if (
      kept.length > 0 &&
      writer.pendingEvents > 0 &&
      writer.pendingEvents + kept.length > this.#o.queueMaxEvents
    ) {
      if (this.#o.failurePolicy === "reject") {
        throw new VigilError(
          "queue_full",
          `the journal is ${writer.pendingEvents} events behind (limit ${this.#o.queueMaxEvents}); retry later`,
          { retryable: true },
        );
      }
      for (const k of kept) {
        const event = events[k.index] as NativeEvent;
        outcomes[k.index] = { event_id: event.event_id, status: "dropped" };
      }
      counters.dropped("queue_full", kept.length);
      this.#count(exclusions, repeated);
      this.#warnDrop(kept.length);
      this.#fillRepeats(events, outcomes, batchIds);
      return { accepted: 0, excluded, dropped: kept.length, events: outcomes };
    }

    if (kept.length === 0) {
      this.#fillRepeats(events, outcomes, batchIds);
      // Repeats of events an earlier request sealed are answered only once those are durable. (When this request
      // seals events of its own, its append resolving implies the earlier, lower sequence numbers are durable.)
      await writer.waitForDurable(waitFor - 1);
      if (writer.durableSequence < waitFor) {
        throw (
          writer.failure ??
          new VigilError("journal_failed", "the journal closed before the events were durable")
        );
      }
      this.#count(exclusions, repeated);
      return { accepted: 0, excluded, dropped: 0, events: outcomes };
    }
    const lines: string[] = new Array(kept.length);
    let first = 0;
    for (let j = 0; j < kept.length; j++) {
      const k = kept[j] as { index: number; canonical: string };
      const { line, integrity } = sealer.seal(k.canonical);
      if (j === 0) first = integrity.sequence_number;
      lines[j] = line;
      const eventId = (events[k.index] as NativeEvent).event_id;
      outcomes[k.index] = { event_id: eventId, status: "sealed", sequence_number: integrity.sequence_number };
      this.#o.recentIds.add(eventId, integrity.sequence_number);
    }
    this.#fillRepeats(events, outcomes, batchIds);
    await writer.append(lines, first);
    counters.sealed(kept.length);
    this.#count(exclusions, repeated);
    return { accepted: kept.length, excluded, dropped: 0, events: outcomes };
  }

  #count(exclusions: Map<NonNullable<PolicyDecision["reason"]>, number>, repeated: number): void {
    for (const [reason, n] of exclusions) this.#o.counters.excluded(reason, n);
    if (repeated > 0) this.#o.counters.duplicates(repeated);
  }

  /** Gives an id repeated within one batch the outcome of its first occurrence. */
  #fillRepeats(events: NativeEvent[], outcomes: EventOutcome[], batchIds: Map<string, number>): void {
    for (let i = 0; i < events.length; i++) {
      if (outcomes[i]) continue;
      const first = batchIds.get((events[i] as NativeEvent).event_id);
      const outcome = first === undefined ? undefined : outcomes[first];
      if (outcome) outcomes[i] = { ...outcome };
    }
  }

  #warnDrop(n: number): void {
    const now = Date.now();
    if (now - this.#lastDropWarning < 10_000) return;
    this.#lastDropWarning = now;
    this.#o.log(
      `failure_policy permit: dropped ${n} events because the journal queue is full ` +
        '(counted in vigil_events_dropped_total{reason="queue_full"})',
    );
  }
}
