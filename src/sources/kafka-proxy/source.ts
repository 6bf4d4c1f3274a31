/**
 * The `kafka_proxy` source: the Kafka audit proxy (proxy.ts) started by `vigil serve`, each event it emits (one
 * per request, one per login, audit.ts) sealed into the trail with `origin: {source: "kafka-proxy", token:
 * <name>}`. See config.ts for the keys.
 *
 * The proxy runs on its own worker thread (thread.ts), so forwarding never waits behind sealing; it folds
 * identical high-rate events per window (`aggregate`, aggregate.ts) and posts its events here once per turn of
 * its event loop. They go into a bounded in-memory queue; one loop drains the queue into the pipeline, at most
 * MAX_BATCH events per `ingest` call and one call in flight, a new batch waiting LINGER_MS to fill, so events
 * arriving while a batch is made durable go together into the next one (the journal's group commit does the
 * same one level down). Events are validated when their batch is taken (prepareEvents).
 *
 * While the queue holds `queueMaxEvents` events (the pipeline slower than the traffic, or not taking events at
 * all), `audit.failure_policy` decides. `reject` (the default) fails closed: the proxy answers clients' requests
 * with retriable errors instead of forwarding them (proxy.ts / refuse.ts; counted in `failure.refused`), and the
 * events that still come (refusals, logins, Metadata, never refused) get REFUSAL_HEADROOM places beyond the
 * bound. `permit` fails open: requests go on being forwarded, each new event is dropped and counted in
 * `droppedEvents` (and `failure.forwardedUnaudited`). Either way a warning is logged at the first drop and then
 * at most once a minute while drops go on, with the count, and once at stop for drops not yet logged. The pipeline refusing a batch for a while (a full
 * journal queue: `queue_full` under failure_policy reject, events answered `dropped` under permit; a failing
 * journal) keeps the batch and retries it with backoff (state `retrying`, `lastError`), the queue filling behind
 * it; only the events it refused are retried, so none is sealed twice.
 *
 * An event the pipeline refuses as invalid (a client sending a group id or user name longer than an event field
 * may hold, an event over `limits.max_event_bytes`) is not lost for it: the batch is split until the event is
 * alone, and that event is sealed reduced to its bounded fields, each string cut to its field's limit, with the
 * lists under `details.kafka` replaced by their lengths and `details.kafka.reduced` saying why (counted in
 * `reducedEvents`). Refused even so (a `max_event_bytes` of a few hundred bytes), it is counted in
 * `refusedEvents` and logged.
 *
 * stop(): the proxy closes its listeners and connections first (no event comes after), then the queue is
 * drained into the pipeline, which is still running; if the pipeline refuses, the events left are given up at
 * once (counted as dropped and logged) rather than holding the shutdown.
 *
 * Status: the state, the bootstrap listener's address, the advertised host, the cluster's bootstrap servers, the
 * broker listeners (node id, local port, the broker behind it), and the counts: events emitted by the proxy,
 * ingested (handed to the pipeline and answered: sealed, excluded by policy, or repeats), sealed, excluded,
 * dropped, reduced, refused; the queue's length and bound; failed ingest attempts; the failure policy's state.
 */
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import type { FailurePolicy } from "../../config/types.ts";
import { VigilError } from "../../errors.ts";
import type { EventOrigin, NativeEvent } from "../../event/schema.ts";
import { type EventLimits, prepareEvents } from "../../event/validate.ts";
import { displayBroker } from "../../kafka/connection.ts";
import type { IngestResult } from "../../pipeline/pipeline.ts";
import { type BackoffOptions, backoffDelay, sleep } from "../../pipeline/retry.ts";
import { displayPorts, type KafkaProxySourceConfig } from "./config.ts";
import type { FailureStatus, KafkaProxyOptions } from "./proxy.ts";
import { ProxyThread } from "./thread.ts";

