/**
 * Kafka authorizer and authentication log lines → native events (issue 4, point 9). Pure and synchronous: the
 * file tailer feeds it lines; nothing here reads files or keeps state besides caches.
 *
 * Messages understood (the texts Kafka's code writes, checked against apache/kafka):
 * - KRaft `StandardAuthorizer` (3.x, 4.x): `Principal = User:a is Denied operation = DESCRIBE_CONFIGS from host
 *   = 10.0.0.1 on resource = Topic:LITERAL:t for request = DescribeConfigs with resourceRefCount = 1 based on
 *   rule DefaultDeny` (rules: DefaultAllow, DefaultDeny, SuperUser, `MatchingAcl(acl=StandardAcl(…))`).
 * - ZooKeeper `AclAuthorizer` (2.4–3.x): the same with `Operation = Read` and no `based on rule`.
 * - `SimpleAclAuthorizer` (before 2.4): no `for request`; the resource is `Type:PATTERN:name` (2.0–2.3) or
 *   `Type:name` (before 2.0, when every resource was literal).
 * - `SaslServerCallbackHandler`: `Successfully authenticated client: authenticationID=…; authorizationID=….`
 * - `Selector`: `Failed [re-]authentication with host/ip [(channelId=…)] (reason)`.
 *
 * Around the message, whatever log4j layout wrote the line: an optional timestamp (`[2024-01-01 10:00:00,123]`,
 * bare, with `T`, with an offset), an optional level, the logger either before the message (`kafka.authorizer
 * .logger logAuthorization -`, Strimzi's `logger:305 -`, `org…SaslServerCallbackHandler: [thread]:`) or as
 * Kafka's default ` (kafka.authorizer.logger)` suffix.
 *
 * Classification, so that nothing that looks like an audit record disappears silently:
 * - a line holding one of the messages' opening words (`Principal = `, `Successfully authenticated client: `,
 *   `Failed authentication with `, `Failed re-authentication with `), or naming `kafka.authorizer.logger`, or
 *   naming a `SaslServer…` class at a level above DEBUG, is an audit line: it becomes an event or, when it does
 *   not parse, `unparsed` with the reason;
 * - every other line is `ignored`: the broker's other log lines (controller, replication, …), blank lines, and
 *   `SaslServerAuthenticator`'s DEBUG/TRACE handshake steps, which never carry an outcome (Kafka logs outcomes
 *   through the two classes above, and would otherwise flood the trail with `unparsed` records).
 *
 * Events: `access.granted` / `access.denied` / `auth.login` / `auth.failed`. Operations and resource types are
 * snake case whichever authorizer wrote them (`DescribeConfigs` and `DESCRIBE_CONFIGS` → `describe_configs`, so
 * one policy or query covers both); the line as written stays in details.raw. details.authorizer names the
 * message shape (`standard`, `acl`, `simple`, `sasl`, `ssl`). A line without a timestamp gives an event without
 * one, which the server stamps with the receive time. No event_id: the tailer knows the file position it needs.
 *
 * Unparsed lines are returned, not turned into events, so the caller counts them; `unparsedEvent` makes the
 * `kafka.log_unparsed` event (details.raw, details.reason) that keeps them in the trail.
 */
import { isIP } from "node:net";
import type { InputEvent } from "../../event/schema.ts";

export interface ParseOptions {
  /**
   * IANA zone of the broker's log4j timestamps, which carry no offset unless the layout adds one (an offset in
   * the line wins). Default UTC.
   */
  timeZone?: string;
}

export type ParsedLine =
  | { kind: "event"; event: InputEvent }
  /** `timestamp` when the line's own timestamp could be read, so the unparsed record sorts where it belongs. */
  | { kind: "unparsed"; raw: string; reason: string; timestamp?: string }
  | { kind: "ignored" };

export interface UnparsedLine {
  /** 1-based line number within the text given to parseLines. */
  line: number;
  raw: string;
  reason: string;
  timestamp?: string;
}

export interface ParseResult {
  events: InputEvent[];
  unparsed: UnparsedLine[];
  ignored: number;
}

