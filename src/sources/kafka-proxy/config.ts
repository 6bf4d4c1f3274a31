/**
 * Config of the `type: kafka_proxy` source: the Kafka audit proxy (proxy.ts) run inside `vigil serve`, every
 * request clients send through it sealed into the trail (source.ts). config/load.ts checks an entry of
 * `audit.sources` against KafkaProxySourceSchema, then checkKafkaProxySource, then resolves it.
 *
 * ```yaml
 * sources:
 *   - type: kafka_proxy
 *     name: kafka-prod                 # unique among sources; events' origin.token; default kafka-proxy
 *     listen: 127.0.0.1:9192           # bootstrap listener clients use as bootstrap.servers (loopback by default!)
 *     advertised_host: 127.0.0.1       # host clients are told for every broker (default: listen's host)
 *     broker_ports: 9193-9208          # one local port per broker, in the order brokers are first seen (range "a-b")
 *     bootstrap_servers: [kafka-1:9092]   # required: the real cluster (same syntax/checks as the kafka destination's)
 *     tls:                             # TLS toward clients (the proxy's own certificate)
 *       cert_file: /etc/vigil/proxy.pem
 *       key_file: /etc/vigil/proxy.key   # mode 0600
 *       client_ca_file: /etc/vigil/clients-ca.pem   # mutual TLS: the certificate's subject is the principal
 *       require_client_cert: true        # default true with client_ca_file
 *     upstream_tls:                    # TLS to the brokers (their SSL / SASL_SSL listener)
 *       ca_file: /etc/vigil/kafka-ca.pem
 *     max_frame_bytes: 104857600       # default 100 MiB
 *     aggregate:                       # identical high-rate events: one per window, with a count
 *       window_ms: 500                 # 0: one event per request; at most 60000
 *       event_types: [produce, consume, describe, heartbeat]   # Redpanda event types whose identical events fold
 * ```
 *
 * - `listen` defaults to 127.0.0.1:9192, and `:9192` listens on 127.0.0.1: the proxy is reachable from other
 *   machines only when a host is written. It takes the forms of `server.listen`; port 0 takes any free port (the
 *   address is in the source's status), for tests. A wildcard host (0.0.0.0, ::) needs `advertised_host`: it is
 *   no address a client can connect to.
 * - `advertised_host`: the host name or address written into Metadata, FindCoordinator and DescribeCluster
 *   responses for every broker, so clients come back through the proxy; the broker listeners bind on `listen`'s
 *   host.
 * - `broker_ports`: `first-last` (at most 1024 ports), or one port for a one-broker cluster; each broker the
 *   cluster names takes the next one. A broker beyond the range is not reachable through the proxy (the response
 *   naming it closes the client's connection, logged): give the range room for the cluster to grow. Default:
 *   the 16 ports after `listen`'s (9193-9208 for 9192); with `listen` on port 0, any free port for each broker.
 *   The range may not hold `listen`'s port, the HTTP server's (`server.listen`, `--listen`) or another
 *   kafka_proxy source's ports.
 * - `bootstrap_servers` is checked as the kafka destination's (kafka/connection.ts); naming the proxy's own
 *   address would make it connect to itself without end, and is refused.
 * - `tls` makes clients speak TLS to the proxy (its bootstrap and broker listeners): `cert_file` and `key_file`
 *   (PEM) are required; with `client_ca_file`, clients present a certificate that CA signed (unless
 *   `require_client_cert: false`) and its subject is their principal as Kafka's SSL listener writes it
 *   (`User:CN=…,O=…`) until a SASL login names another. Files are relative to the config's directory and read
 *   when the source starts.
 * - `upstream_tls` (even empty, `upstream_tls: {}`: the system's CAs) makes the proxy speak TLS to the brokers.
 *   `ca_file` is relative to the config's directory and read when the source starts. SASL passes through to the
 *   brokers unchanged.
 * - `max_frame_bytes`: the largest request or response frame, from either side, that the proxy accepts (1 MiB
 *   to 2 GiB - 1); a larger one closes that connection. Keep it at least the brokers' `socket.request.max.bytes`
 *   and the clients' `fetch.max.bytes`.
 * - `aggregate` folds identical requests, as Redpanda's audit log does within its drain interval (aggregate.ts):
 *   the first of its kind in a window of `window_ms` is written once, with `action.count` (the requests folded),
 *   `action.ended_at`, the mean and longest duration, the summed record counts, and the first and last
 *   correlation ids. Identical: the same principal, connection, API and version, topics and partition counts,
 *   groups and outcome. Only events of the Redpanda types in `event_types` fold (management, produce, consume,
 *   describe, heartbeat, authenticate, schema_registry, admin); the others, and every event with `window_ms: 0`,
 *   are written one per request. The block and each key are optional; the defaults are those shown.
 */