export const ORIGIN_SOURCE = "kafka-proxy";
/** Events waiting to be sealed, at most, by default: beyond, new events are dropped (fail open). */
export const DEFAULT_QUEUE_MAX_EVENTS = 50_000;
/** Room beyond the bound, failing closed, for the events of requests never refused and of refusals. */
const REFUSAL_HEADROOM = 1_000;
/** Events handed to the pipeline in one ingest call, at most. */
const MAX_BATCH = 1000;
/**
 * How long a new batch waits for more events before it is sealed (the events' own times are kept). Sealing
 * costs per batch (a journal sync, then each consumer's read, delivery and cursor write): at a thousand
 * requests a second, 10 ms batches cost the server 0.5 ms of CPU per request, 100 ms batches 0.33 ms. Clients
 * never wait for it; a crash loses what is queued either way.
 */
const LINGER_MS = 100;
const DROP_LOG_INTERVAL_MS = 60_000;
const BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 5000 };

export type KafkaProxyState = "starting" | "running" | "retrying" | "failed" | "stopped";

/** A broker's listener on the proxy: clients are told `advertisedHost:port` for broker `nodeId`. */
export interface BrokerListener {
  nodeId: number;
  port: number;
  /** The broker's own address (host:port), as the cluster gave it. */
  broker: string;
}

export interface KafkaProxyStatus {
  state: KafkaProxyState;
  /** The bootstrap listener: what clients use as bootstrap.servers. */
  listen: string;
  advertisedHost: string;
  bootstrapServers: string[];
  /** `first-last`, or `any` for any free port for each broker. */
  brokerPorts: string;
  brokers: BrokerListener[];
  /** Events the proxy emitted (one per request, or per window for identical ones, and per login). */
  emittedEvents: number;
  /** The requests and logins those events stand for (a folded event counts each request it folds). */
  auditedRequests: number;
  /** Events the pipeline answered: sealed, excluded by policy, or repeats of events already sealed. */
  ingestedEvents: number;
  sealedEvents: number;
  excludedEvents: number;
  /** Events lost because the queue was full (fail open), or left when the pipeline refused them at stop. */
  droppedEvents: number;
  /** Events the pipeline refused as they were and took reduced to their bounded fields. */
  reducedEvents: number;
  /** Events the pipeline refused even reduced: lost (logged). */
  refusedEvents: number;
  /**
   * Events the proxy holds in its aggregation window (`aggregate`), each folding identical requests: they join
   * the queue when the window ends.
   */
  foldingEvents: number;
  /** Events waiting to be sealed, the batch in flight included. */
  queueLength: number;
  queueMaxEvents: number;
  /** Ingest calls that failed and were retried. */
  ingestFailures: number;
  lastError?: string;
  /** The failure policy while the queue is full: requests refused (reject) or forwarded unaudited (permit). */
  failure?: FailureStatus;
}

export interface KafkaProxySourceOptions {
  config: KafkaProxySourceConfig;
  /** Seals events; resolves once they are durable (Pipeline.ingest). */
  ingest: (events: NativeEvent[]) => Promise<IngestResult>;
  limits: EventLimits;
  log: (msg: string) => void;
  queueMaxEvents?: number;
  backoff?: BackoffOptions;
  /**
   * While the queue is full: `reject` (default, as audit.failure_policy) refuses clients' requests with retriable
   * errors (proxy.ts), so nothing happens unaudited; `permit` forwards them and counts the events lost.
   */
  failurePolicy?: FailurePolicy;
  /**
   * Vigil's own audit topics (its kafka destinations'): producing to, deleting or altering them through the proxy
   * is refused (protect.ts). Vigil's destinations write to the cluster directly, not through the proxy.
   */
  protectedTopics?: readonly string[];
}

type Json = Record<string, unknown>;

