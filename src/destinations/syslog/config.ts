/**
 * Config of the `type: syslog` destination: spec/000's keys and the ones a real deployment needs.
 *
 * ```yaml
 * - type: syslog
 *   server: syslog.company.com:514   # host[:port]; [v6addr]:port. Port: 514 (udp, tcp), 6514 (tls)
 *   protocol: tcp                    # tcp (default, as spec/000's example) | udp | tls
 *   facility: local0                 # kern user mail daemon auth syslog lpr news uucp cron authpriv ftp
 *                                    # local0..local7, or 0-23; default local0
 *   app_name: vigil                  # APP-NAME, 1-48 printable ASCII characters; default vigil
 *   hostname: node-7                 # HOSTNAME, 1-255 printable ASCII characters; default the machine's name
 *   max_message_bytes: 8192          # largest message sent (header, structured data and record); see below
 *   framing: octet_counting          # tcp, tls: octet_counting (RFC 6587 §3.4.1, RFC 5425) | non_transparent (LF)
 *   replay_window_secs: 1            # tcp, tls: how long writes must go on after a message before it is
 *                                    # presumed received (until then re-sent if the connection breaks, and
 *                                    # sent again after a restart); 0 turns this off
 *   tls:                             # tls only
 *     ca_file: /etc/vigil/syslog-ca.pem      # CAs trusted instead of the system's
 *     cert_file: /etc/vigil/client.pem       # client certificate and key, for servers that ask for one
 *     key_file: /etc/vigil/client.key
 *     insecure_skip_verify: false            # tests only: the server's certificate is not checked
 * ```
 *
 * `max_message_bytes` must not exceed what the server accepts: rsyslog's `maxMessageSize` (global(), default
 * 8 KiB, the default here too) cuts a longer UDP message and splits a longer TCP or TLS one into garbage
 * messages. Raise both together for large records. A record whose message would be larger is refused as too
 * large, and `on_oversize` applies (truncate: the record without its details; park). At most 65,507 over UDP (the
 * largest IPv4 datagram) and 200,000 over TCP and TLS (rsyslog's imtcp MaxFrameSize default: a longer frame
 * breaks the connection's framing).
 *
 * Delivery is at-least-once with no gap over TCP and TLS, across broken connections and restarts: syslog
 * acknowledges nothing, so a message is presumed received only once later writes on its connection kept
 * completing for `replay_window_secs`; until then it is re-sent if the connection breaks, and the cursor stays
 * before it, so a restart sends it again (a receiver may see repeats, never a gap). A longer window covers a
 * server that holds more unread for longer, but holds more in memory (up to REPLAY_WINDOW_BYTES, destination.ts) and
 * bounds the sustained rate to that per window. `replay_window_secs: 0` gives this up: a message counts as
 * received once written. Over UDP delivery is best effort: nothing is confirmed, a dropped datagram is lost.
 *
 * The shared delivery keys (batch, request_timeout_secs, on_oversize, retry, format) apply as everywhere.
 */
import { isIP } from "node:net";
import { hostname as machineName } from "node:os";
import Type from "typebox";
import type { PathProblem } from "../../config/schema.ts";
import { type BaseDestinationConfig, DeliveryFields, resolveDelivery } from "../delivery.ts";
import { checkTlsFiles, readTlsFiles, type TlsClientConfig, TlsSchema } from "../tls.ts";
import { FACILITIES, facilityCode, MAX_APP_NAME, MAX_HOSTNAME } from "./format.ts";

export const SYSLOG_PROTOCOLS = ["tcp", "udp", "tls"] as const;
export type SyslogProtocol = (typeof SYSLOG_PROTOCOLS)[number];
export const SYSLOG_FRAMINGS = ["octet_counting", "non_transparent"] as const;
export type SyslogFraming = (typeof SYSLOG_FRAMINGS)[number];

export const DEFAULT_SYSLOG_PORTS: Readonly<Record<SyslogProtocol, number>> = {
  udp: 514,
  tcp: 514,
  tls: 6514,
};
export const DEFAULT_FACILITY = "local0";
export const DEFAULT_APP_NAME = "vigil";
/** rsyslog's default maxMessageSize. */
export const DEFAULT_MAX_MESSAGE_BYTES = 8192;
/** The largest UDP payload over IPv4 (65,535 less the IP and UDP headers). */
export const MAX_UDP_MESSAGE_BYTES = 65_507;
/** rsyslog's imtcp MaxFrameSize default: a longer octet-counted frame throws its framing off. */
export const MAX_STREAM_MESSAGE_BYTES = 200_000;
export const DEFAULT_REPLAY_WINDOW_SECS = 1;

export type SyslogTlsConfig = TlsClientConfig;

export interface SyslogDestinationConfig extends BaseDestinationConfig {
  type: "syslog";
  /** Host name or IP address (IPv6 without brackets). */
  host: string;
  port: number;
  protocol: SyslogProtocol;
  /** Facility code 0–23. */
  facility: number;
  appName: string;
  hostname: string;
  maxMessageBytes: number;
  /** TCP and TLS only. */
  framing: SyslogFraming;
  /**
   * TCP and TLS only: how long writes must keep completing after a message before it is presumed received (until
   * then it is re-sent after a break, and not settled); 0: presumed received once written.
   */
  replayWindowMs: number;
  /** TLS only. */
  tls: SyslogTlsConfig;
}

