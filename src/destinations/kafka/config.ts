/**
 * Config of the `type: kafka` destination (spec/000): records produced to one Kafka topic by an idempotent
 * producer (acks=all), keyed by the log's chain id.
 *
 * ```yaml
 * - type: kafka
 *   bootstrap_servers:                   # required: host:port, an IPv6 address in brackets ([2001:db8::1]:9092)
 *     - kafka:9092
 *   topic: audit-events                  # required
 *   security:
 *     security_protocol: SASL_SSL        # PLAINTEXT (default) | SSL | SASL_PLAINTEXT | SASL_SSL
 *     sasl_mechanism: SCRAM-SHA-256      # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512; required with SASL_*
 *     sasl_username: audit-producer      # required with SASL_*
 *     sasl_password: ${AUDIT_KAFKA_PASSWORD}   # required with SASL_*; from the environment, never logged
 *     ssl_ca_file: /etc/vigil/kafka-ca.pem     # SSL, SASL_SSL: CAs trusted instead of the system's
 *     ssl_cert_file: /etc/vigil/kafka.pem      # SSL, SASL_SSL: client certificate and key (mutual TLS)
 *     ssl_key_file: /etc/vigil/kafka.key
 *     ssl_insecure_skip_verify: false          # tests only: the broker's certificate is not checked
 *   create_topic: true                   # create the topic when it is missing (default true)
 *   partitions: 1                        # of a topic Vigil creates (default 1)
 *   replication_factor: 3                # of a topic Vigil creates; default min(3, brokers); -1: the broker's
 *   retention_ms: 604800000              # of a topic Vigil creates; default 7 days; -1 keeps records forever
 *   client_id: vigil                     # default vigil
 *   compression: none                    # none (default) | gzip | snappy | lz4 | zstd
 *   publish_checkpoints: false           # signed checkpoints as messages of the topic (default false)
 * ```
 *
 * The SASL keys are spec/000's `sasl_username`/`sasl_password` only: `username`/`password` aliases would give a
 * second spelling to document and check against the first, for no gain (an unknown key is refused, naming it).
 *
 * Topic creation (`create_topic`). The topic is created with `cleanup.policy=delete` and `retention.ms`:
 * - `retention_ms` 7 days by default, Kafka's own default retention and Confluent's: the topic is a feed that
 *   SIEMs and archivers consume, not the archive (the journal, file and S3 destinations are; their signed
 *   checkpoints prove the chain), and a topic without a limit grows until the brokers' disks fill, which takes
 *   every other topic of the cluster down with it. Set it explicitly rather than inherit the broker's
 *   `log.retention.*`, which an operator may have shortened for high-volume topics. `-1` keeps forever.
 * - `replication_factor` min(3, the brokers the cluster reports): three copies on a production cluster (the
 *   usual setting with `min.insync.replicas=2`, so acks=all survives a broker loss), one on a single-node
 *   development cluster, rather than the broker's `default.replication.factor`, which is 1 unless an operator
 *   changed it. `-1` asks for the broker's default (a managed cluster that dictates it).
 * - `partitions` 1: the records of one chain go to one partition anyway (the key is the chain id, so they stay
 *   in order); more partitions only help when several Vigil instances share the topic. Partitions added later
 *   (by an operator) do not move a chain: Vigil writes on to the partition holding its newest record.
 * These three apply only to a topic Vigil creates: they are refused with `create_topic: false`.
 *
 * `publish_checkpoints` is off by default: a checkpoint is a text/plain C2SP note, and a topic whose consumers
 * parse every value as JSON (Kafka Connect's JsonConverter, a SIEM input with a JSON codec) would choke on it.
 * Every record carries its own integrity block, and checkpoints are served by `GET /v1/checkpoints` and kept
 * beside file destinations. Turned on, each checkpoint goes to the same partition as the records it covers,
 * after them, keyed `<chain id>/checkpoint` (see destination.ts).
 *
 * Delivery defaults (the shared `batch:` keys override them): `max_events` 5,000 and `max_bytes` 1 MiB per
 * delivery, sent at once (`max_wait_secs` 0). The destination cuts a delivery into produce requests whose record
 * batch stays under the topic's `max.message.bytes` (1 MiB by default), so these only bound how much one
 * delivery holds.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { resolve } from "node:path";
import Type from "typebox";
import type { PathProblem } from "../../config/schema.ts";
import { type BaseDestinationConfig, DeliveryFields, resolveDelivery } from "../delivery.ts";

export const SECURITY_PROTOCOLS = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] as const;
export type SecurityProtocol = (typeof SECURITY_PROTOCOLS)[number];
export const SASL_MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];
/** What @platformatic/kafka can compress record batches with. */
export const COMPRESSIONS = ["none", "gzip", "snappy", "lz4", "zstd"] as const;
export type Compression = (typeof COMPRESSIONS)[number];

export const DEFAULT_RETENTION_MS = 7 * 24 * 3600 * 1000;
export const DEFAULT_CLIENT_ID = "vigil";
/** Kafka's longest topic name. */
const MAX_TOPIC_LENGTH = 249;