import { isIP } from "node:net";
import { resolve } from "node:path";
import Type from "typebox";
import { listenAddress, type PathProblem, SOURCE_NAME_PATTERN, suggest } from "../../config/schema.ts";
import type { ListenAddress } from "../../config/types.ts";
import {
  BootstrapServersSchema,
  checkBootstrapServers,
  type KafkaBroker,
  parseBootstrapServer,
} from "../../kafka/connection.ts";
import { REDPANDA_EVENT_TYPES } from "../../policy/redpanda.ts";

export const DEFAULT_PROXY_NAME = "kafka-proxy";
export const DEFAULT_PROXY_LISTEN: ListenAddress = { host: "127.0.0.1", port: 9192 };
/** Broker ports by default: this many after `listen`'s. */
export const DEFAULT_BROKER_PORTS = 16;
export const MAX_BROKER_PORTS = 1024;
export const DEFAULT_MAX_FRAME_BYTES = 100 * 1024 * 1024;
const MIN_FRAME_BYTES = 1024 * 1024;
const MAX_FRAME_BYTES = 2 ** 31 - 1;
const DEFAULT_AGGREGATE_WINDOW_MS = 500;
const MAX_AGGREGATE_WINDOW_MS = 60_000;
/** The Redpanda event types a busy client repeats: their identical events fold by default. */
const DEFAULT_AGGREGATE_EVENT_TYPES: readonly string[] = ["produce", "consume", "describe", "heartbeat"];

/** The local ports of the broker listeners: `first` to `first + count - 1`; `first` 0: any free port for each. */
export interface BrokerPorts {
  first: number;
  count: number;
}

/** A resolved `type: kafka_proxy` source. */
export interface KafkaProxySourceConfig {
  type: "kafka_proxy";
  /** Unique among sources; recorded as the events' `origin.token`. */
  name: string;
  listen: ListenAddress;
  advertisedHost: string;
  brokerPorts: BrokerPorts;
  /** The real cluster's bootstrap servers. */
  brokers: KafkaBroker[];
  /** Set: TLS toward clients; absolute paths, read at start. */
  tls?: { certFile: string; keyFile: string; clientCaFile?: string; requireClientCert: boolean };
  /** Set: TLS to the brokers; `caFile` (absolute) is read at start, else the system's CAs are trusted. */
  upstreamTls?: { caFile?: string };
  maxFrameBytes: number;
  /** Identical events of `eventTypes` (Redpanda event types) fold into one per `windowMs` (0: none fold). */
  aggregate: { windowMs: number; eventTypes: string[] };
}

const strict = { additionalProperties: false };

export const KafkaProxySourceSchema = Type.Object(
  {
    type: Type.Literal("kafka_proxy"),
    name: Type.Optional(Type.String({ pattern: SOURCE_NAME_PATTERN })),
    listen: Type.Optional(Type.String({ minLength: 1 })),
    advertised_host: Type.Optional(Type.String({ minLength: 1 })),
    /** `first-last`, or one port number: checked by checkKafkaProxySource, with a message naming the forms. */
    broker_ports: Type.Optional(Type.Unknown()),
    bootstrap_servers: BootstrapServersSchema,
    tls: Type.Optional(
      Type.Object(
        {
          cert_file: Type.String({ minLength: 1 }),
          key_file: Type.String({ minLength: 1 }),
          client_ca_file: Type.Optional(Type.String({ minLength: 1 })),
          require_client_cert: Type.Optional(Type.Boolean()),
        },
        strict,
      ),
    ),
    upstream_tls: Type.Optional(
      Type.Object({ ca_file: Type.Optional(Type.String({ minLength: 1 })) }, strict),
    ),
    max_frame_bytes: Type.Optional(Type.Integer({ minimum: MIN_FRAME_BYTES, maximum: MAX_FRAME_BYTES })),
    aggregate: Type.Optional(
      Type.Object(
        {
          window_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_AGGREGATE_WINDOW_MS })),
          /** Redpanda event types: checked by checkKafkaProxySource, with a message listing them. */
          event_types: Type.Optional(Type.Array(Type.String())),
        },
        strict,
      ),
    ),
  },
  strict,
);

export type RawKafkaProxySource = Type.Static<typeof KafkaProxySourceSchema>;

