/**
 * The Kafka codec (src/sources/kafka-proxy/protocol) against the real Apache Kafka 4.4 broker: requests the
 * codec encodes are sent on a raw TCP connection, and the broker's responses are decoded and checked (ApiVersions
 * v0 and v3, Metadata at several versions, CreateTopics, Produce v3 and the newest version with a record batch
 * built here, Fetch, ListOffsets, FindCoordinator, DescribeCluster, and the nullable structs of
 * DescribeTopicPartitions and ConsumerGroupHeartbeat). Every response the broker sends must also
 * re-encode to exactly its bytes, as the proxy relies on when it rewrites broker addresses.
 */
import { randomUUID } from "node:crypto";
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  APIS,
  countRecords,
  decodeResponse,
  encodeRequest,
  encodeResponse,
} from "../src/sources/kafka-proxy/protocol/index.ts";
import { type KafkaBroker, startKafka } from "./support/kafka.ts";
import { recordBatch } from "./support/kafka-codec.ts";

const KEY = {
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  FindCoordinator: 10,
  ApiVersions: 18,
  CreateTopics: 19,
  DescribeCluster: 60,
  ConsumerGroupHeartbeat: 68,
  DescribeTopicPartitions: 75,
} as const;
/** How long a test waits for the broker to get ready for something (a partition leader, a coordinator). */
const READY_TIMEOUT_MS = 30_000;

type Body = Record<string, unknown>;

/** One TCP connection speaking the Kafka protocol through the codec; responses come back in request order. */
class RawConnection {
  readonly #socket: Socket;
  #received = Buffer.alloc(0);
  readonly #waiting: { resolve(frame: Buffer): void; reject(e: Error): void }[] = [];
  #correlationId = 0;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.#received = Buffer.concat([this.#received, chunk]);
      while (this.#received.length >= 4 && this.#received.length >= 4 + this.#received.readInt32BE(0)) {
        const end = 4 + this.#received.readInt32BE(0);
        const frame = this.#received.subarray(0, end);
        this.#received = this.#received.subarray(end);
        this.#waiting.shift()?.resolve(frame);
      }
    });
    socket.on("close", () => {
      for (const w of this.#waiting.splice(0)) w.reject(new Error("the broker closed the connection"));
    });
  }

  static open(hostPort: string): Promise<RawConnection> {
    const [host, port] = hostPort.split(":");
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port: Number(port) }, () => resolve(new RawConnection(socket)));
      socket.once("error", reject);
    });
  }

  /** Sends a request and returns the decoded response, after checking it re-encodes to the same bytes. */
  async send(apiKey: number, apiVersion: number, body: Body): Promise<Body> {
    const correlationId = ++this.#correlationId;
    const sized = await new Promise<Buffer>((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#socket.write(
        encodeRequest({ apiKey, apiVersion, correlationId, clientId: "vigil-codec-test" }, body),
      );
    });
    const response = decodeResponse(apiKey, apiVersion, sized.subarray(4));
    expect(response.correlationId).toBe(correlationId);
    expect(encodeResponse(apiKey, apiVersion, correlationId, response.body)).toEqual(sized);
    return response.body;
  }

  close(): void {
    this.#socket.destroy();
  }
}

