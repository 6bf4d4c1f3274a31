/**
 * Consumes a broker's audit topic (Redpanda's `_redpanda.audit_log`, OCSF; Confluent's
 * `confluent-audit-log-events`, CloudEvents) into the trail, so its records outlive the topic's retention (7 days
 * by default on both), sealed and tamper-evident (issue 5, point 10). See config.ts for the keys.
 *
 * Consuming: a consumer group (`group_id`) with automatic commits off; the group's committed offsets are the
 * position. Each batch (what the consumer has fetched, at most MAX_BATCH_RECORDS records) is mapped record by
 * record (records.ts: decoded, or kept raw as `kafka.audit_topic_unparsed`, never dropped), sealed through
 * `ingest` (the pipeline, like every source), and only once `ingest` resolved — the events are durable — are the
 * batch's offsets committed. A crash before the commit delivers the batch again: its events carry the same ids
 * (the source's own, or the record's position), so the server answers them by event id instead of sealing them
 * twice. Within one run, records below the last offset sealed of a partition (delivered again after a reconnect)
 * are only committed, not sealed again — until the partition is read from below the offset this run last
 * committed there (the topic deleted and created again, or the group's offsets reset): then what was sealed there
 * is forgotten, and the server's recent event ids answer what really was. `ingest` refusing for a while (a full
 * queue: `dropped` > 0 under failure_policy permit, or queue_full under reject; a failing journal) is retried
 * with backoff, holding the offsets, the state `retrying` meanwhile: nothing is committed past a batch that is not
 * durable. A record the pipeline refuses although records.ts accepted it (redaction making it larger than the
 * limit) is sealed as unparsed without its value.
 *
 * Positions. A partition starts at the group's committed offset. One the group holds no offset for starts at
 * `start_from`: its earliest offset, or its end offset read before joining (`latest`; committed at once, see
 * #pinStart). A committed offset the topic no longer holds (retention deleted records before Vigil archived them,
 * after an outage longer than the retention, or Vigil falling that far behind) goes on from the earliest offset
 * still held, whatever `start_from` says: the library's fallback is always EARLIEST, so no record still in the
 * topic is skipped. Such a jump is checked against the partition's earliest offset, logged as a warning naming
 * the partition and the offsets lost unarchived, and counted in `expiredOffsets`.
 *
 * Sessions: one @platformatic/kafka Consumer joins the group, reads from the committed offsets (or `start_from`),
 * and is closed when anything fails: the stream errors (the broker went away), a commit fails, the consumer
 * reports an error. The source then waits (exponential backoff with jitter, BACKOFF) and starts a new session,
 * forever for retryable failures, its status `retrying` with the reason; a permanent one (authentication,
 * authorization, TLS, see errors.ts) stops the source, status `failed`, without touching the rest of the server.
 * The consumer is a static group member (`group.instance.id`, given by the caller: stable for this Vigil log and
 * source), so a new session, or Vigil restarted after a crash, takes its partitions back at once instead of
 * waiting for the broker to expire the old member (the session timeout).
 *
 * stop(): stops reading; a batch whose sealing is in flight is abandoned uncommitted (delivered again next time,
 * and answered by event id); the stream is closed and the consumer leaves the group.
 *
 * Status: the state, counts (records archived, events sealed, events answered by id, events the policy excluded,
 * unparsed records, offsets expired unarchived), the committed offset and lag of each partition (lag from the
 * library's lag monitor, every LAG_INTERVAL_MS), session restarts and the last error. The password never appears
 * in any of it.
 */

