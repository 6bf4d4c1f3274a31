/**
 * The Kafka audit proxy with a second, independent client implementation: kcat (librdkafka, from Debian's
 * packages via scripts/deps/kcat), which negotiates its own API versions. Through the proxy it lists the cluster
 * (seeing only the proxy's addresses), produces and consumes; every step is audited with librdkafka's client id.
 * (SASL through the proxy is tested with @platformatic/kafka in kafka-proxy.test.ts: Debian's librdkafka 2.0.2
 * fails SCRAM against this Kafka 4.4 broker even when connecting to it directly.)
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Admin } from "@platformatic/kafka";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KafkaBroker, startKafka } from "./support/kafka.ts";
import { type Json, kafkaOf, proxyTo } from "./support/kafka-proxy.ts";

const run = promisify(execFile);

let kafka: KafkaBroker;

beforeAll(async () => {
  kafka = await startKafka({ sasl: true });
}, 90_000);

afterAll(async () => {
  await kafka?.close();
});

/** Runs kcat with `args` (and `input` on stdin), failing the test with its stderr if it fails. */
async function kcat(args: string[], input?: string): Promise<string> {
  const child = run("kcat", args, { timeout: 60_000 });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  const { stdout } = await child;
  return stdout;
}

describe("kcat through the Kafka proxy", () => {
  it("lists the cluster as the proxy, produces and consumes, each step audited", async () => {
    const { proxy, events, bootstrap } = await proxyTo(kafka.plaintext);
    const topic = `kcat-${Date.now()}`;
    const admin = new Admin({ clientId: "setup", bootstrapBrokers: [kafka.plaintext], retries: 5 });
    try {
      await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
      const metadata = JSON.parse(await kcat(["-b", bootstrap, "-L", "-J"])) as {
        brokers: { id: number; name: string }[];
      };
      // The broker kcat is told about is the proxy's listener, not the broker itself.
      expect(metadata.brokers).toHaveLength(1);
      expect(metadata.brokers[0]?.name.startsWith("127.0.0.1:")).toBe(true);
      expect(metadata.brokers[0]?.name).not.toBe(kafka.plaintext);

      await kcat(["-b", bootstrap, "-P", "-t", topic, "-c", "3"], "one\ntwo\nthree\n");
      const consumed = await kcat(["-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-c", "3", "-e"]);
      expect(consumed.trim().split("\n")).toEqual(["one", "two", "three"]);

      const clientIds = new Set(events.map((e) => kafkaOf(e).client_id));
      expect(clientIds).toContain("rdkafka");
      const produced = events.filter(
        (e) => e.event_type === "kafka.produce" && (e.action as Json).result === "success",
      );
      const records = produced
        .flatMap((e) => (kafkaOf(e).topics as Json[] | undefined) ?? [])
        .filter((t) => t.name === topic)
        .reduce((n, t) => n + Number(t.records ?? 0), 0);
      expect(records).toBe(3);
      const fetched = events
        .filter((e) => e.event_type === "kafka.fetch")
        .flatMap((e) => (kafkaOf(e).topics as Json[] | undefined) ?? [])
        .filter((t) => t.name === topic)
        .reduce((n, t) => n + Number(t.records ?? 0), 0);
      expect(fetched).toBeGreaterThanOrEqual(3);
      // librdkafka negotiated its versions through the proxy's narrowed ApiVersions.
      expect(events.some((e) => e.event_type === "kafka.apiversions")).toBe(true);
    } finally {
      await admin.close();
      await proxy.stop();
    }
  });
});
