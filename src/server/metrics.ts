/** Prometheus metrics for one Vigil process (a private registry, so tests can run several servers at once). */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { ConsumerStatus } from "../pipeline/consumer.ts";
import type { PipelineCounters } from "../pipeline/pipeline.ts";
import type { KafkaProxyStatus } from "../sources/kafka-proxy/source.ts";

/** A kafka_proxy source's status, by the source's name. */
export interface NamedProxyStatus {
  name: string;
  status: KafkaProxyStatus;
}

export class Metrics implements PipelineCounters {
  readonly registry = new Registry();
  readonly #sealed: Counter;
  readonly #excluded: Counter<"reason">;
  readonly #dropped: Counter<"reason">;
  readonly #duplicates: Counter;
  readonly requests: Counter<"route" | "status">;
  readonly ackLatency: Histogram;

  constructor(sources: {
    durableSequence: () => number;
    pendingEvents: () => number;
    groupCommits: () => number;
    destinations: () => ConsumerStatus[];
    /** The kafka_proxy sources (none until the sources start). */
    kafkaProxies?: () => NamedProxyStatus[];
  }) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "vigil_process_" });
    this.#sealed = new Counter({
      name: "vigil_events_sealed_total",
      help: "Events sealed and made durable in the journal",
      registers,
    });
    this.#excluded = new Counter({
      name: "vigil_events_excluded_total",
      help: "Events not recorded because the policy excludes them",
      labelNames: ["reason"],
      registers,
    });
    this.#dropped = new Counter({
      name: "vigil_events_dropped_total",
      help: "Events accepted and dropped because failure_policy is permit and the queue was full",
      labelNames: ["reason"],
      registers,
    });
    this.#duplicates = new Counter({
      name: "vigil_events_duplicate_total",
      help: "Events whose event_id was already sealed (client retries), answered with the original sequence number",
      registers,
    });
    this.requests = new Counter({
      name: "vigil_http_requests_total",
      help: "HTTP requests by route and status",
      labelNames: ["route", "status"],
      registers,
    });
    this.ackLatency = new Histogram({
      name: "vigil_ingest_ack_seconds",
      help: "Time from receiving an ingest request to answering it (events durable)",
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    new Gauge({
      name: "vigil_journal_durable_sequence",
      help: "Highest sequence number on disk",
      registers,
      collect() {
        this.set(sources.durableSequence());
      },
    });
    new Gauge({
      name: "vigil_journal_pending_events",
      help: "Events sealed but not yet durable (the ingest queue)",
      registers,
      collect() {
        this.set(sources.pendingEvents());
      },
    });
    new Counter({
      name: "vigil_journal_group_commits_total",
      help: "Group commits (one write and fdatasync each)",
      registers,
      collect() {
        this.reset();
        this.inc(sources.groupCommits());
      },
    });
    new Gauge({
      name: "vigil_destination_lag_records",
      help: "Records in the journal not yet confirmed by a destination",
      labelNames: ["destination", "state"],
      registers,
      collect() {
        this.reset();
        for (const d of sources.destinations())
          this.set({ destination: d.name, state: d.state }, d.lagRecords);
      },
    });
    new Gauge({
      name: "vigil_destination_lag_seconds",
      help: "How long ago the oldest record not yet confirmed by a destination became durable (0 when caught up)",
      labelNames: ["destination"],
      registers,
      collect() {
        this.reset();
        for (const d of sources.destinations()) this.set({ destination: d.name }, d.lagSeconds);
      },
    });
    new Gauge({
      name: "vigil_destination_parked",
      help: "1 while a destination is parked after a permanent error (records wait in the journal), else 0",
      labelNames: ["destination"],
      registers,
      collect() {
        this.reset();
        for (const d of sources.destinations())
          this.set({ destination: d.name }, d.state === "parked" ? 1 : 0);
      },
    });
    // The Kafka proxy's failure policy (issue 7, point 4): alert on audit_path_full and on the counters moving.
    const proxies = () => sources.kafkaProxies?.() ?? [];
    new Gauge({
      name: "vigil_kafka_proxy_audit_path_full",
      help: "1 while a kafka_proxy source's event queue is full (failure_policy reject: requests refused; permit: forwarded unaudited), else 0",
      labelNames: ["source"],
      registers,
      collect() {
        this.reset();
        for (const p of proxies()) this.set({ source: p.name }, p.status.failure?.auditPathFull ? 1 : 0);
      },
    });
    new Gauge({
      name: "vigil_kafka_proxy_queue_events",
      help: "Events a kafka_proxy source holds, waiting to be sealed",
      labelNames: ["source"],
      registers,
      collect() {
        this.reset();
        for (const p of proxies()) this.set({ source: p.name }, p.status.queueLength);
      },
    });
    const sum = (counts: Record<string, number> | undefined) =>
      Object.values(counts ?? {}).reduce((a, b) => a + b, 0);
    const perProxy = (name: string, help: string, value: (s: KafkaProxyStatus) => number) =>
      new Counter({
        name,
        help,
        labelNames: ["source"],
        registers,
        collect() {
          this.reset();
          for (const p of proxies()) this.inc({ source: p.name }, value(p.status));
        },
      });
    perProxy(
      "vigil_kafka_proxy_requests_total",
      "Requests (and logins) a kafka_proxy source audited; identical ones folded into one event count each",
      (s) => s.auditedRequests,
    );
    perProxy(
      "vigil_kafka_proxy_requests_refused_total",
      "Requests a kafka_proxy source answered with a retriable error because its audit queue was full (failure_policy reject)",
      (s) => sum(s.failure?.refused),
    );
    perProxy(
      "vigil_kafka_proxy_requests_unaudited_total",
      "Requests a kafka_proxy source forwarded while its audit queue was full; their events may be lost",
      (s) => sum(s.failure?.forwardedUnaudited),
    );
    perProxy(
      "vigil_kafka_proxy_events_dropped_total",
      "Events a kafka_proxy source lost because its queue was full (failure_policy permit) or at stop",
      (s) => s.droppedEvents,
    );
    const perDestination = (
      name: string,
      help: string,
      value: (d: ConsumerStatus) => number,
    ): Counter<"destination"> =>
      new Counter({
        name,
        help,
        labelNames: ["destination"],
        registers,
        collect() {
          this.reset();
          for (const d of sources.destinations()) this.inc({ destination: d.name }, value(d));
        },
      });
    perDestination(
      "vigil_destination_delivered_records_total",
      "Records a destination confirmed since the server started",
      (d) => d.deliveredRecords,
    );
    perDestination(
      "vigil_destination_failures_total",
      "Failed starts and deliveries of a destination (each failed retry counts)",
      (d) => d.failures,
    );
    perDestination(
      "vigil_destination_truncated_records_total",
      "Records a destination received without their details because its server refused them as too large",
      (d) => d.truncatedRecords,
    );
    perDestination(
      "vigil_destination_oversize_skipped_total",
      "Records not delivered to a destination because even truncated they were too large (kept in the journal)",
      (d) => d.oversizeSkipped,
    );
  }

  sealed(n: number): void {
    this.#sealed.inc(n);
  }

  excluded(reason: string, n: number): void {
    this.#excluded.inc({ reason }, n);
  }

  dropped(reason: string, n: number): void {
    this.#dropped.inc({ reason }, n);
  }

  duplicates(n: number): void {
    this.#duplicates.inc(n);
  }
}