import {
  Consumer,
  type ConsumerOptions,
  ListOffsetTimestamps,
  type Message,
  type MessagesStream,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  type Offsets,
} from "@platformatic/kafka";
import { VigilError } from "../../errors.ts";
import type { EventOrigin, NativeEvent } from "../../event/schema.ts";
import type { EventLimits } from "../../event/validate.ts";
import { connectionSecrets, connectionWarnings, kafkaConnectionOptions } from "../../kafka/connection.ts";
import { scrub } from "../../kafka/errors.ts";
import type { IngestResult } from "../../pipeline/pipeline.ts";
import { type BackoffOptions, backoffDelay, sleep } from "../../pipeline/retry.ts";
import { unlessAborted } from "../../util/abort.ts";
import type { AuditTopicSourceConfig } from "./config.ts";
import { classifyConsumeError } from "./errors.ts";
import {
  describeRecord,
  type PreparedRecord,
  prepareRecord,
  prepareUnparsed,
  type RecordContext,
  type TopicRecord,
} from "./records.ts";

export const ORIGIN_SOURCE = "kafka-audit-topic";
/** Records mapped and sealed together, at most; also the consumer's read-ahead buffer. */
const MAX_BATCH_RECORDS = 500;
/** Bytes one fetch returns at most (a larger single record still comes, alone). */
const MAX_FETCH_BYTES = 8 * 1024 * 1024;
/** How long the broker holds a fetch while there is nothing new: the latency of a new record. */
const FETCH_WAIT_MS = 500;
const LAG_INTERVAL_MS = 5000;
/** A close that takes longer is abandoned (the broker is gone: the group expires the member on its own). */
const CLOSE_TIMEOUT_MS = 5000;
const BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 10_000 };

export type AuditTopicState = "starting" | "consuming" | "retrying" | "failed" | "stopped";

export interface PartitionStatus {
  partition: number;
  /** Offset of the next record to archive, as committed to the group by this run; absent before a commit. */
  committed?: number;
  /** Records in the partition past the group's committed offset, as last measured. */
  lag?: number;
}

export interface AuditTopicStatus {
  topic: string;
  groupId: string;
  format: string;
  state: AuditTopicState;
  /** Records whose events were made durable (each counted once per run). */
  records: number;
  /** Events sealed into the chain. */
  events: number;
  /** Events answered by their event id: sealed before (a delivery again after a crash). */
  duplicates: number;
  /** Events the policy (audit.events, exclude_events, Redpanda filters) did not record. */
  excluded: number;
  /** Records sealed as kafka.audit_topic_unparsed. */
  unparsed: number;
  /** Offsets deleted from the topic (retention) before they were archived: records lost to the trail. */
  expiredOffsets: number;
  partitions: PartitionStatus[];
  /** Sessions started again after a failure. */
  restarts: number;
  /** Times sealing a batch failed and was retried. */
  sealFailures: number;
  lastError?: string;
}

export interface AuditTopicSourceOptions {
  config: AuditTopicSourceConfig;
  /** Seals events; resolves once they are durable (Pipeline.ingest). */
  ingest: (events: NativeEvent[]) => Promise<IngestResult>;
  limits: EventLimits;
  /** The consumer's `group.instance.id`: stable across restarts of this Vigil log, unique to this source. */
  instanceId: string;
  log: (msg: string) => void;
  backoff?: BackoffOptions;
}

type TopicMessage = Message<Buffer, Buffer, Buffer, Buffer>;

/** One consumer's life, from joining the group to closing. */
interface Session {
  consumer?: Consumer<Buffer, Buffer, Buffer, Buffer>;
  stream?: MessagesStream<Buffer, Buffer, Buffer, Buffer>;
  /** `kafka:<topic id>` (`kafka:<source name>` without one), the prefix of positional event ids. */
  idPrefix: string;
  /** The topic has no id: positional event ids end with the record's timestamp (records.ts). */
  timestampInIds: boolean;
  /** start_from latest: the end offset, read before joining, of each partition the group held no offset for. */
  latestStart: Map<number, bigint>;
  /** The stream's positions when its last fetch answered: where a jump (an out-of-range recovery) started. */
  fetchedFrom?: Map<string, bigint>;
  /** Why the session cannot go on (set once). */
  failure?: unknown;
  /** Wakes a reader waiting for records or a failure. */
  wake?: () => void;
  /**
   * The work the stream's new positions call for (start_from latest's commit of the start positions, the check of
   * a jump for expired offsets), in order; a batch's commit waits for it (see #positionsSet).
   */
  positioning?: Promise<void>;
  closing: boolean;
}