export class KafkaProxySource {
  readonly #opts: KafkaProxySourceOptions;
  readonly #origin: EventOrigin;
  readonly #queueMax: number;
  readonly #abort = new AbortController();
  #proxy: ProxyThread | undefined;
  #state: KafkaProxyState = "starting";
  /** Events not yet taken into a batch. */
  #queue: Json[] = [];
  /** Batches taken from the queue and not yet sealed, in order: the first is the one in flight. */
  #batches: NativeEvent[][] = [];
  /** Events already reduced once (a second refusal gives them up). */
  readonly #reduced = new WeakSet<NativeEvent>();
  #draining = false;
  #drained: Promise<void> = Promise.resolve();
  #emitted = 0;
  #requests = 0;
  #ingested = 0;
  #sealed = 0;
  #excluded = 0;
  #dropped = 0;
  #reducedCount = 0;
  #refused = 0;
  #failures = 0;
  #lastError: string | undefined;
  /** Drops since the last warning, and when that was. */
  #unloggedDrops = 0;
  #lastDropLog = Number.NEGATIVE_INFINITY;

  constructor(opts: KafkaProxySourceOptions) {
    this.#opts = opts;
    this.#origin = { source: ORIGIN_SOURCE, token: opts.config.name };
    this.#queueMax = opts.queueMaxEvents ?? DEFAULT_QUEUE_MAX_EVENTS;
  }

