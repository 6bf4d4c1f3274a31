/**
 * How Vigil's Kafka clients reach a cluster: the keys the `kafka` destination (destinations/kafka) and the
 * `audit_topic` source (sources/audit-topic) share, their checks, and their resolution into @platformatic/kafka's
 * connection options. Each entry's config module puts these keys in its schema and adds its own.
 *
 * ```yaml
 * bootstrap_servers:                     # required: host:port, an IPv6 address in brackets ([2001:db8::1]:9092)
 *   - kafka-1.example.com:9092
 * topic: audit-events                    # required: Kafka's topic name rules
 * security:
 *   security_protocol: SASL_SSL          # PLAINTEXT (default) | SSL | SASL_PLAINTEXT | SASL_SSL
 *   sasl_mechanism: SCRAM-SHA-256        # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512; required with SASL_*
 *   sasl_username: vigil                 # required with SASL_*
 *   sasl_password: ${AUDIT_KAFKA_PASSWORD}   # required with SASL_*; from the environment, never logged
 *   ssl_ca_file: /etc/vigil/kafka-ca.pem     # SSL, SASL_SSL: CAs trusted instead of the system's
 *   ssl_cert_file: /etc/vigil/kafka.pem      # SSL, SASL_SSL: client certificate and key (mutual TLS)
 *   ssl_key_file: /etc/vigil/kafka.key
 *   ssl_insecure_skip_verify: false          # tests only: the broker's certificate is not checked
 * ```
 *
 * - The SASL keys are spec/000's `sasl_username`/`sasl_password` only: `username`/`password` aliases would give a
 *   second spelling to document and check against the first, for no gain (an unknown key is refused, naming it).
 * - A SASL key without a SASL protocol, or an `ssl_*` key without TLS, is refused rather than ignored: it would
 *   make the reader believe it does something.
 * - The files are read relative to the config's directory (destinations/tls.ts), checked when the config loads.
 * - With TLS, SNI is sent when every bootstrap server is a name (managed clusters route by it; RFC 6066 forbids
 *   an address there).
 * - displayBroker and kafkaTopicTarget name servers and topics the same way for both clients, so that
 *   config/load.ts can tell two entries using one topic, and a source reading the topic a destination writes.
 * - The password never appears in a message: connectionSecrets lists what kafka/errors.ts scrubs.
 */
import { isIP } from "node:net";
import type { BaseOptions } from "@platformatic/kafka";
import Type from "typebox";
import type { PathProblem } from "../config/schema.ts";
import { checkTlsFiles, readTlsFiles, type TlsClientConfig } from "../destinations/tls.ts";

export const SECURITY_PROTOCOLS = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] as const;
export type SecurityProtocol = (typeof SECURITY_PROTOCOLS)[number];
export const SASL_MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

/** Kafka's longest topic name. */
const MAX_TOPIC_LENGTH = 249;

export interface KafkaBroker {
  /** Host name or IP address (IPv6 without brackets). */
  host: string;
  port: number;
}

export interface KafkaSaslConfig {
  mechanism: SaslMechanism;
  username: string;
  password: string;
}

/** The resolved `bootstrap_servers` and `security:` of an entry. */
export interface KafkaConnectionConfig {
  brokers: KafkaBroker[];
  securityProtocol: SecurityProtocol;
  /** SASL_PLAINTEXT and SASL_SSL only. */
  sasl?: KafkaSaslConfig;
  /** SSL and SASL_SSL only. */
  tls?: TlsClientConfig;
}

/** The `bootstrap_servers:` key's schema. */
export const BootstrapServersSchema = Type.Array(Type.String({ minLength: 1 }), { minItems: 1 });

/** The `security:` key's schema. */
export const KafkaSecuritySchema = Type.Optional(
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
    { additionalProperties: false },
  ),
);

/** The shared keys of an entry that passed the schema. */
export interface RawKafkaConnection {
  bootstrap_servers: string[];
  security?: Type.Static<typeof KafkaSecuritySchema>;
}

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

/** What a client of `topic` at `brokers` reads or writes: the same servers in any order are the same target. */
export function kafkaTopicTarget(brokers: readonly KafkaBroker[], topic: string): string {
  return `kafka:${brokers.map(displayBroker).sort().join(",")}/${topic}`;
}

