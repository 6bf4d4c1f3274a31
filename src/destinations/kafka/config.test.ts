import { describe, expect, it } from "vitest";
import { schemaChecker } from "../../config/schema.ts";
import { DEFAULT_DELIVERY } from "../delivery.ts";
import {
  checkKafkaDestination,
  KAFKA_DELIVERY_DEFAULTS,
  KafkaDestinationSchema,
  kafkaTarget,
  type RawKafkaDestination,
  resolveKafkaDestination,
} from "./config.ts";

const base: RawKafkaDestination = { type: "kafka", bootstrap_servers: ["kafka:9092"], topic: "audit-events" };
const check = schemaChecker(KafkaDestinationSchema);
/** The config's directory: no file is read here (kafka/connection.test.ts reads the TLS files). */
const dir = "/nonexistent/vigil-config";

/** Every problem of an entry: the schema's, then (if it passed) the checks the schema cannot express. */
function problems(extra: Record<string, unknown>) {
  const raw = { ...base, ...extra };
  const found = check(raw);
  return found.length > 0 ? found : checkKafkaDestination(raw as RawKafkaDestination, dir);
}

const sasl = {
  security_protocol: "SASL_SSL",
  sasl_mechanism: "SCRAM-SHA-512",
  sasl_username: "audit-producer",
  sasl_password: "pw-from-env",
};

describe("kafka destination config", () => {
  it("resolves the defaults: PLAINTEXT, a topic created with 7 days' retention, batches of 5,000 records", () => {
    expect(problems({})).toEqual([]);
    const config = resolveKafkaDestination(base, dir);
    expect(config).toEqual({
      type: "kafka",
      name: "kafka:audit-events",
      format: "native",
      delivery: { ...DEFAULT_DELIVERY, ...KAFKA_DELIVERY_DEFAULTS },
      brokers: [{ host: "kafka", port: 9092 }],
      topic: "audit-events",
      securityProtocol: "PLAINTEXT",
      createTopic: true,
      partitions: 1,
      retentionMs: 604_800_000,
      clientId: "vigil",
      compression: "none",
      publishCheckpoints: false,
    });
    expect(config.delivery).toMatchObject({ maxRecords: 5000, maxBytes: 1_048_576, maxWaitMs: 0 });
  });

  it("resolves every key of its own, and the shared connection keys", () => {
    const raw: RawKafkaDestination = {
      ...base,
      name: "audit-kafka",
      format: "ocsf",
      bootstrap_servers: ["b-2.example.com:9096", "[2001:db8::1]:9096", "b-1.example.com:9096"],
      security: { ...sasl, ssl_insecure_skip_verify: true },
      create_topic: true,
      partitions: 6,
      replication_factor: -1,
      retention_ms: -1,
      client_id: "vigil-node-7",
      compression: "zstd",
      publish_checkpoints: true,
      batch: { max_events: 500 },
    } as RawKafkaDestination;
    expect(problems(raw as unknown as Record<string, unknown>)).toEqual([]);
    const config = resolveKafkaDestination(raw, dir);
    expect(config).toMatchObject({
      name: "audit-kafka",
      format: "ocsf",
      brokers: [
        { host: "b-2.example.com", port: 9096 },
        { host: "2001:db8::1", port: 9096 },
        { host: "b-1.example.com", port: 9096 },
      ],
      securityProtocol: "SASL_SSL",
      sasl: { mechanism: "SCRAM-SHA-512", username: "audit-producer", password: "pw-from-env" },
      tls: { insecureSkipVerify: true },
      partitions: 6,
      replicationFactor: -1,
      retentionMs: -1,
      clientId: "vigil-node-7",
      compression: "zstd",
      publishCheckpoints: true,
      delivery: { maxRecords: 500, maxBytes: 1_048_576 },
    });
    // The same servers in another order are the same target.
    expect(kafkaTarget(config)).toBe(
      "kafka:[2001:db8::1]:9096,b-1.example.com:9096,b-2.example.com:9096/audit-events",
    );
  });

  it("checks the servers, the topic name and the security block (kafka/connection.test.ts has the details)", () => {
    expect(
      problems({
        bootstrap_servers: ["kafka:9092", "kafka"],
        topic: "audit events",
        security: { security_protocol: "SSL", sasl_username: "u", ssl_ca_file: "missing.pem" },
      }),
    ).toEqual([
      {
        path: ["bootstrap_servers", 1],
        message: "must be host:port, e.g. kafka-1.example.com:9092 (the port is required)",
      },
      { path: ["topic"], message: "must be 1 to 249 letters, digits and the characters . _ -" },
      {
        path: ["security", "sasl_username"],
        message: "applies only with security_protocol SASL_PLAINTEXT or SASL_SSL (it is SSL)",
      },
      { path: ["security", "ssl_ca_file"], message: "cannot read missing.pem: no such file" },
    ]);
  });

  it("sets partitions, replication and retention only on a topic Vigil creates", () => {
    expect(problems({ create_topic: false })).toEqual([]);
    expect(problems({ create_topic: false, partitions: 3, retention_ms: 1000 })).toEqual([
      {
        path: ["partitions"],
        message: "is set only on a topic Vigil creates: remove it or set create_topic: true",
      },
      {
        path: ["retention_ms"],
        message: "is set only on a topic Vigil creates: remove it or set create_topic: true",
      },
    ]);
    expect(problems({ replication_factor: 0, retention_ms: 0 })).toEqual([
      {
        path: ["replication_factor"],
        message: "must be at least 1 (or -1 for the broker's default.replication.factor)",
      },
      { path: ["retention_ms"], message: "must be a positive number of milliseconds, or -1" },
    ]);
    expect(problems({ replication_factor: 3, partitions: 0 })).toEqual([
      expect.objectContaining({ path: ["partitions"] }),
    ]);
    expect(problems({ compression: "brotli" })).toEqual([expect.objectContaining({ path: ["compression"] })]);
  });
});