  /**
   * Reads the CA file and starts the proxy's bootstrap listener.
   * @throws VigilError("invalid_config") when the CA file cannot be read; the listen error when the address is
   * taken.
   */
  async start(): Promise<void> {
    const { config } = this.#opts;
    let proxy: ProxyThread;
    try {
      proxy = await ProxyThread.start({
        data: {
          options: {
            listen: config.listen,
            bootstrap: config.brokers,
            advertisedHost: config.advertisedHost,
            brokerPorts: config.brokerPorts,
            ...(config.upstreamTls === undefined ? {} : { upstreamTls: await this.#upstreamTls(config) }),
            ...(config.tls === undefined ? {} : { clientTls: await this.#clientTls(config, config.tls) }),
            maxFrameBytes: config.maxFrameBytes,
            ...(this.#opts.protectedTopics?.length ? { protectedTopics: this.#opts.protectedTopics } : {}),
            failurePolicy: this.#opts.failurePolicy ?? "reject",
          },
          aggregate: config.aggregate,
          queueMax: this.#queueMax,
        },
        onEvents: (events) => this.#receive(events),
        log: this.#opts.log,
        onCrash: (message) => {
          this.#state = "failed";
          this.#lastError = `the proxy's thread failed: ${message}`;
          this.#opts.log(
            `${this.#lastError}; clients can no longer connect through this source until a restart`,
          );
        },
      });
    } catch (e) {
      if (e instanceof VigilError) throw e;
      throw new Error(
        `source ${config.name}: cannot listen on ${displayBroker(config.listen)}: ${(e as Error).message}`,
      );
    }
    this.#proxy = proxy;
    this.#state = "running";
    this.#opts.log(
      `Kafka proxy listening on ${displayBroker(proxy.address)} for ${config.brokers.map(displayBroker).join(", ")}` +
        `${config.tls ? (config.tls.clientCaFile ? " (mutual TLS with clients)" : " (TLS with clients)") : ""}` +
        `${config.upstreamTls ? " (TLS to the brokers)" : ""}; brokers advertised as ${config.advertisedHost}, ` +
        `ports ${this.#brokerPorts()}`,
    );
  }

  async #upstreamTls(config: KafkaProxySourceConfig): Promise<NonNullable<KafkaProxyOptions["upstreamTls"]>> {
    const file = config.upstreamTls?.caFile;
    return file === undefined ? {} : { ca: await readKeyFile(config.name, "upstream_tls.ca_file", file) };
  }

  async #clientTls(
    config: KafkaProxySourceConfig,
    tls: NonNullable<KafkaProxySourceConfig["tls"]>,
  ): Promise<NonNullable<KafkaProxyOptions["clientTls"]>> {
    const read = (key: string, file: string) => readKeyFile(config.name, `tls.${key}`, file);
    return {
      cert: await read("cert_file", tls.certFile),
      key: await read("key_file", tls.keyFile),
      ...(tls.clientCaFile === undefined ? {} : { clientCa: await read("client_ca_file", tls.clientCaFile) }),
      requireClientCert: tls.requireClientCert,
    };
  }

  /** Stops the proxy, then seals what is queued (giving it up at once if the pipeline refuses). */
  async stop(): Promise<void> {
    if (this.#state === "stopped") return;
    await this.#proxy?.stop();
    this.#abort.abort();
    await this.#drained;
    this.#state = "stopped";
    if (this.#unloggedDrops > 0) this.#warnDrops();
  }

  status(): KafkaProxyStatus {
    const { config } = this.#opts;
    const proxy = this.#proxy;
    return {
      state: this.#state,
      listen: displayBroker(proxy?.address ?? config.listen),
      advertisedHost: config.advertisedHost,
      bootstrapServers: config.brokers.map(displayBroker),
      brokerPorts: this.#brokerPorts(),
      brokers: [...(proxy?.brokers ?? [])]
        .sort((a, b) => a.nodeId - b.nodeId)
        .map(({ nodeId, local, upstream }) => ({
          nodeId,
          port: local.port,
          broker: displayBroker(upstream),
        })),
      emittedEvents: this.#emitted,
      auditedRequests: this.#requests,
      ingestedEvents: this.#ingested,
      sealedEvents: this.#sealed,
      excludedEvents: this.#excluded,
      droppedEvents: this.#dropped,
      reducedEvents: this.#reducedCount,
      refusedEvents: this.#refused,
      foldingEvents: proxy?.folding ?? 0,
      queueLength: this.#queue.length + this.#inFlight(),
      queueMaxEvents: this.#queueMax,
      ingestFailures: this.#failures,
      ...(this.#lastError === undefined ? {} : { lastError: this.#lastError }),
      ...(proxy ? { failure: proxy.failure } : {}),
    };
  }

  #brokerPorts(): string {
    const ports = this.#opts.config.brokerPorts;
    return ports.first === 0 ? "any" : displayPorts(ports);
  }

  #inFlight(): number {
    let n = 0;
    for (const b of this.#batches) n += b.length;
    return n;
  }

  /** Events from the proxy's thread, in the order it made them. */
  #receive(events: Json[]): void {
    for (const event of events) this.#emit(event);
    this.#publishHeld();
  }

  /** Tells the proxy's thread how many events wait here (it admits requests while they stay below the bound). */
  #publishHeld(): void {
    this.#proxy?.setHeld(this.#queue.length + this.#inFlight());
  }

  /** One event: a push, or a drop when the queue is full. */
  #emit(event: Json): void {
    this.#emitted++;
    const count = (event.action as Json | undefined)?.count;
    this.#requests += typeof count === "number" ? count : 1;
    // Failing closed, the bound is kept by refusing requests; what still comes while it is reached (refusals'
    // own events, logins, Metadata, which are never refused) gets room beyond it, so the trail misses nothing.
    const room =
      this.#queueMax + ((this.#opts.failurePolicy ?? "reject") === "reject" ? REFUSAL_HEADROOM : 0);
    if (this.#queue.length + this.#inFlight() >= room) {
      this.#dropped++;
      this.#unloggedDrops++;
      if (Date.now() - this.#lastDropLog >= DROP_LOG_INTERVAL_MS) this.#warnDrops();
      return;
    }
    // When it happened, not when its batch is sealed (exchange events carry the request's start already).
    event.timestamp ??= new Date().toISOString();
    this.#queue.push(event);
    if (!this.#draining) {
      this.#draining = true;
      this.#drained = this.#drain();
    }
  }

  #warnDrops(): void {
    this.#opts.log(
      `warning: the audit queue is full (${this.#queueMax} events waiting to be sealed): dropped ` +
        `${events(this.#unloggedDrops)}${this.#dropped > this.#unloggedDrops ? ` (${this.#dropped} in all)` : ""}; ` +
        ((this.#opts.failurePolicy ?? "reject") === "reject"
          ? "failing closed: requests are refused with retriable errors while it lasts (failure.refused in the source's status)"
          : "failing open: requests are forwarded unaudited while it lasts (droppedEvents in the source's status)"),
    );
    this.#unloggedDrops = 0;
    this.#lastDropLog = Date.now();
  }

  /** Seals the queue, batch after batch, until it is empty; one ingest call in flight. */
  async #drain(): Promise<void> {
    try {
      for (let attempt = 0; ; ) {
        // A new batch waits a moment to fill: sealing costs per batch (a journal sync, a cursor write and an index
        // transaction downstream), and the proxy emits one event per request.
        if (this.#batches[0] === undefined && this.#queue.length < MAX_BATCH) {
          await sleep(LINGER_MS, this.#abort.signal);
        }
        const batch = this.#batches[0] ?? this.#take();
        if (batch === undefined) return;
        let problem: string;
        try {
          const result = await this.#opts.ingest(batch);
          this.#ingested += batch.length - result.dropped;
          this.#sealed += result.accepted;
          this.#excluded += result.excluded;
          if (result.dropped === 0) {
            this.#batches.shift();
            this.#publishHeld();
            attempt = 0;
            this.#recovered();
            continue;
          }
          // failure_policy permit drops events to spare a waiting client; the proxy's queue can wait instead.
          this.#batches[0] = batch.filter((_, i) => result.events[i]?.status === "dropped");
          problem =
            `the journal queue is full (failure_policy permit: the pipeline counts these ${result.dropped} events ` +
            "as dropped, but they stay queued here and are sealed when retried)";
        } catch (e) {
          if (e instanceof VigilError && e.code === "invalid_event") {
            this.#split(batch, e.message);
            continue;
          }
          problem = (e as Error).message;
        }
        this.#failures++;
        if (this.#lastError !== problem) this.#opts.log(`cannot seal events, retrying: ${problem}`);
        this.#state = "retrying";
        this.#lastError = problem;
        if (!(await sleep(backoffDelay(attempt++, this.#opts.backoff ?? BACKOFF), this.#abort.signal))) {
          this.#giveUp(problem);
          return;
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  /** The next batch from the queue, prepared; undefined when the queue is empty. */
  #take(): NativeEvent[] | undefined {
    while (this.#queue.length > 0) {
      const values = this.#queue.splice(0, MAX_BATCH);
      const now = new Date();
      let batch: NativeEvent[];
      try {
        batch = prepareEvents(
          values.map((value) => ({ value })),
          this.#origin,
          this.#opts.limits,
          now,
        );
      } catch {
        // Some event is invalid: each on its own, an invalid one reduced.
        batch = values.flatMap((value) => this.#prepareOne(value, now));
      }
      if (batch.length > 0) {
        this.#batches.push(batch);
        return batch;
      }
    }
    return undefined;
  }

  /** One event prepared, reduced if it must be; none if even that is refused. */
  #prepareOne(value: Json, now: Date): NativeEvent[] {
    try {
      return prepareEvents([{ value }], this.#origin, this.#opts.limits, now);
    } catch (e) {
      return this.#reduce(value, (e as Error).message, now);
    }
  }

  /** A batch the pipeline refused as invalid: halves, until the event it refuses is alone (then reduced). */
  #split(batch: NativeEvent[], reason: string): void {
    if (batch.length > 1) {
      const half = Math.ceil(batch.length / 2);
      this.#batches.splice(0, 1, batch.slice(0, half), batch.slice(half));
      return;
    }
    const event = batch[0] as NativeEvent;
    const reduced = this.#reduced.has(event) ? [] : this.#reduce(event, reason, new Date(event.received_at));
    if (reduced.length === 0) {
      this.#batches.shift();
      this.#publishHeld();
    } else this.#batches[0] = reduced;
  }

  /** The event reduced to bounded fields, prepared; none (counted, logged) when even that is refused. */
  #reduce(value: Json, reason: string, now: Date): NativeEvent[] {
    try {
      const [event] = prepareEvents(
        [{ value: reducedEvent(value, reason) }],
        this.#origin,
        this.#opts.limits,
        now,
      );
      this.#reduced.add(event as NativeEvent);
      this.#reducedCount++;
      return [event as NativeEvent];
    } catch {
      this.#refused++;
      this.#opts.log(
        `an event of type ${String(value.event_type)} was refused even reduced, and is lost: ${reason}`,
      );
      return [];
    }
  }

  #recovered(): void {
    if (this.#state !== "retrying") return;
    this.#state = "running";
    this.#lastError = undefined;
    this.#opts.log("sealing events again");
  }

  /** Stopped while the pipeline refused events: they are given up rather than holding the shutdown. */
  #giveUp(problem: string): void {
    const lost = this.#queue.length + this.#inFlight();
    this.#queue = [];
    this.#batches = [];
    this.#publishHeld();
    this.#dropped += lost;
    this.#opts.log(`stopping with ${events(lost)} not sealed (lost): ${problem}`);
  }
}

const events = (n: number) => (n === 1 ? "1 event" : `${n} events`);

const isObject = (v: unknown): v is Json => v !== null && typeof v === "object" && !Array.isArray(v);

/** The string cut to `max` characters; undefined for anything else. */
function cut(v: unknown, max: number): string | undefined {
  return typeof v !== "string" ? undefined : v.length > max ? v.slice(0, max) : v;
}

/** The object without its undefined values. */
function defined(o: Record<string, unknown>): Json {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/**
 * An event the pipeline refused, reduced to what always fits: the standard fields cut to their schema limits
 * (event/schema.ts), an actor address only when it is one, and under `details.kafka` the scalars (strings cut to
 * 1024 characters) with each list replaced by its length (`topics: 3` becomes `topics_count: 3`), and why.
 */
function reducedEvent(value: Json, reason: string): Json {
  const actor = isObject(value.actor) ? value.actor : {};
  const resource = isObject(value.resource) ? value.resource : {};
  const action = isObject(value.action) ? value.action : {};
  const kafka = isObject(value.details) && isObject(value.details.kafka) ? value.details.kafka : {};
  const fields: Json = {};
  for (const [key, v] of Object.entries(kafka)) {
    if (Array.isArray(v)) fields[`${key}_count`] = v.length;
    else if (typeof v === "string") fields[key] = cut(v, 1024);
    else if (typeof v === "number" || typeof v === "boolean" || v === null) fields[key] = v;
  }
  const ip =
    typeof actor.ip_address === "string" && isIP(actor.ip_address) !== 0 ? actor.ip_address : undefined;
  return defined({
    event_type: value.event_type,
    event_id: value.event_id,
    timestamp: value.timestamp,
    actor: defined({ type: cut(actor.type, 64), id: cut(actor.id, 1024), ip_address: ip }),
    resource: defined({ type: cut(resource.type, 128), id: cut(resource.id, 1024) }),
    action: defined({
      operation: cut(action.operation, 128),
      result: cut(action.result, 64),
      duration_ms: typeof action.duration_ms === "number" ? action.duration_ms : undefined,
    }),
    details: { kafka: { ...fields, reduced: cut(reason, 1024) } },
  });
}

/** A PEM file named by a source key, read at start; a file that cannot be read stops the server naming the key. */
async function readKeyFile(source: string, key: string, file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message;
    throw new VigilError("invalid_config", `source ${source}: ${key}: cannot read ${file}: ${reason}`);
  }
}
