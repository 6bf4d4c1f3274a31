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
 * `bootstrap_servers` and `security:` are the keys every Kafka client of Vigil shares: kafka/connection.ts checks
 * and resolves them.
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
import Type from "typebox";
import type { PathProblem } from "../../config/schema.ts";
import {
  BootstrapServersSchema,
  checkBootstrapServers,
  checkKafkaSecurity,
  checkTopicName,
  type KafkaConnectionConfig,
  KafkaSecuritySchema,
  kafkaTopicTarget,
  resolveKafkaConnection,
} from "../../kafka/connection.ts";
import { type BaseDestinationConfig, DeliveryFields, resolveDelivery } from "../delivery.ts";

/** What @platformatic/kafka can compress record batches with. */
export const COMPRESSIONS = ["none", "gzip", "snappy", "lz4", "zstd"] as const;
export type Compression = (typeof COMPRESSIONS)[number];

export const DEFAULT_RETENTION_MS = 7 * 24 * 3600 * 1000;
export const DEFAULT_CLIENT_ID = "vigil";

export const KAFKA_DELIVERY_DEFAULTS = { maxRecords: 5000, maxBytes: 1024 * 1024, maxWaitMs: 0 };

export interface KafkaDestinationConfig extends BaseDestinationConfig, KafkaConnectionConfig {
  type: "kafka";
  topic: string;
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
    bootstrap_servers: BootstrapServersSchema,
    topic: Type.String({ minLength: 1 }),
    security: KafkaSecuritySchema,
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

/** Checks the schema cannot express: the servers, the topic name, keys that fit only some protocols, files. */
export function checkKafkaDestination(raw: RawKafkaDestination, baseDir: string): PathProblem[] {
  const problems = [...checkBootstrapServers(raw.bootstrap_servers), ...checkTopicName(raw.topic)];
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
  problems.push(...checkKafkaSecurity(raw, baseDir));
  return problems;
}

/** Where the destination writes: two entries with the same target would write to the same topic. */
export function kafkaTarget(config: KafkaDestinationConfig): string {
  return kafkaTopicTarget(config.brokers, config.topic);
}

export function resolveKafkaDestination(raw: RawKafkaDestination, baseDir: string): KafkaDestinationConfig {
  const config: KafkaDestinationConfig = {
    type: "kafka",
    name: raw.name ?? `kafka:${raw.topic}`,
    format: raw.format ?? "native",
    delivery: resolveDelivery(raw, KAFKA_DELIVERY_DEFAULTS),
    ...resolveKafkaConnection(raw, baseDir),
    topic: raw.topic,
    createTopic: raw.create_topic ?? true,
    partitions: raw.partitions ?? 1,
    retentionMs: raw.retention_ms ?? DEFAULT_RETENTION_MS,
    clientId: raw.client_id ?? DEFAULT_CLIENT_ID,
    compression: raw.compression ?? "none",
    publishCheckpoints: raw.publish_checkpoints ?? false,
  };
  if (raw.replication_factor !== undefined) config.replicationFactor = raw.replication_factor;
  return config;
}
