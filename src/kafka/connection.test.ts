import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Type from "typebox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { schemaChecker } from "../config/schema.ts";
import {
  BootstrapServersSchema,
  checkBootstrapServers,
  checkKafkaSecurity,
  checkTopicName,
  connectionSecrets,
  connectionWarnings,
  KafkaSecuritySchema,
  kafkaConnectionOptions,
  kafkaTopicTarget,
  parseBootstrapServer,
  type RawKafkaConnection,
  resolveKafkaConnection,
} from "./connection.ts";

const check = schemaChecker(
  Type.Object(
    { bootstrap_servers: BootstrapServersSchema, security: KafkaSecuritySchema },
    { additionalProperties: false },
  ),
);
const base: RawKafkaConnection = { bootstrap_servers: ["kafka:9092"] };
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "vigil-kafka-connection-"));
  await writeFile(join(dir, "ca.pem"), "CA PEM");
  await writeFile(join(dir, "client.pem"), "CERT PEM");
  await writeFile(join(dir, "client.key"), "KEY PEM");
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Every problem of the shared keys: the schema's, then (if it passed) the checks the schema cannot express. */
function problems(extra: Record<string, unknown>) {
  const raw = { ...base, ...extra };
  const found = check(raw);
  if (found.length > 0) return found;
  const typed = raw as RawKafkaConnection;
  return [...checkBootstrapServers(typed.bootstrap_servers), ...checkKafkaSecurity(typed, dir)];
}

const sasl = {
  security_protocol: "SASL_SSL",
  sasl_mechanism: "SCRAM-SHA-512",
  sasl_username: "audit-producer",
  sasl_password: "pw-from-env",
} as const;

