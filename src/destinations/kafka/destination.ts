/**
 * The `type: kafka` destination: each record is one message of one topic, produced with @platformatic/kafka by an
 * idempotent producer with acks=all.
 *
 * Messages. Key: the chain id (the log's checkpoint origin), so the records of one chain stay in one partition,
 * in order, whoever else writes to the topic. Value: the record in the `format:` (records the format cannot
 * represent are skipped and counted). Headers: `vigil-seq` (the sequence number), `vigil-sig` (the record's
 * signature) and `content-type` (the format's media type). The partition is set explicitly, so that checkpoints,
 * keyed differently, go to the same partition as the records they cover: the one Kafka's Java client would choose
 * for the key (murmur2, positive, modulo the partition count) — unless the chain is already in another one. An
 * operator adding partitions changes what the key hashes to; moving there would split the chain over two
 * partitions (no order between them, checkpoints away from the records they cover) and, since the new partition
 * holds none of its records, repeat the records delivered just before the restart. So start() looks for the
 * chain's newest record in the partition the key hashes to and, when none is there, in the tails of all the
 * others, and writes on to the partition holding it.
 *
 * Delivery. A batch is sent as produce requests of one record batch each, cut so that none is over the topic's
 * `max.message.bytes` (read at start with DescribeConfigs; 1,048,588, Kafka's default, when that is not allowed),
 * one after the other: each resolves once every in-sync replica has the records (acks=all), and the next is sent
 * only then, so the partition holds them in sequence order. `deliver` resolves when the last one is confirmed. The
 * destination remembers the highest sequence confirmed, so a batch tried again resumes after it.
 *
 * Failures (errors.ts classifies them). MESSAGE_TOO_LARGE (a single record over `max.message.bytes`) is
 * `tooLarge`: the consumer splits the batch, then applies `on_oversize`. A failed send leaves it unknown whether
 * the broker appended the records (the library also drops its producer id then, so the broker cannot
 * deduplicate a resend): before the next attempt the destination reads the partition's newest record of this
 * chain back, and resumes after it when it is one of the batch's records (same sequence and signature). A record
 * appended after that read (a request still queued in the broker) is then written twice: at least once, never
 * out of order for the first time, since every attempt resends from the first record not found.
 *
 * Abandoned deliveries (`signal`, the consumer's request timeout or shutdown). The library cannot cancel a send,
 * so the producer is closed: its connections go, and `deliver` rejects at once. What the broker had received
 * before may still be appended; the next attempt, with a new producer, first looks for it as above. Closing is
 * what keeps a late completion from landing after the next attempt's records, since a closed producer sends
 * nothing more. An abandoned start (or look-back) closes its short-lived admin and reader clients the same way.
 *
 * start(): looks the topic up; creates it when missing and `create_topic` allows (CreateTopics with
 * `cleanup.policy=delete`, `retention.ms`, the partitions and replication factor of config.ts; a topic created
 * meanwhile by someone else is fine); learns the partition count and `max.message.bytes`; then reads the tail of
 * the partition the key hashes to (ListOffsets, then Fetch without a consumer group: 100 offsets back, then 200,
 * 400, …, at most 10,000 offsets of each partition and 64 MiB in all) for the highest `vigil-seq` under this
 * chain's key, and, when there is none, the tails of the other partitions (above), taking the highest found. It
 * returns that record's sequence and `vigil-sig` as `last`, and writes on to its partition. So a restart after a
 * crash does not repeat records, and a topic holding another chain's records under this chain id is recognised
 * by the consumer. A principal without READ on the topic cannot do this: the destination then logs it, writes to
 * the partition the key hashes to, and resumes from the consumer's cursor (records confirmed just before a crash
 * may repeat).
 *
 * Checkpoints (`publish_checkpoints: true`): one message per checkpoint, key `<chain id>/checkpoint`, value the
 * signed note, headers `vigil-checkpoint: <size>` and `content-type: text/plain; charset=utf-8`, in the records'
 * partition after the records it covers. Off by default (config.ts says why).
 *
 * The library tries each request three times (`retries: 2`; a wrong password or an untrusted certificate fails
 * within a second or two), the consumer retries the rest with its own backoff and shows each failure in status.
 * The configured password never appears in messages, status or logs.
 */