export const KAFKA_DELIVERY_DEFAULTS = { maxRecords: 5000, maxBytes: 1024 * 1024, maxWaitMs: 0 };

export interface KafkaBroker {
  /** Host name or IP address (IPv6 without brackets). */
  host: string;
  port: number;
}

export interface KafkaTlsConfig {
  /** PEM CA certificates trusted instead of the system's. */
  ca?: string;
  /** PEM client certificate and key (mutual TLS). */
  cert?: string;
  key?: string;
  /** Skip certificate verification: only for tests; logged as a warning at start. */
  insecureSkipVerify: boolean;
}

export interface KafkaSaslConfig {
  mechanism: SaslMechanism;
  username: string;
  password: string;
}

export interface KafkaDestinationConfig extends BaseDestinationConfig {
  type: "kafka";
  brokers: KafkaBroker[];
  topic: string;
  securityProtocol: SecurityProtocol;
  /** SASL_PLAINTEXT and SASL_SSL only. */
  sasl?: KafkaSaslConfig;
  /** SSL and SASL_SSL only. */
  tls?: KafkaTlsConfig;
  createTopic: boolean;
  /** Of a topic Vigil creates. */
  partitions: number;
  /** Of a topic Vigil creates; undefined: min(3, the brokers the cluster reports); -1: the broker's default. */
  replicationFactor?: number;
  /** `retention.ms` of a topic Vigil creates; -1 keeps records forever. */
  retentionMs: number;
  clientId: string;
  compression: Compression;
  publishCheckpoints: boolean;
}

const strict = { additionalProperties: false };

export const KafkaDestinationSchema = Type.Object(
  {
    type: Type.Literal("kafka"),
    ...DeliveryFields,
    bootstrap_servers: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    topic: Type.String({ minLength: 1 }),
    security: Type.Optional(
      Type.Object(
        {
          security_protocol: Type.Optional(Type.Enum(SECURITY_PROTOCOLS)),
          sasl_mechanism: Type.Optional(Type.Enum(SASL_MECHANISMS)),
          sasl_username: Type.Optional(Type.String({ minLength: 1 })),
          sasl_password: Type.Optional(Type.String({ minLength: 1 })),
          ssl_ca_file: Type.Optional(Type.String({ minLength: 1 })),
          ssl_cert_file: Type.Optional(Type.String({ minLength: 1 })),
          ssl_key_file: Type.Optional(Type.String({ minLength: 1 })),
          ssl_insecure_skip_verify: Type.Optional(Type.Boolean()),
        },
        strict,
      ),
    ),
    create_topic: Type.Optional(Type.Boolean()),
    partitions: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
    replication_factor: Type.Optional(Type.Integer({ minimum: -1, maximum: 32_767 })),
    retention_ms: Type.Optional(Type.Integer({ minimum: -1 })),
    client_id: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    compression: Type.Optional(Type.Enum(COMPRESSIONS)),
    publish_checkpoints: Type.Optional(Type.Boolean()),
  },
  strict,
);

export type RawKafkaDestination = Type.Static<typeof KafkaDestinationSchema>;

