// biome-ignore-all lint/suspicious/noTemplateCurlyInString: config texts under test are written with ${VAR}
/**
 * The audit_topic source through the real `bin/vigil serve`, configured by a real vigil.yaml, against a real
 * Apache Kafka broker (test/support/kafka.ts): Redpanda's OCSF records (the fixture, every line as written) in
 * `_redpanda.audit_log` and Confluent's CloudEvents in `confluent-audit-log-events` are sealed as the decoders
 * map them, a malformed record is kept raw, the sealed log verifies, the offsets are committed (a restart seals
 * nothing twice, only what was produced meanwhile); SASL_SSL with SCRAM-SHA-256 and a CA file, a wrong password
 * stopping only its source; the broker stopped while Vigil runs (retrying, HTTP ingest still served) and
 * restarted (consumption resumes, nothing lost). In process, with a stand-in for the pipeline: the offsets held
 * while the pipeline cannot take a batch (state `retrying`), a record the pipeline refuses kept as unparsed, the
 * group left on stop; `start_from: latest` keeping its start position across a restart before the first new
 * record; a committed offset retention deleted going on from the earliest offset held, whatever `start_from`,
 * warned and counted; without topic ids, a topic deleted and created again while the source runs.
 */
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  Admin,
  type ConnectionOptions,
  Consumer,
  ProduceAcks,
  Producer,
  stringSerializers,
} from "@platformatic/kafka";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ValidationError } from "../src/errors.ts";
import type { NativeEvent } from "../src/event/schema.ts";
import { DEFAULT_EVENT_LIMITS } from "../src/event/validate.ts";
import { decodeCloudEvents } from "../src/formats/cloudevents/decode.ts";
import { decodeOcsf } from "../src/formats/ocsf/decode.ts";
import { type RawAuditTopicSource, resolveAuditTopicSource } from "../src/sources/audit-topic/config.ts";
import { AuditTopicSource } from "../src/sources/audit-topic/source.ts";
import { chainSequence, readRecords, type SealedRecord, waitUntil, writeConfig } from "./support/files.ts";
import { fixturePath } from "./support/fixtures.ts";
import { type KafkaBroker, startKafka } from "./support/kafka.ts";
import {
  event,
  get,
  ndjson,
  post,
  runVigil,
  startVigil,
  tempDir,
  type VigilProcess,
  waitForDelivery,
} from "./support/vigil-process.ts";

const REDPANDA_TOPIC = "_redpanda.audit_log";
const CONFLUENT_TOPIC = "confluent-audit-log-events";
const REDPANDA_PARTITIONS = 3;
const CONFLUENT_PARTITIONS = 2;