export const SyslogDestinationSchema = Type.Object(
  {
    type: Type.Literal("syslog"),
    ...DeliveryFields,
    server: Type.String({ minLength: 1 }),
    protocol: Type.Optional(Type.Enum(SYSLOG_PROTOCOLS)),
    // A name or a number: checkSyslogDestination says which in one message (a union's errors would be three).
    facility: Type.Optional(Type.Unknown()),
    app_name: Type.Optional(Type.String({ minLength: 1 })),
    hostname: Type.Optional(Type.String({ minLength: 1 })),
    max_message_bytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: MAX_STREAM_MESSAGE_BYTES })),
    framing: Type.Optional(Type.Enum(SYSLOG_FRAMINGS)),
    replay_window_secs: Type.Optional(Type.Number({ minimum: 0, maximum: 3600 })),
    tls: TlsSchema,
  },
  { additionalProperties: false },
);

export type RawSyslogDestination = Type.Static<typeof SyslogDestinationSchema>;

/** `host:port`, `host`, `[v6]:port`, `[v6]` or a bare IPv6 address; a reason when it is none of these. */
export function parseServer(
  server: string,
  protocol: SyslogProtocol,
): { host: string; port: number } | { problem: string } {
  const defaultPort = DEFAULT_SYSLOG_PORTS[protocol];
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(server)) {
    return { problem: "must be host:port without a scheme (the protocol goes in protocol:)" };
  }
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(server);
  if (bracketed) {
    host = bracketed[1] as string;
    portText = bracketed[2];
    if (isIP(host) !== 6) return { problem: "must hold an IPv6 address between the brackets" };
  } else if (isIP(server) === 6) {
    host = server;
  } else {
    const colon = server.lastIndexOf(":");
    if (colon >= 0 && server.indexOf(":") !== colon) {
      return { problem: "must put an IPv6 address in brackets: [2001:db8::1]:514" };
    }
    host = colon < 0 ? server : server.slice(0, colon);
    portText = colon < 0 ? undefined : server.slice(colon + 1);
  }
  if (host === "" || /[\s/@?#]/.test(host))
    return { problem: "must be host:port, e.g. syslog.example.com:514" };
  if (portText === undefined) return { host, port: defaultPort };
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
  if (!(port >= 1 && port <= 65535)) return { problem: "has an invalid port: it must be 1 to 65535" };
  return { host, port };
}

const PRINTABLE = /^[\x21-\x7e]+$/;

/** Checks the schema cannot express: the server, facility, header fields, and keys that fit only some protocols. */
export function checkSyslogDestination(raw: RawSyslogDestination, baseDir: string): PathProblem[] {
  const problems: PathProblem[] = [];
  const protocol = raw.protocol ?? "tcp";
  const server = parseServer(raw.server, protocol);
  if ("problem" in server) problems.push({ path: ["server"], message: server.problem });
  if (raw.facility !== undefined && facilityCode(raw.facility) === undefined) {
    problems.push({
      path: ["facility"],
      message: `must be one of ${Object.keys(FACILITIES).join(", ")}, or a number from 0 to 23`,
    });
  }
  if (raw.app_name !== undefined && !(PRINTABLE.test(raw.app_name) && raw.app_name.length <= MAX_APP_NAME)) {
    problems.push({
      path: ["app_name"],
      message: `must be 1 to ${MAX_APP_NAME} printable ASCII characters, without spaces`,
    });
  }
  if (raw.hostname !== undefined && !(PRINTABLE.test(raw.hostname) && raw.hostname.length <= MAX_HOSTNAME)) {
    problems.push({
      path: ["hostname"],
      message: `must be 1 to ${MAX_HOSTNAME} printable ASCII characters, without spaces`,
    });
  }
  if (protocol === "udp") {
    if (raw.max_message_bytes !== undefined && raw.max_message_bytes > MAX_UDP_MESSAGE_BYTES) {
      problems.push({
        path: ["max_message_bytes"],
        message: `must be at most ${MAX_UDP_MESSAGE_BYTES} over udp (the largest datagram)`,
      });
    }
    for (const key of ["framing", "replay_window_secs"] as const) {
      if (raw[key] !== undefined)
        problems.push({ path: [key], message: "applies only to protocol tcp or tls" });
    }
  }
  if (raw.tls !== undefined && protocol !== "tls") {
    problems.push({ path: ["tls"], message: "applies only with protocol: tls" });
    return problems;
  }
  problems.push(...checkTlsFiles(raw.tls ?? {}, "", ["tls"], baseDir));
  return problems;
}

/** `host:port`, with an IPv6 address in brackets: how the destination is named and shown. */
export function displayServer(host: string, port: number): string {
  return `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

export function syslogTarget(config: SyslogDestinationConfig): string {
  return `syslog:${config.protocol}://${displayServer(config.host, config.port)}`;
}

export function resolveSyslogDestination(
  raw: RawSyslogDestination,
  baseDir: string,
): SyslogDestinationConfig {
  const protocol = raw.protocol ?? "tcp";
  const server = parseServer(raw.server, protocol);
  if ("problem" in server) throw new Error(`server ${server.problem}`); // checkSyslogDestination reports it first
  const tls = readTlsFiles(raw.tls ?? {}, "", baseDir);
  return {
    type: "syslog",
    name: raw.name ?? `syslog:${displayServer(server.host, server.port)}`,
    format: raw.format ?? "native",
    delivery: resolveDelivery(raw),
    host: server.host,
    port: server.port,
    protocol,
    facility: facilityCode(raw.facility ?? DEFAULT_FACILITY) as number,
    appName: raw.app_name ?? DEFAULT_APP_NAME,
    hostname: raw.hostname ?? machineName(),
    maxMessageBytes: raw.max_message_bytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    framing: raw.framing ?? "octet_counting",
    replayWindowMs: Math.round((raw.replay_window_secs ?? DEFAULT_REPLAY_WINDOW_SECS) * 1000),
    tls,
  };
}