/**
 * Longest line parsed or kept whole. Real lines are far below 1 KiB; the cap keeps one event (raw line plus
 * parsed fields) under the default 256 KiB event limit, so a runaway line cannot make the pipeline refuse it.
 */
export const MAX_LINE_CHARS = 65_536;

const PRINCIPAL = String.raw`Principal = (?<ptype>[^:\s]+):(?<pname>.*?) is (?<result>Allowed|Denied)`;
const FROM_ON = String.raw`from host = (?<host>\S*) on resource = (?<resource>.+?)`;
const STANDARD_LINE = new RegExp(
  String.raw`^${PRINCIPAL} operation = (?<op>\S+) ${FROM_ON} for request = (?<api>\S+) with resourceRefCount = (?<refs>\d+) based on rule (?<rule>.+)$`,
  "s",
);
const ACL_LINE = new RegExp(
  String.raw`^${PRINCIPAL} Operation = (?<op>\S+) ${FROM_ON} for request = (?<api>\S+) with resourceRefCount = (?<refs>\d+)$`,
  "s",
);
const SIMPLE_LINE = new RegExp(String.raw`^${PRINCIPAL} Operation = (?<op>\S+) ${FROM_ON}$`, "s");
const LOGIN_LINE =
  /^Successfully authenticated client: authenticationID=(?<authn>.*?); authorizationID=(?<authz>.*)\.$/s;
const FAILURE_LINE =
  /^Failed (?<re>re-)?authentication with (?<address>\S+)(?: \(channelId=(?<channel>[^)]*)\))? \((?<error>.*)\)$/s;

/** `Type:PATTERN:name`; a second part that is no pattern type is a pre-2.0 `Type:name`. */
const RESOURCE =
  /^(?<type>[^:]+):(?:(?<pattern>LITERAL|PREFIXED|ANY|MATCH|UNKNOWN)(?::(?<name>.*))?|(?<legacy>.*))$/s;
/** StandardAcl.toString(), so the event names the ACL that decided. */
const MATCHING_ACL =
  /^MatchingAcl\(acl=StandardAcl\(resourceType=(?<rtype>\w+), resourceName=(?<rname>.*), patternType=(?<pattern>\w+), principal=(?<principal>.*), host=(?<host>.*), operation=(?<op>\w+), permissionType=(?<perm>\w+)\)\)$/s;

const PREFIX =
  /^\s*(?:\[?(?<date>\d{4}-\d{2}-\d{2})[ T](?<time>\d{2}:\d{2}:\d{2})(?:[.,](?<frac>\d{1,9}))?(?<zone>Z|[+-]\d{2}:?\d{2})?\]?\s+)?(?:(?<level>TRACE|DEBUG|INFO|WARN|ERROR|FATAL)\s+)?(?<rest>.*)$/s;
