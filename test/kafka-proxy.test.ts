/**
 * The Kafka audit proxy (issue 7) in front of a real Apache Kafka 4.4 broker, with a real client
 * (@platformatic/kafka) that only knows the proxy's bootstrap address: topics are created, records produced and
 * consumed with a consumer group through it, broker addresses come back rewritten to the proxy's own ports, and
 * every exchange is audited with its API, topics, groups and record counts. Over the broker's SASL_SSL listener
 * (the proxy speaks TLS to the broker), SCRAM logins are audited as auth.login / auth.failed with the user as the
 * principal of every later request, and the password never appears in an event. Clients negotiating old and new
 * ApiVersions get ranges the proxy decodes; malformed frames close that connection and nothing else; a broker
 * restarted mid-stream is followed. While the audit path is full (admit() toggled by the test), failure_policy
 * reject refuses with retriable errors (a producer's send and a consumer wait, nothing reaches the broker, then
 * both complete by themselves, once) and permit forwards everything and counts it.
 */

import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
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
import type { FailurePolicy } from "../src/config/types.ts";
import { defaults, elementOf } from "../src/sources/kafka-proxy/protect.ts";
import {
  APIS,
  decodeResponse,
  encodeRequest,
  encodeResponse,
} from "../src/sources/kafka-proxy/protocol/index.ts";
import type { HostPort } from "../src/sources/kafka-proxy/proxy.ts";
import { exempt, REFUSAL_BACKOFF_MS, REFUSED, refusal } from "../src/sources/kafka-proxy/refuse.ts";
import { makeCertificates, makeClientCertificate } from "./support/certs.ts";
import { type KafkaBroker, startKafka } from "./support/kafka.ts";
import { generateBody, loadMessage, Rng, recordBatch } from "./support/kafka-codec.ts";
import { type Json, kafkaOf, ofType, proxyTo, until } from "./support/kafka-proxy.ts";
import { tempDir } from "./support/vigil-process.ts";

let kafka: KafkaBroker;

beforeAll(async () => {
  kafka = await startKafka({ sasl: true });
}, 90_000);

