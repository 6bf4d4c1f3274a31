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
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { resolve } from "node:path";
import Type from "typebox";
import { type PathProblem, SOURCE_NAME_PATTERN } from "../../config/schema.ts";

export const TOPIC_FORMATS = ["ocsf", "cloudevents", "auto"] as const;
export type TopicFormat = (typeof TOPIC_FORMATS)[number];
export const START_FROM = ["earliest", "latest"] as const;
export type StartFrom = (typeof START_FROM)[number];
export const SECURITY_PROTOCOLS = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] as const;
export type SecurityProtocol = (typeof SECURITY_PROTOCOLS)[number];
export const SASL_MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

/** Kafka's longest topic and group names (a group id may be longer, but a topic-like limit keeps it sane). */
const MAX_TOPIC_LENGTH = 249;
const MAX_GROUP_ID_LENGTH = 249;

export interface KafkaServer {
  /** Host name or IP address (IPv6 without brackets). */
  host: string;
  port: number;
}

export interface AuditTopicTlsConfig {
  /** PEM CA certificates trusted instead of the system's. */
  ca?: string;
  /** PEM client certificate and key (mutual TLS). */
  cert?: string;
  key?: string;
  /** Skip certificate verification: only for tests; logged as a warning at start. */
  insecureSkipVerify: boolean;
}

export interface AuditTopicSaslConfig {
  mechanism: SaslMechanism;
  username: string;
  password: string;
}

export interface AuditTopicSourceConfig {
  type: "audit_topic";
  /** Unique among sources; recorded as the events' `origin.token`. */
  name: string;
  brokers: KafkaServer[];
  topic: string;
  format: TopicFormat;
  groupId: string;
  startFrom: StartFrom;
  securityProtocol: SecurityProtocol;
  /** SASL_PLAINTEXT and SASL_SSL only. */
  sasl?: AuditTopicSaslConfig;
  /** SSL and SASL_SSL only. */
  tls?: AuditTopicTlsConfig;
}

const strict = { additionalProperties: false };

export const AuditTopicSourceSchema = Type.Object(
  {
    type: Type.Literal("audit_topic"),
    name: Type.Optional(Type.String({ pattern: SOURCE_NAME_PATTERN })),
    bootstrap_servers: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    topic: Type.String({ minLength: 1 }),
    format: Type.Optional(Type.Enum(TOPIC_FORMATS)),
    group_id: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_GROUP_ID_LENGTH })),
    start_from: Type.Optional(Type.Enum(START_FROM)),
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
  },
  strict,
);

export type RawAuditTopicSource = Type.Static<typeof AuditTopicSourceSchema>;

/** `host:port` or `[v6]:port`; a reason when it is neither. */
export function parseKafkaServer(server: string): KafkaServer | { problem: string } {
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
export function displayServer(server: KafkaServer): string {
  return `${isIP(server.host) === 6 ? `[${server.host}]` : server.host}:${server.port}`;
}

const usesSasl = (protocol: SecurityProtocol) => protocol === "SASL_PLAINTEXT" || protocol === "SASL_SSL";
const usesTls = (protocol: SecurityProtocol) => protocol === "SSL" || protocol === "SASL_SSL";

/** Checks the schema cannot express: servers, topic name, keys that fit only some protocols, readable files. */
export function checkAuditTopicSource(raw: RawAuditTopicSource, baseDir: string): PathProblem[] {
  const problems: PathProblem[] = [];
  raw.bootstrap_servers.forEach((server, i) => {
    const parsed = parseKafkaServer(server);
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
  if (raw.group_id !== undefined && /\s/.test(raw.group_id)) {
    problems.push({ path: ["group_id"], message: "must not contain white space" });
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
  if (!usesTls(protocol)) {
    for (const key of ["ssl_ca_file", "ssl_cert_file", "ssl_key_file", "ssl_insecure_skip_verify"] as const) {
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

/** What the source reads: two sources with the same target would read the same records. */
export function auditTopicTarget(config: Pick<AuditTopicSourceConfig, "brokers" | "topic">): string {
  return `kafka:${config.brokers.map(displayServer).sort().join(",")}/${config.topic}`;
}

/** A source name from the topic name (`_redpanda.audit_log` → `redpanda.audit_log`), fit to SOURCE_NAME_PATTERN. */
function defaultName(topic: string): string {
  return topic.replace(/^[^A-Za-z0-9]+/, "").slice(0, 64) || "audit-topic";
}

/** Resolves an entry that passed the schema and checkAuditTopicSource; files are read relative to `baseDir`. */
export function resolveAuditTopicSource(raw: RawAuditTopicSource, baseDir: string): AuditTopicSourceConfig {
  const brokers = raw.bootstrap_servers.map((server) => {
    const parsed = parseKafkaServer(server);
    // checkAuditTopicSource reports it first.
    if ("problem" in parsed) throw new Error(`bootstrap server ${server} ${parsed.problem}`);
    return parsed;
  });
  const security = raw.security ?? {};
  const protocol = security.security_protocol ?? "PLAINTEXT";
  const name = raw.name ?? defaultName(raw.topic);
  const config: AuditTopicSourceConfig = {
    type: "audit_topic",
    name,
    brokers,
    topic: raw.topic,
    format: raw.format ?? "auto",
    groupId: raw.group_id ?? `vigil-${name}`,
    startFrom: raw.start_from ?? "earliest",
    securityProtocol: protocol,
  };
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
    const tls: AuditTopicTlsConfig = { insecureSkipVerify: security.ssl_insecure_skip_verify ?? false };
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