/** A logger before the message: dotted, or Strimzi's `%c{1}:%L` short name; thread/context brackets skipped. */
const PREFIX_LOGGER =
  /^(?:\[[^\]]*\]\s*)*(?<logger>[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+|[A-Za-z_$][\w$]*(?=:\d))/;
/** Kafka's default layout ends with ` (logger)`; a dot is required so a name like `my group (v2)` stays whole. */
const SUFFIX_LOGGER = /^ \((?<logger>[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+)\)$/;
/** A clock time the prefix pattern did not take means a timestamp layout this parser does not know. */
const STRAY_TIME = /\d{2}:\d{2}:\d{2}/;
const LISTENER = /ListenerName\((?<listener>[^)]*)\)/;

type Groups<K extends string> = Record<K, string> & Partial<Record<string, string>>;

function groups<K extends string>(m: RegExpExecArray): Groups<K> {
  return m.groups as Groups<K>;
}

/** `DescribeConfigs` (AclAuthorizer), `DESCRIBE_CONFIGS` (StandardAuthorizer) → `describe_configs`. */
function snake(name: string): string {
  if (name.includes("_") || name === name.toUpperCase()) return name.toLowerCase();
  return name.replace(/(?<=[a-z0-9])(?=[A-Z])/g, "_").toLowerCase();
}

// ---------------------------------------------------------------------------------------------------------------
// Timestamps

/** Offset (ms, local − UTC) at a local wall-clock instant, per zone; cached per wall minute. */
const zones = new Map<string, (wallMs: number) => number>();

function zoneOffset(timeZone: string): (wallMs: number) => number {
  const known = zones.get(timeZone);
  if (known) return known;
  // Throws RangeError for an unknown zone: a configuration error, reported on the first line, not per line.
  const format = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
    second: "numeric",
  });
  const offsetAt = (utcMs: number): number => {
    const p: Record<string, number> = {};
    for (const part of format.formatToParts(utcMs)) p[part.type] = Number(part.value);
    const local = Date.UTC(p.year ?? 0, (p.month ?? 1) - 1, p.day, p.hour, p.minute, p.second);
    return local - Math.floor(utcMs / 1000) * 1000;
  };
  const cache = new Map<number, number>();
  const resolve = (wallMs: number): number => {
    const minute = Math.floor(wallMs / 60_000);
    let offset = cache.get(minute);
    if (offset === undefined) {
      // Zone transitions fall on whole minutes, so one answer serves the whole wall minute. A wall time in a
      // spring-forward gap or a fall-back overlap is ambiguous in the log itself; this picks one consistently.
      const wall = minute * 60_000;
      const first = offsetAt(wall);
      const second = offsetAt(wall - first);
      offset = first === second || offsetAt(wall - second) !== second ? first : second;
      if (cache.size >= 10_000) cache.clear();
      cache.set(minute, offset);
    }
    return offset;
  };
  zones.set(timeZone, resolve);
  return resolve;
}

function isUtc(timeZone: string | undefined): boolean {
  return timeZone === undefined || timeZone === "UTC" || timeZone === "Etc/UTC";
}

/** UTC `YYYY-MM-DDTHH:MM:SS` of a wall-clock second, or undefined when the fields name no real instant. */
function utcSecond(date: string, time: string, zone: string | undefined, timeZone: string | undefined) {
  const y = Number(date.slice(0, 4));
  const mo = Number(date.slice(5, 7));
  const d = Number(date.slice(8, 10));
  const h = Number(time.slice(0, 2));
  const mi = Number(time.slice(3, 5));
  const s = Number(time.slice(6, 8));
  const wall = Date.UTC(y, mo - 1, d, h, mi, s);
  const check = new Date(wall);
  if (check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || h > 23 || mi > 59 || s > 59)
    return undefined;
  let offsetMs = 0;
  if (zone !== undefined && zone !== "Z") {
    const sign = zone.startsWith("-") ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    const minutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4));
    if (minutes > 18 * 60) return undefined;
    offsetMs = sign * minutes * 60_000;
  } else if (zone === undefined && !isUtc(timeZone)) {
    offsetMs = zoneOffset(timeZone as string)(wall);
  }
  return new Date(wall - offsetMs).toISOString().slice(0, 19);
}

/** Consecutive lines mostly share their second, so the zone conversion runs once per second, not per line. */
let lastSecond = { key: "", utc: undefined as string | undefined };

/** RFC 3339 in UTC, or undefined when the fields name no real instant (month 13, February 30, …). */
function toRfc3339(
  date: string,
  time: string,
  frac: string | undefined,
  zone: string | undefined,
  timeZone: string | undefined,
): string | undefined {
  const key = `${date} ${time} ${zone} ${timeZone}`;
  if (key !== lastSecond.key) lastSecond = { key, utc: utcSecond(date, time, zone, timeZone) };
  if (lastSecond.utc === undefined) return undefined;
  // Offsets are whole minutes, so the fraction carries over unchanged, including digits below the millisecond
  // that a finer log4j pattern wrote.
  return `${lastSecond.utc}.${frac === undefined ? "000" : frac.padEnd(3, "0")}Z`;
}

// ---------------------------------------------------------------------------------------------------------------
// Lines

type Kind = "authorizer" | "login" | "failure";