/** A failure no retry can fix, already described for the status. */
class PermanentFailure extends Error {}

interface Counts {
  events: number;
  duplicates: number;
  excluded: number;
}

/** A partition's position moving forward otherwise than by reading records. */
interface Jump {
  partition: number;
  from: bigint;
  to: bigint;
}

export class AuditTopicSource {
  readonly #opts: AuditTopicSourceOptions;
  readonly #config: AuditTopicSourceConfig;
  readonly #origin: EventOrigin;
  readonly #secrets: string[];
  readonly #backoff: BackoffOptions;
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #state: AuditTopicState = "starting";
  /** Whether a session ever joined the group (the first join is logged as such). */
  #joined = false;
  #records = 0;
  #events = 0;
  #duplicates = 0;
  #excluded = 0;
  #unparsed = 0;
  #expiredOffsets = 0;
  #restarts = 0;
  #sealFailures = 0;
  #lastError: string | undefined;
  /** Per partition: the offset after the last record sealed in this run, under the topic id it belongs to. */
  readonly #sealedUpTo = new Map<string, bigint>();
  /** Per partition: the offset up to which expired offsets were reported, under the topic id it belongs to. */
  readonly #expiredUpTo = new Map<string, bigint>();
  /** Per partition: the offset this run last committed (confirmed by the broker). */
  readonly #committed = new Map<number, bigint>();
  readonly #lag = new Map<number, bigint>();

  constructor(opts: AuditTopicSourceOptions) {
    this.#opts = opts;
    this.#config = opts.config;
    this.#origin = { source: ORIGIN_SOURCE, token: opts.config.name };
    this.#secrets = connectionSecrets(opts.config);
    this.#backoff = opts.backoff ?? BACKOFF;
  }

