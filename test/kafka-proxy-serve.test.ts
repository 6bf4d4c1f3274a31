/**
 * The kafka_proxy source inside the real `bin/vigil serve`, configured by a real vigil.yaml, in front of a real
 * Apache Kafka broker (test/support/kafka.ts), with a real client (@platformatic/kafka) that knows only the
 * proxy's address: the topic it creates and the records it produces are in the trail (searched through
 * `GET /v1/events`, origin kafka-proxy, the topic as resource), the log verifies, and `GET /v1/status` shows the
 * source's broker listeners; a second proxy speaks TLS to the broker's SASL_SSL listener with the CA file named
 * relative to the config, and the SCRAM login through it is audited with the user. `enabled_event_types` applies
 * to proxied traffic (management kept, produce excluded). A CA file that cannot be read stops `vigil serve` at
 * start (exit 2, naming the key). In process, with a stand-in for the pipeline: while the pipeline refuses and
 * then holds the events, the queue fills and the proxy fails open (requests forwarded, drops counted, one
 * warning), then drains once the pipeline takes events again; a group id longer than resource.id may hold is cut
 * there by the proxy. Through the real server too: clients of the proxy writing to Vigil's own audit topic (its
 * kafka destination's) are refused, and the attempt is sealed.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Admin, ProduceAcks, Producer, stringSerializers } from "@platformatic/kafka";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VigilError } from "../src/errors.ts";
import type { NativeEvent } from "../src/event/schema.ts";
import { DEFAULT_EVENT_LIMITS } from "../src/event/validate.ts";
import { resolveKafkaProxySource } from "../src/sources/kafka-proxy/config.ts";
import { KafkaProxySource, type KafkaProxyStatus } from "../src/sources/kafka-proxy/source.ts";
import { makeCertificates, makeClientCertificate } from "./support/certs.ts";
import { spawnVigil, waitIndexed, waitUntil, writeConfig } from "./support/files.ts";
import { type KafkaBroker, startKafka } from "./support/kafka.ts";
import { kafkaOf } from "./support/kafka-proxy.ts";
import { freePorts } from "./support/ports.ts";
import { get, runVigil, startVigil, tempDir, type VigilProcess } from "./support/vigil-process.ts";

type Json = Record<string, unknown>;

interface SearchPage {
  events: { sequence: number; event: Json & { event_type: string } }[];
}

let kafka: KafkaBroker;

beforeAll(async () => {
  kafka = await startKafka({ sasl: true });
}, 90_000);

afterAll(async () => {
  await kafka?.close();
});

type SourceStatus = KafkaProxyStatus & { name: string; type: string };

async function sourceStatus(vigil: VigilProcess, name: string): Promise<SourceStatus> {
  const status = (await (await get(vigil, "/v1/status")).json()) as { sources: SourceStatus[] };
  const source = status.sources.find((s) => s.name === name);
  if (!source) throw new Error(`no source ${name} in ${JSON.stringify(status.sources)}`);
  return source;
}

/** Waits until every event the proxy emitted was answered by the pipeline, then until the index holds them. */
async function settled(vigil: VigilProcess, name: string): Promise<SourceStatus> {
  const status = await waitUntil(`${name}: every event sealed`, async () => {
    const s = await sourceStatus(vigil, name);
    return s.foldingEvents === 0 && s.queueLength === 0 && s.ingestedEvents === s.emittedEvents
      ? s
      : undefined;
  });
  await waitIndexed(vigil);
  return status;
}

async function search(vigil: VigilProcess, q: string): Promise<SearchPage["events"]> {
  const res = await get(vigil, `/v1/events?${new URLSearchParams({ q })}`);
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as SearchPage).events;
}

async function withClients<T>(
  bootstrap: string,
  use: (admin: Admin, producer: Producer<string, string, string, string>) => Promise<T>,
): Promise<T> {
  const admin = new Admin({ clientId: "serve-test-admin", bootstrapBrokers: [bootstrap], retries: 5 });
  const producer = new Producer({
    clientId: "serve-test-producer",
    bootstrapBrokers: [bootstrap],
    serializers: stringSerializers,
    acks: ProduceAcks.ALL,
    retries: 5,
    retryDelay: 100,
  });
  try {
    return await use(admin, producer);
  } finally {
    await producer.close();
    await admin.close();
  }
}