/** Calls `attempt` until it returns a value, waiting a little between tries, at most READY_TIMEOUT_MS. */
async function until<T>(what: string, attempt: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const result = await attempt();
    if (result !== undefined) return result;
    if (Date.now() > deadline) throw new Error(`${what} within ${READY_TIMEOUT_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const at = <T>(items: unknown, i = 0): T => (items as T[])[i] as T;

let kafka: KafkaBroker;
let conn: RawConnection;
let port: number;
/** The broker's version ranges, from ApiVersions. */
const broker = new Map<number, { min: number; max: number }>();
/** The newest version both the broker and the codec speak. */
const newest = (key: number) => Math.min(broker.get(key)?.max ?? -1, APIS.get(key)?.maxVersion ?? -1);

beforeAll(async () => {
  kafka = await startKafka({ sasl: false });
  port = Number(kafka.plaintext.split(":")[1]);
  conn = await RawConnection.open(kafka.plaintext);
});

afterAll(async () => {
  conn?.close();
  await kafka?.close();
});

describe("the codec against Apache Kafka 4.4", () => {
  it("ApiVersions v0 and v3: the broker serves every API the codec knows, within the codec's versions", async () => {
    const v0 = await conn.send(KEY.ApiVersions, 0, {});
    expect(v0.errorCode).toBe(0);
    const v3 = await conn.send(KEY.ApiVersions, 3, {
      clientSoftwareName: "vigil-codec-test",
      clientSoftwareVersion: "1.0",
    });
    expect(v3.errorCode).toBe(0);
    expect(v3.apiKeys).toEqual(v0.apiKeys);
    expect(at<{ name: string }[]>([v3.finalizedFeatures]).map((f) => f.name)).toContain("metadata.version");
    for (const k of v3.apiKeys as { apiKey: number; minVersion: number; maxVersion: number }[]) {
      broker.set(k.apiKey, { min: k.minVersion, max: k.maxVersion });
    }
    const outside: string[] = [];
    for (const api of APIS.values()) {
      const b = broker.get(api.key);
      // Produce v0-2 are gone since Kafka 4.0 but still advertised for librdkafka (KAFKA-18659), then refused.
      const min = api.name === "Produce" ? 0 : api.minVersion;
      if (b === undefined || b.min < min || b.max > api.maxVersion) {
        outside.push(
          `${api.name}: broker ${b ? `${b.min}-${b.max}` : "none"}, codec ${api.minVersion}-${api.maxVersion}`,
        );
      }
    }
    expect(outside).toEqual([]);
  });

  let clusterId: string;

  it("Metadata at several versions up to the newest names the broker at its port", async () => {
    const versions = [0, 1, 4, 8, 9, 12, newest(KEY.Metadata)];
    expect(versions.at(-1)).toBe(APIS.get(KEY.Metadata)?.maxVersion);
    for (const v of versions) {
      const res = await conn.send(KEY.Metadata, v, {
        topics: v === 0 ? [] : null,
        allowAutoTopicCreation: false,
        includeClusterAuthorizedOperations: false,
        includeTopicAuthorizedOperations: false,
      });
      expect(res.brokers, `v${v}`).toMatchObject([{ nodeId: 1, host: "127.0.0.1", port }]);
      if (v >= 1) expect(res.controllerId).toBe(1);
      if (v >= 2) clusterId = res.clusterId as string;
    }
    expect(clusterId).toMatch(/^[\w-]{22}$/);
  });

  const topics: { name: string; id: string }[] = [];

  it("CreateTopics at the oldest and newest versions creates topics that get a leader", async () => {
    for (const v of [APIS.get(KEY.CreateTopics)?.minVersion as number, newest(KEY.CreateTopics)]) {
      const name = `codec-${v}-${randomUUID()}`;
      const res = await conn.send(KEY.CreateTopics, v, {
        topics: [{ name, numPartitions: 2, replicationFactor: 1, assignments: [], configs: [] }],
        timeoutMs: 30_000,
        validateOnly: false,
      });
      expect(at<Body>(res.topics)).toMatchObject({ name, errorCode: 0 });
      const id = await until(`${name} has no leader`, async () => {
        const meta = await conn.send(KEY.Metadata, 12, {
          topics: [{ name, topicId: "AAAAAAAAAAAAAAAAAAAAAA" }],
          allowAutoTopicCreation: false,
          includeTopicAuthorizedOperations: false,
        });
        const topic = at<Body>(meta.topics);
        return topic.errorCode === 0 && at<Body>(topic.partitions).leaderId === 1
          ? (topic.topicId as string)
          : undefined;
      });
      if (v >= 7) expect(at<Body>(res.topics).topicId).toBe(id);
      topics.push({ name, id });
    }
  });

  const produced: Buffer[] = [];

  it("Produce v3 and the newest version append the batches built here", async () => {
    const topic = at<{ name: string; id: string }>(topics);
    const ts = BigInt(Date.now());
    produced.push(
      recordBatch([Buffer.from("one"), Buffer.from("two")], ts),
      recordBatch([Buffer.from("three"), Buffer.alloc(3000, 7), Buffer.from("five")], ts),
    );
    let expected = 0n;
    for (const [i, v] of [3, newest(KEY.Produce)].entries()) {
      const res = await conn.send(KEY.Produce, v, {
        transactionalId: null,
        acks: -1,
        timeoutMs: 30_000,
        topicData: [
          { name: topic.name, topicId: topic.id, partitionData: [{ index: 0, records: produced[i] }] },
        ],
      });
      expect(at<Body>(at<Body>(res.responses).partitionResponses), `v${v}`).toMatchObject({
        index: 0,
        errorCode: 0,
        baseOffset: expected,
      });
      expected += BigInt(countRecords(produced[i] as Buffer).records);
    }
    expect(expected).toBe(5n);
  });

  it("Fetch at v4 and the newest version returns the batches produced, counted by countRecords", async () => {
    const topic = at<{ name: string; id: string }>(topics);
    for (const v of [4, newest(KEY.Fetch)]) {
      const res = await conn.send(KEY.Fetch, v, {
        replicaId: -1,
        maxWaitMs: 0,
        minBytes: 1,
        maxBytes: 1 << 20,
        isolationLevel: 0,
        sessionId: 0,
        sessionEpoch: -1,
        topics: [
          {
            topic: topic.name,
            topicId: topic.id,
            partitions: [
              {
                partition: 0,
                currentLeaderEpoch: -1,
                fetchOffset: 0n,
                lastFetchedEpoch: -1,
                logStartOffset: -1n,
                partitionMaxBytes: 1 << 20,
              },
            ],
          },
        ],
        forgottenTopicsData: [],
        rackId: "",
      });
      if (v >= 7) expect(res.errorCode).toBe(0);
      const partition = at<Body>(at<Body>(res.responses).partitions);
      expect(partition, `v${v}`).toMatchObject({ partitionIndex: 0, errorCode: 0, highWatermark: 5n });
      const records = partition.records as Buffer;
      expect(countRecords(records)).toEqual({ batches: 2, records: 5, bytes: records.length });
      // The broker assigns the base offset and leader epoch; from the magic byte on, the batches are ours.
      const first = produced[0] as Buffer;
      expect(records.subarray(16, first.length)).toEqual(first.subarray(16));
      expect(records.readBigInt64BE(first.length)).toBe(2n);
      expect(records.subarray(first.length + 16)).toEqual((produced[1] as Buffer).subarray(16));
    }
  });

  it("ListOffsets at the oldest and newest versions gives the earliest and latest offsets", async () => {
    const topic = at<{ name: string; id: string }>(topics);
    const cases = [
      [APIS.get(KEY.ListOffsets)?.minVersion as number, -2n, 0n],
      [newest(KEY.ListOffsets), -1n, 5n],
    ] as const;
    for (const [v, timestamp, offset] of cases) {
      const res = await conn.send(KEY.ListOffsets, v, {
        replicaId: -1,
        isolationLevel: 0,
        topics: [
          { name: topic.name, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp }] },
        ],
        timeoutMs: 30_000,
      });
      expect(at<Body>(at<Body>(res.topics).partitions), `v${v}`).toMatchObject({ errorCode: 0, offset });
    }
  });

  it("FindCoordinator v0 and the newest version name the broker as a group's coordinator", async () => {
    const group = `codec-group-${randomUUID()}`;
    const v0 = await until("no coordinator", async () => {
      const res = await conn.send(KEY.FindCoordinator, 0, { key: group });
      return res.errorCode === 0 ? res : undefined;
    });
    expect(v0).toMatchObject({ nodeId: 1, host: "127.0.0.1", port });
    const v = newest(KEY.FindCoordinator);
    const res = await conn.send(KEY.FindCoordinator, v, { keyType: 0, coordinatorKeys: [group] });
    expect(res.coordinators).toMatchObject([
      { key: group, nodeId: 1, host: "127.0.0.1", port, errorCode: 0 },
    ]);
  });

  it("DescribeCluster at every version names the broker and the cluster id Metadata gave", async () => {
    for (let v = 0; v <= newest(KEY.DescribeCluster); v++) {
      const res = await conn.send(KEY.DescribeCluster, v, {
        includeClusterAuthorizedOperations: false,
        endpointType: 1,
        includeFencedBrokers: false,
      });
      expect(res, `v${v}`).toMatchObject({ errorCode: 0, clusterId, controllerId: 1 });
      expect(res.brokers).toMatchObject([{ brokerId: 1, host: "127.0.0.1", port }]);
    }
  });

  it("nullable structs both ways: DescribeTopicPartitions' cursors, ConsumerGroupHeartbeat's assignment", async () => {
    const topic = at<{ name: string; id: string }>(topics);
    const first = await conn.send(KEY.DescribeTopicPartitions, 0, {
      topics: [{ name: topic.name }],
      responsePartitionLimit: 1,
      cursor: null,
    });
    expect(at<Body>(first.topics)).toMatchObject({
      name: topic.name,
      topicId: topic.id,
      partitions: [{ partitionIndex: 0 }],
    });
    expect(first.nextCursor).toEqual({ topicName: topic.name, partitionIndex: 1 });
    const second = await conn.send(KEY.DescribeTopicPartitions, 0, {
      topics: [{ name: topic.name }],
      responsePartitionLimit: 1,
      cursor: first.nextCursor,
    });
    expect(at<Body>(second.topics)).toMatchObject({ partitions: [{ partitionIndex: 1 }] });
    expect(second.nextCursor).toBeNull();

    const group = `codec-group-${randomUUID()}`;
    const memberId = randomUUID();
    let memberEpoch = 0;
    const assignment = await until("no assignment", async () => {
      const res = await conn.send(KEY.ConsumerGroupHeartbeat, newest(KEY.ConsumerGroupHeartbeat), {
        groupId: group,
        memberId,
        memberEpoch,
        instanceId: null,
        rackId: null,
        rebalanceTimeoutMs: 30_000,
        subscribedTopicNames: memberEpoch === 0 ? [topic.name] : null,
        subscribedTopicRegex: null,
        serverAssignor: null,
        topicPartitions: memberEpoch === 0 ? [] : null,
      });
      expect(res).toMatchObject({ errorCode: 0, memberId });
      memberEpoch = res.memberEpoch as number;
      return (res.assignment ?? undefined) as Body | undefined;
    });
    expect(assignment).toEqual({ topicPartitions: [{ topicId: topic.id, partitions: [0, 1] }] });
  });
});