interface Envelope {
  timestamp?: string;
  level?: string;
  logger?: string;
  listener?: string;
  message: string;
}

const NATIVE_LIMITS: [string, (e: InputEvent) => string | undefined, number][] = [
  ["actor.id", (e) => e.actor?.id, 1024],
  ["actor.type", (e) => e.actor?.type, 64],
  ["resource.type", (e) => e.resource?.type, 128],
  ["resource.id", (e) => e.resource?.id, 1024],
  ["action.operation", (e) => e.action?.operation, 128],
];

/** The native schema's length limits, checked here so one odd line cannot make a whole batch refused. */
function limitProblem(event: InputEvent): string | undefined {
  for (const [field, get, max] of NATIVE_LIMITS) {
    const value = get(event);
    if (value !== undefined && value.length > max) return `${field} is longer than ${max} characters`;
  }
  return undefined;
}

function unparsed(raw: string, reason: string, timestamp?: string): ParsedLine {
  return timestamp === undefined
    ? { kind: "unparsed", raw, reason }
    : { kind: "unparsed", raw, reason, timestamp };
}

function locate(line: string): { kind: Kind; at: number } | undefined {
  let at = line.indexOf("Principal = ");
  if (at >= 0) return { kind: "authorizer", at };
  at = line.indexOf("Successfully authenticated client: ");
  if (at >= 0) return { kind: "login", at };
  at = line.indexOf("Failed authentication with ");
  if (at < 0) at = line.indexOf("Failed re-authentication with ");
  if (at >= 0) return { kind: "failure", at };
  return undefined;
}

/** Splits prefix, message and suffix; a string is the reason the envelope cannot be read. */
function envelope(line: string, at: number, timeZone: string | undefined): Envelope | string {
  const prefix = groups<"rest">(PREFIX.exec(line.slice(0, at)) as RegExpExecArray);
  if (STRAY_TIME.test(prefix.rest)) return "timestamp in a layout this parser does not know";
  const out: Envelope = { message: "" };
  if (prefix.date !== undefined && prefix.time !== undefined) {
    const timestamp = toRfc3339(prefix.date, prefix.time, prefix.frac, prefix.zone, timeZone);
    if (timestamp === undefined) return `invalid timestamp ${prefix.date} ${prefix.time}${prefix.zone ?? ""}`;
    out.timestamp = timestamp;
  }
  if (prefix.level !== undefined) out.level = prefix.level;
  const listener = LISTENER.exec(prefix.rest)?.groups?.listener;
  if (listener !== undefined) out.listener = listener;
  let end = line.length;
  const before = PREFIX_LOGGER.exec(prefix.rest)?.groups?.logger;
  if (before !== undefined) out.logger = before;
  else if (line.endsWith(")")) {
    const open = line.lastIndexOf(" (");
    const after = open > at ? SUFFIX_LOGGER.exec(line.slice(open))?.groups?.logger : undefined;
    if (after !== undefined) {
      out.logger = after;
      end = open;
    }
  }
  out.message = line.slice(at, end);
  return out;
}

function common(env: Envelope, authorizer: string, raw: string): Record<string, unknown> {
  const details: Record<string, unknown> = { authorizer };
  if (env.logger !== undefined) details.logger = env.logger;
  if (env.level !== undefined) details.level = env.level;
  if (env.listener !== undefined) details.listener = env.listener;
  details.raw = raw;
  return details;
}

function withTimestamp(env: Envelope, event: InputEvent): InputEvent {
  return env.timestamp === undefined ? event : { timestamp: env.timestamp, ...event };
}