afterAll(async () => {
  await kafka?.close();
});

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
      // Delivery is at least once: a rebalance while the group forms can hand a record over twice.
      const seen = new Set<string>();
      for await (const m of stream) {
        seen.add(m.value as string);
        if (seen.size === 3) break;
      }
      await stream.close();
      expect([...seen].sort()).toEqual(["a", "b", "c"]);

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
      // A consumer may fetch a record again (a rebalance, a retried fetch): at least the three produced.
      expect(fetched).toBeGreaterThanOrEqual(3);
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
    const { proxy, events } = await proxyTo(kafka.saslSsl, { upstreamTls: { ca: kafka.caPem } });
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
    // One record straight to the broker first: the new topic has its leader before the test's mixed request.
    const warm = new Producer({
      clientId: "warm-up",
      bootstrapBrokers: [kafka.plaintext],
      serializers: stringSerializers,
      retries: 20,
      retryDelay: 50,
    });
    await warm.send({ messages: [{ topic: otherTopic, value: "warm-up" }] });
    await warm.close();
    const { proxy, events, bootstrap } = await proxyTo(kafka.plaintext, { protectedTopics: [auditTopic] });
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
      expect(end(otherTopic)).toBe(2n);
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

  it("speaks TLS to clients and takes a client certificate's subject as the principal (mutual TLS)", async () => {
    const dir = await tempDir("vigil-proxy-tls-");
    const certs = await makeCertificates(dir);
    const client = await makeClientCertificate(dir, "billing-service");
    const { proxy, events, bootstrap } = await proxyTo(kafka.plaintext, {
      clientTls: { cert: certs.cert, key: certs.key, clientCa: certs.ca },
    });
    const admin = new Admin({
      clientId: "mtls-admin",
      bootstrapBrokers: [bootstrap],
      tls: { ca: certs.ca, cert: client.cert, key: client.key },
      retries: 5,
    });
    const stranger = new Admin({
      clientId: "no-certificate",
      bootstrapBrokers: [bootstrap],
      tls: { ca: certs.ca },
      retries: 1,
      retryDelay: 50,
    });
    try {
      expect(Array.isArray(await admin.listTopics())).toBe(true);
      const principal = "User:CN=billing-service,O=Vigil tests";
      expect(ofType(events, "auth.login")[0]).toMatchObject({
        actor: { type: "user", id: principal, ip_address: "127.0.0.1" },
        details: { kafka: { mechanism: "SSL" } },
      });
      const metadata = ofType(events, "kafka.metadata");
      expect(metadata.length).toBeGreaterThan(0);
      for (const e of metadata) expect((e.actor as Json).id).toBe(principal);
      // Through the broker's listener too (the rewritten address is the proxy's TLS listener): a producer.
      const topic = `mtls-${Date.now()}`;
      await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
      const producer = new Producer({
        clientId: "mtls-producer",
        bootstrapBrokers: [bootstrap],
        tls: { ca: certs.ca, cert: client.cert, key: client.key },
        serializers: stringSerializers,
        retries: 20,
        retryDelay: 50,
      });
      try {
        await producer.send({ messages: [{ topic, value: "over TLS" }] });
      } finally {
        await producer.close();
      }
      const produced = ofType(events, "kafka.produce").filter((e) => (e.action as Json).result === "success");
      expect(produced.map((e) => [kafkaOf(e).listener, (e.actor as Json).id])).toContainEqual([
        "broker 1",
        principal,
      ]);

      await expect(stranger.listTopics()).rejects.toThrow();
      const failed = await until("the refused handshake", () => {
        const f = ofType(events, "auth.failed");
        return f.length > 0 ? f : undefined;
      });
      expect(failed[0]).toMatchObject({
        actor: { type: "anonymous" },
        action: { result: "failure" },
        details: { kafka: { mechanism: "SSL" } },
      });
    } finally {
      await stranger.close().catch(() => {});
      await admin.close();
      await proxy.stop();
    }
  });

  it("follows a pre-1.0 client's SaslHandshake v0 and raw SCRAM tokens: login, failure, then requests", async () => {
    const { proxy, events } = await proxyTo(kafka.saslSsl, { upstreamTls: { ca: kafka.caPem } });
    /** SaslHandshake v0, then the SCRAM-SHA-256 exchange as raw size-prefixed tokens (no Kafka header). */
    const login = async (socket: Socket, password: string): Promise<Buffer | undefined> => {
      const handshake = await roundTrip(
        socket,
        encodeRequest(
          { apiKey: 17, apiVersion: 0, correlationId: 1, clientId: "kafka-0.10" },
          { mechanism: "SCRAM-SHA-256" },
        ),
      );
      expect(decodeResponse(17, 0, handshake).body.errorCode).toBe(0);
      const scram = scramSha256(kafka.username, password);
      const serverFirst = await roundTrip(socket, rawToken(scram.first));
      // A refused proof: the broker closes the connection instead of answering (and the proxy follows).
      const closed = new Promise<undefined>((resolve) => socket.once("close", () => resolve(undefined)));
      return Promise.race([roundTrip(socket, rawToken(scram.final(serverFirst.toString()))), closed]);
    };
    try {
      const good = await open(proxy.address);
      const serverFinal = await login(good, kafka.password);
      expect(serverFinal?.toString().startsWith("v=")).toBe(true);
      // Back to Kafka frames: a request with a header, answered.
      const metadata = await roundTrip(
        good,
        encodeRequest(
          { apiKey: 3, apiVersion: 12, correlationId: 2, clientId: "kafka-0.10" },
          { topics: [], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false },
        ),
      );
      expect(decodeResponse(3, 12, metadata).correlationId).toBe(2);
      good.destroy();

      const bad = await open(proxy.address);
      bad.on("error", () => {});
      expect(await login(bad, "not-the-password")).toBeUndefined();

      const login0 = await until("the v0 login", () => ofType(events, "auth.login")[0]);
      expect(login0).toMatchObject({
        actor: { type: "user", id: `User:${kafka.username}` },
        details: { kafka: { mechanism: "SCRAM-SHA-256" } },
      });
      const failed = await until("the failed v0 login", () => ofType(events, "auth.failed")[0]);
      expect(failed).toMatchObject({
        actor: { id: `User:${kafka.username}` },
        action: { result: "failure" },
      });
      const meta = await until("the metadata event", () => ofType(events, "kafka.metadata")[0]);
      expect(meta.actor).toMatchObject({ type: "user", id: `User:${kafka.username}` });
      expect(ofType(events, "auth.login")).toHaveLength(1);
      expect(JSON.stringify(events)).not.toContain(kafka.password);
    } finally {
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

/** A raw SASL token as a pre-1.0 client sends it after SaslHandshake v0: its size, then its bytes. */
function rawToken(text: string): Buffer {
  const token = Buffer.from(text);
  const frame = Buffer.alloc(4 + token.length);
  frame.writeInt32BE(token.length, 0);
  token.copy(frame, 4);
  return frame;
}

/** The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677), as a Kafka client speaks it. */
function scramSha256(
  user: string,
  password: string,
): { first: string; final: (serverFirst: string) => string } {
  const bare = `n=${user},r=${randomBytes(18).toString("base64")}`;
  const hmac = (key: Buffer, text: string) => createHmac("sha256", key).update(text).digest();
  return {
    first: `n,,${bare}`,
    final: (serverFirst) => {
      const attrs = new Map(serverFirst.split(",").map((a) => [a.slice(0, 1), a.slice(2)]));
      const salted = pbkdf2Sync(
        password,
        Buffer.from(attrs.get("s") ?? "", "base64"),
        Number(attrs.get("i")),
        32,
        "sha256",
      );
      const clientKey = hmac(salted, "Client Key");
      const storedKey = createHash("sha256").update(clientKey).digest();
      const withoutProof = `c=biws,r=${attrs.get("r")}`;
      const signature = hmac(storedKey, `${bare},${serverFirst},${withoutProof}`);
      const proof = Buffer.from(clientKey.map((b, i) => b ^ (signature[i] as number)));
      return `${withoutProof},p=${proof.toString("base64")}`;
    },
  };
}

/** An error and everything it wraps, as plain data (the client nests the broker's errors). */
function errorTree(e: unknown): unknown {
  if (!(e instanceof Error)) return e;
  const x = e as Error & { errors?: unknown[]; cause?: unknown; code?: string };
  return { message: x.message, code: x.code, errors: x.errors?.map(errorTree), cause: errorTree(x.cause) };
}

describe("the failure policy when the audit path is full (refuse.ts)", () => {
  it("has a retriable answer for every version of every API it refuses, mirroring the request", () => {
    const codes = new Set([0, 7, 14, 15, 19, 89]);
    for (const api of APIS.values()) {
      if (exempt(api.key)) continue;
      const msg = loadMessage(`${api.name}Request`);
      for (let v = api.minVersion; v <= api.maxVersion; v++) {
        for (let i = 0; i < 10; i++) {
          const seed = api.key * 100_000 + v * 100 + i;
          const request = generateBody(msg, v, new Rng(seed));
          const answer = refusal(api, v, request);
          if (!answer) {
            // Only these have no answer: no response is expected, or nothing to put the error on.
            expect(
              (api.key === 0 && request.acks === 0) ||
                (api.key === 43 && v === 0 && request.topicPartitions === null),
              `${api.name} v${v} seed ${seed}`,
            ).toBe(true);
            continue;
          }
          const frame = encodeResponse(api.key, v, seed, answer.body).subarray(4);
          expect(decodeResponse(api.key, v, frame).body, `${api.name} v${v} seed ${seed}`).toStrictEqual(
            answer.body,
          );
          const errors = errorCodesIn(answer.body);
          for (const c of errors) expect(codes, `${api.name} v${v}`).toContain(c);
          if (api.key === 1) expect(errors.every((c) => c === 0)).toBe(true);
          // A throttle time only with THROTTLING_QUOTA_EXCEEDED (a Java client mutes the connection for it).
          if ("throttleTimeMs" in answer.body) {
            expect(answer.body.throttleTimeMs).toBe(errors.includes(89) ? REFUSAL_BACKOFF_MS : 0);
          }
        }
      }
    }
    // The codes that matter most, where the request names something to answer for.
    const answerTo = (key: number, v: number, fields: Json) => {
      const api = APIS.get(key);
      if (!api) throw new Error(`no API ${key}`);
      return refusal(api, v, { ...defaults(api.request.fields, v), ...fields })?.body;
    };
    const produce = answerTo(0, 9, {
      acks: -1,
      topicData: [{ name: "t", partitionData: [{ index: 3, records: null }] }],
    });
    expect(produce?.responses).toMatchObject([
      { name: "t", partitionResponses: [{ index: 3, errorCode: 19, baseOffset: -1n }] },
    ]);
    expect(answerTo(12, 4, { groupId: "g" })).toMatchObject({ errorCode: 15, throttleTimeMs: 0 });
    expect(answerTo(22, 5, {})).toMatchObject({ errorCode: 14, producerId: -1n, producerEpoch: -1 });
    expect(answerTo(19, 7, { topics: [{ name: "new" }] })).toMatchObject({
      throttleTimeMs: 1000,
      topics: [{ name: "new", errorCode: 89 }],
    });
    expect(answerTo(19, 5, { topics: [{ name: "new" }] })?.topics).toMatchObject([
      { name: "new", errorCode: 7 },
    ]);
  });

  it("answers refused requests itself, in their turn among forwarded ones; closes on acks=0", async () => {
    let admit = true;
    const { proxy, events, logs } = await policyProxy("reject", () => admit);
    const socket = await open(proxy.address);
    const request = (apiKey: number, apiVersion: number, correlationId: number, fields: Json) => {
      const api = APIS.get(apiKey);
      if (!api) throw new Error(`no API ${apiKey}`);
      return encodeRequest(
        { apiKey, apiVersion, correlationId, clientId: "raw-refused" },
        { ...defaults(api.request.fields, apiVersion), ...fields },
      );
    };
    const fetchFields = (version: number) => ({
      maxWaitMs: 300,
      maxBytes: 1 << 20,
      topics: [
        {
          ...defaults(elementOf(APIS.get(1)?.request.fields ?? [], ["topics"]), version),
          topic: "anything",
          partitions: [
            {
              ...defaults(elementOf(APIS.get(1)?.request.fields ?? [], ["topics", "partitions"]), version),
              partition: 0,
              partitionMaxBytes: 1 << 20,
            },
          ],
        },
      ],
    });
    try {
      admit = false;
      const sent = performance.now();
      // Metadata is forwarded, JoinGroup and Fetch are refused: the answers come back in request order.
      const answers = readFrames(socket, 4);
      socket.write(
        Buffer.concat([
          request(3, 12, 1, { topics: [] }),
          request(11, 9, 2, { groupId: "g", sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000 }),
          request(3, 12, 3, { topics: [] }),
          request(1, 12, 4, fetchFields(12)),
        ]),
      );
      const frames = await answers;
      const elapsed = performance.now() - sent;
      expect(frames.map((f) => f.readInt32BE(0))).toEqual([1, 2, 3, 4]);
      expect((decodeResponse(3, 12, frames[0] as Buffer).body.brokers as Json[]).length).toBeGreaterThan(0);
      expect(decodeResponse(11, 9, frames[1] as Buffer).body).toMatchObject({ errorCode: 15, memberId: "" });
      const fetched = decodeResponse(1, 12, frames[3] as Buffer).body;
      expect(fetched).toMatchObject({
        errorCode: 0,
        throttleTimeMs: 0,
        sessionId: 0,
        responses: [
          {
            topic: "anything",
            partitions: [{ partitionIndex: 0, errorCode: 0, highWatermark: -1n, preferredReadReplica: -1 }],
          },
        ],
      });
      // Held for the request's maxWaitMs, as the broker holds a fetch with nothing to read.
      expect(elapsed).toBeGreaterThanOrEqual(290);
      expect(proxy.failure).toMatchObject({
        policy: "reject",
        auditPathFull: true,
        refused: { JoinGroup: 1, Fetch: 1 },
        forwardedUnaudited: { Metadata: 2 },
      });
      expect(proxy.failure.lastRefusalAt).toBeTypeOf("number");
      const refused = await until("the refused requests' events", () => {
        const r = events.filter((e) => kafkaOf(e).refused !== undefined);
        return r.length === 2 ? r : undefined;
      });
      for (const e of refused) {
        expect(e).toMatchObject({
          action: { result: "failure" },
          details: { kafka: { refused: REFUSED, client_id: "raw-refused" } },
        });
      }
      expect(refused.map((e) => e.event_type).sort()).toEqual(["kafka.fetch", "kafka.joingroup"]);

      // A Produce with acks=0 expects no answer: the connection is closed, as the broker closes it on an error.
      const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
      socket.write(
        request(0, 9, 5, {
          acks: 0,
          timeoutMs: 1000,
          topicData: [
            { name: "anything", partitionData: [{ index: 0, records: recordBatch([Buffer.from("x")], 0n) }] },
          ],
        }),
      );
      await closed;
      expect(logs.some((l) => l.includes("Produce v9") && l.includes(REFUSED))).toBe(true);
      expect(ofType(events, "kafka.produce")).toMatchObject([
        { action: { result: "failure" }, details: { kafka: { refused: REFUSED } } },
      ]);
      // Logged once when the audit path filled, once when it had room again: not per request.
      expect(logs.filter((l) => l.includes("the audit path is full"))).toHaveLength(1);
      admit = true;
      const again = await open(proxy.address);
      try {
        await roundTrip(again, request(3, 12, 6, { topics: [] }));
      } finally {
        again.destroy();
      }
      expect(logs.filter((l) => l.includes("has room again"))).toEqual([
        expect.stringContaining("3 requests refused, 2 forwarded while it was full"),
      ]);
      expect(proxy.failure).toMatchObject({ auditPathFull: false, fullSince: undefined });
    } finally {
      socket.destroy();
      await proxy.stop();
    }
  });

  it("fails closed: a producer's send waits, nothing reaches the broker, then it completes once", async () => {
    let admit = true;
    const { proxy, events, bootstrap } = await policyProxy("reject", () => admit);
    const topic = `reject-produce-${Date.now()}`;
    const direct = new Admin({ clientId: "direct-admin", bootstrapBrokers: [kafka.plaintext], retries: 5 });
    const producer = new Producer({
      clientId: "refused-producer",
      bootstrapBrokers: [bootstrap],
      serializers: stringSerializers,
      idempotent: true,
      retries: 10_000,
      retryDelay: 50,
    });
    try {
      await direct.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
      await producer.send({ messages: [{ topic, value: "before" }] });
      expect(await endOffset(direct, topic)).toBe(1n);

      admit = false;
      let completed = false;
      const sending = producer.send({ messages: [{ topic, value: "while full" }] }).then(() => {
        completed = true;
      });
      // The client retries on its own: several refusals in a row, and the record never reaches the broker.
      await until("three refused produce requests", () =>
        (proxy.failure.refused.Produce ?? 0) >= 3 ? true : undefined,
      );
      expect(completed).toBe(false);
      expect(await endOffset(direct, topic)).toBe(1n);

      admit = true;
      await sending;
      expect(await endOffset(direct, topic)).toBe(2n);
      const refused = ofType(events, "kafka.produce").filter((e) => kafkaOf(e).refused !== undefined);
      expect(refused.length).toBe(proxy.failure.refused.Produce);
      for (const e of refused) {
        expect(e).toMatchObject({
          resource: { type: "topic", id: topic },
          action: { result: "failure" },
          details: { kafka: { refused: REFUSED, error_codes: { "19": 1 } } },
        });
      }
    } finally {
      admit = true;
      await producer.close();
      await direct.close();
      await proxy.stop();
    }
  });

  it("fails closed for consumers: nothing is fetched while the audit path is full, then they catch up", async () => {
    let admit = true;
    const { proxy, bootstrap } = await policyProxy("reject", () => admit);
    const topic = `reject-consume-${Date.now()}`;
    const direct = new Admin({ clientId: "direct-admin", bootstrapBrokers: [kafka.plaintext], retries: 5 });
    const writer = new Producer({
      clientId: "direct-producer",
      bootstrapBrokers: [kafka.plaintext],
      serializers: stringSerializers,
      retries: 5,
    });
    const consumer = new Consumer({
      clientId: "refused-consumer",
      groupId: `group-${topic}`,
      bootstrapBrokers: [bootstrap],
      deserializers: stringDeserializers,
      maxWaitTime: 200,
      retries: 10_000,
      retryDelay: 50,
    });
    try {
      await direct.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
      await writer.send({ messages: [{ topic, value: "first" }] });
      const stream = await consumer.consume({
        topics: [topic],
        mode: MessagesStreamModes.EARLIEST,
        autocommit: false,
      });
      const seen: string[] = [];
      stream.on("data", (m) => seen.push(m.value as string));
      await until("the first record", () => (seen.length === 1 ? true : undefined));

      admit = false;
      // A fetch forwarded before may still be waiting at the broker: records are written once one was refused.
      await until("a refused fetch", () => ((proxy.failure.refused.Fetch ?? 0) >= 1 ? true : undefined));
      await writer.send({ messages: ["a", "b", "c"].map((value) => ({ topic, value })) });
      expect(await endOffset(direct, topic)).toBe(4n);
      await until("two more refused fetches", () =>
        (proxy.failure.refused.Fetch ?? 0) >= 3 ? true : undefined,
      );
      expect(seen).toEqual(["first"]);

      admit = true;
      await until("the records written while the audit path was full", () =>
        seen.length === 4 ? true : undefined,
      );
      expect(seen).toEqual(["first", "a", "b", "c"]);
      await stream.close();
    } finally {
      admit = true;
      await consumer.close(true);
      await writer.close();
      await direct.close();
      await proxy.stop();
    }
  });

  it("fails open under permit: everything flows, and the requests forwarded unaudited are counted", async () => {
    let admit = true;
    let said = 0;
    const { proxy, events, logs, bootstrap } = await policyProxy("permit", () => {
      if (!admit) said++;
      return admit;
    });
    const topic = `permit-${Date.now()}`;
    const admin = new Admin({ clientId: "permit-admin", bootstrapBrokers: [bootstrap], retries: 5 });
    const producer = new Producer({
      clientId: "permit-producer",
      bootstrapBrokers: [bootstrap],
      serializers: stringSerializers,
      retries: 5,
    });
    const consumer = new Consumer({
      clientId: "permit-consumer",
      groupId: `group-${topic}`,
      bootstrapBrokers: [bootstrap],
      deserializers: stringDeserializers,
      maxWaitTime: 200,
      retries: 20,
      retryDelay: 100,
    });
    try {
      admit = false;
      await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
      await producer.send({ messages: ["x", "y"].map((value) => ({ topic, value })) });
      const stream = await consumer.consume({
        topics: [topic],
        mode: MessagesStreamModes.EARLIEST,
        autocommit: false,
      });
      const seen: string[] = [];
      for await (const m of stream) {
        seen.push(m.value as string);
        if (seen.length === 2) break;
      }
      await stream.close();
      expect(seen).toEqual(["x", "y"]);
      admit = true;

      const { refused, forwardedUnaudited } = proxy.failure;
      expect(refused).toEqual({});
      // Every request asked about while the audit path was full was forwarded, and counted.
      expect(Object.values(forwardedUnaudited).reduce((a, b) => a + b, 0)).toBe(said);
      expect(forwardedUnaudited).toMatchObject({
        CreateTopics: 1,
        Produce: expect.any(Number),
        Fetch: expect.any(Number),
        JoinGroup: expect.any(Number),
      });
      expect(logs.filter((l) => l.includes("the audit path is full"))).toEqual([
        expect.stringContaining("failure_policy permit"),
      ]);
      // The proxy still emits their events: whether they are kept is the source's to say.
      expect(events.some((e) => kafkaOf(e).refused !== undefined)).toBe(false);
      expect(ofType(events, "kafka.createtopics")).toHaveLength(1);
    } finally {
      await consumer.close(true);
      await producer.close();
      await admin.close();
      await proxy.stop();
    }
  });
});

function policyProxy(failurePolicy: FailurePolicy, admit: () => boolean) {
  return proxyTo(kafka.plaintext, { admit, failurePolicy });
}

/** The end offset of a topic's partition 0, read from the broker directly. */
async function endOffset(admin: Admin, topic: string): Promise<bigint | undefined> {
  const offsets = await admin.listOffsets({
    topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp: -1n }] }],
  });
  return offsets[0]?.partitions[0]?.offset;
}

/** Reads `n` response frames (without their size prefix). */
function readFrames(socket: Socket, n: number): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const frames: Buffer[] = [];
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      while (got.length >= 4 && got.length >= 4 + got.readInt32BE(0)) {
        frames.push(got.subarray(4, 4 + got.readInt32BE(0)));
        got = got.subarray(4 + got.readInt32BE(0));
      }
      if (frames.length >= n) {
        socket.off("data", onData);
        resolve(frames);
      }
    };
    socket.on("data", onData);
    socket.once("error", reject);
  });
}

/** Every error code in a response body (errorCode, partitionErrorCode, at any depth). */
function errorCodesIn(body: unknown): number[] {
  if (Array.isArray(body)) return body.flatMap(errorCodesIn);
  if (body === null || typeof body !== "object" || Buffer.isBuffer(body)) return [];
  return Object.entries(body).flatMap(([k, v]) =>
    /errorCode$/i.test(k) && typeof v === "number" ? [v] : errorCodesIn(v),
  );
}
