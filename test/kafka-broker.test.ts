/**
 * The real Kafka broker the integration tests start (test/support/kafka.ts) with the client Vigil uses,
 * @platformatic/kafka: an idempotent producer (acks all) and a consumer over PLAINTEXT and over SASL_SSL with
 * SCRAM, the broker's certificate verified against the generated CA, wrong credentials and an untrusted
 * certificate refused, and a restart that keeps the messages and serves on the same ports.
 */
import { randomUUID } from "node:crypto";
import {
  Admin,
  AuthenticationError,
  type ConnectionOptions,
  Consumer,
  MessagesStreamModes,
  ProduceAcks,
  Producer,
  stringDeserializers,
  stringSerializers,
} from "@platformatic/kafka";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KafkaBroker, startKafka } from "./support/kafka.ts";

/** Where and how a client connects. */
type Connection = ConnectionOptions & { bootstrapBrokers: string[] };

let kafka: KafkaBroker;

beforeAll(async () => {
  kafka = await startKafka();
});

afterAll(async () => {
  await kafka?.close();
});

const plaintext = (): Connection => ({ bootstrapBrokers: [kafka.plaintext] });

const saslSsl = (mechanism: "SCRAM-SHA-256" | "SCRAM-SHA-512", password = kafka.password): Connection => ({
  bootstrapBrokers: [kafka.saslSsl],
  tls: { ca: kafka.caPem },
  sasl: { mechanism, username: kafka.username, password },
});

async function createTopic(connection: Connection): Promise<string> {
  const topic = `vigil-test-${randomUUID()}`;
  const admin = new Admin({ clientId: "vigil-test", ...connection });
  try {
    await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
  } finally {
    await admin.close();
  }
  return topic;
}

/** Sends `values` in one batch and returns the offsets the broker assigned. */
async function produce(connection: Connection, topic: string, values: string[]): Promise<bigint[]> {
  // Retries cover the coordinators still loading on a fresh or restarted broker. An idempotent producer would
  // retry forever without a number above 1.
  const producer = new Producer({
    clientId: "vigil-test",
    ...connection,
    serializers: stringSerializers,
    idempotent: true,
    acks: ProduceAcks.ALL,
    retries: 50,
    retryDelay: 100,
  });
  try {
    const result = await producer.send({ messages: values.map((value) => ({ topic, key: "k", value })) });
    return (result.offsets ?? []).map((o) => o.offset);
  } finally {
    await producer.close();
  }
}

/** Reads the topic from the start, in a new consumer group, until `count` messages came. */
async function consume(connection: Connection, topic: string, count: number): Promise<string[]> {
  const consumer = new Consumer({
    clientId: "vigil-test",
    groupId: `vigil-test-${randomUUID()}`,
    ...connection,
    deserializers: stringDeserializers,
    maxWaitTime: 200,
    // The group coordinator is not available until the offsets topic, created by the first group, is loaded.
    retries: 50,
    retryDelay: 100,
  });
  try {
    const stream = await consumer.consume({
      topics: [topic],
      mode: MessagesStreamModes.EARLIEST,
      autocommit: false,
    });
    const values: string[] = [];
    for await (const message of stream) {
      values.push(message.value);
      if (values.length === count) break;
    }
    return values;
  } finally {
    await consumer.close(true);
  }
}

/** The codes of an error and of every error it wraps (`errors` of an aggregate, `cause`). */
function errorCodes(error: unknown): string[] {
  if (!(error instanceof Error)) return [];
  const nested = [...(error instanceof AggregateError ? error.errors : []), error.cause];
  return [String((error as { code?: unknown }).code), ...nested.flatMap(errorCodes)];
}

describe("Kafka test broker", () => {
  it("produces idempotently and consumes over PLAINTEXT", async () => {
    const topic = await createTopic(plaintext());
    expect(await produce(plaintext(), topic, ["a", "b", "c"])).toEqual([0n]);
    expect(await consume(plaintext(), topic, 3)).toEqual(["a", "b", "c"]);
  });

  it("produces and consumes over SASL_SSL with SCRAM-SHA-256 and SCRAM-SHA-512, trusting only the test CA", async () => {
    const topic = await createTopic(saslSsl("SCRAM-SHA-512"));
    await produce(saslSsl("SCRAM-SHA-256"), topic, ["one", "two"]);
    await produce(plaintext(), topic, ["three"]);
    expect(await consume(saslSsl("SCRAM-SHA-256"), topic, 3)).toEqual(["one", "two", "three"]);
    expect(await consume(saslSsl("SCRAM-SHA-512"), topic, 3)).toEqual(["one", "two", "three"]);
  });

  it("refuses a wrong password and a client that does not trust the CA", async () => {
    const listTopics = async (connection: Connection) => {
      const admin = new Admin({ clientId: "vigil-test", ...connection, retries: 0 });
      try {
        return await admin.listTopics();
      } finally {
        await admin.close();
      }
    };
    const wrongPassword = await listTopics(saslSsl("SCRAM-SHA-256", "wrong")).catch(errorCodes);
    expect(wrongPassword).toContain(AuthenticationError.code);
    const untrusted = await listTopics({ ...saslSsl("SCRAM-SHA-256"), tls: {} }).catch(errorCodes);
    expect(untrusted).toContain("UNABLE_TO_VERIFY_LEAF_SIGNATURE");
  });

  it("keeps its messages across a restart on the same ports", async () => {
    const topic = await createTopic(plaintext());
    await produce(plaintext(), topic, ["before"]);
    await kafka.stop();
    const admin = new Admin({ clientId: "vigil-test", ...plaintext(), retries: 0 });
    await expect(admin.listTopics()).rejects.toThrow();
    await admin.close();
    await kafka.restart();
    expect(await produce(saslSsl("SCRAM-SHA-256"), topic, ["after"])).toEqual([1n]);
    expect(await consume(plaintext(), topic, 2)).toEqual(["before", "after"]);
  });
});