import {
  Admin,
  type BaseOptions,
  ConfigResourceTypes,
  Consumer,
  ListOffsetTimestamps,
  type MessageToProduce,
  murmur2,
  ProduceAcks,
  Producer,
} from "@platformatic/kafka";
import type { SealedRecord } from "../../formats/encoder.ts";
import { parseRecord } from "../../integrity/chain.ts";
import {
  connectionSecrets,
  connectionWarnings,
  displayBroker,
  kafkaConnectionOptions,
} from "../../kafka/connection.ts";
import { findApiError, isUnknownTopic } from "../../kafka/errors.ts";
import {
  DeliveryError,
  type Destination,
  type DestinationStatus,
  type RecordBatch,
  type RecordRef,
  type StartFrom,
} from "../destination.ts";
import { destinationOutput, type RecordEncoding } from "../encoding.ts";
import type { DestinationContext } from "../registry.ts";
import type { KafkaDestinationConfig } from "./config.ts";
import { type KafkaCallContext, kafkaError } from "./errors.ts";

/** Kafka's default `max.message.bytes`, used when the topic's cannot be read. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;
/** A record batch's header (v2). */
const BATCH_OVERHEAD_BYTES = 61;
/** Varints and attributes of one record, at most. */
const RECORD_OVERHEAD_BYTES = 36;
/** Length varints of one header, at most. */
const HEADER_OVERHEAD_BYTES = 10;
/** The tail of the partition read at start: first this many offsets back, doubling, up to SCAN_MAX_OFFSETS. */
const SCAN_FIRST_OFFSETS = 100n;
const SCAN_MAX_OFFSETS = 10_000n;
const SCAN_MAX_BYTES = 64 * 1024 * 1024;
const FETCH_MAX_BYTES = 4 * 1024 * 1024;
/** Attempts of each request inside the library (must be ≥ 2: 0 and 1 make an idempotent producer retry forever). */
const LIBRARY_RETRIES = 2;
const LIBRARY_RETRY_DELAY_MS = 250;

const HEADER_SEQ = Buffer.from("vigil-seq");
const HEADER_SIG = Buffer.from("vigil-sig");
const HEADER_CONTENT_TYPE = Buffer.from("content-type");
const HEADER_CHECKPOINT = Buffer.from("vigil-checkpoint");
const CHECKPOINT_CONTENT_TYPE = Buffer.from("text/plain; charset=utf-8");

type Message = MessageToProduce<Buffer, Buffer, Buffer, Buffer>;

interface Outgoing {
  sequence: number;
  message: Message;
  /** Upper bound of the message's size in a record batch. */
  bytes: number;
}

export interface KafkaStatus extends DestinationStatus {
  /** Messages the brokers confirmed (records and checkpoints). */
  messages: number;
  /** Bytes of those messages (keys, values, headers). */
  bytes: number;
  /** Producers closed and replaced after an abandoned delivery. */
  producerResets: number;
  /** The partition the chain is written to. */
  partition: number;
}

/** The bytes of a message's key, value and headers. */
function payloadBytes(message: Message): number {
  let bytes = (message.key?.length ?? 0) + (message.value?.length ?? 0);
  for (const [k, v] of message.headers as Map<Buffer, Buffer>) bytes += k.length + v.length;
  return bytes;
}

/** The message's size in a record batch, at most. */
function batchBytes(message: Message): number {
  return (
    payloadBytes(message) +
    RECORD_OVERHEAD_BYTES +
    HEADER_OVERHEAD_BYTES * (message.headers as Map<Buffer, Buffer>).size
  );
}

/** `messages` cut into runs whose record batch stays within `limit` bytes (a bigger message goes alone). */
export function cutRequests<T extends { bytes: number }>(messages: T[], limit: number): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let size = BATCH_OVERHEAD_BYTES;
  for (const m of messages) {
    if (current.length > 0 && size + m.bytes > limit) {
      out.push(current);
      current = [];
      size = BATCH_OVERHEAD_BYTES;
    }
    current.push(m);
    size += m.bytes;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** The partition Kafka's Java client (and librdkafka's murmur2 partitioner) chooses for `key`. */
export function partitionOf(key: Buffer, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions;
}