function authorizerEvent(env: Envelope, raw: string): InputEvent | string {
  const { message } = env;
  let format: "standard" | "acl" | "simple";
  let re: RegExp;
  if (message.includes(" operation = ")) [format, re] = ["standard", STANDARD_LINE];
  else if (message.includes(" for request = ")) [format, re] = ["acl", ACL_LINE];
  else [format, re] = ["simple", SIMPLE_LINE];
  const m = re.exec(message);
  if (!m) {
    const expected = {
      standard:
        "StandardAuthorizer: Principal = T:name is Allowed|Denied operation = … from host = … on resource = … for request = … with resourceRefCount = n based on rule …",
      acl: "AclAuthorizer: Principal = T:name is Allowed|Denied Operation = … from host = … on resource = … for request = … with resourceRefCount = n",
      simple:
        "SimpleAclAuthorizer: Principal = T:name is Allowed|Denied Operation = … from host = … on resource = …",
    }[format];
    return `authorizer line does not match the ${expected}`;
  }
  const g = groups<"ptype" | "pname" | "result" | "op" | "host" | "resource">(m);
  const rm = RESOURCE.exec(g.resource);
  if (!rm) return `resource "${g.resource}" is not Type:PATTERN:name or Type:name`;
  const r = groups<"type">(rm);
  const granted = g.result === "Allowed";
  const actor: Record<string, unknown> = {
    type: g.ptype === "User" ? "user" : snake(g.ptype),
    id: g.pname,
    principal_type: g.ptype,
  };
  const details = common(env, format, raw);
  if (isIP(g.host) !== 0) actor.ip_address = g.host;
  else details.host = g.host;
  const resource: Record<string, unknown> = { type: snake(r.type) };
  const name = r.legacy ?? r.name;
  if (name !== undefined) resource.id = name;
  resource.pattern_type = r.pattern ?? "LITERAL";
  const action: Record<string, unknown> = { operation: snake(g.op), result: granted ? "success" : "denied" };
  if (g.api !== undefined) action.api = g.api;
  if (g.refs !== undefined) details.resource_ref_count = Number(g.refs);
  if (g.rule !== undefined) {
    details.rule = g.rule;
    const am = MATCHING_ACL.exec(g.rule);
    if (am) {
      const acl = groups<"rtype" | "rname" | "pattern" | "principal" | "host" | "op" | "perm">(am);
      details.acl = {
        resource_type: snake(acl.rtype),
        resource_name: acl.rname,
        pattern_type: acl.pattern,
        principal: acl.principal,
        host: acl.host,
        operation: snake(acl.op),
        permission_type: snake(acl.perm),
      };
    }
  }
  return withTimestamp(env, {
    event_type: granted ? "access.granted" : "access.denied",
    actor,
    resource,
    action,
    details,
  });
}

function loginEvent(env: Envelope, raw: string): InputEvent | string {
  const m = LOGIN_LINE.exec(env.message);
  if (!m)
    return "SASL line does not match: Successfully authenticated client: authenticationID=…; authorizationID=….";
  const g = groups<"authn" | "authz">(m);
  const details = common(env, "sasl", raw);
  // Kafka reaches this callback only for GSSAPI, and makes the session's identity the authentication id.
  details.mechanism = "GSSAPI";
  details.authentication_id = g.authn;
  details.authorization_id = g.authz;
  return withTimestamp(env, {
    event_type: "auth.login",
    actor: { type: "user", id: g.authn },
    action: { operation: "authenticate", result: "success" },
    details,
  });
}

function failureEvent(env: Envelope, raw: string): InputEvent | string {
  const m = FAILURE_LINE.exec(env.message);
  if (!m) return "authentication failure line does not match: Failed authentication with host/ip (reason)";
  const g = groups<"address" | "error">(m);
  // SSL handshake failures are logged through the same statement as SASL ones.
  const details = common(env, g.error.startsWith("SSL handshake failed") ? "ssl" : "sasl", raw);
  details.client_address = g.address;
  if (g.channel !== undefined) details.channel_id = g.channel;
  details.error = g.error;
  const mechanism = /with SASL mechanism (\S+)/.exec(g.error)?.[1];
  if (mechanism !== undefined) details.mechanism = mechanism;
  // InetAddress.toString(): `hostname/ip`, or `/ip` when no name was resolved.
  const ip = g.address.slice(g.address.lastIndexOf("/") + 1);
  const event: InputEvent = {
    event_type: "auth.failed",
    action: { operation: g.re === undefined ? "authenticate" : "reauthenticate", result: "failure" },
    details,
  };
  if (isIP(ip) !== 0) event.actor = { ip_address: ip };
  return withTimestamp(env, event);
}