/** `host:port` or `[v6]:port`; a reason when it is neither. */
export function parseBootstrapServer(server: string): KafkaBroker | { problem: string } {
  const example = "must be host:port, e.g. kafka-1.example.com:9092";
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(server)) {
    return { problem: `${example}, without a scheme (the protocol goes in security.security_protocol)` };
  }
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(server);
  if (bracketed) {
    host = bracketed[1] as string;
    portText = bracketed[2];
    if (isIP(host) !== 6) return { problem: "must hold an IPv6 address between the brackets" };
  } else {
    const colon = server.lastIndexOf(":");
    if (colon >= 0 && server.indexOf(":") !== colon) {
      return { problem: "must put an IPv6 address in brackets: [2001:db8::1]:9092" };
    }
    host = colon < 0 ? server : server.slice(0, colon);
    portText = colon < 0 ? undefined : server.slice(colon + 1);
  }
  if (host === "" || /[\s/@?#,]/.test(host)) return { problem: example };
  if (portText === undefined) return { problem: `${example} (the port is required)` };
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
  if (!(port >= 1 && port <= 65535)) return { problem: "has an invalid port: it must be 1 to 65535" };
  return { host, port };
}

/** `host:port`, with an IPv6 address in brackets. */
export function displayBroker(broker: KafkaBroker): string {
  return `${isIP(broker.host) === 6 ? `[${broker.host}]` : broker.host}:${broker.port}`;
}

const usesSasl = (protocol: SecurityProtocol) => protocol === "SASL_PLAINTEXT" || protocol === "SASL_SSL";
const usesTls = (protocol: SecurityProtocol) => protocol === "SSL" || protocol === "SASL_SSL";

/** Checks the schema cannot express: the servers, the topic name, keys that fit only some protocols, files. */
export function checkKafkaDestination(raw: RawKafkaDestination, baseDir: string): PathProblem[] {
  const problems: PathProblem[] = [];
  raw.bootstrap_servers.forEach((server, i) => {
    const parsed = parseBootstrapServer(server);
    if ("problem" in parsed) problems.push({ path: ["bootstrap_servers", i], message: parsed.problem });
  });
  if (raw.topic.length > MAX_TOPIC_LENGTH || !/^[A-Za-z0-9._-]+$/.test(raw.topic)) {
    problems.push({
      path: ["topic"],
      message: `must be 1 to ${MAX_TOPIC_LENGTH} letters, digits and the characters . _ -`,
    });
  } else if (raw.topic === "." || raw.topic === "..") {
    problems.push({ path: ["topic"], message: 'cannot be "." or ".."' });
  }
  if (raw.create_topic === false) {
    for (const key of ["partitions", "replication_factor", "retention_ms"] as const) {
      if (raw[key] !== undefined) {
        problems.push({
          path: [key],
          message: "is set only on a topic Vigil creates: remove it or set create_topic: true",
        });
      }
    }
  }
  if (raw.replication_factor === 0) {
    problems.push({
      path: ["replication_factor"],
      message: "must be at least 1 (or -1 for the broker's default.replication.factor)",
    });
  }
  if (raw.retention_ms === 0) {
    problems.push({ path: ["retention_ms"], message: "must be a positive number of milliseconds, or -1" });
  }
  const security = raw.security ?? {};
  const protocol = security.security_protocol ?? "PLAINTEXT";
  for (const key of ["sasl_mechanism", "sasl_username", "sasl_password"] as const) {
    if (usesSasl(protocol) && security[key] === undefined) {
      problems.push({ path: ["security", key], message: `is required with security_protocol ${protocol}` });
    } else if (!usesSasl(protocol) && security[key] !== undefined) {
      problems.push({
        path: ["security", key],
        message: `applies only with security_protocol SASL_PLAINTEXT or SASL_SSL (it is ${protocol})`,
      });
    }
  }
  const sslKeys = ["ssl_ca_file", "ssl_cert_file", "ssl_key_file", "ssl_insecure_skip_verify"] as const;
  if (!usesTls(protocol)) {
    for (const key of sslKeys) {
      if (security[key] !== undefined) {
        problems.push({
          path: ["security", key],
          message: `applies only with security_protocol SSL or SASL_SSL (it is ${protocol})`,
        });
      }
    }
    return problems;
  }
  if ((security.ssl_cert_file === undefined) !== (security.ssl_key_file === undefined)) {
    problems.push({ path: ["security"], message: "ssl_cert_file and ssl_key_file go together" });
  }
  for (const key of ["ssl_ca_file", "ssl_cert_file", "ssl_key_file"] as const) {
    const file = security[key];
    if (file === undefined) continue;
    try {
      readFileSync(resolve(baseDir, file));
    } catch (e) {
      const reason = (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message;
      problems.push({ path: ["security", key], message: `cannot read ${file}: ${reason}` });
    }
  }
  return problems;
}

/** Where the destination writes: two entries with the same target would write to the same topic. */
export function kafkaTarget(config: KafkaDestinationConfig): string {
  const servers = config.brokers.map(displayBroker).sort();
  return `kafka:${servers.join(",")}/${config.topic}`;
}

export function resolveKafkaDestination(raw: RawKafkaDestination, baseDir: string): KafkaDestinationConfig {
  const brokers = raw.bootstrap_servers.map((server) => {
    const parsed = parseBootstrapServer(server);
    // checkKafkaDestination reports it first.
    if ("problem" in parsed) throw new Error(`bootstrap server ${server} ${parsed.problem}`);
    return parsed;
  });
  const security = raw.security ?? {};
  const protocol = security.security_protocol ?? "PLAINTEXT";
  const config: KafkaDestinationConfig = {
    type: "kafka",
    name: raw.name ?? `kafka:${raw.topic}`,
    format: raw.format ?? "native",
    delivery: resolveDelivery(raw, KAFKA_DELIVERY_DEFAULTS),
    brokers,
    topic: raw.topic,
    securityProtocol: protocol,
    createTopic: raw.create_topic ?? true,
    partitions: raw.partitions ?? 1,
    retentionMs: raw.retention_ms ?? DEFAULT_RETENTION_MS,
    clientId: raw.client_id ?? DEFAULT_CLIENT_ID,
    compression: raw.compression ?? "none",
    publishCheckpoints: raw.publish_checkpoints ?? false,
  };
  if (raw.replication_factor !== undefined) config.replicationFactor = raw.replication_factor;
  if (usesSasl(protocol)) {
    config.sasl = {
      mechanism: security.sasl_mechanism as SaslMechanism,
      username: security.sasl_username as string,
      password: security.sasl_password as string,
    };
  }
  if (usesTls(protocol)) {
    const read = (file: string | undefined) =>
      file === undefined ? undefined : readFileSync(resolve(baseDir, file), "utf8");
    const tls: KafkaTlsConfig = { insecureSkipVerify: security.ssl_insecure_skip_verify ?? false };
    const ca = read(security.ssl_ca_file);
    const cert = read(security.ssl_cert_file);
    const key = read(security.ssl_key_file);
    if (ca !== undefined) tls.ca = ca;
    if (cert !== undefined) tls.cert = cert;
    if (key !== undefined) tls.key = key;
    config.tls = tls;
  }
  return config;
}
