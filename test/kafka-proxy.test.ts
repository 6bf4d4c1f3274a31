/**
 * The Kafka audit proxy (issue 7) in front of a real Apache Kafka 4.4 broker, with a real client
 * (@platformatic/kafka) that only knows the proxy's bootstrap address: topics are created, records produced and
 * consumed with a consumer group through it, broker addresses come back rewritten to the proxy's own ports, and
 * every exchange is audited with its API, topics, groups and record counts. Over the broker's SASL_SSL listener
 * (the proxy speaks TLS to the broker), SCRAM logins are audited as auth.login / auth.failed with the user as the
 * principal of every later request, and the password never appears in an event. Clients negotiating old and new
 * ApiVersions get ranges the proxy decodes; malformed frames close that connection and nothing else; a broker
 * restarted mid-stream is followed.
 */

import { connect, type Socket } from "node:net";
import {
  Admin,
  Consumer,
  MessagesStreamModes,
  ProduceAcks,
  Producer,
  stringDeserializers,
  stringSerializers,
} from "@platformatic/kafka";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APIS, decodeResponse, encodeRequest } from "../src/sources/kafka-proxy/protocol/index.ts";
import { type HostPort, KafkaProxy } from "../src/sources/kafka-proxy/proxy.ts";
import { type KafkaBroker, startKafka } from "./support/kafka.ts";

type Json = Record<string, unknown>;

let kafka: KafkaBroker;

beforeAll(async () => {
  kafka = await startKafka({ sasl: true });
}, 90_000);

afterAll(async () => {
  await kafka?.close();
});

const hostPort = (text: string): HostPort => {
  const i = text.lastIndexOf(":");
  return { host: text.slice(0, i), port: Number(text.slice(i + 1)) };
};

async function proxyTo(upstream: string, tls?: { ca: string }) {
  const events: Json[] = [];
  const logs: string[] = [];
  const proxy = new KafkaProxy({
    listen: { host: "127.0.0.1", port: 0 },
    bootstrap: [hostPort(upstream)],
    brokerPorts: { first: 0, count: 0 },
    ...(tls ? { upstreamTls: tls } : {}),
    emit: (e) => events.push(e),
    log: (m) => logs.push(m),
  });
  await proxy.start();
  return { proxy, events, logs, bootstrap: `${proxy.address.host}:${proxy.address.port}` };
}

const kafkaOf = (e: Json) => (e.details as { kafka: Json }).kafka;
const ofType = (events: Json[], type: string) => events.filter((e) => e.event_type === type);

