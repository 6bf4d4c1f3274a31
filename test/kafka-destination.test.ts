// biome-ignore-all lint/suspicious/noTemplateCurlyInString: config texts under test are written with ${VAR}
/**
 * The Kafka destination against a real Apache Kafka 4.4 broker (test/support/kafka.ts) with the client Vigil uses:
 * the destination contract over PLAINTEXT (the broker stopped and restarted for the outage), spec/000's block over
 * SASL_SSL with SCRAM-SHA-256 through the real server, SCRAM-SHA-512, the failures that park (a wrong password, a
 * CA not trusted, a missing topic Vigil may not create), the topic Vigil creates, resuming after a restart from
 * what the topic holds, a chain kept in its partition when partitions are added, a delivery abandoned between two
 * produce requests, checkpoints, and the outage scenario through the real server.
 *
 * What a topic holds is read back by a new consumer in a consumer group of its own, from the earliest offset to
 * the end offsets listed just before.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  Admin,
  ConfigResourceTypes,
  type ConnectionOptions,
  Consumer,
  MessagesStreamModes,
} from "@platformatic/kafka";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RawKafkaDestination, resolveKafkaDestination } from "../src/destinations/kafka/config.ts";
import { KafkaDestination, partitionOf } from "../src/destinations/kafka/destination.ts";
import { canonicalize } from "../src/integrity/canonical.ts";
import { parseRecord, Sealer } from "../src/integrity/chain.ts";
import { keyFromSecret } from "../src/integrity/keys.ts";
import { CursorStore } from "../src/journal/cursor.ts";
import { JournalWriter } from "../src/journal/writer.ts";
import { JournalConsumer } from "../src/pipeline/consumer.ts";
import { destinationContract, type StoredRecord } from "./support/destination-contract.ts";
import { destinationStatuses, waitUntil, writeConfig } from "./support/files.ts";
import { type KafkaBroker, startKafka } from "./support/kafka.ts";
import { outageScenario } from "./support/outage.ts";
import { event, ndjson, post, startVigil, tempDir, waitForDelivery } from "./support/vigil-process.ts";

const ORIGIN = "vigil.test/log";
const context = { log: () => {}, productVersion: "test", logOrigin: ORIGIN };
const never = new AbortController().signal;
/** How the consumer starts a destination it has delivered nothing to. */
const FRESH = { committedSequence: 0 };
/** The contract's topics refuse record batches over this, so its oversize tests need no 1 MiB records. */
const CONTRACT_MAX_MESSAGE_BYTES = 200_000;

let kafka: KafkaBroker;
let dir: string;
let caFile: string;