export class KafkaDestination implements Destination {
  readonly name: string;
  readonly #config: KafkaDestinationConfig;
  readonly #encoding: RecordEncoding;
  readonly #log: (msg: string) => void;
  readonly #chainKey: Buffer;
  readonly #checkpointKey: Buffer;
  readonly #contentType: Buffer;
  readonly #secrets: string[];
  readonly #where: string;
  #producer: Producer<Buffer, Buffer, Buffer, Buffer> | undefined;
  /** The partition the chain is written to (see the header). */
  #partition = 0;
  #partitionCount = 1;
  #maxBatchBytes = DEFAULT_MAX_MESSAGE_BYTES;
  /** The topic was found or created; false again when a send says it is gone. */
  #topicReady = false;
  /** Highest sequence the partition is known to hold (or that was skipped): what an attempt resumes after. */
  #confirmed = 0;
  /** A send failed or was abandoned: the partition may hold part of it. */
  #uncertain = false;
  /** The principal may read the topic (false once the broker said otherwise). */
  #canRead = true;
  #messages = 0;
  #bytes = 0;
  #producerResets = 0;

  constructor(config: KafkaDestinationConfig, context: DestinationContext) {
    this.name = config.name;
    this.#config = config;
    ({ log: this.#log, encoding: this.#encoding } = destinationOutput(config, context));
    this.#chainKey = Buffer.from(context.logOrigin);
    this.#checkpointKey = Buffer.from(`${context.logOrigin}/checkpoint`);
    this.#contentType = Buffer.from(this.#encoding.encoder?.mediaType ?? "application/json");
    this.#secrets = connectionSecrets(config);
    this.#where = `topic ${config.topic} (${config.brokers.map(displayBroker).join(",")})`;
  }

  status(): KafkaStatus {
    return {
      skippedRecords: this.#encoding.skipped,
      messages: this.#messages,
      bytes: this.#bytes,
      producerResets: this.#producerResets,
      partition: this.#partition,
    };
  }

  async start(from: StartFrom): Promise<{ last?: RecordRef }> {
    const signal = from.signal ?? new AbortController().signal;
    for (const warning of connectionWarnings(this.#config)) this.#log(warning);
    const created = await this.#prepareTopic(signal);
    const hashed = partitionOf(this.#chainKey, this.#partitionCount);
    this.#partition = hashed;
    if (created) return {};
    const others = Array.from({ length: this.#partitionCount }, (_, p) => p).filter((p) => p !== hashed);
    const found = await this.#newestOfChain(signal, hashed, others);
    if (found === undefined) return {};
    if (found.partition !== hashed) {
      this.#partition = found.partition;
      this.#log(
        `note: this chain's records are in partition ${found.partition} of topic ${this.#config.topic}, not in ` +
          `partition ${hashed} its key hashes to with ${this.#partitionCount} partitions (partitions were added): ` +
          `writing on to partition ${found.partition}, so that the chain stays in one partition`,
      );
    }
    this.#confirmed = found.last.sequence;
    return { last: found.last };
  }

  async deliver(batch: RecordBatch, signal: AbortSignal): Promise<void> {
    if (!this.#topicReady) await this.#prepareTopic(signal);
    if (this.#uncertain) await this.#resync(batch, signal);
    const end = batch.firstSequence + batch.lines.length - 1;
    const skip = Math.max(0, this.#confirmed - batch.firstSequence + 1);
    if (skip >= batch.lines.length) return;
    const part =
      skip === 0 ? batch : { firstSequence: batch.firstSequence + skip, lines: batch.lines.slice(skip) };
    // Native records go as the journal's lines are; the other formats as their encoder writes them.
    const outgoing =
      this.#encoding.encoder === undefined
        ? part.lines.map((line, i) => this.#recordMessage(part.firstSequence + i, line, signatureOf(line)))
        : this.#encoding
            .encode(part)
            .map((r) =>
              this.#recordMessage(
                r.sequence,
                Buffer.from(r.text),
                (r.sealed as SealedRecord).integrity.signature,
              ),
            );
    for (const request of cutRequests(outgoing, this.#maxBatchBytes)) {
      await this.#send(
        request.map((o) => o.message),
        signal,
      );
      this.#confirmed = (request[request.length - 1] as Outgoing).sequence;
      this.#messages += request.length;
      for (const o of request) this.#bytes += payloadBytes(o.message);
    }
    // Records the format could not represent are done with too: an attempt again need not encode them.
    this.#confirmed = end;
  }

  async publishCheckpoint(checkpoint: { size: number; note: string }, signal: AbortSignal): Promise<void> {
    if (!this.#config.publishCheckpoints) return;
    const message: Message = {
      topic: this.#config.topic,
      partition: this.#partition,
      key: this.#checkpointKey,
      value: Buffer.from(checkpoint.note),
      headers: new Map([
        [HEADER_CHECKPOINT, Buffer.from(String(checkpoint.size))],
        [HEADER_CONTENT_TYPE, CHECKPOINT_CONTENT_TYPE],
      ]),
    };
    await this.#send([message], signal);
    this.#messages++;
    this.#bytes += payloadBytes(message);
  }

  async stop(): Promise<void> {
    const producer = this.#producer;
    this.#producer = undefined;
    await producer?.close(true).catch(() => {});
  }

  /** The connection settings every client of this destination shares. */
  #connection(): BaseOptions {
    const { delivery } = this.#config;
    return {
      clientId: this.#config.clientId,
      ...kafkaConnectionOptions(this.#config),
      connectTimeout: Math.min(10_000, delivery.requestTimeoutMs),
      requestTimeout: delivery.requestTimeoutMs,
      timeout: delivery.requestTimeoutMs,
      retries: LIBRARY_RETRIES,
      retryDelay: LIBRARY_RETRY_DELAY_MS,
      autocreateTopics: false,
    };
  }

  #context(action: string, grant: string): KafkaCallContext {
    return {
      action,
      topic: this.#config.topic,
      grant,
      createTopic: this.#config.createTopic,
      secrets: this.#secrets,
    };
  }

  #writeContext(): KafkaCallContext {
    return this.#context(
      `producing to ${this.#where}`,
      `WRITE and DESCRIBE on topic ${this.#config.topic} to the principal Vigil uses (and IDEMPOTENT_WRITE ` +
        "on the cluster for brokers before Kafka 2.8)",
    );
  }

  #producerClient(): Producer<Buffer, Buffer, Buffer, Buffer> {
    this.#producer ??= new Producer<Buffer, Buffer, Buffer, Buffer>({
      ...this.#connection(),
      idempotent: true,
      acks: ProduceAcks.ALL,
      compression: this.#config.compression,
    });
    return this.#producer;
  }

  /**
   * Runs `use` with a short-lived client, closed afterwards whatever happens, and at once when `signal` aborts
   * (its requests then fail, and this rejects as abandoned).
   */
  async #with<C extends { close(): Promise<void> }, T>(
    client: C,
    signal: AbortSignal,
    action: string,
    use: (client: C) => Promise<T>,
  ): Promise<T> {
    const onAbort = () => {
      client.close().catch(() => {});
    };
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      if (signal.aborted) throw new DeliveryError(`${action} abandoned`, true);
      return await use(client);
    } catch (e) {
      if (signal.aborted) throw new DeliveryError(`${action} abandoned`, true, { cause: e });
      throw e;
    } finally {
      signal.removeEventListener("abort", onAbort);
      await client.close().catch(() => {});
    }
  }

  /**
   * Finds the topic, creating it when missing and allowed; learns its partitions and `max.message.bytes`. True
   * when this call created it (it is then empty).
   */
  async #prepareTopic(signal: AbortSignal): Promise<boolean> {
    const { topic } = this.#config;
    const describe = this.#context(
      `looking up ${this.#where}`,
      `DESCRIBE on topic ${topic} to the principal Vigil uses`,
    );
    return this.#with(new Admin(this.#connection()), signal, describe.action, async (admin) => {
      let created = false;
      let partitions: number;
      try {
        // No retries inside the library: it would retry an unknown topic for nothing (the consumer retries the rest).
        const found = await admin.metadata({ topics: [topic], retries: 0 });
        partitions = found.topics.get(topic)?.partitionsCount ?? 0;
      } catch (e) {
        if (!isUnknownTopic(e) || !this.#config.createTopic) throw kafkaError(e, describe);
        created = await this.#createTopic(admin);
        try {
          partitions =
            (await admin.metadata({ topics: [topic], forceUpdate: true })).topics.get(topic)
              ?.partitionsCount ?? 0;
        } catch (again) {
          throw kafkaError(again, describe);
        }
      }
      if (partitions < 1) throw new DeliveryError(`${this.#where} reports no partitions yet`, true);
      this.#partitionCount = partitions;
      // Found again after a send said it was gone: the chain stays where it is, if the topic still has that partition.
      if (this.#partition >= partitions) this.#partition = partitionOf(this.#chainKey, partitions);
      this.#maxBatchBytes = await this.#maxMessageBytes(admin);
      this.#topicReady = true;
      return created;
    });
  }