/** What the checks need to know of the rest of the config. */
export interface ProxyCheckContext {
  /** The HTTP server's port (`--listen`, else `server.listen`, else the default); undefined or 0: none to avoid. */
  serverPort?: number;
}

const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const WILDCARDS = new Set(["0.0.0.0", "::"]);

/** 127.0.0.0/8, ::1, localhost: the same machine, whatever the spelling. */
function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * The same listener, as far as a config can tell: the same port on the same host, or on two hosts of this
 * machine (loopback spellings, and a wildcard listener, which loopback reaches too).
 */
function sameAddress(a: { host: string; port: number }, b: { host: string; port: number }): boolean {
  const local = (host: string) => isLoopback(host) || WILDCARDS.has(host);
  return a.port === b.port && (a.host === b.host || (local(a.host) && local(b.host)));
}

/** The `broker_ports` range, or why it is not one. */
function parseBrokerPorts(value: unknown): BrokerPorts | string {
  const usage = "must be a port range first-last, e.g. 9193-9208, or one port";
  let bounds: number[] | undefined;
  if (Number.isInteger(value)) bounds = [value as number, value as number];
  else if (typeof value === "string") bounds = /^(\d{1,5})-(\d{1,5})$/.exec(value)?.slice(1).map(Number);
  if (!bounds) return usage;
  const [first, last] = bounds as [number, number];
  if (first < 1 || last > 65535) return "must hold ports 1 to 65535";
  if (first > last) return `${usage} (${first} is above ${last})`;
  const count = last - first + 1;
  if (count > MAX_BROKER_PORTS) {
    return `spans ${count} ports; at most ${MAX_BROKER_PORTS} (one per broker) are allowed`;
  }
  return { first, count };
}

/** `first-last` for messages. */
export function displayPorts(ports: BrokerPorts): string {
  return ports.count === 1 ? String(ports.first) : `${ports.first}-${ports.first + ports.count - 1}`;
}

/** The listen address an entry that passed the schema asks for, or why `listen` is not one. */
function listenOf(raw: RawKafkaProxySource): ListenAddress | string {
  return raw.listen === undefined ? { ...DEFAULT_PROXY_LISTEN } : listenAddress(raw.listen);
}

/** The broker ports an entry asks for, given its listen port; a problem (with the key it is about) otherwise. */
function brokerPortsOf(raw: RawKafkaProxySource, listenPort: number): BrokerPorts | PathProblem {
  if (raw.broker_ports !== undefined) {
    const ports = parseBrokerPorts(raw.broker_ports);
    return typeof ports === "string" ? { path: ["broker_ports"], message: ports } : ports;
  }
  if (listenPort === 0) return { first: 0, count: 0 };
  if (listenPort + DEFAULT_BROKER_PORTS > 65535) {
    return {
      path: raw.listen === undefined ? [] : ["listen"],
      message: `leaves no room for the ${DEFAULT_BROKER_PORTS} broker ports that follow it by default; set broker_ports`,
    };
  }
  return { first: listenPort + 1, count: DEFAULT_BROKER_PORTS };
}

const inRange = (port: number, ports: BrokerPorts) =>
  ports.first !== 0 && port >= ports.first && port < ports.first + ports.count;

/** Checks the schema cannot express: addresses, the port range and what it may not overlap, the servers. */
export function checkKafkaProxySource(raw: RawKafkaProxySource, context: ProxyCheckContext): PathProblem[] {
  const problems = [...checkBootstrapServers(raw.bootstrap_servers), ...checkAggregate(raw)];
  const listen = listenOf(raw);
  if (typeof listen === "string") return [...problems, { path: ["listen"], message: listen }];
  const serverPort = context.serverPort || undefined;
  if (listen.port !== 0 && listen.port === serverPort) {
    problems.push({ path: ["listen"], message: "is the HTTP server's port (server.listen)" });
  }
  if (raw.advertised_host !== undefined) {
    const host = raw.advertised_host;
    if (!(isIP(host) !== 0 || HOST_NAME.test(host)) || WILDCARDS.has(host)) {
      problems.push({
        path: ["advertised_host"],
        message:
          "must be a host name or IP address clients can connect to, without a port, e.g. vigil.example.com",
      });
    }
  } else if (WILDCARDS.has(listen.host)) {
    problems.push({
      path: ["listen"],
      message:
        "listens on every address, which no client can connect to: set advertised_host to the name or address " +
        "clients reach this machine by",
    });
  }
  const ports = brokerPortsOf(raw, listen.port);
  if ("message" in ports) return [...problems, ports];
  // Default ports are reported on `listen`, which they follow (on the entry when listen is defaulted too).
  const clash = (what: string) =>
    problems.push(
      raw.broker_ports !== undefined
        ? { path: ["broker_ports"], message: `holds ${what}` }
        : {
            path: raw.listen === undefined ? [] : ["listen"],
            message: `is followed by the default broker_ports ${displayPorts(ports)}, which hold ${what}; set broker_ports`,
          },
    );
  if (listen.port !== 0 && inRange(listen.port, ports)) clash(`listen's port ${listen.port}`);
  if (serverPort !== undefined && inRange(serverPort, ports)) {
    clash(`the HTTP server's port ${serverPort} (server.listen)`);
  }
  const own = proxyPorts({ listen, brokerPorts: ports });
  raw.bootstrap_servers.forEach((server, i) => {
    const broker = parseBootstrapServer(server);
    if ("problem" in broker) return; // reported above
    if (own.some((port) => sameAddress(broker, { host: listen.host, port }))) {
      problems.push({
        path: ["bootstrap_servers", i],
        message: "is the proxy's own address: name the real cluster's brokers",
      });
    }
  });
  return problems;
}

