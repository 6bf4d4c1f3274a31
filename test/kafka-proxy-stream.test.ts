/**
 * Large Fetch responses go through the Kafka proxy as they arrive (proxy.ts, STREAM_MIN_BYTES), in front of a
 * stand-in broker that answers one Fetch with a response of ~600 KiB written in two halves and waits before the
 * second: the client has the first half before the broker sent the rest (a proxy that waited for the whole
 * response would never give it), and ends with the broker's bytes exactly, audited with its record count. A
 * response that turns out to carry leader hints (broker addresses, which the proxy rewrites in any response it
 * holds) never completes at the client: its connection is closed, logged, so it reconnects through the proxy.
 * A stand-in broker, because a real one sends leader hints only while leadership moves.
 */
import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { FrameReader } from "../src/sources/kafka-proxy/frames.ts";
import {
  encodeRequest,
  encodeResponse,
  readRequestHeader,
} from "../src/sources/kafka-proxy/protocol/index.ts";
import { recordBatch } from "./support/kafka-codec.ts";
import { type Json, kafkaOf, ofType, proxyTo, until } from "./support/kafka-proxy.ts";

const VERSION = 16;
const TOPIC_ID = "AAAAAAAAAAAAAAAAAAAAAQ";
const RECORDS = 600;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The broker's answer to the Fetch: RECORDS records of 1 KiB, and leader hints when asked. */
function fetchResponse(correlationId: number, leaderHints: boolean): Buffer {
  const records = recordBatch(
    Array.from({ length: RECORDS }, (_, i) => Buffer.alloc(1024, 97 + (i % 26))),
    BigInt(Date.parse("2026-11-22T12:00:00Z")),
  );
  return encodeResponse(1, VERSION, correlationId, {
    throttleTimeMs: 0,
    errorCode: 0,
    sessionId: 0,
    responses: [
      {
        topicId: TOPIC_ID,
        partitions: [
          {
            partitionIndex: 0,
            errorCode: 0,
            highWatermark: BigInt(RECORDS),
            lastStableOffset: BigInt(RECORDS),
            logStartOffset: 0n,
            abortedTransactions: null,
            preferredReadReplica: -1,
            records,
          },
        ],
      },
    ],
    ...(leaderHints
      ? { nodeEndpoints: [{ nodeId: 2, host: "kafka-2.internal", port: 9092, rack: null }] }
      : {}),
  });
}

/**
 * A broker that answers the first Fetch with fetchResponse, its first half at once and the rest when `release`
 * is called; `sent` is the whole response.
 */
async function standInBroker(leaderHints: boolean): Promise<{
  address: string;
  sent: Promise<Buffer>;
  release: () => void;
}> {
  let release: () => void = () => {};
  const released = new Promise<void>((r) => {
    release = r;
  });
  let resolveSent: (b: Buffer) => void = () => {};
  const sent = new Promise<Buffer>((r) => {
    resolveSent = r;
  });
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    const frames = new FrameReader(64 * 1024 * 1024);
    socket.on("data", async (chunk: Buffer) => {
      for (const frame of frames.push(chunk)) {
        const header = readRequestHeader(frame.subarray(4));
        if (header.apiKey !== 1) continue;
        const response = fetchResponse(header.correlationId, leaderHints);
        resolveSent(response);
        const half = Math.floor(response.length / 2);
        socket.write(response.subarray(0, half));
        await released;
        socket.write(response.subarray(half));
      }
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as { port: number };
  return { address: `127.0.0.1:${port}`, sent, release };
}

/** The client's Fetch v16 request for the topic's partition 0. */
function fetchRequest(): Buffer {
  return encodeRequest(
    { apiKey: 1, apiVersion: VERSION, correlationId: 42, clientId: "stream-test" },
    {
      maxWaitMs: 500,
      minBytes: 1,
      maxBytes: 64 * 1024 * 1024,
      isolationLevel: 0,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [
        {
          topicId: TOPIC_ID,
          partitions: [
            {
              partition: 0,
              currentLeaderEpoch: -1,
              fetchOffset: 0n,
              lastFetchedEpoch: -1,
              logStartOffset: -1n,
              partitionMaxBytes: 64 * 1024 * 1024,
            },
          ],
        },
      ],
      forgottenTopicsData: [],
      rackId: "",
    },
  );
}

/** A client connection to the proxy collecting everything it receives. */
async function client(at: { host: string; port: number }) {
  const socket = connect(at.port, at.host);
  await once(socket, "connect");
  socket.on("error", () => {});
  const received: Buffer[] = [];
  let bytes = 0;
  let closed = false;
  socket.on("data", (c: Buffer) => {
    received.push(c);
    bytes += c.length;
  });
  socket.on("close", () => {
    closed = true;
  });
  cleanups.push(() => void socket.destroy());
  return {
    socket,
    bytes: () => bytes,
    closed: () => closed,
    received: () => Buffer.concat(received),
  };
}

describe("large Fetch responses through the Kafka proxy", () => {
  it("forwards them as they arrive, byte for byte, and audits their records once complete", async () => {
    const broker = await standInBroker(false);
    const { proxy, events, logs } = await proxyTo(broker.address);
    cleanups.push(() => proxy.stop());
    const c = await client(proxy.address);
    c.socket.write(fetchRequest());
    const sent = await broker.sent;
    // The first half reached the client while the broker still holds the second.
    await until("the first half at the client", () =>
      c.bytes() >= Math.floor(sent.length / 2) ? true : undefined,
    );
    expect(ofType(events, "kafka.fetch")).toHaveLength(0);
    broker.release();
    await until("the whole response at the client", () => (c.bytes() >= sent.length ? true : undefined));
    expect(c.received().equals(sent)).toBe(true);
    const [fetched] = await until("the fetch event", () => {
      const f = ofType(events, "kafka.fetch");
      return f.length > 0 ? f : undefined;
    });
    expect(fetched?.action).toMatchObject({ operation: "Fetch", result: "success" });
    expect(kafkaOf(fetched as Json).client_id).toBe("stream-test");
    expect(logs).toEqual([]);
  });

  it("closes the client's connection instead of completing a streamed response that carries leader hints", async () => {
    const broker = await standInBroker(true);
    const { proxy, events, logs } = await proxyTo(broker.address);
    cleanups.push(() => proxy.stop());
    const c = await client(proxy.address);
    c.socket.write(fetchRequest());
    const sent = await broker.sent;
    broker.release();
    await until("the client's connection closed", () => (c.closed() ? true : undefined));
    // Everything but the last byte: the client never held a complete frame naming the broker.
    expect(c.bytes()).toBe(sent.length - 1);
    expect(logs.some((l) => l.includes("leader hints"))).toBe(true);
    expect(ofType(events, "kafka.fetch")).toHaveLength(1);
  });
});