  /** Creates the topic; false when someone else created it meanwhile. */
  async #createTopic(admin: Admin): Promise<boolean> {
    const { topic, partitions, retentionMs } = this.#config;
    const context = this.#context(
      `creating ${this.#where}`,
      `CREATE on the cluster or on topic ${topic} to the principal Vigil uses, or create the topic ` +
        `(cleanup.policy=delete, retention.ms=${retentionMs}) and set create_topic: false`,
    );
    try {
      const replicas =
        this.#config.replicationFactor ?? Math.min(3, (await admin.metadata({ topics: [] })).brokers.size);
      await admin.createTopics({
        topics: [topic],
        partitions,
        replicas,
        configs: [
          { name: "cleanup.policy", value: "delete" },
          { name: "retention.ms", value: String(retentionMs) },
        ],
      });
      this.#log(
        `created topic ${topic}: ${partitions} partition${partitions === 1 ? "" : "s"}, replication factor ` +
          `${replicas === -1 ? "the broker's default" : replicas}, cleanup.policy=delete, retention.ms=${retentionMs}`,
      );
      return true;
    } catch (e) {
      if (findApiError(e, "TOPIC_ALREADY_EXISTS")) return false;
      throw kafkaError(e, context);
    }
  }

  /** The topic's `max.message.bytes`; Kafka's default when the principal may not read the topic's configs. */
  async #maxMessageBytes(admin: Admin): Promise<number> {
    const { topic } = this.#config;
    try {
      const [described] = await admin.describeConfigs({
        resources: [
          {
            resourceType: ConfigResourceTypes.TOPIC,
            resourceName: topic,
            configurationKeys: ["max.message.bytes"],
          },
        ],
      });
      const value = Number(described?.configs.find((c) => c.name === "max.message.bytes")?.value);
      return Number.isSafeInteger(value) && value > 0 ? value : DEFAULT_MAX_MESSAGE_BYTES;
    } catch (e) {
      if (!findApiError(e, "TOPIC_AUTHORIZATION_FAILED", "CLUSTER_AUTHORIZATION_FAILED")) {
        throw kafkaError(
          e,
          this.#context(`reading the configs of ${this.#where}`, `DESCRIBE_CONFIGS on topic ${topic}`),
        );
      }
      this.#log(
        `note: not allowed to read the configs of topic ${topic} (DESCRIBE_CONFIGS); assuming Kafka's default ` +
          `max.message.bytes of ${DEFAULT_MAX_MESSAGE_BYTES}`,
      );
      return DEFAULT_MAX_MESSAGE_BYTES;
    }
  }

  #recordMessage(sequence: number, value: Buffer, signature: string): Outgoing {
    const message: Message = {
      topic: this.#config.topic,
      partition: this.#partition,
      key: this.#chainKey,
      value,
      headers: new Map([
        [HEADER_SEQ, Buffer.from(String(sequence))],
        [HEADER_SIG, Buffer.from(signature)],
        [HEADER_CONTENT_TYPE, this.#contentType],
      ]),
    };
    return { sequence, message, bytes: batchBytes(message) };
  }

  /** One produce request; on abort, the producer is closed and replaced (see the header). */
  async #send(messages: Message[], signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw new DeliveryError(`producing to ${this.#where} abandoned`, true);
    const producer = this.#producerClient();
    const sending = producer.send({ messages });
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<"aborted">((resolve) => {
      onAbort = () => resolve("aborted");
      signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      const outcome = await Promise.race([sending, aborted]);
      if (outcome === "aborted") {
        sending.catch(() => {});
        this.#uncertain = true;
        this.#resetProducer(producer);
        throw new DeliveryError(`producing to ${this.#where} abandoned`, true);
      }
    } catch (e) {
      if (e instanceof DeliveryError) throw e;
      const error = kafkaError(e, this.#writeContext());
      if (!error.tooLarge) this.#uncertain = true;
      if (isUnknownTopic(e)) this.#topicReady = false;
      throw error;
    } finally {
      if (onAbort !== undefined) signal.removeEventListener("abort", onAbort);
    }
  }

  #resetProducer(producer: Producer<Buffer, Buffer, Buffer, Buffer>): void {
    if (this.#producer === producer) this.#producer = undefined;
    this.#producerResets++;
    producer.close(true).catch(() => {});
  }

  /**
   * After a failed or abandoned send: finds the partition's newest record of this chain and, when it is one of
   * `batch`'s (same sequence and signature), resumes after it.
   */
  async #resync(batch: RecordBatch, signal: AbortSignal): Promise<void> {
    const last = (await this.#newestOfChain(signal, this.#partition, []))?.last;
    this.#uncertain = false;
    if (last === undefined || last.sequence <= this.#confirmed) return;
    const line = batch.lines[last.sequence - batch.firstSequence];
    if (line !== undefined && signatureOf(line) === last.signature) this.#confirmed = last.sequence;
  }

  /**
   * The newest record of this chain (highest `vigil-seq` under the chain's key) in the tail of partition `first`,
   * or, when there is none there, the newest in the tails of `others`; read back within the bounds of the header.
   * Undefined when there is none, or when the principal may not read the topic.
   */
  async #newestOfChain(
    signal: AbortSignal,
    first: number,
    others: number[],
  ): Promise<{ partition: number; last: RecordRef } | undefined> {
    if (!this.#canRead) return undefined;
    const { topic } = this.#config;
    const context = this.#context(
      `reading back the end of ${this.#where}`,
      `READ and DESCRIBE on topic ${topic} to the principal Vigil uses`,
    );
    const reader = new Consumer<Buffer, Buffer, Buffer, Buffer>({
      ...this.#connection(),
      // Never joined: the reader only lists offsets and fetches, so it needs no group (nor its ACLs).
      groupId: `${this.#config.clientId}-tail-reader`,
    });
    return this.#with(reader, signal, context.action, async () => {
      try {
        const partitions = [first, ...others];
        const only = { topics: [topic], partitions: { [topic]: partitions } };
        const [latest, earliest] = await Promise.all([
          reader.listOffsets(only),
          reader.listOffsets({ ...only, timestamp: ListOffsetTimestamps.EARLIEST }),
        ]);
        const info = (await reader.metadata({ topics: [topic] })).topics.get(topic);
        if (info === undefined) {
          throw new DeliveryError(
            `reading back the end of ${this.#where}: partition ${first} has no leader`,
            true,
          );
        }
        const budget = { bytes: SCAN_MAX_BYTES };
        const tail = (partition: number) =>
          this.#tail(reader, info, partition, {
            first: earliest.get(topic)?.[partition] ?? 0n,
            end: latest.get(topic)?.[partition] ?? 0n,
            budget,
          });
        const hashed = await tail(first);
        if (hashed.newest !== undefined) return { partition: first, last: hashed.newest };
        let found: { partition: number; last: RecordRef } | undefined;
        for (const partition of others) {
          const { newest } = await tail(partition);
          if (newest !== undefined && (found === undefined || newest.sequence > found.last.sequence)) {
            found = { partition, last: newest };
          }
        }
        if (found === undefined && hashed.unread > 0n) {
          this.#log(
            `note: no record of this chain in the last ${hashed.read} messages of partition ${first} of topic ` +
              `${topic}; resuming from the consumer's cursor (records delivered just before a crash may repeat)`,
          );
        }
        return found;
      } catch (e) {
        if (e instanceof DeliveryError) throw e;
        if (findApiError(e, "TOPIC_AUTHORIZATION_FAILED")) {
          this.#canRead = false;
          this.#log(
            `note: not allowed to read topic ${topic} (grant READ to find the records already there); resuming ` +
              "from the consumer's cursor, so records delivered just before a crash or a failed send may repeat",
          );
          return undefined;
        }
        throw kafkaError(e, context);
      }
    });
  }

  /**
   * The newest record of this chain in the tail of a partition holding offsets [first, end): 100 offsets back,
   * then 200, 400, … while none is found, within SCAN_MAX_OFFSETS and what is left of `budget` (bytes, shared by
   * the partitions read). Also how many offsets were read, and how many of the partition's were left unread.
   */
  async #tail(
    reader: Consumer<Buffer, Buffer, Buffer, Buffer>,
    info: { id: string; partitions: { leader: number }[] },
    partition: number,
    range: { first: bigint; end: bigint; budget: { bytes: number } },
  ): Promise<{ newest?: RecordRef; read: bigint; unread: bigint }> {
    const { first, end, budget } = range;
    const leader = info.partitions[partition]?.leader;
    if (leader === undefined || leader < 0) {
      throw new DeliveryError(
        `reading back the end of ${this.#where}: partition ${partition} has no leader`,
        true,
      );
    }
    let windowEnd = end;
    let size = SCAN_FIRST_OFFSETS;
    while (windowEnd > first && end - windowEnd < SCAN_MAX_OFFSETS && budget.bytes > 0) {
      let from = windowEnd - size;
      if (from < first) from = first;
      const scanned = await this.#scan(reader, info.id, leader, partition, from, windowEnd);
      budget.bytes -= scanned.bytes;
      if (scanned.newest !== undefined)
        return { newest: scanned.newest, read: end - from, unread: from - first };
      windowEnd = from;
      size *= 2n;
    }
    return { read: end - windowEnd, unread: windowEnd - first };
  }

  /** Fetches offsets [from, to) of a partition; the newest record of this chain among them. */
  async #scan(
    reader: Consumer<Buffer, Buffer, Buffer, Buffer>,
    topicId: string,
    leader: number,
    partition: number,
    from: bigint,
    to: bigint,
  ): Promise<{ newest?: RecordRef; bytes: number }> {
    let newest: RecordRef | undefined;
    let bytes = 0;
    let offset = from;
    while (offset < to) {
      const response = await reader.fetch({
        node: leader,
        maxWaitTime: 0,
        maxBytes: FETCH_MAX_BYTES,
        topics: [
          {
            topicId,
            partitions: [
              {
                partition,
                currentLeaderEpoch: -1,
                fetchOffset: offset,
                lastFetchedEpoch: -1,
                partitionMaxBytes: FETCH_MAX_BYTES,
              },
            ],
          },
        ],
      });
      const batches = response.responses[0]?.partitions[0]?.records ?? [];
      let next = offset;
      for (const batch of batches) {
        bytes += batch.length;
        for (const record of batch.records) {
          const at = batch.firstOffset + BigInt(record.offsetDelta);
          if (at < from || at >= to || record.key === null || !this.#chainKey.equals(record.key)) continue;
          const found = refFromHeaders(record.headers);
          if (found !== undefined && (newest === undefined || found.sequence > newest.sequence))
            newest = found;
        }
        const last = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n;
        if (last > next) next = last;
      }
      if (next === offset) break; // nothing more below the high watermark
      offset = next;
    }
    return newest === undefined ? { bytes } : { newest, bytes };
  }
}

function signatureOf(line: Buffer): string {
  const parsed = parseRecord(line);
  return parsed.ok ? parsed.record.integrity.signature : "";
}

/** The record a message names in its `vigil-seq` and `vigil-sig` headers. */
function refFromHeaders(headers: [Buffer | null, Buffer | null][]): RecordRef | undefined {
  let sequence: number | undefined;
  let signature: string | undefined;
  for (const [k, v] of headers) {
    if (k === null || v === null) continue;
    if (k.equals(HEADER_SEQ)) {
      const text = v.toString("latin1");
      sequence = /^[1-9]\d*$/.test(text) ? Number(text) : undefined;
    } else if (k.equals(HEADER_SIG)) signature = v.toString("utf8");
  }
  return sequence !== undefined && Number.isSafeInteger(sequence) && signature !== undefined
    ? { sequence, signature }
    : undefined;
}