/** `aggregate.event_types` entries that are no Redpanda event type. */
function checkAggregate(raw: RawKafkaProxySource): PathProblem[] {
  const known: ReadonlySet<string> = new Set(REDPANDA_EVENT_TYPES);
  return (raw.aggregate?.event_types ?? []).flatMap((type, i) => {
    if (known.has(type)) return [];
    const hint = suggest(type, REDPANDA_EVENT_TYPES);
    return [
      {
        path: ["aggregate", "event_types", i],
        message: `unknown event type "${type}"${hint ? ` (did you mean "${hint}"?)` : ""}: must be one of ${REDPANDA_EVENT_TYPES.join(", ")}`,
      },
    ];
  });
}

/** The local ports an entry that passed the checks takes (listen's and the broker ports; none for port 0). */
export function proxyPorts(config: Pick<KafkaProxySourceConfig, "listen" | "brokerPorts">): number[] {
  const { first, count } = config.brokerPorts;
  const range = first === 0 ? [] : Array.from({ length: count }, (_, i) => first + i);
  return config.listen.port === 0 ? range : [config.listen.port, ...range];
}

/** Resolves an entry that passed the schema and checkKafkaProxySource; `ca_file` relative to `baseDir`. */
export function resolveKafkaProxySource(raw: RawKafkaProxySource, baseDir: string): KafkaProxySourceConfig {
  const listen = listenOf(raw);
  const brokerPorts = typeof listen === "string" ? undefined : brokerPortsOf(raw, listen.port);
  // checkKafkaProxySource reports both first.
  if (typeof listen === "string" || brokerPorts === undefined || "message" in brokerPorts) {
    throw new Error("resolveKafkaProxySource: the entry did not pass checkKafkaProxySource");
  }
  const brokers = raw.bootstrap_servers.map((server) => {
    const parsed = parseBootstrapServer(server);
    if ("problem" in parsed) throw new Error(`bootstrap server ${server} ${parsed.problem}`);
    return parsed;
  });
  const tls = raw.upstream_tls;
  const clients = raw.tls;
  return {
    type: "kafka_proxy",
    name: raw.name ?? DEFAULT_PROXY_NAME,
    listen,
    advertisedHost: raw.advertised_host ?? listen.host,
    brokerPorts,
    brokers,
    ...(clients === undefined
      ? {}
      : {
          tls: {
            certFile: resolve(baseDir, clients.cert_file),
            keyFile: resolve(baseDir, clients.key_file),
            ...(clients.client_ca_file === undefined
              ? {}
              : { clientCaFile: resolve(baseDir, clients.client_ca_file) }),
            requireClientCert: clients.require_client_cert ?? true,
          },
        }),
    ...(tls === undefined
      ? {}
      : { upstreamTls: tls.ca_file === undefined ? {} : { caFile: resolve(baseDir, tls.ca_file) } }),
    maxFrameBytes: raw.max_frame_bytes ?? DEFAULT_MAX_FRAME_BYTES,
    aggregate: {
      windowMs: raw.aggregate?.window_ms ?? DEFAULT_AGGREGATE_WINDOW_MS,
      eventTypes: [...(raw.aggregate?.event_types ?? DEFAULT_AGGREGATE_EVENT_TYPES)],
    },
  };
}