describe("Kafka connection settings", () => {
  it("resolves PLAINTEXT by default: the servers only", () => {
    expect(problems({})).toEqual([]);
    const config = resolveKafkaConnection(base, dir);
    expect(config).toEqual({ brokers: [{ host: "kafka", port: 9092 }], securityProtocol: "PLAINTEXT" });
    expect(kafkaConnectionOptions(config)).toEqual({ bootstrapBrokers: [{ host: "kafka", port: 9092 }] });
    expect(connectionSecrets(config)).toEqual([]);
    expect(connectionWarnings(config)).toEqual([]);
  });

  it("resolves SASL over TLS with mutual TLS files read relative to the config, into the library's options", () => {
    const raw: RawKafkaConnection = {
      bootstrap_servers: ["b-2.example.com:9096", "b-1.example.com:9096"],
      security: { ...sasl, ssl_ca_file: "ca.pem", ssl_cert_file: "client.pem", ssl_key_file: "client.key" },
    };
    expect(problems(raw as unknown as Record<string, unknown>)).toEqual([]);
    const config = resolveKafkaConnection(raw, dir);
    expect(config).toEqual({
      brokers: [
        { host: "b-2.example.com", port: 9096 },
        { host: "b-1.example.com", port: 9096 },
      ],
      securityProtocol: "SASL_SSL",
      sasl: { mechanism: "SCRAM-SHA-512", username: "audit-producer", password: "pw-from-env" },
      tls: { ca: "CA PEM", cert: "CERT PEM", key: "KEY PEM", insecureSkipVerify: false },
    });
    // SNI, since every server is a name.
    expect(kafkaConnectionOptions(config)).toEqual({
      bootstrapBrokers: config.brokers,
      tls: { ca: "CA PEM", cert: "CERT PEM", key: "KEY PEM", rejectUnauthorized: true },
      tlsServerName: true,
      sasl: { mechanism: "SCRAM-SHA-512", username: "audit-producer", password: "pw-from-env" },
    });
    expect(connectionSecrets(config)).toEqual(["pw-from-env"]);
  });

  it("takes SSL without SASL, and SASL_PLAINTEXT without TLS, warning about what they give up", () => {
    const ssl = resolveKafkaConnection(
      {
        bootstrap_servers: ["[2001:db8::1]:9093", "kafka:9093"],
        security: { security_protocol: "SSL", ssl_insecure_skip_verify: true },
      },
      dir,
    );
    expect(ssl).toMatchObject({ securityProtocol: "SSL", tls: { insecureSkipVerify: true } });
    expect(ssl.sasl).toBeUndefined();
    // No SNI: one server is an address, which RFC 6066 forbids as a server name.
    expect(kafkaConnectionOptions(ssl)).toEqual({
      bootstrapBrokers: ssl.brokers,
      tls: { rejectUnauthorized: false },
    });
    expect(connectionWarnings(ssl)).toEqual([
      "security.ssl_insecure_skip_verify is on: the brokers' certificates are not checked",
    ]);
    const plain = resolveKafkaConnection(
      { ...base, security: { ...sasl, security_protocol: "SASL_PLAINTEXT", sasl_mechanism: "PLAIN" } },
      dir,
    );
    expect(plain).toMatchObject({ securityProtocol: "SASL_PLAINTEXT", sasl: { mechanism: "PLAIN" } });
    expect(plain.tls).toBeUndefined();
    expect(connectionWarnings(plain)).toEqual([
      "security_protocol SASL_PLAINTEXT: the credentials (with PLAIN) and every record go unencrypted",
    ]);
  });

  it("refuses servers without a port, with a scheme, or with a bare IPv6 address", () => {
    expect(parseBootstrapServer("kafka")).toEqual({
      problem: "must be host:port, e.g. kafka-1.example.com:9092 (the port is required)",
    });
    expect(parseBootstrapServer("[kafka]:9092")).toEqual({
      problem: "must hold an IPv6 address between the brackets",
    });
    expect(parseBootstrapServer("[2001:db8::1]:9092")).toEqual({ host: "2001:db8::1", port: 9092 });
    expect(
      problems({ bootstrap_servers: ["kafka:9092", "kafka://k:9092", "2001:db8::1:9092", "k:99999"] }),
    ).toEqual([
      {
        path: ["bootstrap_servers", 1],
        message:
          "must be host:port, e.g. kafka-1.example.com:9092, without a scheme (the protocol goes in security.security_protocol)",
      },
      { path: ["bootstrap_servers", 2], message: "must put an IPv6 address in brackets: [2001:db8::1]:9092" },
      { path: ["bootstrap_servers", 3], message: "has an invalid port: it must be 1 to 65535" },
    ]);
    expect(check({ bootstrap_servers: [] })).toEqual([
      expect.objectContaining({ path: ["bootstrap_servers"] }),
    ]);
  });

  it("names a topic by its servers in any order", () => {
    expect(
      kafkaTopicTarget(
        [
          { host: "b-2.example.com", port: 9096 },
          { host: "2001:db8::1", port: 9096 },
          { host: "b-1.example.com", port: 9096 },
        ],
        "audit-events",
      ),
    ).toBe("kafka:[2001:db8::1]:9096,b-1.example.com:9096,b-2.example.com:9096/audit-events");
  });

  it("refuses topic names Kafka would refuse", () => {
    expect(checkTopicName("_redpanda.audit_log")).toEqual([]);
    for (const topic of ["audit events", "a/b", "t".repeat(250)]) {
      expect(checkTopicName(topic)).toEqual([
        { path: ["topic"], message: "must be 1 to 249 letters, digits and the characters . _ -" },
      ]);
    }
    expect(checkTopicName("..")).toEqual([{ path: ["topic"], message: 'cannot be "." or ".."' }]);
  });

  it("requires the SASL keys with a SASL protocol, and refuses them and the TLS keys where they do not apply", () => {
    expect(problems({ security: { security_protocol: "SASL_SSL", sasl_mechanism: "PLAIN" } })).toEqual([
      { path: ["security", "sasl_username"], message: "is required with security_protocol SASL_SSL" },
      { path: ["security", "sasl_password"], message: "is required with security_protocol SASL_SSL" },
    ]);
    const misplaced = problems({
      security: { sasl_username: "u", sasl_password: "hunter2", ssl_ca_file: "ca.pem" },
    });
    expect(misplaced).toEqual([
      {
        path: ["security", "sasl_username"],
        message: "applies only with security_protocol SASL_PLAINTEXT or SASL_SSL (it is PLAINTEXT)",
      },
      {
        path: ["security", "sasl_password"],
        message: "applies only with security_protocol SASL_PLAINTEXT or SASL_SSL (it is PLAINTEXT)",
      },
      {
        path: ["security", "ssl_ca_file"],
        message: "applies only with security_protocol SSL or SASL_SSL (it is PLAINTEXT)",
      },
    ]);
    expect(JSON.stringify(misplaced)).not.toContain("hunter2");
    expect(problems({ security: { ...sasl, sasl_mechanism: "GSSAPI" } })).toEqual([
      expect.objectContaining({ path: ["security", "sasl_mechanism"] }),
    ]);
    expect(problems({ security: { ...sasl, username: "u" } })).toEqual([
      expect.objectContaining({
        path: ["security", "username"],
        message: expect.stringMatching(/unknown key/),
      }),
    ]);
  });

  it("checks the TLS files and that certificate and key go together", () => {
    expect(problems({ security: { security_protocol: "SSL", ssl_cert_file: "client.pem" } })).toEqual([
      { path: ["security"], message: "ssl_cert_file and ssl_key_file go together" },
    ]);
    expect(problems({ security: { security_protocol: "SSL", ssl_ca_file: "missing.pem" } })).toEqual([
      { path: ["security", "ssl_ca_file"], message: "cannot read missing.pem: no such file" },
    ]);
  });
});
