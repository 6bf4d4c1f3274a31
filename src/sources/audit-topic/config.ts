/**
 * Config of the `type: audit_topic` source: a Kafka topic that a broker writes its own audit log to, consumed
 * into the trail (see source.ts). config/load.ts checks an entry of `audit.sources` against AuditTopicSourceSchema,
 * then checkAuditTopicSource, then resolves it.
 *
 * ```yaml
 * sources:
 *   - type: audit_topic
 *     bootstrap_servers: [broker-1:9092]   # required: host:port, an IPv6 address in brackets ([2001:db8::1]:9092)
 *     topic: _redpanda.audit_log           # required: Redpanda's (OCSF); Confluent's is confluent-audit-log-events
 *     name: redpanda-audit                 # unique among sources; the events' origin.token; default from the topic
 *     format: auto                         # ocsf | cloudevents | auto (default: each record's own shape)
 *     group_id: vigil-audit-archive        # the consumer group that keeps the position; default vigil-<name>
 *     start_from: earliest                 # earliest (default) | latest: where a partition without a position starts
 *     security:                            # the same keys as the kafka destination's
 *       security_protocol: SASL_SSL        # PLAINTEXT (default) | SSL | SASL_PLAINTEXT | SASL_SSL
 *       sasl_mechanism: SCRAM-SHA-256      # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512; required with SASL_*
 *       sasl_username: vigil-archiver      # required with SASL_*
 *       sasl_password: ${AUDIT_KAFKA_PASSWORD}   # required with SASL_*; from the environment, never logged
 *       ssl_ca_file: /etc/vigil/kafka-ca.pem     # SSL, SASL_SSL: CAs trusted instead of the system's
 *       ssl_cert_file: /etc/vigil/kafka.pem      # SSL, SASL_SSL: client certificate and key (mutual TLS)
 *       ssl_key_file: /etc/vigil/kafka.key
 *       ssl_insecure_skip_verify: false          # tests only: the broker's certificate is not checked
 * ```
 *
 * - `name` defaults to the topic name made to fit a source name (`_redpanda.audit_log` → `redpanda.audit_log`).
 * - `format: auto` recognises each record by its fields (OCSF: class_uid, metadata, time; CloudEvents:
 *   specversion, id, source, type); naming the format makes a record of the other one `unparsed`.
 * - `group_id`: the group's committed offsets are the source's position, kept by the cluster, not by Vigil.
 *   Changing it (or the name it defaults from) starts over from `start_from`; events already sealed are answered
 *   by their event ids, not sealed twice, as long as they are among the server's recent ids.
 * - `start_from` applies only to a partition the group holds no offset for: `earliest` archives everything the
 *   topic still holds; `latest` only what is written from then on (its start positions are committed at once, so
 *   what is written while Vigil is stopped before the first new record still counts).
 * - A committed offset the topic no longer holds (Vigil stopped, or behind, for longer than the topic's
 *   retention: records deleted before Vigil read them) goes on from the earliest offset the topic still holds,
 *   whatever `start_from` says, so no record still there is skipped. The offsets lost are logged as a warning
 *   naming the topic and partition, and counted in the source's status (`expiredOffsets`). Keep the topic's
 *   retention longer than any outage of Vigil.
 * - Brokers that give topics no id (Kafka before 2.8; Redpanda before 25.3, whose Metadata answers up to v8): a
 *   record without an id of its own (Redpanda's OCSF records) gets `kafka:<name>:<partition>:<offset>:t<record
 *   timestamp>`, so the records of a topic deleted and created again under the same name are not taken for the
 *   old ones holding the same offsets; and Vigil notices such a topic when it reads a partition from below the
 *   offset it committed there (Kafka and Redpanda drop a deleted topic's committed offsets, so the partition
 *   starts again at `start_from`). The one case it cannot notice: the topic deleted, created again and written
 *   past Vigil's position between two of its fetches (read by name, the new partition looks like the old one
 *   grown): the new records below that position are not read. With a topic id (Kafka 2.8 and later, Redpanda
 *   25.3 and later) event ids name the topic's id instead, and a topic created again is always told apart.
 * - The principal needs READ and DESCRIBE on the topic and READ on the group (Redpanda, Kafka ACLs).
 * - `bootstrap_servers` and `security:` are the keys every Kafka client of Vigil shares: kafka/connection.ts checks
 *   and resolves them.
 */
import Type from "typebox";
import { type PathProblem, SOURCE_NAME_PATTERN } from "../../config/schema.ts";
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

export const TOPIC_FORMATS = ["ocsf", "cloudevents", "auto"] as const;
export type TopicFormat = (typeof TOPIC_FORMATS)[number];
export const START_FROM = ["earliest", "latest"] as const;
export type StartFrom = (typeof START_FROM)[number];
/** The longest group id: Kafka's longest topic name (a group id may be longer, but a topic-like limit keeps it sane). */
const MAX_GROUP_ID_LENGTH = 249;

export interface AuditTopicSourceConfig extends KafkaConnectionConfig {
  type: "audit_topic";
  /** Unique among sources; recorded as the events' `origin.token`. */
  name: string;
  topic: string;
  format: TopicFormat;
  groupId: string;
  startFrom: StartFrom;
}

const strict = { additionalProperties: false };

export const AuditTopicSourceSchema = Type.Object(
  {
    type: Type.Literal("audit_topic"),
    name: Type.Optional(Type.String({ pattern: SOURCE_NAME_PATTERN })),
    bootstrap_servers: BootstrapServersSchema,
    topic: Type.String({ minLength: 1 }),
    format: Type.Optional(Type.Enum(TOPIC_FORMATS)),
    group_id: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_GROUP_ID_LENGTH })),
    start_from: Type.Optional(Type.Enum(START_FROM)),
    security: KafkaSecuritySchema,
  },
  strict,
);

export type RawAuditTopicSource = Type.Static<typeof AuditTopicSourceSchema>;

/** Checks the schema cannot express: servers, topic name, keys that fit only some protocols, readable files. */
export function checkAuditTopicSource(raw: RawAuditTopicSource, baseDir: string): PathProblem[] {
  const problems = [...checkBootstrapServers(raw.bootstrap_servers), ...checkTopicName(raw.topic)];
  if (raw.group_id !== undefined && /\s/.test(raw.group_id)) {
    problems.push({ path: ["group_id"], message: "must not contain white space" });
  }
  problems.push(...checkKafkaSecurity(raw, baseDir));
  return problems;
}

/** What the source reads: two sources with the same target would read the same records. */
export function auditTopicTarget(config: Pick<AuditTopicSourceConfig, "brokers" | "topic">): string {
  return kafkaTopicTarget(config.brokers, config.topic);
}

/** A source name from the topic name (`_redpanda.audit_log` → `redpanda.audit_log`), fit to SOURCE_NAME_PATTERN. */
function defaultName(topic: string): string {
  return topic.replace(/^[^A-Za-z0-9]+/, "").slice(0, 64) || "audit-topic";
}

/** Resolves an entry that passed the schema and checkAuditTopicSource; files are read relative to `baseDir`. */
export function resolveAuditTopicSource(raw: RawAuditTopicSource, baseDir: string): AuditTopicSourceConfig {
  const name = raw.name ?? defaultName(raw.topic);
  return {
    type: "audit_topic",
    name,
    ...resolveKafkaConnection(raw, baseDir),
    topic: raw.topic,
    format: raw.format ?? "auto",
    groupId: raw.group_id ?? `vigil-${name}`,
    startFrom: raw.start_from ?? "earliest",
  };
}