/** Creates `topic` and produces `values` to it through the proxy at `bootstrap`. */
async function createAndProduce(bootstrap: string, topic: string, values: string[]): Promise<void> {
  await withClients(bootstrap, async (admin, producer) => {
    await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
    await producer.send({ messages: values.map((value) => ({ topic, value })) });
  });
}

describe("kafka_proxy source in vigil serve", () => {
  it("takes clients over mutual TLS (files relative to the config) and seals their certificate's subject", async () => {
    const [port, broker] = await freePorts(2);
    const dir = await tempDir("vigil-proxy-mtls-");
    const certs = await makeCertificates(dir);
    const client = await makeClientCertificate(dir, "payments-app");
    const config = await writeConfig(
      dir,
      [
        "audit:",
        "  sources:",
        "    - type: kafka_proxy",
        "      name: kafka-mtls",
        `      listen: 127.0.0.1:${port}`,
        `      broker_ports: ${broker}`,
        `      bootstrap_servers: [${kafka.plaintext}]`,
        "      tls:",
        "        cert_file: server.pem",
        "        key_file: server.key",
        "        client_ca_file: ca.pem",
      ].join("\n"),
    );
    const vigil = await startVigil({ args: ["--config", config] });
    try {
      const admin = new Admin({
        clientId: "mtls-app",
        bootstrapBrokers: [`127.0.0.1:${port}`],
        tls: { ca: certs.ca, cert: client.cert, key: client.key },
        retries: 5,
      });
      try {
        expect(Array.isArray(await admin.listTopics())).toBe(true);
      } finally {
        await admin.close();
      }
      await settled(vigil, "kafka-mtls");
      const logins = await search(vigil, "event_type == 'auth.login' and origin.token == 'kafka-mtls'");
      expect(logins[0]?.event).toMatchObject({
        actor: { type: "user", id: "User:CN=payments-app,O=Vigil tests" },
        details: { kafka: { mechanism: "SSL" } },
      });
      expect(vigil.stderr()).toContain("(mutual TLS with clients)");
    } finally {
      expect(await vigil.stop()).toBe(0);
    }
  });

  it("refuses clients of the proxy writing to Vigil's own audit topic, and seals the attempt", async () => {
    const [port, broker] = await freePorts(2);
    const dir = await tempDir("vigil-proxy-protect-");
    const auditTopic = `vigil-trail-${Date.now()}`;
    const config = await writeConfig(
      dir,
      [
        "audit:",
        "  destinations:",
        "    - type: kafka",
        `      bootstrap_servers: [${kafka.plaintext}]`,
        `      topic: ${auditTopic}`,
        "  sources:",
        "    - type: kafka_proxy",
        `      listen: 127.0.0.1:${port}`,
        `      broker_ports: ${broker}`,
        `      bootstrap_servers: [${kafka.plaintext}]`,
      ].join("\n"),
    );
    const vigil = await startVigil({ args: ["--config", config] });
    try {
      // Vigil's kafka destination has created its topic (it writes there directly, not through the proxy).
      await waitUntil("the audit topic", async () => {
        const admin = new Admin({ clientId: "check", bootstrapBrokers: [kafka.plaintext], retries: 2 });
        try {
          return (await admin.listTopics()).includes(auditTopic) ? true : undefined;
        } finally {
          await admin.close();
        }
      });
      const refusal = await withClients(`127.0.0.1:${port}`, async (_admin, producer) =>
        producer.send({ messages: [{ topic: auditTopic, value: "forged" }] }).then(
          () => "accepted",
          (e: unknown) => String((e as Error).message),
        ),
      );
      expect(refusal).not.toBe("accepted");
      await settled(vigil, "kafka-proxy");
      const attempts = await search(
        vigil,
        `event_type == 'kafka.produce' and resource.id == '${auditTopic}'`,
      );
      expect(attempts.length).toBeGreaterThan(0);
      for (const { event } of attempts) {
        expect(event).toMatchObject({
          action: { result: "failure" },
          details: { kafka: { refused_audit_topics: [auditTopic], error_codes: { "29": 1 } } },
        });
      }
    } finally {
      expect(await vigil.stop()).toBe(0);
    }
  });

  it("seals what clients do through the proxy, searchable and verifiable, its listeners in the status", async () => {
    const [plainPort, plainBroker, tlsPort, tlsBroker] = await freePorts(4);
    const dir = await tempDir("vigil-proxy-serve-");
    await writeFile(join(dir, "kafka-ca.pem"), kafka.caPem);
    const config = await writeConfig(
      dir,
      [
        "audit:",
        "  sources:",
        "    - type: kafka_proxy",
        "      name: kafka-plain",
        `      listen: 127.0.0.1:${plainPort}`,
        "      advertised_host: 127.0.0.1",
        `      broker_ports: ${plainBroker}`,
        `      bootstrap_servers: [${kafka.plaintext}]`,
        "    - type: kafka_proxy",
        "      name: kafka-tls",
        `      listen: :${tlsPort}`,
        `      broker_ports: ${tlsBroker}-${tlsBroker}`,
        `      bootstrap_servers: [${kafka.saslSsl}]`,
        "      upstream_tls:",
        "        ca_file: kafka-ca.pem",
        "      max_frame_bytes: 10485760",
      ].join("\n"),
    );
    const dataDir = await tempDir("vigil-proxy-serve-data-");
    const topic = `served-${Date.now()}`;
    const vigil = await startVigil({ dataDir, args: ["--config", config] });
    try {
      await createAndProduce(`127.0.0.1:${plainPort}`, topic, ["a", "b", "c"]);
      const sasl = {
        mechanism: "SCRAM-SHA-256" as const,
        username: kafka.username,
        password: kafka.password,
      };
      const scram = new Admin({
        clientId: "serve-test-scram",
        bootstrapBrokers: [`127.0.0.1:${tlsPort}`],
        sasl,
        retries: 5,
      });
      try {
        expect(await scram.listTopics()).toContain(topic);
      } finally {
        await scram.close();
      }

      const plain = await settled(vigil, "kafka-plain");
      expect(plain).toMatchObject({
        type: "kafka_proxy",
        state: "running",
        listen: `127.0.0.1:${plainPort}`,
        advertisedHost: "127.0.0.1",
        bootstrapServers: [kafka.plaintext],
        brokerPorts: String(plainBroker),
        brokers: [{ nodeId: 1, port: plainBroker }],
        droppedEvents: 0,
        refusedEvents: 0,
      });
      expect(plain.sealedEvents).toBe(plain.emittedEvents);
      const tls = await settled(vigil, "kafka-tls");
      expect(tls).toMatchObject({
        listen: `127.0.0.1:${tlsPort}`,
        brokerPorts: String(tlsBroker),
        brokers: [{ nodeId: 1, port: tlsBroker }],
      });
      // Alertable: the failure policy's state and the counts in Prometheus, and in `vigil status`.
      const metrics = await (await get(vigil, "/metrics")).text();
      expect(metrics).toMatch(/^vigil_kafka_proxy_audit_path_full\{source="kafka-plain"\} 0$/m);
      expect(metrics).toMatch(/^vigil_kafka_proxy_requests_refused_total\{source="kafka-tls"\} 0$/m);
      const requests = /^vigil_kafka_proxy_requests_total\{source="kafka-plain"\} (\d+)$/m.exec(metrics);
      expect(Number(requests?.[1])).toBe(plain.auditedRequests);
      expect(plain.auditedRequests).toBeGreaterThanOrEqual(plain.emittedEvents);
      const table = await runVigil(["status", "--url", vigil.url, "--token", vigil.token]);
      expect(table.code, table.stderr).toBe(0);
      expect(table.stdout).toMatch(/^SOURCE +TYPE +STATE +DETAIL$/m);
      expect(table.stdout).toMatch(
        new RegExp(
          `^kafka-plain +kafka_proxy +running +listening on 127\\.0\\.0\\.1:${plainPort}, \\d+ requests audited, queue 0/50000$`,
          "m",
        ),
      );

      // (A first attempt on the new topic may be refused, no leader yet, and retried: both are sealed.)
      const produced = await search(
        vigil,
        `event_type == 'kafka.produce' and resource.id == '${topic}' and action.result == 'success'`,
      );
      expect(produced.length).toBeGreaterThan(0);
      const records = produced
        .flatMap(({ event }) => kafkaOf(event).topics as Json[])
        .reduce((n, t) => n + Number(t.records ?? 0), 0);
      expect(records).toBe(3);
      for (const { event } of produced) {
        expect(event).toMatchObject({
          origin: { source: "kafka-proxy", token: "kafka-plain" },
          resource: { type: "topic", id: topic },
          actor: { type: "anonymous", id: "ANONYMOUS", ip_address: "127.0.0.1" },
          action: { operation: "Produce", result: "success" },
          details: { kafka: { client_id: "serve-test-producer", category: "produce" } },
        });
      }
      const created = await search(vigil, `event_type == 'kafka.createtopics' and resource.id == '${topic}'`);
      expect(created).toHaveLength(1);
      const logins = await search(vigil, "event_type == 'auth.login'");
      expect(logins.length).toBeGreaterThan(0);
      expect(logins[0]?.event).toMatchObject({
        origin: { source: "kafka-proxy", token: "kafka-tls" },
        actor: { type: "user", id: `User:${kafka.username}` },
        details: { kafka: { mechanism: "SCRAM-SHA-256" } },
      });
      expect(vigil.stderr()).toMatch(
        new RegExp(
          `source kafka-tls: Kafka proxy listening on 127\\.0\\.0\\.1:${tlsPort} .*TLS to the brokers`,
        ),
      );
    } finally {
      expect(await vigil.stop()).toBe(0);
    }
    const verified = await runVigil(["verify", "--data-dir", dataDir, join(dataDir, "audit.log")]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  });

  it("applies enabled_event_types to proxied traffic: management kept, produce excluded", async () => {
    const [listen, broker] = await freePorts(2);
    const dir = await tempDir("vigil-proxy-policy-");
    const config = await writeConfig(
      dir,
      [
        "audit:",
        "  enabled_event_types: [management]",
        "  sources:",
        "    - type: kafka_proxy",
        `      listen: 127.0.0.1:${listen}`,
        `      broker_ports: ${broker}`,
        `      bootstrap_servers: [${kafka.plaintext}]`,
      ].join("\n"),
    );
    const topic = `policy-${Date.now()}`;
    const vigil = await startVigil({ args: ["--config", config] });
    try {
      await createAndProduce(`127.0.0.1:${listen}`, topic, ["x", "y"]);
      const status = await settled(vigil, "kafka-proxy");
      expect(status.excludedEvents).toBeGreaterThan(0);
      expect(status.sealedEvents).toBeGreaterThan(0);
      expect(
        await search(vigil, `event_type == 'kafka.createtopics' and resource.id == '${topic}'`),
      ).toHaveLength(1);
      expect(await search(vigil, "event_type == 'kafka.produce'")).toEqual([]);
      expect(await search(vigil, "event_type == 'kafka.metadata'")).toEqual([]);
    } finally {
      await vigil.stop();
    }
  });

  it("folds identical produce requests into one event per window with a count, management events one each", async () => {
    const [listen, broker] = await freePorts(2);
    const dir = await tempDir("vigil-proxy-fold-");
    const config = await writeConfig(
      dir,
      [
        "audit:",
        "  sources:",
        "    - type: kafka_proxy",
        `      listen: 127.0.0.1:${listen}`,
        `      broker_ports: ${broker}`,
        `      bootstrap_servers: [${kafka.plaintext}]`,
        "      aggregate:",
        "        window_ms: 60000",
        "        event_types: [produce]",
      ].join("\n"),
    );
    const topic = `fold-${Date.now()}`;
    const vigil = await startVigil({ args: ["--config", config] });
    try {
      await withClients(`127.0.0.1:${listen}`, async (admin, producer) => {
        await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
        // Twenty requests, one record each, one after the other.
        for (let i = 0; i < 20; i++) await producer.send({ messages: [{ topic, value: `v${i}` }] });
      });
      // The window is a minute: the events are in it, not sealed yet; stopping the source flushes them.
      const folding = await sourceStatus(vigil, "kafka-proxy");
      expect(folding.foldingEvents).toBeGreaterThan(0);
      expect(await vigil.stop()).toBe(0);
    } finally {
      await vigil.stop();
    }
    const again = await startVigil({ dataDir: vigil.dataDir, args: ["--config", config] });
    try {
      await waitIndexed(again);
      const produced = (
        await search(
          again,
          `event_type == 'kafka.produce' and resource.id == '${topic}' and action.result == 'success'`,
        )
      ).map(({ event }) => event);
      // One connection, one identical request twenty times (a first refused attempt would be another event).
      expect(produced).toHaveLength(1);
      const folded = produced[0] as Json;
      expect((folded.action as Json).count).toBe(20);
      expect(typeof (folded.action as Json).ended_at).toBe("string");
      expect((kafkaOf(folded).topics as Json[])[0]).toMatchObject({ name: topic, records: 20 });
      expect(
        await search(again, `event_type == 'kafka.createtopics' and resource.id == '${topic}'`),
      ).toHaveLength(1);
    } finally {
      await again.stop();
    }
  });

  it("stops vigil serve at start when the CA file cannot be read, naming the key", async () => {
    const dir = await tempDir("vigil-proxy-ca-");
    const config = await writeConfig(
      dir,
      [
        "audit:",
        "  sources:",
        "    - type: kafka_proxy",
        "      name: kafka-tls",
        "      listen: :0",
        `      bootstrap_servers: [${kafka.saslSsl}]`,
        "      upstream_tls:",
        "        ca_file: missing-ca.pem",
      ].join("\n"),
    );
    const serve = spawnVigil([
      "serve",
      "--config",
      config,
      "--data-dir",
      join(dir, "data"),
      "--listen",
      "127.0.0.1:0",
    ]);
    expect(await serve.exit()).toBe(2);
    expect(serve.stderr()).toContain(
      `source kafka-tls: upstream_tls.ca_file: cannot read ${join(dir, "missing-ca.pem")}: no such file`,
    );
  });
});

describe("kafka_proxy source in process, with a stand-in for the pipeline", () => {
  it("fails closed by default: while the queue is full clients' requests wait, then complete once", async () => {
    const sealed: NativeEvent[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const topic = `closed-${Date.now()}`;
    const direct = new Admin({ clientId: "direct", bootstrapBrokers: [kafka.plaintext], retries: 5 });
    await direct.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
    const source = new KafkaProxySource({
      config: resolveKafkaProxySource(
        {
          type: "kafka_proxy",
          name: "closed",
          listen: "127.0.0.1:0",
          bootstrap_servers: [kafka.plaintext],
          // One event per request: these tests count the queue's places.
          aggregate: { window_ms: 0 },
        },
        ".",
      ),
      ingest: async (events) => {
        await gate;
        sealed.push(...events);
        return { accepted: events.length, excluded: 0, dropped: 0, events: [] };
      },
      limits: DEFAULT_EVENT_LIMITS,
      log: () => {},
      // One place: the client's first event (ApiVersions) fills it, so its Produce finds the audit path full.
      queueMaxEvents: 1,
      backoff: { initialMs: 1, maxMs: 5 },
    });
    await source.start();
    const producer = new Producer({
      clientId: "closed-producer",
      bootstrapBrokers: [source.status().listen],
      serializers: stringSerializers,
      acks: ProduceAcks.ALL,
      retries: 1000,
      retryDelay: 20,
    });
    try {
      // (Not idempotent: a refused InitProducerId would hold it before its first Produce.)
      const sending = producer.send({ messages: [{ topic, value: "held" }] });
      const refusing = await waitUntil("a produce request refused", async () => {
        const s = source.status();
        return (s.failure?.refused.Produce ?? 0) > 0 ? s : undefined;
      });
      expect(refusing.failure).toMatchObject({ policy: "reject", auditPathFull: true });
      const offsets = () =>
        direct.listOffsets({
          topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp: -1n }] }],
        });
      // Nothing reached the broker while the audit path was full.
      expect((await offsets())[0]?.partitions[0]?.offset).toBe(0n);
      release();
      await sending;
      expect((await offsets())[0]?.partitions[0]?.offset).toBe(1n);
      await waitUntil("the queue drained", async () =>
        source.status().queueLength === 0 ? true : undefined,
      );
      const refusals = sealed.filter((e) => kafkaOf(e as unknown as Json).refused !== undefined);
      expect(refusals.length).toBeGreaterThan(0);
      expect(source.status().droppedEvents).toBe(0);
    } finally {
      release();
      await producer.close();
      await direct.close();
      await source.stop();
    }
  });

  it("fails open while the pipeline holds events, drains after, and seals an oversized group id cut", async () => {
    const logs: string[] = [];
    const sealed: NativeEvent[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let calls = 0;
    const source = new KafkaProxySource({
      config: resolveKafkaProxySource(
        {
          type: "kafka_proxy",
          name: "inproc",
          listen: "127.0.0.1:0",
          bootstrap_servers: [kafka.plaintext],
          // One event per request: these tests count the queue's places.
          aggregate: { window_ms: 0 },
        },
        ".",
      ),
      ingest: async (events) => {
        if (++calls === 1) {
          throw new VigilError("queue_full", "the journal is 9 events behind (limit 5); retry later", {
            retryable: true,
          });
        }
        if (calls === 2) {
          // failure_policy permit: the pipeline answers the events dropped.
          const outcomes = events.map((e) => ({ event_id: e.event_id, status: "dropped" as const }));
          return { accepted: 0, excluded: 0, dropped: events.length, events: outcomes };
        }
        await gate;
        sealed.push(...events);
        return { accepted: events.length, excluded: 0, dropped: 0, events: [] };
      },
      limits: DEFAULT_EVENT_LIMITS,
      log: (msg) => logs.push(msg),
      queueMaxEvents: 5,
      backoff: { initialMs: 1, maxMs: 5 },
      failurePolicy: "permit",
    });
    await source.start();
    const topic = `inproc-${Date.now()}`;
    try {
      const bootstrap = source.status().listen;
      // Fail open: every request is answered while the pipeline takes nothing.
      await withClients(bootstrap, async (admin, producer) => {
        await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
        for (let i = 0; i < 10; i++) await producer.send({ messages: [{ topic, value: `v${i}` }] });
      });
      // The pipeline refused twice, and holds the third call: the batch is still the source's.
      await waitUntil("the third ingest call", async () => (calls >= 3 ? true : undefined));
      const held = source.status();
      expect(held).toMatchObject({ state: "retrying", queueLength: 5, queueMaxEvents: 5 });
      expect(held.lastError).toContain("failure_policy permit");
      expect(held.droppedEvents).toBe(held.emittedEvents - 5);
      expect(held.droppedEvents).toBeGreaterThanOrEqual(5); // 10 produce requests alone overflow 5 places
      expect(logs.filter((m) => m.includes("the audit queue is full"))).toHaveLength(1);
      expect(logs.filter((m) => m.startsWith("cannot seal events, retrying"))).toHaveLength(2);

      release();
      const drained = await waitUntil("the queue drained", async () => {
        const s = source.status();
        return s.queueLength === 0 && s.state === "running" ? s : undefined;
      });
      expect(drained.sealedEvents).toBe(drained.emittedEvents - drained.droppedEvents);
      expect(sealed).toHaveLength(drained.sealedEvents);
      // The events the pipeline answered dropped were retried, each sealed once.
      expect(new Set(sealed.map((e) => e.event_id)).size).toBe(sealed.length);
      expect(logs).toContain("sealing events again");
      expect(sealed.every((e) => e.origin.source === "kafka-proxy" && e.origin.token === "inproc")).toBe(
        true,
      );

      // A group id longer than resource.id may hold (1,024 characters): the proxy cuts it there, so the event is
      // valid as it is (the source's reduced form is only a fallback) and the full ids stay under details.
      const group = "g".repeat(1500);
      await withClients(bootstrap, async (admin) => {
        await admin.deleteGroups({ groups: [group] }).catch(() => {});
      });
      const deleted = await waitUntil("the DeleteGroups event", async () =>
        sealed.find((e) => e.event_type === "kafka.deletegroups"),
      );
      expect(deleted.resource).toEqual({ type: "group", id: `${group.slice(0, 1023)}…` });
      expect(kafkaOf(deleted)).toMatchObject({ api: "DeleteGroups", groups: [group] });
      expect(source.status().reducedEvents).toBe(0);
    } finally {
      release(); // an assertion failing while the gate is closed would leave stop() waiting for the ingest
      await source.stop();
    }
    expect(source.status().state).toBe("stopped");
  });

  it("gives up the queued events at stop when the pipeline refuses them, instead of holding the shutdown", async () => {
    const logs: string[] = [];
    const source = new KafkaProxySource({
      config: resolveKafkaProxySource(
        {
          type: "kafka_proxy",
          name: "stuck",
          listen: "127.0.0.1:0",
          bootstrap_servers: [kafka.plaintext],
          // One event per request: these tests count the queue's places.
          aggregate: { window_ms: 0 },
        },
        ".",
      ),
      ingest: async () => {
        throw new Error("the journal failed: disk full");
      },
      limits: DEFAULT_EVENT_LIMITS,
      log: (msg) => logs.push(msg),
      backoff: { initialMs: 60_000, maxMs: 60_000 },
    });
    await source.start();
    try {
      await withClients(source.status().listen, async (admin) => {
        await admin.listTopics();
      });
      await waitUntil("a failed ingest", async () =>
        source.status().state === "retrying" ? true : undefined,
      );
    } finally {
      await source.stop();
    }
    const status = source.status();
    expect(status).toMatchObject({ state: "stopped", queueLength: 0, sealedEvents: 0 });
    expect(status.droppedEvents).toBe(status.emittedEvents);
    expect(logs).toContain(
      `stopping with ${status.emittedEvents} events not sealed (lost): the journal failed: disk full`,
    );
  });
});