/** Problems of the `bootstrap_servers` list, one per server that is not `host:port`. */
export function checkBootstrapServers(servers: readonly string[]): PathProblem[] {
  return servers.flatMap((server, i) => {
    const parsed = parseBootstrapServer(server);
    return "problem" in parsed ? [{ path: ["bootstrap_servers", i], message: parsed.problem }] : [];
  });
}

/** A `topic` Kafka would refuse. */
export function checkTopicName(topic: string): PathProblem[] {
  if (topic.length > MAX_TOPIC_LENGTH || !/^[A-Za-z0-9._-]+$/.test(topic)) {
    return [
      {
        path: ["topic"],
        message: `must be 1 to ${MAX_TOPIC_LENGTH} letters, digits and the characters . _ -`,
      },
    ];
  }
  return topic === "." || topic === ".." ? [{ path: ["topic"], message: 'cannot be "." or ".."' }] : [];
}

const usesSasl = (protocol: SecurityProtocol) => protocol === "SASL_PLAINTEXT" || protocol === "SASL_SSL";
const usesTls = (protocol: SecurityProtocol) => protocol === "SSL" || protocol === "SASL_SSL";

/** Problems of the `security:` block: keys required or refused by the protocol, the TLS files. */
export function checkKafkaSecurity(raw: RawKafkaConnection, baseDir: string): PathProblem[] {
  const problems: PathProblem[] = [];
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
  if (usesTls(protocol)) return [...problems, ...checkTlsFiles(security, "ssl_", ["security"], baseDir)];
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

/** Resolves the shared keys of an entry that passed checkBootstrapServers and checkKafkaSecurity. */
export function resolveKafkaConnection(raw: RawKafkaConnection, baseDir: string): KafkaConnectionConfig {
  const brokers = raw.bootstrap_servers.map((server) => {
    const parsed = parseBootstrapServer(server);
    // checkBootstrapServers reports it first.
    if ("problem" in parsed) throw new Error(`bootstrap server ${server} ${parsed.problem}`);
    return parsed;
  });
  const security = raw.security ?? {};
  const protocol = security.security_protocol ?? "PLAINTEXT";
  const config: KafkaConnectionConfig = { brokers, securityProtocol: protocol };
  if (usesSasl(protocol)) {
    config.sasl = {
      mechanism: security.sasl_mechanism as SaslMechanism,
      username: security.sasl_username as string,
      password: security.sasl_password as string,
    };
  }
  if (usesTls(protocol)) config.tls = readTlsFiles(security, "ssl_", baseDir);
  return config;
}

/** The connection options of every @platformatic/kafka client of an entry: servers, TLS, SASL. */
export function kafkaConnectionOptions(
  config: KafkaConnectionConfig,
): Pick<BaseOptions, "bootstrapBrokers" | "tls" | "tlsServerName" | "sasl"> {
  const { brokers, tls, sasl } = config;
  const options: Pick<BaseOptions, "bootstrapBrokers" | "tls" | "tlsServerName" | "sasl"> = {
    bootstrapBrokers: brokers.map(({ host, port }) => ({ host, port })),
  };
  if (tls !== undefined) {
    options.tls = {
      ...(tls.ca === undefined ? {} : { ca: tls.ca }),
      ...(tls.cert === undefined ? {} : { cert: tls.cert, key: tls.key }),
      rejectUnauthorized: !tls.insecureSkipVerify,
    };
    if (brokers.every((b) => isIP(b.host) === 0)) options.tlsServerName = true;
  }
  if (sasl !== undefined) {
    options.sasl = { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password };
  }
  return options;
}

/** Warnings to log when a client starts: settings that give up the protection TLS would give. */
export function connectionWarnings(config: KafkaConnectionConfig): string[] {
  const warnings: string[] = [];
  if (config.tls?.insecureSkipVerify) {
    warnings.push("security.ssl_insecure_skip_verify is on: the brokers' certificates are not checked");
  }
  if (config.securityProtocol === "SASL_PLAINTEXT") {
    warnings.push(
      "security_protocol SASL_PLAINTEXT: the credentials (with PLAIN) and every record go unencrypted",
    );
  }
  return warnings;
}

/** What must never appear in a message, status or log: the SASL password. */
export function connectionSecrets(config: KafkaConnectionConfig): string[] {
  return config.sasl === undefined ? [] : [config.sasl.password];
}