/** Whether a line with none of the messages' opening words still belongs to the authorizer or SASL server. */
function auditLineReason(line: string): string | undefined {
  if (line.includes("kafka.authorizer.logger"))
    return "kafka.authorizer.logger line without a Principal = … decision";
  if (!line.includes("SaslServer")) return undefined;
  const level = PREFIX.exec(line)?.groups?.level;
  if (level === "DEBUG" || level === "TRACE") return undefined;
  return "SaslServer line that is not a known authentication outcome";
}

/**
 * Parses one log line (without its line terminator; a trailing `\r` is dropped). Throws RangeError only for an
 * unknown `options.timeZone`.
 */
export function parseLine(line: string, options?: ParseOptions): ParsedLine {
  const timeZone = options?.timeZone;
  if (!isUtc(timeZone)) zoneOffset(timeZone as string);
  const raw = line.endsWith("\r") ? line.slice(0, -1) : line;
  if (raw.length > MAX_LINE_CHARS) {
    return locate(raw) || auditLineReason(raw)
      ? unparsed(raw, `line longer than ${MAX_LINE_CHARS} characters`)
      : { kind: "ignored" };
  }
  const found = locate(raw);
  if (!found) {
    const reason = auditLineReason(raw);
    if (reason === undefined) return { kind: "ignored" };
    const prefix = groups<"rest">(PREFIX.exec(raw) as RegExpExecArray);
    const timestamp =
      prefix.date !== undefined && prefix.time !== undefined
        ? toRfc3339(prefix.date, prefix.time, prefix.frac, prefix.zone, timeZone)
        : undefined;
    return unparsed(raw, reason, timestamp);
  }
  const env = envelope(raw, found.at, timeZone);
  if (typeof env === "string") return unparsed(raw, env);
  const build =
    found.kind === "authorizer" ? authorizerEvent : found.kind === "login" ? loginEvent : failureEvent;
  const event = build(env, raw);
  if (typeof event === "string") return unparsed(raw, event, env.timestamp);
  const tooLong = limitProblem(event);
  return tooLong === undefined ? { kind: "event", event } : unparsed(raw, tooLong, env.timestamp);
}

/** Parses a whole text (`\n` or `\r\n` lines; a final line without a terminator counts). */
export function parseLines(text: string, options?: ParseOptions): ParseResult {
  const result: ParseResult = { events: [], unparsed: [], ignored: 0 };
  let start = 0;
  let line = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end === -1) end = text.length;
    line++;
    const parsed = parseLine(text.slice(start, end), options);
    start = end + 1;
    if (parsed.kind === "event") result.events.push(parsed.event);
    else if (parsed.kind === "ignored") result.ignored++;
    else {
      const { raw, reason, timestamp } = parsed;
      result.unparsed.push(
        timestamp === undefined ? { line, raw, reason } : { line, raw, reason, timestamp },
      );
    }
  }
  return result;
}

/**
 * The `kafka.log_unparsed` event that keeps an unparsed line in the trail: details.raw (cut at MAX_LINE_CHARS,
 * with details.raw_length then), details.reason, and details.line when known.
 */
export function unparsedEvent(entry: {
  raw: string;
  reason: string;
  timestamp?: string;
  line?: number;
}): InputEvent {
  let raw = entry.raw;
  const details: Record<string, unknown> = { reason: entry.reason };
  if (raw.length > MAX_LINE_CHARS) {
    details.raw_length = raw.length;
    // Do not split a surrogate pair: a lone surrogate is not valid Unicode text.
    const cut = /[\uDC00-\uDFFF]/.test(raw.charAt(MAX_LINE_CHARS)) ? MAX_LINE_CHARS - 1 : MAX_LINE_CHARS;
    raw = raw.slice(0, cut);
  }
  details.raw = raw;
  if (entry.line !== undefined) details.line = entry.line;
  const event: InputEvent = { event_type: "kafka.log_unparsed", details };
  return entry.timestamp === undefined ? event : { timestamp: entry.timestamp, ...event };
}