  /** Starts consuming in the background; failures to reach the broker show in status(), never as a rejection. */
  async start(): Promise<void> {
    if (this.#loop || this.#stopping) return;
    for (const warning of connectionWarnings(this.#config)) this.#log(warning);
    this.#loop = this.#run();
  }

  /** Stops consuming and leaves the group; a batch not yet durable is not committed. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#abort.abort();
      await this.#loop;
      if (this.#state !== "failed") this.#state = "stopped";
    })();
    return this.#stopping;
  }

  status(): AuditTopicStatus {
    const partitions = [...new Set([...this.#committed.keys(), ...this.#lag.keys()])].sort((a, b) => a - b);
    return {
      topic: this.#config.topic,
      groupId: this.#config.groupId,
      format: this.#config.format,
      state: this.#state,
      records: this.#records,
      events: this.#events,
      duplicates: this.#duplicates,
      excluded: this.#excluded,
      unparsed: this.#unparsed,
      expiredOffsets: this.#expiredOffsets,
      partitions: partitions.map((partition) => {
        const committed = this.#committed.get(partition);
        const lag = this.#lag.get(partition);
        return {
          partition,
          ...(committed === undefined ? {} : { committed: Number(committed) }),
          ...(lag === undefined ? {} : { lag: Number(lag) }),
        };
      }),
      restarts: this.#restarts,
      sealFailures: this.#sealFailures,
      ...(this.#lastError === undefined ? {} : { lastError: this.#lastError }),
    };
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    let attempt = 0;
    while (!signal.aborted) {
      const session: Session = {
        idPrefix: "",
        timestampInIds: false,
        latestStart: new Map(),
        closing: false,
      };
      let failure: unknown;
      try {
        if (await this.#open(session)) {
          if (!this.#joined) {
            this.#log(`consuming as group ${this.#config.groupId} (${this.#config.format} records)`);
          } else if (this.#lastError !== undefined) {
            this.#log("consuming again");
          }
          this.#joined = true;
          this.#state = "consuming";
          this.#lastError = undefined;
          await this.#consume(session, () => {
            attempt = 0;
          });
        }
      } catch (e) {
        failure = e;
      } finally {
        await this.#close(session);
      }
      if (failure === undefined || signal.aborted) break;
      const judged =
        failure instanceof PermanentFailure
          ? { permanent: true, message: failure.message }
          : classifyConsumeError(failure, {
              topic: this.#config.topic,
              groupId: this.#config.groupId,
              secrets: this.#secrets,
            });
      if (judged.permanent) {
        this.#state = "failed";
        this.#lastError = judged.message;
        this.#log(`stopped: ${judged.message}`);
        return;
      }
      this.#state = "retrying";
      this.#restarts++;
      this.#error(`${judged.message}; retrying`);
      await sleep(backoffDelay(attempt++, this.#backoff), signal);
    }
  }

  /** Looks the topic up, joins the group and starts the stream; false when stopped meanwhile. */
  async #open(session: Session): Promise<boolean> {
    const { config } = this.#opts;
    const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>(this.#consumerOptions());
    session.consumer = consumer;
    // The consumer reports a failed rejoin as an 'error' event: without a listener it would end the process.
    consumer.on("error", (e) => this.#sessionFailed(session, e));
    consumer.on("consumer:lag", (lag) => this.#recordLag(lag));
    const metadata = await this.#unlessStopped(consumer.metadata({ topics: [config.topic] }));
    if (metadata === undefined) return false;
    const info = metadata.topics.get(config.topic);
    const topicId = topicIdOf(info?.id, config.topic);
    session.idPrefix = `kafka:${topicId ?? config.name}`;
    session.timestampInIds = topicId === undefined;
    if (config.startFrom === "latest") {
      const ends = await this.#unlessStopped(this.#unpositioned(consumer, info?.partitionsCount ?? 0));
      if (ends === undefined) return false;
      session.latestStart = ends;
    }
    const consuming = consumer.consume({
      topics: [config.topic],
      mode: MessagesStreamModes.COMMITTED,
      // Where a partition without a committed offset starts (start_from latest then moves it, see #positionsSet),
      // and where an out-of-range committed offset goes on from: never past a record still in the topic.
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
      autocommit: false,
      highWaterMark: MAX_BATCH_RECORDS,
      maxBytes: MAX_FETCH_BYTES,
      maxWaitTime: FETCH_WAIT_MS,
    });
    // A stream that arrives once the session is closing (stopped meanwhile) must still be closed.
    consuming.then(
      (stream) => {
        if (session.closing) {
          stream.on("error", () => {});
          stream.close().catch(() => {});
        }
      },
      () => {},
    );
    const stream = await this.#unlessStopped(consuming);
    if (stream === undefined) return false;
    session.stream = stream;
    stream.on("error", (e) => this.#sessionFailed(session, e));
    stream.on("close", () => this.#sessionFailed(session, new Error("the consumer's stream closed")));
    stream.on("readable", () => session.wake?.());
    // Emitted as each fetch answers, before its records move the positions, and before an out-of-range offset is
    // recovered (the 'offsets' that follows).
    stream.on("fetch", () => {
      session.fetchedFrom = new Map(stream.offsetsToFetch);
    });
    stream.on("offsets", () => this.#positionsSet(session, stream));
    consumer.startLagMonitoring({ topics: [config.topic] }, LAG_INTERVAL_MS);
    return true;
  }

  /** start_from latest: the end offset of each partition the group holds no offset for, read before joining. */
  async #unpositioned(
    consumer: Consumer<Buffer, Buffer, Buffer, Buffer>,
    partitionCount: number,
  ): Promise<Map<number, bigint>> {
    const { topic } = this.#config;
    const partitions = Array.from({ length: partitionCount }, (_, i) => i);
    const committed =
      (await consumer.listCommittedOffsets({ topics: [{ topic, partitions }] })).get(topic) ?? [];
    const without = partitions.filter((p) => (committed[p] ?? -1n) < 0n);
    if (without.length === 0) return new Map();
    const ends = (await consumer.listOffsets({ topics: [topic], partitions: { [topic]: without } })).get(
      topic,
    );
    return new Map(
      without.flatMap((p): [number, bigint][] => {
        const end = ends?.[p];
        return end === undefined || end < 0n ? [] : [[p, end]];
      }),
    );
  }

  /**
   * The stream set its positions: joining, joining again, or recovering from an out-of-range offset. At once,
   * before its next fetch: start_from latest moves a partition the group held no offset for from where the
   * fallback put it (the start) to its end offset read before joining; a partition read from below the offset
   * this run committed there forgets what was sealed there (#rewound). Then, in order (a batch's commit waits):
   * a jump forward is checked for expired offsets, and start_from latest commits the start positions.
   */
  #positionsSet(session: Session, stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>): void {
    const { topic, startFrom } = this.#config;
    const positions = stream.offsetsToFetch;
    const jumps: Jump[] = [];
    for (const [key, at] of positions) {
      if (!key.startsWith(`${topic}:`)) continue;
      const partition = Number(key.slice(topic.length + 1));
      const end = session.latestStart.get(partition);
      let position = at;
      if (end !== undefined && position < end) {
        positions.set(key, end);
        position = end;
      }
      const from = session.fetchedFrom?.get(key);
      if (from !== undefined && position > from) jumps.push({ partition, from, to: position });
      const committed = this.#committed.get(partition);
      if (committed !== undefined && position < committed)
        this.#rewound(session, partition, position, committed);
    }
    session.fetchedFrom = new Map(positions);
    const pins = startFrom === "latest" ? new Map(positions) : undefined;
    session.positioning = (session.positioning ?? Promise.resolve())
      .then(async () => {
        if (jumps.length > 0) await this.#reportExpired(session, jumps);
        if (pins !== undefined) await this.#pinStart(session, pins);
      })
      .catch((e) => this.#sessionFailed(session, e));
  }

  /**
   * A partition is read from below the offset this run committed there: the topic was deleted and created again
   * (its offsets start over; the broker dropped the group's offsets with the old topic), or the group's offsets
   * were reset. The offsets this run sealed there no longer say anything about the records now at them.
   */
  #rewound(session: Session, partition: number, position: bigint, committed: bigint): void {
    this.#sealedUpTo.delete(`${session.idPrefix}:${partition}`);
    this.#expiredUpTo.delete(`${session.idPrefix}:${partition}`);
    this.#committed.delete(partition);
    this.#log(
      `partition ${partition} is read from offset ${position}, below offset ${committed} committed before: the ` +
        "topic was created again or the group's offsets were reset; records the server already sealed are " +
        "recognised by their event ids",
    );
  }

  /**
   * Of each jump forward, the offsets the topic no longer holds (below its earliest offset now), not reported
   * yet: logged as a warning and counted. A jump over offsets still held (another member of the group committed
   * further) lost nothing.
   */
  async #reportExpired(session: Session, jumps: Jump[]): Promise<void> {
    const consumer = session.consumer as Consumer<Buffer, Buffer, Buffer, Buffer>;
    const { topic } = this.#config;
    if (session.closing) return;
    const earliest = (
      await consumer.listOffsets({
        topics: [topic],
        partitions: { [topic]: jumps.map((j) => j.partition) },
        timestamp: ListOffsetTimestamps.EARLIEST,
      })
    ).get(topic);
    for (const { partition, from, to } of jumps) {
      const held = earliest?.[partition];
      if (held === undefined) continue;
      const key = `${session.idPrefix}:${partition}`;
      // Lost: from where the jump started (or the last report) up to the new position or the earliest offset
      // held, whichever is lower (bigints: no Math.min).
      const reported = this.#expiredUpTo.get(key);
      const lostFrom = reported !== undefined && reported > from ? reported : from;
      let lostTo = to;
      if (held < lostTo) lostTo = held;
      if (lostTo <= lostFrom) continue;
      this.#expiredUpTo.set(key, lostTo);
      this.#expiredOffsets += Number(lostTo - lostFrom);
      this.#log(
        `warning: partition ${partition}: ${lostTo - lostFrom} offsets (${lostFrom} to ${lostTo - 1n}) were ` +
          `deleted from the topic before they were archived (retention); reading on from offset ${to}`,
      );
    }
  }

  /**
   * start_from latest: commits the start position of each assigned partition the group holds no offset for. Else,
   * Vigil stopped before the partition's first new record would start from the latest offset again when it
   * comes back, skipping what was written meanwhile.
   */
  async #pinStart(session: Session, positions: Map<string, bigint>): Promise<void> {
    const consumer = session.consumer as Consumer<Buffer, Buffer, Buffer, Buffer>;
    const { topic } = this.#config;
    const assigned = consumer.assignments?.find((a) => a.topic === topic)?.partitions ?? [];
    if (assigned.length === 0 || session.closing) return;
    const committed = (
      await consumer.listCommittedOffsets({ topics: [{ topic, partitions: assigned }] })
    ).get(topic);
    const offsets = assigned.flatMap((partition) => {
      const position = positions.get(`${topic}:${partition}`);
      const has = (committed?.[partition] ?? -1n) >= 0n;
      if (has) session.latestStart.delete(partition);
      return has || position === undefined ? [] : [{ topic, partition, offset: position, leaderEpoch: -1 }];
    });
    if (offsets.length === 0 || session.closing) return;
    await consumer.commit({ offsets });
    for (const o of offsets) {
      this.#committed.set(o.partition, o.offset);
      session.latestStart.delete(o.partition);
    }
  }

  #consumerOptions(): ConsumerOptions<Buffer, Buffer, Buffer, Buffer> {
    const { config, instanceId } = this.#opts;
    return {
      clientId: `vigil-${config.name}`,
      groupId: config.groupId,
      groupInstanceId: instanceId,
      ...kafkaConnectionOptions(config),
      // Few, quick retries inside the library: the session loop does the long retrying, with its status.
      retries: 2,
      retryDelay: 250,
      sessionTimeout: 30_000,
      rebalanceTimeout: 60_000,
      heartbeatInterval: 3000,
    };
  }

  /** Reads, seals and commits batches until stopped; throws what ends the session. */
  async #consume(session: Session, progressed: () => void): Promise<void> {
    for (;;) {
      const batch = await this.#nextBatch(session);
      if (batch.length === 0) return;
      if (!(await this.#process(session, batch))) return;
      progressed();
    }
  }

  /** The records the stream holds (waiting for some); empty when stopped; throws the session's failure. */
  #nextBatch(session: Session): Promise<TopicMessage[]> {
    const signal = this.#abort.signal;
    const stream = session.stream as MessagesStream<Buffer, Buffer, Buffer, Buffer>;
    return new Promise((resolve, reject) => {
      const finish = (settle: () => void) => {
        session.wake = undefined;
        signal.removeEventListener("abort", onAbort);
        settle();
      };
      const onAbort = () => finish(() => resolve([]));
      const read = () => {
        if (signal.aborted) return onAbort();
        if (session.failure !== undefined) return finish(() => reject(session.failure));
        const batch: TopicMessage[] = [];
        while (batch.length < MAX_BATCH_RECORDS) {
          const message = stream.read() as TopicMessage | null;
          if (message === null) break;
          batch.push(message);
        }
        if (batch.length > 0) finish(() => resolve(batch));
      };
      session.wake = read;
      signal.addEventListener("abort", onAbort, { once: true });
      read();
    });
  }

  /** Seals a batch and commits its offsets; false when stopped before the events were durable. */
  async #process(session: Session, batch: TopicMessage[]): Promise<boolean> {
    const ctx: RecordContext = {
      format: this.#config.format,
      idPrefix: session.idPrefix,
      timestampInIds: session.timestampInIds,
      origin: this.#origin,
      limits: this.#opts.limits,
      now: new Date(),
    };
    const fresh = batch.filter(
      (m) => m.offset >= (this.#sealedUpTo.get(`${session.idPrefix}:${m.partition}`) ?? -1n),
    );
    const prepared = fresh.map((m) => {
      const record = topicRecord(m);
      try {
        return { record, ...prepareRecord(record, ctx) };
      } catch (e) {
        throw new PermanentFailure((e as Error).message);
      }
    });
    const counts = await this.#sealRecords(prepared, ctx);
    if (counts === undefined) return false;
    this.#records += prepared.length;
    this.#events += counts.events;
    this.#duplicates += counts.duplicates;
    this.#excluded += counts.excluded;
    this.#unparsed += prepared.filter((p) => p.unparsed !== undefined).length;
    const last = new Map<number, TopicMessage>();
    for (const m of batch) if ((last.get(m.partition)?.offset ?? -1n) < m.offset) last.set(m.partition, m);
    for (const m of last.values()) this.#sealedUpTo.set(`${session.idPrefix}:${m.partition}`, m.offset + 1n);
    const offsets = [...last.values()].map((m) => ({
      topic: m.topic,
      partition: m.partition,
      offset: m.offset + 1n,
      leaderEpoch: m.leaderEpoch,
    }));
    const consumer = session.consumer as Consumer<Buffer, Buffer, Buffer, Buffer>;
    // The start positions' commit goes first (never after, and so below, this batch's offsets), and so does the
    // report of offsets a jump skipped (once this batch's offsets are committed past them, nothing would).
    await this.#unlessStopped(session.positioning ?? Promise.resolve());
    if (this.#abort.signal.aborted) return false;
    if (session.failure !== undefined) throw session.failure;
    if ((await this.#unlessStopped(consumer.commit({ offsets }).then(() => true))) === undefined)
      return false;
    for (const o of offsets) this.#committed.set(o.partition, o.offset);
    return true;
  }

  /**
   * Seals the records' events in one ingest; when the pipeline refuses them as invalid, one record at a time, a
   * refused one as unparsed without its value. Undefined when stopped first.
   */
  async #sealRecords(
    prepared: (PreparedRecord & { record: TopicRecord })[],
    ctx: RecordContext,
  ): Promise<Counts | undefined> {
    try {
      return await this.#seal(prepared.flatMap((p) => p.events));
    } catch (e) {
      if (!isInvalidEvent(e)) throw e;
    }
    const total: Counts = { events: 0, duplicates: 0, excluded: 0 };
    for (const p of prepared) {
      let counts: Counts | undefined;
      try {
        counts = await this.#seal(p.events);
      } catch (e) {
        if (!isInvalidEvent(e)) throw e;
        const reason = `refused by the pipeline: ${(e as Error).message}`;
        let unparsed: PreparedRecord;
        try {
          unparsed = prepareUnparsed(p.record, ctx, reason, false);
          counts = await this.#seal(unparsed.events);
        } catch (e2) {
          if (!isInvalidEvent(e2)) throw e2;
          throw new PermanentFailure(
            `${describeRecord(p.record)} cannot be sealed even without its value: ${(e2 as Error).message}`,
          );
        }
        p.events = unparsed.events;
        p.unparsed = reason;
      }
      if (counts === undefined) return undefined;
      total.events += counts.events;
      total.duplicates += counts.duplicates;
      total.excluded += counts.excluded;
    }
    return total;
  }

  /**
   * Ingests until the events are durable, retrying with backoff while the pipeline cannot take them (a full
   * queue, a failing journal), the state `retrying` meanwhile. Undefined when stopped first; throws only
   * invalid_event.
   */
  async #seal(events: NativeEvent[]): Promise<Counts | undefined> {
    if (events.length === 0) return { events: 0, duplicates: 0, excluded: 0 };
    const signal = this.#abort.signal;
    for (let attempt = 0; ; attempt++) {
      let problem: string;
      try {
        // Once stopped, the abandoned ingest's outcome is of no interest.
        const result = await this.#unlessStopped(this.#opts.ingest(events));
        if (result === undefined) return undefined;
        if (result.dropped === 0) {
          if (this.#state === "retrying") {
            this.#state = "consuming";
            this.#lastError = undefined;
            this.#log("sealing again");
          }
          return {
            events: result.accepted,
            excluded: result.excluded,
            duplicates: events.length - result.accepted - result.excluded,
          };
        }
        // failure_policy permit drops events to spare a client waiting on its request; the topic can wait. The
        // pipeline has no way to refuse them instead, so it counts them in vigil_events_dropped_total and logs
        // them as dropped, although they stay in the topic and are sealed by a later attempt.
        problem =
          `the journal queue is full (failure_policy permit: the pipeline counts these ${result.dropped} events ` +
          "as dropped, but they stay in the topic and are sealed when retried)";
      } catch (e) {
        if (isInvalidEvent(e)) throw e;
        problem = (e as Error).message;
      }
      this.#sealFailures++;
      this.#state = "retrying";
      this.#error(`sealing failed, retrying (offsets not committed): ${problem}`);
      if (!(await sleep(backoffDelay(attempt, this.#backoff), signal))) return undefined;
    }
  }

  /** The promise's value, or undefined once the source is stopped (see util/abort.ts). */
  #unlessStopped<T>(promise: Promise<T>): Promise<T | undefined> {
    return unlessAborted(promise, this.#abort.signal);
  }

  #sessionFailed(session: Session, error: unknown): void {
    if (session.closing || session.failure !== undefined) return;
    session.failure = error;
    session.wake?.();
  }

  #recordLag(lag: Offsets): void {
    (lag.get(this.#config.topic) ?? []).forEach((value, partition) => {
      // -1: a partition this consumer is not assigned.
      if (value >= 0n) this.#lag.set(partition, value);
      else this.#lag.delete(partition);
    });
  }

  /** Closes the stream, then the consumer (leaving the group), each within CLOSE_TIMEOUT_MS. */
  async #close(session: Session): Promise<void> {
    session.closing = true;
    session.wake = undefined;
    const { consumer, stream } = session;
    if (consumer === undefined) return;
    consumer.stopLagMonitoring();
    if (stream !== undefined) await bounded(stream.close());
    if (!(await bounded(consumer.close()))) await bounded(consumer.close(true));
  }

  /** Logs an error once, not on every attempt that meets it again. */
  #error(message: string): void {
    if (message !== this.#lastError) this.#log(message);
    this.#lastError = message;
  }

  #log(message: string): void {
    this.#opts.log(`${this.#config.topic}: ${scrub(message, this.#secrets)}`);
  }
}

/**
 * The consumer's `group.instance.id`: the Vigil log's origin (stable, unique to its data directory) and the
 * source's name, in the characters Kafka allows (at most 249, the name kept whole).
 */
export function groupInstanceId(logOrigin: string, sourceName: string): string {
  return `${logOrigin.replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 249 - 1 - sourceName.length)}-${sourceName}`;
}

/** Whether the promise settled successfully within CLOSE_TIMEOUT_MS. */
async function bounded(promise: Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), CLOSE_TIMEOUT_MS);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => false,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function isInvalidEvent(e: unknown): boolean {
  return e instanceof VigilError && e.code === "invalid_event";
}

function topicRecord(m: TopicMessage): TopicRecord {
  return { topic: m.topic, partition: m.partition, offset: m.offset, timestamp: m.timestamp, value: m.value };
}

/**
 * The topic's UUID as the metadata gives it; undefined when the broker has none: the library reports the name
 * for Metadata before v10 (Kafka before 2.8; Redpanda before 25.3, which answers up to v8), and the all-zero UUID
 * means "none" (a broker whose topics have no id yet).
 */
function topicIdOf(id: string | undefined, topic: string): string | undefined {
  if (
    id === undefined ||
    id === topic ||
    !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)
  )
    return undefined;
  return /^[0-]+$/.test(id) ? undefined : id;
}