async function until<T>(what: string, probe: () => T | undefined, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("the Kafka proxy in front of a real broker", () => {
  it("creates, produces and consumes through the proxy, auditing every exchange", async () => {
    const { proxy, events, bootstrap } = await proxyTo(kafka.plaintext);
    const topic = `proxied-${Date.now()}`;
    const admin = new Admin({ clientId: "vigil-test-admin", bootstrapBrokers: [bootstrap], retries: 5 });
    const producer = new Producer({
      clientId: "vigil-test-producer",
      bootstrapBrokers: [bootstrap],
      serializers: stringSerializers,
      acks: ProduceAcks.ALL,
      retries: 5,
      retryDelay: 100,
    });
    const consumer = new Consumer({
      clientId: "vigil-test-consumer",
      groupId: `group-${topic}`,
      bootstrapBrokers: [bootstrap],
      deserializers: stringDeserializers,
      maxWaitTime: 200,
      retries: 20,
      retryDelay: 100,
    });
    try {
      await admin.createTopics({ topics: [topic], partitions: 2, replicas: 1 });
      await producer.send({
        messages: ["a", "b", "c"].map((value, i) => ({ topic, key: `k${i}`, value, partition: i % 2 })),
      });
      const stream = await consumer.consume({
        topics: [topic],
        mode: MessagesStreamModes.EARLIEST,
        autocommit: false,
      });
      const seen: string[] = [];
      for await (const m of stream) {
        seen.push(m.value as string);
        if (seen.length === 3) break;
      }
      await stream.close();
      expect(seen.sort()).toEqual(["a", "b", "c"]);

      // Metadata came back rewritten: the brokers the client was told about are the proxy's own listeners.
      const metadata = ofType(events, "kafka.metadata");
      expect(metadata.length).toBeGreaterThan(0);
      const brokerListeners = new Set(events.map((e) => kafkaOf(e).listener));
      expect(brokerListeners).toContain("broker 1");

      const created = ofType(events, "kafka.createtopics");
      expect(created).toHaveLength(1);
      expect(created[0]).toMatchObject({
        actor: { type: "anonymous", id: "ANONYMOUS", ip_address: "127.0.0.1" },
        resource: { type: "topic", id: topic },
        action: { operation: "CreateTopics", result: "success" },
        details: { kafka: { api_key: 19, category: "management", client_id: "vigil-test-admin" } },
      });

      const produced = ofType(events, "kafka.produce").filter(
        (e) => e.resource && (e.resource as Json).id === topic,
      );
      // A first attempt on a topic just created may be refused (no leader yet) and retried: both are audited,
      // the records stored are those of the successful ones.
      const records = produced
        .filter((e) => (e.action as Json).result === "success")
        .flatMap((e) => kafkaOf(e).topics as Json[])
        .reduce((n, t) => n + Number(t.records ?? 0), 0);
      expect(records).toBe(3);
      for (const e of produced) expect(kafkaOf(e).category).toBe("produce");

      const fetched = await until("fetches that returned the records", () => {
        const n = ofType(events, "kafka.fetch")
          .flatMap((e) => (kafkaOf(e).topics as Json[] | undefined) ?? [])
          .filter((t) => t.name === topic)
          .reduce((sum, t) => sum + Number(t.records ?? 0), 0);
        return n >= 3 ? n : undefined;
      });
      expect(fetched).toBe(3);
      const joins = ofType(events, "kafka.joingroup");
      expect(joins.some((e) => (kafkaOf(e).groups as string[]).includes(`group-${topic}`))).toBe(true);
      // Every event says how long the broker took, except none here is acks=0.
      for (const e of events) {
        if (e.event_type !== "kafka.unknown") expect((e.action as Json).duration_ms).toBeTypeOf("number");
      }
    } finally {
      await consumer.close(true);
      await producer.close();
      await admin.close();
      await proxy.stop();
    }
  });

  it("audits SCRAM logins, failed ones too, and names the user on every request (TLS to the broker)", async () => {
    const { proxy, events } = await proxyTo(kafka.saslSsl, { ca: kafka.caPem });
    const bootstrap = `${proxy.address.host}:${proxy.address.port}`;
    const topic = `scram-${Date.now()}`;
    const sasl = { mechanism: "SCRAM-SHA-256" as const, username: kafka.username, password: kafka.password };
    const admin = new Admin({ clientId: "scram-admin", bootstrapBrokers: [bootstrap], sasl, retries: 5 });
    const producer = new Producer({
      clientId: "scram-producer",
      bootstrapBrokers: [bootstrap],
      sasl,
      serializers: stringSerializers,
      retries: 5,
      retryDelay: 100,
    });
    const intruder = new Admin({
      clientId: "intruder",
      bootstrapBrokers: [bootstrap],
      sasl: { ...sasl, password: "not-the-password" },
      retries: 2,
      retryDelay: 50,
    });
    try {
      await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
      await producer.send({ messages: [{ topic, value: "x" }] });
      await expect(intruder.listTopics()).rejects.toThrow();

      const logins = ofType(events, "auth.login");
      expect(logins.length).toBeGreaterThan(0);
      expect(logins[0]).toMatchObject({
        actor: { type: "user", id: `User:${kafka.username}`, ip_address: "127.0.0.1" },
        action: { operation: "authenticate", result: "success" },
        details: { kafka: { mechanism: "SCRAM-SHA-256" } },
      });
      const failures = await until("the failed login", () => {
        const f = ofType(events, "auth.failed");
        return f.length > 0 ? f : undefined;
      });
      expect(failures[0]).toMatchObject({
        actor: { id: `User:${kafka.username}` },
        action: { result: "failure" },
        details: { kafka: { error_code: 58 } },
      });
      const created = ofType(events, "kafka.createtopics");
      expect(created[0]?.actor).toMatchObject({ type: "user", id: `User:${kafka.username}` });
      const produced = ofType(events, "kafka.produce");
      expect(produced.every((e) => (e.actor as Json).id === `User:${kafka.username}`)).toBe(true);
      const text = JSON.stringify(events);
      expect(text).not.toContain(kafka.password);
      expect(text).not.toContain("not-the-password");
    } finally {
      await intruder.close().catch(() => {});
      await producer.close();
      await admin.close();
      await proxy.stop();
    }
  });

  it("refuses producing to, deleting and altering Vigil's audit topic, and audits the attempt", async () => {
    const auditTopic = `vigil-audit-${Date.now()}`;
    const otherTopic = `other-${Date.now()}`;
    const direct = new Admin({ clientId: "direct-admin", bootstrapBrokers: [kafka.plaintext], retries: 5 });
    await direct.createTopics({ topics: [auditTopic, otherTopic], partitions: 1, replicas: 1 });
    const events: Json[] = [];
    const proxy = new KafkaProxy({
      listen: { host: "127.0.0.1", port: 0 },
      bootstrap: [hostPort(kafka.plaintext)],
      brokerPorts: { first: 0, count: 0 },
      protectedTopics: [auditTopic],
      emit: (e) => events.push(e),
      log: () => {},
    });
    await proxy.start();
    const bootstrap = `${proxy.address.host}:${proxy.address.port}`;
    const producer = new Producer({
      clientId: "sneaky",
      bootstrapBrokers: [bootstrap],
      serializers: stringSerializers,
      retries: 2,
      retryDelay: 50,
    });
    const admin = new Admin({
      clientId: "sneaky-admin",
      bootstrapBrokers: [bootstrap],
      retries: 2,
      retryDelay: 50,
    });
    try {
      const error = await producer
        .send({
          messages: [
            { topic: auditTopic, value: "forged" },
            { topic: otherTopic, value: "fine" },
          ],
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      // The client's own text for error 29, as when an ACL denies it.
      expect(JSON.stringify(errorTree(error))).toContain("Topic authorization failed.");
      await expect(admin.deleteTopics({ topics: [auditTopic] })).rejects.toThrow();
      // Shortening its retention would delete audit records: refused too (TOPIC resource type 2, SET 0).
      await expect(
        admin.incrementalAlterConfigs({
          resources: [
            {
              resourceType: 2,
              resourceName: auditTopic,
              configs: [{ name: "retention.ms", configOperation: 0, value: "1000" }],
            },
          ],
        }),
      ).rejects.toThrow();
      // Nothing reached the audit topic; the other topic got its record; the audit topic still exists.
      const offsets = await direct.listOffsets({
        topics: [
          { name: auditTopic, partitions: [{ partitionIndex: 0, timestamp: -1n }] },
          { name: otherTopic, partitions: [{ partitionIndex: 0, timestamp: -1n }] },
        ],
      });
      const end = (name: string) => offsets.find((t) => t.name === name)?.partitions[0]?.offset;
      expect(end(auditTopic)).toBe(0n);
      expect(end(otherTopic)).toBe(1n);
      expect(await direct.listTopics()).toContain(auditTopic);

      const refused = events.filter((e) => kafkaOf(e).refused_audit_topics !== undefined);
      expect(refused.map((e) => e.event_type)).toEqual(
        expect.arrayContaining(["kafka.produce", "kafka.deletetopics", "kafka.incrementalalterconfigs"]),
      );
      const configs = await direct.describeConfigs({
        resources: [{ resourceType: 2, resourceName: auditTopic, configurationKeys: ["retention.ms"] }],
      });
      expect(JSON.stringify(configs, (_k, v) => (typeof v === "bigint" ? String(v) : v))).not.toContain(
        '"1000"',
      );
      for (const e of refused) {
        expect(kafkaOf(e).refused_audit_topics).toEqual([auditTopic]);
        expect(kafkaOf(e).error_codes).toMatchObject({ "29": expect.any(Number) });
        expect((e.action as Json).result).toBe("failure");
      }
    } finally {
      await producer.close();
      await admin.close();
      await direct.close();
      await proxy.stop();
    }
  });

  it("narrows ApiVersions to what it decodes, for old and new clients alike", async () => {
    const { proxy } = await proxyTo(kafka.plaintext);
    const socket = await open(proxy.address);
    try {
      for (const version of [0, 3]) {
        const body = version >= 3 ? { clientSoftwareName: "vigil-test", clientSoftwareVersion: "1.0" } : {};
        const frame = await roundTrip(
          socket,
          encodeRequest(
            { apiKey: 18, apiVersion: version, correlationId: 7 + version, clientId: "raw" },
            body,
          ),
        );
        const { correlationId, body: answer } = decodeResponse(18, version, frame);
        expect(correlationId).toBe(7 + version);
        expect(answer.errorCode).toBe(0);
        const ranges = answer.apiKeys as { apiKey: number; minVersion: number; maxVersion: number }[];
        for (const r of ranges) {
          const spec = APIS.get(r.apiKey);
          if (!spec) continue;
          expect(r.maxVersion).toBeLessThanOrEqual(spec.maxVersion);
        }
        // Minimums stay the broker's (librdkafka reads SaslHandshake v0 as "SASL handshake supported").
        expect(ranges.find((r) => r.apiKey === 17)?.minVersion).toBe(0);
        expect(ranges.find((r) => r.apiKey === 0)).toBeDefined();
      }
    } finally {
      socket.destroy();
      await proxy.stop();
    }
  });

  it("closes a connection that sends malformed frames, logs why, and serves the next client", async () => {
    const { proxy, logs, bootstrap } = await proxyTo(kafka.plaintext);
    try {
      const frames = [
        Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]), // negative size
        Buffer.from([0x7f, 0xff, 0xff, 0xff]), // 2 GiB announced
        Buffer.from([0, 0, 0, 3, 0, 18, 0]), // too small for a header
        Buffer.from([0, 0, 0, 10, 0, 3, 0, 12, 0, 0, 0, 1, 0, 9]), // client id longer than the frame
      ];
      for (const frame of frames) {
        const socket = await open(proxy.address);
        socket.write(frame);
        await new Promise<void>((resolve) => socket.once("close", () => resolve()));
      }
      expect(logs.filter((l) => l.includes("closing a connection"))).toHaveLength(frames.length);
      const admin = new Admin({ clientId: "after-garbage", bootstrapBrokers: [bootstrap], retries: 5 });
      try {
        expect(Array.isArray(await admin.listTopics())).toBe(true);
      } finally {
        await admin.close();
      }
    } finally {
      await proxy.stop();
    }
  });

  it("follows the broker through a restart mid-stream", async () => {
    const { proxy, events, bootstrap } = await proxyTo(kafka.plaintext);
    const topic = `restart-${Date.now()}`;
    const admin = new Admin({ clientId: "restart-admin", bootstrapBrokers: [bootstrap], retries: 5 });
    const producer = new Producer({
      clientId: "restart-producer",
      bootstrapBrokers: [bootstrap],
      serializers: stringSerializers,
      retries: 50,
      retryDelay: 200,
    });
    try {
      await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
      await producer.send({ messages: [{ topic, value: "before" }] });
      await kafka.stop();
      await kafka.restart();
      await producer.send({ messages: [{ topic, value: "after" }] });
      const records = ofType(events, "kafka.produce")
        .filter((e) => kafkaOf(e).error_codes === undefined)
        .flatMap((e) => (kafkaOf(e).topics as Json[] | undefined) ?? [])
        .filter((t) => t.name === topic)
        .reduce((n, t) => n + Number(t.records ?? 0), 0);
      expect(records).toBe(2);
    } finally {
      await producer.close();
      await admin.close();
      await proxy.stop();
    }
  });
});

function open(at: HostPort): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(at.port, at.host, () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Sends one request frame and reads one response frame (without its size prefix). */
function roundTrip(socket: Socket, request: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= 4 && got.length >= 4 + got.readInt32BE(0)) {
        socket.off("data", onData);
        resolve(got.subarray(4, 4 + got.readInt32BE(0)));
      }
    };
    socket.on("data", onData);
    socket.once("error", reject);
    socket.write(request);
  });
}

/** An error and everything it wraps, as plain data (the client nests the broker's errors). */
function errorTree(e: unknown): unknown {
  if (!(e instanceof Error)) return e;
  const x = e as Error & { errors?: unknown[]; cause?: unknown; code?: string };
  return { message: x.message, code: x.code, errors: x.errors?.map(errorTree), cause: errorTree(x.cause) };
}