beforeAll(async () => {
  kafka = await startKafka();
  dir = await mkdtemp(join(tmpdir(), "vigil-kafka-test-"));
  caFile = join(dir, "ca.pem");
  await writeFile(caFile, kafka.caPem);
});
afterAll(async () => {
  await kafka?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

type Connection = ConnectionOptions & { bootstrapBrokers: string[] };
const plaintext = (): Connection => ({ bootstrapBrokers: [kafka.plaintext] });

/** A destination config over PLAINTEXT to a new topic (unless `topic` is given). */
function config(extra: Partial<RawKafkaDestination> = {}) {
  return resolveKafkaDestination(
    { type: "kafka", bootstrap_servers: [kafka.plaintext], topic: `t-${randomUUID()}`, ...extra },
    dir,
  );
}

/** SASL_SSL with the test broker's user and CA. */
function saslConfig(mechanism: "SCRAM-SHA-256" | "SCRAM-SHA-512", security: Record<string, unknown> = {}) {
  return config({
    bootstrap_servers: [kafka.saslSsl],
    security: {
      security_protocol: "SASL_SSL",
      sasl_mechanism: mechanism,
      sasl_username: kafka.username,
      sasl_password: kafka.password,
      ssl_ca_file: caFile,
      ...security,
    },
  });
}

async function withAdmin<T>(use: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Admin({ clientId: "vigil-test", ...plaintext(), retries: 20, retryDelay: 100 });
  try {
    return await use(admin);
  } finally {
    await admin.close();
  }
}

interface TopicMessage {
  partition: number;
  key: string;
  value: string;
  headers: Record<string, string>;
}

/** Everything `topic` holds, partition by partition, each in offset order. */
async function readTopic(topic: string): Promise<TopicMessage[]> {
  const consumer = new Consumer({
    clientId: "vigil-test",
    groupId: `vigil-test-${randomUUID()}`,
    ...plaintext(),
    maxWaitTime: 200,
    // The group coordinator is not available until the offsets topic, created by the first group, is loaded.
    retries: 50,
    retryDelay: 100,
  });
  try {
    const ends = (await consumer.listOffsets({ topics: [topic] })).get(topic) ?? [];
    const remaining = new Map<number, bigint>();
    ends.forEach((end, partition) => {
      if (end > 0n) remaining.set(partition, end);
    });
    const out: TopicMessage[] = [];
    if (remaining.size === 0) return out;
    const stream = await consumer.consume({
      topics: [topic],
      mode: MessagesStreamModes.EARLIEST,
      autocommit: false,
    });
    for await (const m of stream) {
      out.push({
        partition: m.partition,
        key: m.key.toString(),
        value: m.value.toString(),
        headers: Object.fromEntries([...m.headers].map(([k, v]) => [k.toString(), v.toString()])),
      });
      if (m.offset + 1n >= (remaining.get(m.partition) ?? 0n)) remaining.delete(m.partition);
      if (remaining.size === 0) break;
    }
    return out.sort((a, b) => a.partition - b.partition);
  } finally {
    await consumer.close(true);
  }
}

/** A message's value as the contract reads records back. */
function stored(message: TopicMessage): StoredRecord {
  const parsed = parseRecord(Buffer.from(message.value));
  if (!parsed.ok) throw new Error(`${parsed.reason}: ${message.value.slice(0, 200)}`);
  const ev = JSON.parse(parsed.record.event.toString()) as { details?: Record<string, unknown> };
  return {
    sequence: parsed.record.integrity.sequence_number,
    signature: parsed.record.integrity.signature,
    ...(ev.details === undefined ? {} : { details: ev.details }),
  };
}

const recordsOf = async (topic: string) => (await readTopic(topic)).map(stored);
const sequencesOf = async (topic: string) => (await recordsOf(topic)).map((r) => r.sequence);
const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

/** First appearances of each sequence, in order: 1..n when nothing is missing or out of order. */
function firstAppearances(records: StoredRecord[]): number[] {
  const firsts: number[] = [];
  const seen = new Set<number>();
  for (const { sequence } of records) {
    if (!seen.has(sequence)) firsts.push(sequence);
    seen.add(sequence);
  }
  return firsts;
}

const key = keyFromSecret(Buffer.alloc(32, 9), "kafka-test");

function records(n: number, detailBytes = 40): Buffer[] {
  const sealer = new Sealer(key, { sequence: 0, signature: "" });
  return Array.from({ length: n }, (_, i) =>
    Buffer.from(
      sealer.seal(canonicalize({ event_type: "a.b", details: { i, pad: "p".repeat(detailBytes) } })).line,
    ),
  );
}

function signatureOf(line: Buffer): string {
  const parsed = parseRecord(line);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.record.integrity.signature;
}

/** A journal holding `lines`, and consumers of it for a destination. */
async function journalOf(lines: Buffer[]) {
  const dataDir = await mkdtemp(join(tmpdir(), "vigil-kafka-journal-"));
  const { writer } = await JournalWriter.open({ dir: join(dataDir, "journal"), segmentBytes: 1 << 22 });
  await writer.append(
    lines.map((l) => l.toString()),
    1,
  );
  const consumer = (destination: KafkaDestination) =>
    new JournalConsumer(destination, {
      journalDir: join(dataDir, "journal"),
      writer,
      cursors: new CursorStore(dataDir),
      log: () => {},
      delivery: { backoff: { initialMs: 10, maxMs: 100 }, requestTimeoutMs: 10_000 },
    });
  return {
    consumer,
    close: async () => {
      await writer.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The error a consumer parks with when fed by `destination`. */
async function parkedWith(destination: KafkaDestination): Promise<string> {
  const j = await journalOf(records(2));
  const c = j.consumer(destination);
  try {
    await c.start();
    return await waitUntil("the destination to park", async () =>
      c.status().state === "parked" ? c.status().lastError : undefined,
    );
  } finally {
    await c.stop();
    await j.close();
  }
}

destinationContract("kafka", () => ({
  create: async ({ name, delivery }) => {
    await withAdmin(
      (admin) =>
        admin
          .createTopics({
            topics: [name],
            partitions: 1,
            replicas: 1,
            configs: [{ name: "max.message.bytes", value: String(CONTRACT_MAX_MESSAGE_BYTES) }],
          })
          .catch(() => {}), // the same name again: a restart, the topic is there
    );
    const c = config({ name, topic: name });
    c.delivery = { ...c.delivery, ...delivery };
    return { destination: new KafkaDestination(c, context), read: () => recordsOf(name) };
  },
  interrupt: () => kafka.stop(),
  resume: () => kafka.restart(),
  oversizeBytes: CONTRACT_MAX_MESSAGE_BYTES + 10_000,
}));

describe("kafka destination", () => {
  it("creates the topic with cleanup.policy=delete and 7 days' retention; records and checkpoints share the chain's partition", async () => {
    const logged: string[] = [];
    const c = config({ partitions: 3, publish_checkpoints: true });
    const d = new KafkaDestination(c, { ...context, log: (m) => logged.push(m) });
    expect(await d.start(FRESH)).toEqual({});
    expect(logged).toContain(
      `destination kafka:${c.topic}: created topic ${c.topic}: 3 partitions, replication factor 1, ` +
        "cleanup.policy=delete, retention.ms=604800000",
    );
    const described = await withAdmin(async (admin) => {
      const [topic] = await admin.describeConfigs({
        resources: [
          {
            resourceType: ConfigResourceTypes.TOPIC,
            resourceName: c.topic,
            configurationKeys: ["cleanup.policy", "retention.ms"],
          },
        ],
      });
      const metadata = await admin.metadata({ topics: [c.topic] });
      return {
        configs: Object.fromEntries((topic?.configs ?? []).map((x) => [x.name, x.value])),
        partitions: metadata.topics.get(c.topic)?.partitions.map((p) => p.replicas.length),
      };
    });
    expect(described).toEqual({
      configs: { "cleanup.policy": "delete", "retention.ms": "604800000" },
      partitions: [1, 1, 1],
    });

    const lines = records(10);
    await d.deliver({ firstSequence: 1, lines }, never);
    await d.publishCheckpoint({ size: 10, note: "vigil.test/log\n10\nhash\n\n— sig\n" }, never);
    const held = await readTopic(c.topic);
    const partition = partitionOf(Buffer.from(ORIGIN), 3);
    expect(held.map((m) => m.partition)).toEqual(Array(11).fill(partition));
    expect(held.slice(0, 10).map((m) => [m.key, m.headers])).toEqual(
      lines.map((l, i) => [
        ORIGIN,
        { "vigil-seq": String(i + 1), "vigil-sig": signatureOf(l), "content-type": "application/json" },
      ]),
    );
    expect(held.slice(0, 10).map((m) => m.value)).toEqual(lines.map((l) => l.toString()));
    expect(held[10]).toEqual({
      partition,
      key: `${ORIGIN}/checkpoint`,
      value: "vigil.test/log\n10\nhash\n\n— sig\n",
      headers: { "vigil-checkpoint": "10", "content-type": "text/plain; charset=utf-8" },
    });
    expect(d.status()).toMatchObject({ messages: 11, producerResets: 0, skippedRecords: 0 });

    // A second start finds the topic and creates nothing; the checkpoint is not taken for a record.
    logged.length = 0;
    const again = new KafkaDestination(c, { ...context, log: (m) => logged.push(m) });
    expect(await again.start(FRESH)).toEqual({
      last: { sequence: 10, signature: signatureOf(lines[9] as Buffer) },
    });
    expect(logged).toEqual([]);
    await Promise.all([d.stop(), again.stop()]);
  });

  it("resumes after the newest record the topic holds, without repeating any", async () => {
    const c = config();
    const lines = records(8);
    const first = new KafkaDestination(c, context);
    await first.start(FRESH);
    await first.deliver({ firstSequence: 1, lines: lines.slice(0, 5) }, never);
    await first.stop();
    // A restart after a crash: the consumer's cursor says 2, the topic holds 5; it hands records 1-8 again.
    const second = new KafkaDestination(c, context);
    expect(await second.start({ committedSequence: 2 })).toEqual({
      last: { sequence: 5, signature: signatureOf(lines[4] as Buffer) },
    });
    await second.deliver({ firstSequence: 1, lines }, never);
    expect(second.status().messages).toBe(3);
    expect(await sequencesOf(c.topic)).toEqual(upTo(8));
    await second.stop();

    // And through a consumer whose cursor knows nothing: it starts after what the topic holds.
    const more = records(12);
    const j = await journalOf(more);
    const consumer = j.consumer(new KafkaDestination(c, context));
    try {
      await consumer.start();
      await waitUntil("12 delivered", async () =>
        consumer.status().deliveredSequence === 12 ? true : undefined,
      );
      expect(await sequencesOf(c.topic)).toEqual(upTo(12));
      expect(consumer.status().deliveredRecords).toBe(4);
    } finally {
      await consumer.stop();
      await j.close();
    }
  });

  it("keeps a chain in its partition when partitions are added, repeating nothing after a restart", async () => {
    const c = config({ publish_checkpoints: true });
    const lines = records(10);
    const first = new KafkaDestination(c, context);
    expect(await first.start(FRESH)).toEqual({});
    await first.deliver({ firstSequence: 1, lines: lines.slice(0, 5) }, never);
    await first.stop();
    // An operator adds partitions: the chain's key now hashes to partition 2.
    await withAdmin(async (admin) => {
      await admin.createPartitions({ topics: [{ name: c.topic, count: 3 }] });
      await waitUntil("leaders of the new partitions", async () => {
        const metadata = await admin.metadata({ topics: [c.topic], forceUpdate: true });
        const partitions = metadata.topics.get(c.topic)?.partitions ?? [];
        return partitions.length === 3 && partitions.every((p) => p.leader >= 0) ? true : undefined;
      });
    });
    expect(partitionOf(Buffer.from(ORIGIN), 3)).toBe(2);

    // A restart after a crash: the consumer's cursor says 2, partition 0 holds 5; it hands records 1-10 again.
    const logged: string[] = [];
    const second = new KafkaDestination(c, { ...context, log: (m) => logged.push(m) });
    expect(await second.start({ committedSequence: 2 })).toEqual({
      last: { sequence: 5, signature: signatureOf(lines[4] as Buffer) },
    });
    expect(logged).toEqual([
      `destination kafka:${c.topic}: note: this chain's records are in partition 0 of topic ${c.topic}, not in ` +
        "partition 2 its key hashes to with 3 partitions (partitions were added): writing on to partition 0, so " +
        "that the chain stays in one partition",
    ]);
    await second.deliver({ firstSequence: 1, lines }, never);
    await second.publishCheckpoint({ size: 10, note: "vigil.test/log\n10\nhash\n\n— sig\n" }, never);
    expect(second.status()).toMatchObject({ partition: 0, messages: 6 });
    await second.stop();
    const held = await readTopic(c.topic);
    expect(held.map((m) => m.partition)).toEqual(Array(11).fill(0));
    expect(
      held
        .slice(0, 10)
        .map(stored)
        .map((r) => r.sequence),
    ).toEqual(upTo(10));
    expect(held[10]?.key).toBe(`${ORIGIN}/checkpoint`);
  });

  it("settles at once when its delivery is abandoned mid-batch, and the next attempt loses and reorders nothing", async () => {
    const c = config();
    const d = new KafkaDestination(c, context);
    await d.start(FRESH);
    // About 7 MB: produce requests of up to 1 MiB (the topic's max.message.bytes), each sent once the one before
    // is confirmed.
    const lines = records(20_000);
    const abort = new AbortController();
    const delivery = d.deliver({ firstSequence: 1, lines }, abort.signal);
    delivery.catch(() => {});
    // Abandoned right after the first request was confirmed: the next one was sent at once, and is on its way.
    while (d.status().messages === 0) await new Promise((resolve) => setImmediate(resolve));
    const confirmed = d.status().messages;
    expect(confirmed).toBeLessThan(20_000);
    const abandoned = Date.now();
    abort.abort();
    await expect(delivery).rejects.toMatchObject({
      retryable: true,
      message: `producing to topic ${c.topic} (${kafka.plaintext}) abandoned`,
    });
    expect(Date.now() - abandoned).toBeLessThan(2000);
    expect(d.status()).toMatchObject({ producerResets: 1, messages: confirmed });
    // What the closed producer had sent may land, before or after the next attempt looks for it: that attempt
    // resumes after what it finds, so the partition holds every record, first appearances in order.
    await d.deliver({ firstSequence: 1, lines }, never);
    const held = await recordsOf(c.topic);
    expect(firstAppearances(held)).toEqual(upTo(20_000));
    // The confirmed request was not sent again.
    expect(held.filter((r) => r.sequence <= confirmed).map((r) => r.sequence)).toEqual(upTo(confirmed));
    await d.stop();
  });

  it("after a failed send, resumes after what the topic turns out to hold", async () => {
    const c = config();
    const lines = records(8);
    const d = new KafkaDestination(c, context);
    await d.start(FRESH);
    await kafka.stop();
    try {
      await expect(d.deliver({ firstSequence: 1, lines }, never)).rejects.toMatchObject({
        retryable: true,
        message: expect.stringMatching(
          /^producing to topic \S+ \(127\.0\.0\.1:\d+\) failed: connect ECONNREFUSED/,
        ),
      });
    } finally {
      await kafka.restart();
    }
    // As if the failed send had reached the broker with records 1-5 before the connection broke.
    const other = new KafkaDestination(c, context);
    await other.start(FRESH);
    await other.deliver({ firstSequence: 1, lines: lines.slice(0, 5) }, never);
    await other.stop();
    await d.deliver({ firstSequence: 1, lines }, never);
    expect(d.status().messages).toBe(3);
    expect(await sequencesOf(c.topic)).toEqual(upTo(8));
    await d.stop();
  });

  it("settles at once when its start is abandoned while the broker does not answer", async () => {
    // Accepts connections and never answers, as a broker that hangs.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const port = (silent.address() as AddressInfo).port;
      const d = new KafkaDestination(config({ bootstrap_servers: [`127.0.0.1:${port}`] }), context);
      const begun = Date.now();
      await expect(d.start({ committedSequence: 0, signal: AbortSignal.timeout(300) })).rejects.toMatchObject(
        {
          retryable: true,
          message: expect.stringMatching(/^looking up topic \S+ \(127\.0\.0\.1:\d+\) abandoned$/),
        },
      );
      expect(Date.now() - begun).toBeLessThan(2000);
      expect(sockets.size).toBeGreaterThan(0);
      await d.stop();
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("produces over SASL_SSL with SCRAM-SHA-512, trusting the configured CA", async () => {
    const c = saslConfig("SCRAM-SHA-512");
    const d = new KafkaDestination(c, context);
    await d.start(FRESH);
    await d.deliver({ firstSequence: 1, lines: records(3) }, never);
    expect(await sequencesOf(c.topic)).toEqual([1, 2, 3]);
    await d.stop();
  });

  it("parks on a wrong password, saying what to fix, without the password", async () => {
    const password = "not-the-password-4711";
    const error = await parkedWith(
      new KafkaDestination(saslConfig("SCRAM-SHA-256", { sasl_password: password }), context),
    );
    expect(error).toMatch(
      /^looking up topic \S+ \(127\.0\.0\.1:\d+\): authentication failed \(Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256\); check security\.sasl_username, sasl_password and sasl_mechanism$/,
    );
    expect(error).not.toContain(password);
  });

  it("parks when the broker's certificate is not signed by a trusted CA", async () => {
    const c = saslConfig("SCRAM-SHA-256");
    delete c.tls?.ca; // the system's CAs only
    const error = await parkedWith(new KafkaDestination(c, context));
    expect(error).toMatch(
      /: TLS failed \(UNABLE_TO_VERIFY_LEAF_SIGNATURE: .*\); set security\.ssl_ca_file to the CA that signed the broker's certificate/,
    );
    expect(error).not.toContain(kafka.password);
  });

  it("parks when the topic is missing and Vigil may not create it", async () => {
    const c = config({ create_topic: false });
    expect(await parkedWith(new KafkaDestination(c, context))).toBe(
      `looking up topic ${c.topic} (${kafka.plaintext}): topic ${c.topic} does not exist; create it, or set ` +
        "create_topic: true",
    );
  });
});

describe("kafka destination through the server", () => {
  it("takes spec/000's block over SASL_SSL with SCRAM-SHA-256: records keyed by the chain, with their headers", async () => {
    const dataDir = await tempDir("vigil-kafka-e2e-");
    await writeFile(join(dataDir, "ca.pem"), kafka.caPem);
    const configPath = await writeConfig(
      dataDir,
      `enterprise:
  audit:
    destination:
      type: kafka
      bootstrap_servers:
        - ${kafka.saslSsl}
      topic: audit-events
      security:
        security_protocol: SASL_SSL
        sasl_mechanism: SCRAM-SHA-256
        sasl_username: ${kafka.username}
        sasl_password: \${AUDIT_KAFKA_PASSWORD}
        ssl_ca_file: ca.pem
`,
    );
    const vigil = await startVigil({
      dataDir,
      args: ["--config", configPath],
      env: { AUDIT_KAFKA_PASSWORD: kafka.password },
    });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await post(vigil, ndjson(Array.from({ length: 50 }, (_, k) => event(i * 50 + k))));
        expect(res.status).toBe(200);
      }
      await waitForDelivery(vigil);
      const origin = (await readFile(join(dataDir, "origin"), "utf8")).trim();
      const held = await readTopic("audit-events");
      expect(held.map(stored).map((r) => r.sequence)).toEqual(upTo(150));
      for (const m of held) {
        const r = stored(m);
        expect(m.key).toBe(origin);
        expect(m.headers).toEqual({
          "vigil-seq": String(r.sequence),
          "vigil-sig": r.signature,
          "content-type": "application/json",
        });
      }
      const [status] = await destinationStatuses(vigil);
      expect(status).toMatchObject({ name: "kafka:audit-events", state: "running", failures: 0 });
      expect((status as unknown as { destination: { messages: number } }).destination.messages).toBe(150);
      expect(vigil.stderr()).not.toContain(kafka.password);
    } finally {
      await vigil.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("loses nothing and never stalls ingest while the broker is down", async () => {
    const topic = `outage-${randomUUID()}`;
    await outageScenario({
      config: `audit:
  destination:
    type: kafka
    bootstrap_servers: [${kafka.plaintext}]
    topic: ${topic}
    request_timeout_secs: 5
    retry: { initial_backoff_ms: 50, max_backoff_secs: 0.5 }
`,
      interrupt: () => kafka.stop(),
      resume: () => kafka.restart(),
      read: () => recordsOf(topic),
    });
  });
});