/** The fixture's lines exactly as written: what a broker would have put in its topic. */
const fixture = (name: string) =>
  readFileSync(fixturePath(name), "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "");
const OCSF_LINES = fixture("redpanda-ocsf-samples.ndjson");
const CLOUDEVENT_LINES = fixture("confluent-audit-cloudevents.ndjson");

type Connection = ConnectionOptions & { bootstrapBrokers: string[] };

interface SourceStatus {
  name: string;
  type: string;
  topic: string;
  groupId: string;
  state: string;
  records: number;
  events: number;
  duplicates: number;
  unparsed: number;
  partitions: { partition: number; committed?: number; lag?: number }[];
  lastError?: string;
}

let kafka: KafkaBroker;

beforeAll(async () => {
  kafka = await startKafka();
  const admin = new Admin({ clientId: "vigil-test", ...plaintext(), retries: 20, retryDelay: 100 });
  try {
    await admin.createTopics({ topics: [REDPANDA_TOPIC], partitions: REDPANDA_PARTITIONS, replicas: 1 });
    await admin.createTopics({ topics: [CONFLUENT_TOPIC], partitions: CONFLUENT_PARTITIONS, replicas: 1 });
    await admin.createTopics({
      topics: [
        "sasl-audit",
        "outage-audit",
        "inproc-audit",
        "latest-audit",
        "expire-latest-audit",
        "expire-earliest-audit",
      ],
      partitions: 1,
      replicas: 1,
    });
  } finally {
    await admin.close();
  }
});

afterAll(async () => {
  await kafka?.close();
});

const plaintext = (): Connection => ({ bootstrapBrokers: [kafka.plaintext] });

/** Produces `values` (record i to partition `partitionOf(i)`); the producer retries while the broker starts. */
async function produce(topic: string, values: string[], partitionOf: (i: number) => number = () => 0) {
  const producer = new Producer({
    clientId: "vigil-test",
    ...plaintext(),
    serializers: stringSerializers,
    idempotent: true,
    acks: ProduceAcks.ALL,
    retries: 100,
    retryDelay: 100,
  });
  try {
    await producer.send({
      messages: values.map((value, i) => ({ topic, value, partition: partitionOf(i) })),
    });
  } finally {
    await producer.close();
  }
}

async function withAdmin<T>(use: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Admin({ clientId: "vigil-test", ...plaintext(), retries: 20, retryDelay: 100 });
  try {
    return await use(admin);
  } finally {
    await admin.close();
  }
}

/**
 * An audit_topic source in this process. Its stand-in for the pipeline seals an event id once, answering it again
 * as a duplicate as the server does with its recent ids (`seen`: shared by the sources of a test, as the server's
 * ids outlive a restart).
 */
function inProcess(raw: Omit<RawAuditTopicSource, "type" | "bootstrap_servers">, seen = new Set<string>()) {
  const logs: string[] = [];
  /** The ids sealed, in order. */
  const sealed: string[] = [];
  const source = new AuditTopicSource({
    config: resolveAuditTopicSource(
      { type: "audit_topic", bootstrap_servers: [kafka.plaintext], ...raw },
      ".",
    ),
    ingest: async (events) => {
      const fresh = events.filter((e) => !seen.has(e.event_id));
      for (const e of fresh) {
        seen.add(e.event_id);
        sealed.push(e.event_id);
      }
      return { accepted: fresh.length, excluded: 0, dropped: 0, events: [] };
    },
    limits: DEFAULT_EVENT_LIMITS,
    instanceId: `vigil-test-${raw.name}`,
    log: (msg) => logs.push(msg),
    backoff: { initialMs: 10, maxMs: 200 },
  });
  return { source, logs, sealed, seen };
}

/** Runs the source until `done` holds of it, then stops it. */
async function runUntil(source: AuditTopicSource, what: string, done: (s: AuditTopicSource) => boolean) {
  await source.start();
  try {
    await waitUntil(what, async () => (done(source) ? true : undefined));
  } finally {
    await source.stop();
  }
}

/** The offset a positional event id names (`kafka:<topic id>:<partition>:<offset>`). */
const offsetOf = (id: string) => Number(id.split(":")[3]);

/** The group's committed offset of each partition of the topic. */
async function committedOffsets(groupId: string, topic: string): Promise<number[]> {
  const admin = new Admin({ clientId: "vigil-test", ...plaintext() });
  try {
    const [group] = await admin.listConsumerGroupOffsets({ groups: [groupId] });
    const partitions = group?.topics.find((t) => t.name === topic)?.partitions ?? [];
    return partitions
      .sort((a, b) => a.partitionIndex - b.partitionIndex)
      .map((p) => Number(p.committedOffset));
  } finally {
    await admin.close();
  }
}

async function sources(vigil: VigilProcess): Promise<SourceStatus[]> {
  return ((await (await get(vigil, "/v1/status")).json()) as { sources: SourceStatus[] }).sources;
}

/** Waits until the named source's status satisfies `done`, and returns it. */
function sourceWhen(vigil: VigilProcess, name: string, what: string, done: (s: SourceStatus) => boolean) {
  return waitUntil(
    `${name}: ${what}`,
    async () => {
      const status = (await sources(vigil)).find((s) => s.name === name);
      return status !== undefined && done(status) ? status : undefined;
    },
    45_000,
  );
}

const fromSource = (records: SealedRecord[], token: string) =>
  records.filter((r) => (r.event.origin as { token?: string }).token === token);

/** The record's topic position, as the source wrote it. */
const positionOf = (r: SealedRecord) => {
  const { partition, offset } = (r.event.details as { kafka_source: { partition: number; offset: number } })
    .kafka_source;
  return `${partition}@${offset}`;
};

/** What the decoder made of the record, plus what the source adds (kafka_source) and the server fills. */
function expectDecoded(sealed: SealedRecord, decoded: Record<string, unknown>, token: string): void {
  const { details, ...fields } = decoded;
  expect(sealed.event).toMatchObject({ ...fields, origin: { source: "kafka-audit-topic", token } });
  expect(sealed.event.details).toMatchObject(details as Record<string, unknown>);
}

describe("audit_topic source", () => {
  it("archives Redpanda's and Confluent's audit topics once each, verifiably, across a restart", async () => {
    // Redpanda spreads its audit records over the topic's partitions; so does this test.
    await produce(REDPANDA_TOPIC, OCSF_LINES, (i) => i % REDPANDA_PARTITIONS);
    await produce(CONFLUENT_TOPIC, CLOUDEVENT_LINES, (i) => i % CONFLUENT_PARTITIONS);
    const dir = await tempDir("vigil-audit-topic-");
    const config = await writeConfig(
      dir,
      [
        "audit:",
        "  sources:",
        "    - type: audit_topic",
        "      name: redpanda-audit",
        `      bootstrap_servers: [${kafka.plaintext}]`,
        `      topic: ${REDPANDA_TOPIC}`,
        "      format: ocsf",
        "      start_from: earliest",
        "    - type: audit_topic",
        `      bootstrap_servers: [${kafka.plaintext}]`,
        `      topic: ${CONFLUENT_TOPIC}`,
        "      security: { security_protocol: PLAINTEXT }",
      ].join("\n"),
    );
    const dataDir = await tempDir("vigil-audit-topic-data-");
    const audit = join(dataDir, "audit.log");
    const total = OCSF_LINES.length + CLOUDEVENT_LINES.length;

    let vigil = await startVigil({ dataDir, args: ["--config", config] });
    try {
      const redpanda = await sourceWhen(
        vigil,
        "redpanda-audit",
        "all records",
        (s) => s.records === OCSF_LINES.length,
      );
      expect(redpanda).toMatchObject({
        type: "audit_topic",
        topic: REDPANDA_TOPIC,
        groupId: "vigil-redpanda-audit",
        state: "consuming",
        events: OCSF_LINES.length,
        unparsed: 0,
      });
      const confluent = await sourceWhen(
        vigil,
        "confluent-audit-log-events",
        "all records",
        (s) => s.records === CLOUDEVENT_LINES.length,
      );
      expect(confluent).toMatchObject({
        groupId: "vigil-confluent-audit-log-events",
        events: CLOUDEVENT_LINES.length,
      });
      await waitForDelivery(vigil);

      const records = await readRecords(audit);
      expect(records).toHaveLength(total);
      const ocsf = fromSource(records, "redpanda-audit");
      const cloudevents = fromSource(records, "confluent-audit-log-events");
      expect(ocsf).toHaveLength(OCSF_LINES.length);
      expect(cloudevents).toHaveLength(CLOUDEVENT_LINES.length);
      // Every line once, each at its own topic position, mapped as the decoders map it.
      expect(new Set(ocsf.map(positionOf)).size).toBe(OCSF_LINES.length);
      OCSF_LINES.forEach((line, i) => {
        const at = `${i % REDPANDA_PARTITIONS}@${Math.floor(i / REDPANDA_PARTITIONS)}`;
        const sealed = ocsf.find((r) => positionOf(r) === at) as SealedRecord;
        expectDecoded(sealed, decodeOcsf(JSON.parse(line))[0] as Record<string, unknown>, "redpanda-audit");
        expect(sealed.event.event_id).toMatch(new RegExp(`^kafka:[0-9a-f-]{36}:${at.replace("@", ":")}$`));
      });
      for (const line of CLOUDEVENT_LINES) {
        const [decoded] = decodeCloudEvents(JSON.parse(line)) as Record<string, unknown>[];
        const sealed = cloudevents.find((r) => r.event.event_id === decoded?.event_id) as SealedRecord;
        expectDecoded(sealed, decoded as Record<string, unknown>, "confluent-audit-log-events");
      }
      // Spot checks against the fixtures themselves.
      const failedLogin = ocsf.find((r) => positionOf(r) === "2@0") as SealedRecord;
      expect(failedLogin.event).toMatchObject({ event_type: "auth.failed", action: { result: "failure" } });
      const createTopics = cloudevents.find(
        (r) => r.event.event_id === "b17cc9c7-96f0-413a-b94c-124e21834a55",
      );
      expect(createTopics?.event).toMatchObject({
        event_type: "kafka.createtopics",
        timestamp: "2020-05-12T12:24:37.838Z",
        actor: { type: "user", id: "User:producer", ip_address: "172.27.0.3" },
        resource: { type: "topic", id: "bar" },
        details: { kafka_source: { topic: CONFLUENT_TOPIC, partition: 0, offset: 0 } },
      });

      // A record that is not an audit record is kept raw and counted, not dropped.
      await produce(REDPANDA_TOPIC, ["not json"], () => 1);
      const withBad = await sourceWhen(vigil, "redpanda-audit", "the bad record", (s) => s.unparsed === 1);
      expect(withBad).toMatchObject({ records: OCSF_LINES.length + 1, events: OCSF_LINES.length + 1 });
      await waitForDelivery(vigil);
      const unparsed = (await readRecords(audit)).filter(
        (r) => r.event.event_type === "kafka.audit_topic_unparsed",
      );
      expect(unparsed).toHaveLength(1);
      expect(unparsed[0]?.event.details).toMatchObject({
        kafka_source: { topic: REDPANDA_TOPIC, partition: 1, offset: 3 },
        reason: expect.stringMatching(/^malformed JSON: /),
        raw: "not json",
        raw_bytes: 8,
      });

      // The offsets are committed once the events are durable: the groups stand at the end of each partition.
      const committed = (s: SourceStatus) => s.partitions.map((p) => p.committed);
      await sourceWhen(vigil, "redpanda-audit", "commits", (s) => `${committed(s)}` === "3,4,2");
      await sourceWhen(vigil, "confluent-audit-log-events", "commits", (s) => `${committed(s)}` === "6,5");
    } finally {
      // A crash: the consumers do not leave their groups.
      await vigil.kill();
    }
    expect(await committedOffsets("vigil-redpanda-audit", REDPANDA_TOPIC)).toEqual([3, 4, 2]);
    expect(await committedOffsets("vigil-confluent-audit-log-events", CONFLUENT_TOPIC)).toEqual([6, 5]);
    const sealedBefore = total + 1;

    // Restarted, Vigil reads on from the committed offsets: only what was produced meanwhile is sealed. Its
    // consumers are static group members: they take their partitions back at once, without waiting for the
    // broker to expire the crashed ones (a 30 s session timeout).
    await produce(REDPANDA_TOPIC, OCSF_LINES.slice(0, REDPANDA_PARTITIONS), (i) => i);
    await produce(CONFLUENT_TOPIC, CLOUDEVENT_LINES.slice(-1), () => 1);
    const restarted = Date.now();
    vigil = await startVigil({ dataDir, args: ["--config", config] });
    try {
      const redpanda = await sourceWhen(vigil, "redpanda-audit", "the new records", (s) => s.records === 3);
      expect(redpanda).toMatchObject({ events: 3, duplicates: 0, unparsed: 0 });
      // The Confluent record is a copy of one sealed before: the same CloudEvents id, answered by it.
      const confluent = await sourceWhen(
        vigil,
        "confluent-audit-log-events",
        "the new record",
        (s) => s.records === 1,
      );
      expect(confluent).toMatchObject({ events: 0, duplicates: 1 });
      expect(Date.now() - restarted).toBeLessThan(20_000);
      expect(await chainSequence(vigil)).toBe(sealedBefore + 3);
    } finally {
      await vigil.stop();
    }
    expect(await committedOffsets("vigil-redpanda-audit", REDPANDA_TOPIC)).toEqual([4, 5, 3]);

    const records = await readRecords(audit);
    expect(records).toHaveLength(sealedBefore + 3);
    const ids = records.map((r) => r.event.event_id);
    expect(new Set(ids).size).toBe(ids.length);
    const verified = await runVigil(["verify", "--data-dir", dataDir, audit]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  });

  it("consumes over SASL_SSL with SCRAM-SHA-256 and a CA file; a wrong password stops only its source", async () => {
    const dir = await tempDir("vigil-audit-topic-sasl-");
    await writeFile(join(dir, "kafka-ca.pem"), kafka.caPem);
    const security = (password: string) => [
      "      security:",
      "        security_protocol: SASL_SSL",
      "        sasl_mechanism: SCRAM-SHA-256",
      `        sasl_username: ${kafka.username}`,
      `        sasl_password: ${password}`,
      "        ssl_ca_file: kafka-ca.pem",
    ];
    const config = await writeConfig(
      dir,
      [
        "audit:",
        "  sources:",
        "    - type: audit_topic",
        "      name: sasl",
        `      bootstrap_servers: ["${kafka.saslSsl}"]`,
        "      topic: sasl-audit",
        ...security("${AUDIT_KAFKA_PASSWORD}"),
        "    - type: audit_topic",
        "      name: wrong-password",
        `      bootstrap_servers: ["${kafka.saslSsl}"]`,
        "      topic: other-audit",
        ...security("${WRONG_PASSWORD}"),
      ].join("\n"),
    );
    await produce("sasl-audit", CLOUDEVENT_LINES.slice(0, 2));
    const wrong = "not-the-password-4711";
    const vigil = await startVigil({
      args: ["--config", config],
      env: { AUDIT_KAFKA_PASSWORD: kafka.password, WRONG_PASSWORD: wrong },
    });
    try {
      expect(await sourceWhen(vigil, "sasl", "both records", (s) => s.records === 2)).toMatchObject({
        events: 2,
        state: "consuming",
      });
      const failed = await sourceWhen(vigil, "wrong-password", "stopping", (s) => s.state === "failed");
      expect(failed.lastError).toMatch(/authentication failed.*check security\.sasl_username, sasl_password/);
      const everything = JSON.stringify(await (await get(vigil, "/v1/status")).json()) + vigil.stderr();
      expect(everything).not.toContain(wrong);
      expect(everything).not.toContain(kafka.password);
      expect((await post(vigil, ndjson([event(1)]))).status).toBe(200);
    } finally {
      await vigil.stop();
    }
  });

  it("holds the offsets while the pipeline cannot take a batch, and leaves the group on stop (in process)", async () => {
    await produce("inproc-audit", OCSF_LINES.slice(0, 3));
    const logs: string[] = [];
    let refusing = true;
    const ingested: NativeEvent[][] = [];
    const source = new AuditTopicSource({
      config: resolveAuditTopicSource(
        { type: "audit_topic", name: "inproc", bootstrap_servers: [kafka.plaintext], topic: "inproc-audit" },
        ".",
      ),
      ingest: async (events) => {
        ingested.push(events);
        if (refusing) return { accepted: 0, excluded: 0, dropped: events.length, events: [] };
        // As the pipeline refuses an event that redaction made too large: the whole batch, naming the event.
        if (events.some((e) => e.event_type === "auth.failed")) {
          throw new ValidationError("invalid_event", [
            { index: 2, field: "", message: "event is too large" },
          ]);
        }
        return { accepted: events.length, excluded: 0, dropped: 0, events: [] };
      },
      limits: DEFAULT_EVENT_LIMITS,
      instanceId: "vigil-test-inproc",
      log: (msg) => logs.push(msg),
      backoff: { initialMs: 10, maxMs: 50 },
    });
    await source.start();
    try {
      await waitUntil("refused deliveries", async () => (ingested.length >= 3 ? true : undefined));
      // failure_policy permit's refusal: nothing is lost (the records stay in the topic), and the log says so.
      expect(source.status()).toMatchObject({ state: "retrying", records: 0, partitions: [] });
      const refusal =
        "sealing failed, retrying (offsets not committed): the journal queue is full (failure_policy permit: " +
        "the pipeline counts these 3 events as dropped, but they stay in the topic and are sealed when retried)";
      expect(source.status().lastError).toBe(refusal);
      expect(logs.filter((l) => l.includes("sealing failed"))).toEqual([`inproc-audit: ${refusal}`]);
      expect(await committedOffsets("vigil-inproc", "inproc-audit")).toEqual([]);

      refusing = false;
      await waitUntil("the batch sealed", async () => (source.status().records === 3 ? true : undefined));
      await waitUntil("the commit", async () =>
        source.status().partitions[0]?.committed === 3 ? true : undefined,
      );
      expect(source.status()).toMatchObject({ state: "consuming", events: 3, unparsed: 1 });
      expect(source.status().lastError).toBeUndefined();
      expect(logs).toContain("inproc-audit: sealing again");
      // The refused record went in alone, then as an unparsed event without its value.
      const last = ingested.at(-1) as NativeEvent[];
      expect(last).toHaveLength(1);
      expect(last[0]).toMatchObject({
        event_type: "kafka.audit_topic_unparsed",
        event_id: expect.stringMatching(/^kafka:[0-9a-f-]{36}:0:2$/),
        details: {
          reason: "refused by the pipeline: event 2: event is too large",
          raw_bytes: OCSF_LINES[2]?.length,
        },
      });
      expect(last[0]?.details).not.toHaveProperty("raw");
      expect(await committedOffsets("vigil-inproc", "inproc-audit")).toEqual([3]);
    } finally {
      await source.stop();
    }
    expect(source.status().state).toBe("stopped");
    const admin = new Admin({ clientId: "vigil-test", ...plaintext() });
    try {
      const group = (await admin.describeGroups({ groups: ["vigil-inproc"] })).get("vigil-inproc");
      expect(group?.members.size).toBe(0);
    } finally {
      await admin.close();
    }
    expect(logs[0]).toBe("inproc-audit: consuming as group vigil-inproc (auto records)");
  });

  it("start_from latest: skips what the topic held, and keeps its start across a restart (in process)", async () => {
    await produce("latest-audit", CLOUDEVENT_LINES.slice(0, 4));
    const sealed: string[] = [];
    const run = async (until: (source: AuditTopicSource) => boolean) => {
      const source = new AuditTopicSource({
        config: resolveAuditTopicSource(
          {
            type: "audit_topic",
            name: "latest",
            bootstrap_servers: [kafka.plaintext],
            topic: "latest-audit",
            start_from: "latest",
          },
          ".",
        ),
        ingest: async (events) => {
          sealed.push(...events.map((e) => e.event_id));
          return { accepted: events.length, excluded: 0, dropped: 0, events: [] };
        },
        limits: DEFAULT_EVENT_LIMITS,
        instanceId: "vigil-test-latest",
        log: () => {},
      });
      await source.start();
      try {
        await waitUntil("the source", async () => (until(source) ? true : undefined));
      } finally {
        await source.stop();
      }
    };
    // Stopped before any new record came, with the start position committed,
    await run((s) => s.status().partitions[0]?.committed === 4);
    expect(sealed).toEqual([]);
    // it reads on from there, not from the then latest offset.
    await produce("latest-audit", CLOUDEVENT_LINES.slice(4, 6));
    await run((s) => s.status().records === 2);
    expect(sealed).toEqual(CLOUDEVENT_LINES.slice(4, 6).map((l) => (JSON.parse(l) as { id: string }).id));
  });

  it.each(["latest", "earliest"] as const)(
    "start_from %s: a committed offset retention deleted goes on from the earliest offset held, warned and counted (in process)",
    async (startFrom) => {
      const topic = `expire-${startFrom}-audit`;
      const name = `expire-${startFrom}`;
      const values = (from: number, n: number) => Array.from({ length: n }, (_, i) => `record ${from + i}`);
      await produce(topic, values(0, 3));
      // The group stands at offset 3 (latest: its start position committed; earliest: the 3 records archived).
      const seen = new Set<string>();
      const first = inProcess({ name, topic, start_from: startFrom }, seen);
      await runUntil(first.source, "the first run", (s) => s.status().partitions[0]?.committed === 3);
      expect(first.sealed.map(offsetOf)).toEqual(startFrom === "latest" ? [] : [0, 1, 2]);

      // Vigil stopped longer than the retention: 7 records written, and offsets 3 to 5 deleted before it read them.
      await produce(topic, values(3, 7));
      await withAdmin((admin) =>
        admin.deleteRecords({ topics: [{ name: topic, partitions: [{ partition: 0, offset: 6n }] }] }),
      );
      const second = inProcess({ name, topic, start_from: startFrom }, seen);
      await runUntil(
        second.source,
        "the records still held",
        (s) => s.status().partitions[0]?.committed === 10,
      );
      // Every record the topic still holds is archived (start_from latest does not apply: the group has an offset),
      expect(second.sealed.map(offsetOf)).toEqual([6, 7, 8, 9]);
      // and the loss is said, and counted.
      expect(second.source.status()).toMatchObject({ records: 4, expiredOffsets: 3 });
      expect(second.logs).toContain(
        `${topic}: warning: partition 0: 3 offsets (3 to 5) were deleted from the topic before they were ` +
          "archived (retention); reading on from offset 6",
      );
      expect(await committedOffsets(`vigil-${name}`, topic)).toEqual([10]);
    },
  );

  it("without topic ids, seals the records of a topic deleted and created again while it runs (in process)", async () => {
    // As a broker without topic ids answers (Kafka before 2.8, Redpanda before 25.3: Metadata v8), the library
    // reporting the topic's name as its id; the library's own requests (with a callback) keep the real answer.
    const real = Consumer.prototype.metadata;
    const noIds = vi.spyOn(Consumer.prototype, "metadata").mockImplementation(function (
      this: Consumer,
      ...args: Parameters<typeof real>
    ) {
      if (args.length > 1) return real.apply(this, args);
      return real.apply(this, args).then((metadata) => ({
        ...metadata,
        topics: new Map([...metadata.topics].map(([name, t]) => [name, { ...t, id: name }])),
      }));
    } as typeof real);
    const topic = "recreate-audit";
    const create = () =>
      withAdmin((admin) => admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 }));
    await create();
    await produce(topic, OCSF_LINES.slice(0, 3));
    const { source, sealed, logs } = inProcess({ name: "recreate", topic });
    await source.start();
    try {
      await waitUntil("the first records", async () =>
        source.status().partitions[0]?.committed === 3 ? true : undefined,
      );
      expect(sealed).toHaveLength(3);
      expect(sealed[0]).toMatch(/^kafka:recreate:0:0:t\d+$/);

      await withAdmin((admin) => admin.deleteTopics({ topics: [topic] }));
      // The broker drops the group's offsets with the topic.
      await waitUntil("the group's offsets dropped", async () =>
        (await committedOffsets("vigil-recreate", topic)).length === 0 ? true : undefined,
      );
      await waitUntil("the topic created again", async () =>
        create().then(
          () => true,
          () => undefined,
        ),
      );
      // The same records again (audit records can look alike): at the same offsets, written later.
      await produce(topic, OCSF_LINES.slice(0, 5));
      await waitUntil("the new topic's records", async () => (sealed.length === 8 ? true : undefined));
      await waitUntil("their commit", async () =>
        source.status().partitions[0]?.committed === 5 ? true : undefined,
      );
    } finally {
      await source.stop();
      noIds.mockRestore();
    }
    expect(new Set(sealed).size).toBe(8);
    expect(sealed.slice(3).map(offsetOf)).toEqual([0, 1, 2, 3, 4]);
    expect(source.status()).toMatchObject({ records: 8, duplicates: 0, expiredOffsets: 0 });
    expect(logs).toContain(
      `${topic}: partition 0 is read from offset 0, below offset 3 committed before: the topic was created ` +
        "again or the group's offsets were reset; records the server already sealed are recognised by their " +
        "event ids",
    );
  });

  it("keeps retrying while the broker is down, serving HTTP ingest, and resumes without losing a record", async () => {
    const dir = await tempDir("vigil-audit-topic-outage-");
    const config = await writeConfig(
      dir,
      [
        "audit:",
        "  sources:",
        "    - type: audit_topic",
        "      name: outage",
        `      bootstrap_servers: [${kafka.plaintext}]`,
        "      topic: outage-audit",
      ].join("\n"),
    );
    await produce("outage-audit", OCSF_LINES.slice(0, 3));
    const vigil = await startVigil({ args: ["--config", config] });
    try {
      await sourceWhen(vigil, "outage", "the first records", (s) => s.records === 3);
      await kafka.stop();
      await sourceWhen(
        vigil,
        "outage",
        "retrying while the broker refuses connections",
        (s) => s.state === "retrying" && /ECONNREFUSED.*; retrying$/.test(s.lastError ?? ""),
      );
      expect((await post(vigil, ndjson([event(1), event(2)]))).status).toBe(200);

      await kafka.restart();
      await produce("outage-audit", OCSF_LINES.slice(3));
      const resumed = await sourceWhen(
        vigil,
        "outage",
        "every record",
        (s) => s.records === OCSF_LINES.length,
      );
      expect(resumed).toMatchObject({ state: "consuming", events: OCSF_LINES.length, duplicates: 0 });
      expect(resumed.lastError).toBeUndefined();
      await waitForDelivery(vigil);
      const records = fromSource(await readRecords(join(vigil.dataDir, "audit.log")), "outage");
      expect(records.map(positionOf)).toEqual(OCSF_LINES.map((_, i) => `0@${i}`));
    } finally {
      await vigil.stop();
    }
  });
});
