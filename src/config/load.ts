/**
 * Loads vigil.yaml into a VigilConfig: YAML parsing that keeps each key's line, `${VAR}` interpolation of every
 * string value, the schema (schema.ts), the checks a schema cannot express, then defaults and CLI overrides.
 * Every problem is reported in one ValidationError("invalid_config"), each naming the key path as written in the
 * file and its line. Features of spec/000 that are not built yet are refused the same way, with a message that
 * starts "not supported yet".
 */
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname, resolve } from "node:path";
import { defaultFileDestination } from "../destinations/file/config.ts";
import {
  DESTINATIONS,
  type DestinationConfig,
  type DestinationType,
  isBuiltDestinationType,
} from "../destinations/registry.ts";
import { type FieldProblem, formatProblem, ValidationError, VigilError } from "../errors.ts";
import { DEFAULT_EVENT_LIMITS } from "../event/validate.ts";
import { displayBroker } from "../kafka/connection.ts";
import { type KubernetesPolicy, parseKubernetesPolicy } from "../policy/kubernetes.ts";
import { compileRedaction } from "../policy/redact.ts";
import { compileRedpandaFilters, type RedpandaFilterConfig } from "../policy/redpanda.ts";
import {
  AuditTopicSourceSchema,
  auditTopicTarget,
  checkAuditTopicSource,
  type RawAuditTopicSource,
  resolveAuditTopicSource,
} from "../sources/audit-topic/config.ts";
import {
  AuthorizerLogSourceSchema,
  type RawAuthorizerLogSource,
  resolveAuthorizerLogSource,
} from "../sources/authorizer-log/config.ts";
import { parseLine } from "../sources/authorizer-log/parse.ts";
import {
  checkKafkaProxySource,
  KafkaProxySourceSchema,
  type ProxyCheckContext,
  proxyPorts,
  type RawKafkaProxySource,
  resolveKafkaProxySource,
} from "../sources/kafka-proxy/config.ts";
import { InterpolationError, interpolate } from "./interpolate.ts";
import {
  ConfigSchema,
  formatPath,
  LATER_AUDIT_KEYS,
  listenAddress,
  type Path,
  type PathProblem,
  type RawConfig,
  SOURCE_TYPES,
  schemaChecker,
  suggest,
} from "./schema.ts";
import {
  DEFAULT_CHECKPOINTS,
  DEFAULT_DATA_DIR,
  DEFAULT_INDEX_FILE,
  DEFAULT_LISTEN,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_QUEUE_MAX_EVENTS,
  DEFAULT_SEGMENT_BYTES,
  type ListenAddress,
  type SourceConfig,
  type TokenScope,
  type VigilConfig,
} from "./types.ts";
import { lineOf, parseYamlWithLines } from "./yaml.ts";

/** Command-line flags; they win over the file. */
export interface ConfigOverrides {
  /** `--data-dir`, relative to the working directory. */
  dataDir?: string;
  /** `--listen`, in any form parseListen accepts. */
  listen?: string;
}

const MIB = 1024 * 1024;
const DEFAULT_SCOPES: TokenScope[] = ["ingest", "read"];
const checkConfig = schemaChecker(ConfigSchema);
const destinationCheckers = new Map<string, (value: unknown, base?: Path) => PathProblem[]>();

/** The schema checker of a destination type, compiled once. */
function destinationChecker(type: string, schema: Parameters<typeof schemaChecker>[0]) {
  let checker = destinationCheckers.get(type);
  if (checker === undefined) {
    checker = schemaChecker(schema);
    destinationCheckers.set(type, checker);
  }
  return checker;
}
const checkAuthorizerLogSource = schemaChecker(AuthorizerLogSourceSchema);
const checkAuditTopicSchema = schemaChecker(AuditTopicSourceSchema);
const checkKafkaProxySchema = schemaChecker(KafkaProxySourceSchema);

type Mapping = Record<string, unknown>;

function isMapping(value: unknown): value is Mapping {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The value at `path`, or undefined where the file holds something else than a mapping or list on the way. */
function valueAt(value: unknown, path: Path): unknown {
  let current = value;
  for (const segment of path) {
    if (typeof segment === "number") current = Array.isArray(current) ? current[segment] : undefined;
    else current = isMapping(current) ? current[segment] : undefined;
  }
  return current;
}

/**
 * Parses `host:port`, `[ipv6]:port` or `:port` (which listens on 127.0.0.1). Port 0 asks for any free port.
 * @throws VigilError("invalid_config") saying which forms are accepted.
 * @example parseListen("[::1]:7470") // { host: "::1", port: 7470 }
 */
export function parseListen(text: string): ListenAddress {
  const result = listenAddress(text);
  if (typeof result === "string") throw new VigilError("invalid_config", `invalid listen address: ${result}`);
  return result;
}

/** Interpolates every string value; a value that fails is kept as written and its problem recorded. */
function interpolateValues(
  value: unknown,
  path: Path,
  env: NodeJS.ProcessEnv,
  problems: PathProblem[],
): unknown {
  if (typeof value === "string") {
    try {
      return interpolate(value, env);
    } catch (e) {
      if (!(e instanceof InterpolationError)) throw e;
      problems.push({ path, message: e.message });
      return value;
    }
  }
  if (Array.isArray(value)) {
    return value.map((item, i) => interpolateValues(item, [...path, i], env, problems));
  }
  if (isMapping(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        interpolateValues(item, [...path, key], env, problems),
      ]),
    );
  }
  return value;
}

interface Findings {
  problems: PathProblem[];
  /**
   * Subtrees refused as a whole because of the problem at `because`: nothing inside them is checked, and their
   * interpolation problems are not reported either.
   */
  refused: { subtree: Path; because: Path }[];
}

function refuse(findings: Findings, path: Path, reason: string, subtree: Path = path): void {
  findings.problems.push({ path, message: `not supported yet: ${reason}` });
  findings.refused.push({ subtree, because: path });
}

function checkServer(root: unknown, findings: Findings): void {
  const listen = valueAt(root, ["server", "listen"]);
  if (typeof listen === "string") {
    const address = listenAddress(listen);
    if (typeof address === "string") findings.problems.push({ path: ["server", "listen"], message: address });
  }
  const tokens = valueAt(root, ["server", "tokens"]);
  if (!Array.isArray(tokens)) return;
  const names = new Map<string, number>();
  const secrets = new Map<string, number>();
  tokens.forEach((token, i) => {
    for (const [key, seen, message] of [
      ["name", names, "is already the name of"],
      ["token", secrets, "is the same token as"],
    ] as const) {
      const value = valueAt(token, [key]);
      if (typeof value !== "string") continue;
      const first = seen.get(value);
      if (first === undefined) {
        seen.set(value, i);
      } else {
        findings.problems.push({
          path: ["server", "tokens", i, key],
          message: `${message} server.tokens[${first}]`,
        });
      }
    }
  });
}

/** Where the audit block is: spec/000's `enterprise.audit`, a top-level `audit`, or nowhere (defaults). */
function findAuditBlock(root: unknown, findings: Findings): Path | undefined {
  const enterprise = valueAt(root, ["enterprise"]);
  const nested = isMapping(enterprise) && Object.hasOwn(enterprise, "audit");
  const topLevel = isMapping(root) && Object.hasOwn(root, "audit");
  if (nested && topLevel) {
    findings.problems.push({
      path: ["audit"],
      message: "use either enterprise.audit or a top-level audit, not both",
    });
  }
  if (nested) return ["enterprise", "audit"];
  return topLevel ? ["audit"] : undefined;
}

function checkIntegrity(integrity: unknown, path: Path, findings: Findings): void {
  for (const part of ["signing", "chain"]) {
    if (valueAt(integrity, [part, "enabled"]) === false) {
      findings.problems.push({
        path: [...path, part, "enabled"],
        message: "cannot be disabled: Vigil seals every record",
      });
    }
  }
  if (
    valueAt(integrity, ["signing", "forward_secure"]) !== undefined &&
    valueAt(integrity, ["signing", "key_env_var"]) !== undefined
  ) {
    findings.problems.push({
      path: [...path, "signing", "forward_secure"],
      message:
        "cannot be combined with key_env_var: a forward-secure key evolves in the data directory and erases its " +
        "earlier values, while an environment variable's key stays the same",
    });
  }
  const algorithm = valueAt(integrity, ["signing", "algorithm"]);
  if (typeof algorithm !== "string" || algorithm.toUpperCase() === "HMAC-SHA256") return;
  const algorithmPath = [...path, "signing", "algorithm"];
  findings.problems.push({
    path: algorithmPath,
    message:
      "must be HMAC-SHA256: records are sealed with HMAC-SHA256, and Ed25519 signs the Merkle checkpoints " +
      "(integrity.checkpoints)",
  });
}

/** Checks one destination entry; returns it resolved when it is valid and of a type that is built. */
function checkDestination(
  entry: unknown,
  path: Path,
  baseDir: string,
  findings: Findings,
): DestinationConfig | undefined {
  const type = valueAt(entry, ["type"]);
  if (!isMapping(entry) || typeof type !== "string") return undefined; // the schema reports it
  if (!isBuiltDestinationType(type)) {
    const known = Object.keys(DESTINATIONS);
    const hint = suggest(type, known);
    findings.problems.push({
      path: [...path, "type"],
      message: `unknown destination type${hint ? `; did you mean ${hint}?` : ""} (known: ${known.join(", ")})`,
    });
    findings.refused.push({ subtree: path, because: [...path, "type"] });
    return undefined;
  }
  const kind = DESTINATIONS[type] as DestinationType<unknown, DestinationConfig>;
  const problems = destinationChecker(type, kind.schema)(entry, path);
  if (problems.length === 0 && kind.check) {
    problems.push(
      ...kind.check(entry, baseDir).map((p) => ({ path: [...path, ...p.path], message: p.message })),
    );
  }
  findings.problems.push(...problems);
  return problems.length === 0 ? kind.resolve(entry, baseDir) : undefined;
}

/**
 * Checks the destinations of the audit block. Returns undefined when the block names none (the default one is
 * used), else the valid ones.
 */
function checkDestinations(
  audit: Mapping,
  auditPath: Path,
  baseDir: string,
  findings: Findings,
): DestinationConfig[] | undefined {
  const entries: [Path, unknown][] = [];
  if (Object.hasOwn(audit, "destination")) entries.push([[...auditPath, "destination"], audit.destination]);
  if (Object.hasOwn(audit, "destinations")) {
    if (entries.length > 0) {
      findings.problems.push({
        path: [...auditPath, "destinations"],
        message: "use either destination (one) or destinations (a list), not both",
      });
    }
    if (Array.isArray(audit.destinations)) {
      audit.destinations.forEach((entry, i) => {
        entries.push([[...auditPath, "destinations", i], entry]);
      });
    }
  }
  if (entries.length === 0) return undefined;
  const byTarget = new Map<string, Path>();
  const byName = new Map<string, Path>();
  const destinations: DestinationConfig[] = [];
  for (const [path, entry] of entries) {
    const destination = checkDestination(entry, path, baseDir, findings);
    if (!destination) continue;
    destinations.push(destination);
    const target = (DESTINATIONS[destination.type] as DestinationType<unknown, DestinationConfig>).target(
      destination,
    );
    const sameTarget = byTarget.get(target);
    const sameName = byName.get(destination.name);
    if (sameTarget) {
      findings.problems.push({
        path: destination.type === "file" ? [...path, "path"] : path,
        message:
          destination.type === "file"
            ? `is the same file as ${formatPath(sameTarget)}`
            : `writes to the same place as ${formatPath(sameTarget)}`, // the target may hold a token
      });
    } else if (sameName) {
      // A defaulted name comes from the target: point at the key the user can add or change.
      findings.problems.push({
        path: isMapping(entry) && Object.hasOwn(entry, "name") ? [...path, "name"] : path,
        message: `gives the name ${destination.name}, already the name of ${formatPath(sameName)}; set a unique name`,
      });
    }
    byTarget.set(target, sameTarget ?? path);
    byName.set(destination.name, sameName ?? path);
  }
  return destinations;
}

/** Checks an entry against its type's schema, then its type's own checks; resolves it when both pass. */
function checkedSource<Raw, Config>(
  entry: Mapping,
  path: Path,
  findings: Findings,
  schema: (value: unknown, base?: Path) => PathProblem[],
  check: (raw: Raw) => PathProblem[],
  resolveEntry: (raw: Raw) => Config,
): Config | undefined {
  const problems = schema(entry, path);
  if (problems.length === 0) {
    for (const p of check(entry as Raw)) problems.push({ path: [...path, ...p.path], message: p.message });
  }
  findings.problems.push(...problems);
  return problems.length === 0 ? resolveEntry(entry as Raw) : undefined;
}

/** Checks one source entry; returns it resolved when it is a valid source of a known type. */
function checkSource(
  entry: unknown,
  path: Path,
  baseDir: string,
  context: ProxyCheckContext,
  findings: Findings,
): SourceConfig | undefined {
  const type = valueAt(entry, ["type"]);
  if (!isMapping(entry) || typeof type !== "string") return undefined; // the schema reports it
  if (type === "audit_topic") {
    return checkedSource(
      entry,
      path,
      findings,
      checkAuditTopicSchema,
      (raw: RawAuditTopicSource) => checkAuditTopicSource(raw, baseDir),
      (raw) => resolveAuditTopicSource(raw, baseDir),
    );
  }
  if (type === "kafka_proxy") {
    return checkedSource(
      entry,
      path,
      findings,
      checkKafkaProxySchema,
      (raw: RawKafkaProxySource) => checkKafkaProxySource(raw, context),
      (raw) => resolveKafkaProxySource(raw, baseDir),
    );
  }
  if (type !== "kafka_authorizer_log") {
    const hint = suggest(type, SOURCE_TYPES);
    findings.problems.push({
      path: [...path, "type"],
      message: `unknown source type${hint ? `; did you mean ${hint}?` : ""} (known: ${SOURCE_TYPES.join(", ")})`,
    });
    findings.refused.push({ subtree: path, because: [...path, "type"] });
    return undefined;
  }
  const problems = checkAuthorizerLogSource(entry, path);
  const zone = entry.time_zone;
  if (typeof zone === "string" && zone !== "") {
    try {
      // The parser's own check, so the tailer can never refuse a zone the config accepted.
      parseLine("", { timeZone: zone });
    } catch {
      problems.push({
        path: [...path, "time_zone"],
        message: "must be an IANA time zone, e.g. Europe/Berlin",
      });
    }
  }
  findings.problems.push(...problems);
  return problems.length === 0
    ? resolveAuthorizerLogSource(entry as RawAuthorizerLogSource, baseDir)
    : undefined;
}

/**
 * What a source reads (a file, a topic), the key naming it, and what two sources reading it are told; undefined
 * for a kafka_proxy, which reads nothing of its own (its listeners' ports are checked instead).
 */
function sourceTarget(source: SourceConfig): { target: string; key: string; same: string } | undefined {
  switch (source.type) {
    case "audit_topic":
      return { target: auditTopicTarget(source), key: "topic", same: "reads the same topic as" };
    case "kafka_authorizer_log":
      return { target: source.path, key: "path", same: "is the same file as" };
    case "kafka_proxy":
      return undefined;
  }
}

/** The first port a kafka_proxy source takes that an earlier one took too, and the key to point at. */
function portClash(
  source: SourceConfig,
  entry: unknown,
  taken: Map<number, Path>,
): { at: Path; port: number; other: Path } | undefined {
  if (source.type !== "kafka_proxy") return undefined;
  for (const port of proxyPorts(source)) {
    const other = taken.get(port);
    if (other === undefined) continue;
    const written = (key: string) => isMapping(entry) && Object.hasOwn(entry, key);
    const key = port !== source.listen.port && written("broker_ports") ? "broker_ports" : "listen";
    return { at: written(key) ? [key] : [], port, other };
  }
  return undefined;
}

/**
 * A `kafka` destination writing to the topic an `audit_topic` source reads (the same topic at a bootstrap server
 * they share): every record Vigil seals would come back to be sealed again, without end.
 */
function feedsItself(source: SourceConfig, destinations: DestinationConfig[]): DestinationConfig | undefined {
  if (source.type !== "audit_topic") return undefined;
  const servers = new Set(source.brokers.map(displayBroker));
  return destinations.find(
    (d) =>
      d.type === "kafka" && d.topic === source.topic && d.brokers.some((b) => servers.has(displayBroker(b))),
  );
}

/**
 * Checks `sources`: each entry, then that no two share a name (their state file and origin token), read the
 * same file or topic or listen on the same port, and that no source reads the topic a destination writes.
 */
function checkSources(
  audit: Mapping,
  auditPath: Path,
  baseDir: string,
  context: ProxyCheckContext,
  findings: Findings,
  destinations: DestinationConfig[],
): SourceConfig[] {
  if (!Array.isArray(audit.sources)) return []; // absent, or the schema reports it
  const byTarget = new Map<string, Path>();
  const byName = new Map<string, Path>();
  const byPort = new Map<number, Path>();
  const sources: SourceConfig[] = [];
  audit.sources.forEach((entry, i) => {
    const path = [...auditPath, "sources", i];
    const source = checkSource(entry, path, baseDir, context, findings);
    if (!source) return;
    sources.push(source);
    const read = sourceTarget(source);
    const sameTarget = read && byTarget.get(read.target);
    const sameName = byName.get(source.name);
    const samePort = portClash(source, entry, byPort);
    const loop = feedsItself(source, destinations);
    if (read && sameTarget) {
      findings.problems.push({
        path: [...path, read.key],
        message: `${read.same} ${formatPath(sameTarget)}`,
      });
    } else if (samePort) {
      findings.problems.push({
        path: [...path, ...samePort.at],
        message: `takes port ${samePort.port}, which ${formatPath(samePort.other)} takes too`,
      });
    } else if (sameName) {
      // A defaulted name comes from the file or topic name: point at the key the user can add or change (for a
      // proxy, whose default is fixed, at the entry).
      const at = isMapping(entry) && Object.hasOwn(entry, "name") ? ["name"] : read ? [read.key] : [];
      findings.problems.push({
        path: [...path, ...at],
        message: `gives the name ${source.name}, already the name of ${formatPath(sameName)}; set a unique name`,
      });
    }
    if (loop) {
      findings.problems.push({
        path: [...path, "topic"],
        message:
          `is the topic the kafka destination ${loop.name} writes to: Vigil would seal its own records again, ` +
          "without end; read another topic",
      });
    }
    if (read) byTarget.set(read.target, sameTarget ?? path);
    if (source.type === "kafka_proxy") {
      for (const port of proxyPorts(source)) if (!byPort.has(port)) byPort.set(port, path);
    }
    byName.set(source.name, sameName ?? path);
  });
  return sources;
}

interface AuditParts {
  destinations: DestinationConfig[] | undefined;
  sources: SourceConfig[];
}

/** The HTTP server's port, which a kafka_proxy source may not take (unknown while its address is invalid). */
function proxyCheckContext(root: unknown, overrides: ConfigOverrides): ProxyCheckContext {
  const listen = overrides.listen ?? valueAt(root, ["server", "listen"]);
  const address = typeof listen === "string" ? listenAddress(listen) : DEFAULT_LISTEN;
  return typeof address === "string" ? {} : { serverPort: address.port };
}

function checkAudit(
  root: unknown,
  auditPath: Path,
  baseDir: string,
  context: ProxyCheckContext,
  findings: Findings,
): AuditParts | undefined {
  const audit = valueAt(root, auditPath);
  if (!isMapping(audit)) return undefined; // the schema reports it
  for (const [key, reason] of Object.entries(LATER_AUDIT_KEYS)) {
    if (Object.hasOwn(audit, key)) refuse(findings, [...auditPath, key], reason);
  }
  checkIntegrity(audit.integrity, [...auditPath, "integrity"], findings);
  checkFilters(audit, auditPath, findings);
  const destinations = checkDestinations(audit, auditPath, baseDir, findings);
  return {
    destinations,
    sources: checkSources(audit, auditPath, baseDir, context, findings, destinations ?? []),
  };
}

const isStringList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((item) => typeof item === "string");

/**
 * The topics Vigil's own records go to, which `excluded_topics` may not name, as Redpanda refuses to exclude its
 * audit log topic: the `topic` of every `kafka` destination.
 */
function auditTopicsOf(audit: Mapping): string[] {
  const entries = Array.isArray(audit.destinations) ? audit.destinations : [audit.destination];
  return entries.flatMap((entry) =>
    isMapping(entry) && entry.type === "kafka" && typeof entry.topic === "string" ? [entry.topic] : [],
  );
}

/**
 * Runs the Redpanda settings and the redaction paths through the compilers the pipeline uses, so the checks
 * are theirs; their problems (`excluded_topics[1]`, `fields[0]`) are moved under the audit block for the line.
 * Values of the wrong shape are left to the schema.
 */
function checkFilters(audit: Mapping, auditPath: Path, findings: Findings): void {
  const moved = (e: unknown, base: Path): void => {
    if (!(e instanceof ValidationError)) throw e;
    for (const p of e.problems) {
      const m = /^(\w+)\[(\d+)\]$/.exec(p.field);
      const path = m ? [...base, m[1] as string, Number(m[2])] : base;
      findings.problems.push({ path, message: p.message });
    }
  };
  const lists: RedpandaFilterConfig = {};
  for (const key of ["enabled_event_types", "excluded_topics", "excluded_principals"] as const) {
    const value = audit[key];
    if (isStringList(value)) lists[key] = value;
  }
  try {
    compileRedpandaFilters(lists, { auditTopics: auditTopicsOf(audit) });
  } catch (e) {
    moved(e, auditPath);
  }
  const fields = valueAt(audit, ["redaction", "fields"]);
  if (!isStringList(fields)) return;
  try {
    compileRedaction({ fields });
  } catch (e) {
    moved(e, [...auditPath, "redaction"]);
  }
}

/**
 * Reads and parses `policy_file` (relative to the config file). Its problems become problems of the
 * `policy_file` key, each message naming the policy file and its own line, so both files can be fixed from one
 * report.
 */
function checkPolicyFile(
  root: unknown,
  auditPath: Path,
  baseDir: string,
  findings: Findings,
): KubernetesPolicy | undefined {
  const file = valueAt(root, [...auditPath, "policy_file"]);
  if (typeof file !== "string" || file === "") return undefined; // absent, or the schema reports it
  const path = [...auditPath, "policy_file"];
  let text: string;
  try {
    text = readFileSync(resolve(baseDir, file), "utf8");
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message;
    findings.problems.push({ path, message: `cannot read the policy file ${file}: ${reason}` });
    return undefined;
  }
  try {
    return parseKubernetesPolicy(text, file);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    for (const p of e.problems) {
      // "policy.yaml line 7: rules[2].level: …", or "policy.yaml: …" for the file as a whole.
      findings.problems.push({
        path,
        message: `${file}${p.line === undefined ? ":" : ""} ${formatProblem(p)}`,
      });
    }
    return undefined;
  }
}

function checkOverrides(overrides: ConfigOverrides, findings: Findings): void {
  if (overrides.listen !== undefined) {
    const address = listenAddress(overrides.listen);
    if (typeof address === "string") findings.problems.push({ path: ["--listen"], message: address });
  }
  if (overrides.dataDir === "")
    findings.problems.push({ path: ["--data-dir"], message: "must not be empty" });
}

function isUnder(path: Path, prefix: Path): boolean {
  return path.length >= prefix.length && prefix.every((segment, i) => path[i] === segment);
}

/** Resolves a config that passed every check: defaults, overrides, paths made absolute. */
function build(
  raw: RawConfig,
  parts: AuditParts | undefined,
  kubernetesPolicy: KubernetesPolicy | undefined,
  source: string | undefined,
  baseDir: string,
  overrides: ConfigOverrides,
): VigilConfig {
  const audit = raw.enterprise?.audit ?? raw.audit ?? {};
  const dataDir =
    overrides.dataDir !== undefined
      ? resolve(overrides.dataDir)
      : raw.data_dir === undefined
        ? resolve(DEFAULT_DATA_DIR)
        : resolve(baseDir, raw.data_dir);
  const listen = overrides.listen ?? raw.server?.listen;
  const auditTopics = auditTopicsOf(audit);
  return {
    source,
    dataDir,
    server: {
      listen: listen === undefined ? { ...DEFAULT_LISTEN } : parseListen(listen),
      maxBodyBytes: raw.server?.max_body_bytes ?? DEFAULT_MAX_BODY_BYTES,
      tokens: (raw.server?.tokens ?? []).map((t) => ({
        name: t.name,
        token: t.token,
        scopes: [...new Set(t.scopes ?? DEFAULT_SCOPES)],
      })),
    },
    audit: {
      enabled: audit.enabled ?? true,
      destinations: parts?.destinations ?? [defaultFileDestination(dataDir)],
      sources: parts?.sources ?? [],
      policy: {
        events: audit.events,
        excludeEvents: audit.exclude_events ?? [],
        ...(audit.enabled_event_types === undefined &&
        audit.excluded_topics === undefined &&
        audit.excluded_principals === undefined
          ? {}
          : {
              redpanda: {
                enabled_event_types: audit.enabled_event_types,
                excluded_topics: audit.excluded_topics,
                excluded_principals: audit.excluded_principals,
              },
            }),
        ...(auditTopics.length === 0 ? {} : { auditTopics }),
      },
      ...(kubernetesPolicy === undefined ? {} : { kubernetesPolicy }),
      ...(audit.redaction === undefined
        ? {}
        : {
            redaction: {
              fields: audit.redaction.fields ?? [],
              kubernetesSecrets: audit.redaction.kubernetes_secrets ?? true,
            },
          }),
      integrity: {
        keyEnvVar: audit.integrity?.signing?.key_env_var,
        forwardSecure:
          audit.integrity?.signing?.forward_secure === undefined
            ? undefined
            : { epochRecords: audit.integrity.signing.forward_secure.epoch_records },
        checkpoints: {
          everyRecords: audit.integrity?.checkpoints?.every_records ?? DEFAULT_CHECKPOINTS.everyRecords,
          everySeconds: audit.integrity?.checkpoints?.every_seconds ?? DEFAULT_CHECKPOINTS.everySeconds,
          idleSeconds: audit.integrity?.checkpoints?.idle_seconds ?? DEFAULT_CHECKPOINTS.idleSeconds,
          origin: audit.integrity?.checkpoints?.origin,
        },
      },
      failurePolicy: audit.failure_policy ?? "reject",
      queueMaxEvents: audit.queue?.max_events ?? DEFAULT_QUEUE_MAX_EVENTS,
      index: {
        enabled: audit.index?.enabled ?? true,
        path: resolve(dataDir, audit.index?.path ?? DEFAULT_INDEX_FILE),
      },
    },
    journal: {
      segmentBytes:
        raw.journal?.segment_mb === undefined
          ? DEFAULT_SEGMENT_BYTES
          : Math.ceil(raw.journal.segment_mb * MIB),
    },
    limits: {
      maxDepth: raw.limits?.max_depth ?? DEFAULT_EVENT_LIMITS.maxDepth,
      maxEventBytes: raw.limits?.max_event_bytes ?? DEFAULT_EVENT_LIMITS.maxEventBytes,
    },
  };
}

/**
 * Parses a config from YAML text. Relative paths in it are resolved against the directory of `source` (the
 * file it came from), or the working directory when there is none.
 * @throws ValidationError("invalid_config") listing every problem, each with its key path and line.
 */
export function parseConfig(
  text: string,
  source: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  overrides: ConfigOverrides = {},
): VigilConfig {
  const { value, lines } = parseYamlWithLines(text);
  const baseDir = source === undefined ? process.cwd() : dirname(resolve(source));
  const interpolationProblems: PathProblem[] = [];
  // spec/000 names a CloudWatch log stream `${HOSTNAME}`; shells keep HOSTNAME unexported, so it falls back to the
  // machine's host name.
  const vars = env.HOSTNAME === undefined ? { ...env, HOSTNAME: hostname() } : env;
  const root = interpolateValues(value ?? {}, [], vars, interpolationProblems);
  if (!isMapping(root)) {
    throw new ValidationError("invalid_config", [
      { field: "", message: "the config must be a YAML mapping of keys such as server: and enterprise:" },
    ]);
  }

  const findings: Findings = { problems: checkConfig(root), refused: [] };
  checkServer(root, findings);
  const auditPath = findAuditBlock(root, findings);
  const parts =
    auditPath && checkAudit(root, auditPath, baseDir, proxyCheckContext(root, overrides), findings);
  const kubernetesPolicy = auditPath && checkPolicyFile(root, auditPath, baseDir, findings);
  checkOverrides(overrides, findings);

  // A value whose interpolation failed was kept as written: its other problems, and refusals it caused (say, of
  // `type: ${DEST}`), would only be noise.
  const failed = new Set(interpolationProblems.map((p) => formatPath(p.path)));
  const kept = (path: Path): boolean => !failed.has(formatPath(path));
  const refused = findings.refused.filter((r) => kept(r.because)).map((r) => r.subtree);
  const problems = [
    ...findings.problems.filter((p) => kept(p.path)),
    ...interpolationProblems.filter((p) => !refused.some((prefix) => isUnder(p.path, prefix))),
  ];
  if (problems.length > 0) {
    const fieldProblems: FieldProblem[] = problems.map((p) => {
      const line = lineOf(p.path, lines);
      return { field: formatPath(p.path), message: p.message, ...(line === undefined ? {} : { line }) };
    });
    fieldProblems.sort((a, b) => (a.line ?? Number.POSITIVE_INFINITY) - (b.line ?? Number.POSITIVE_INFINITY));
    throw new ValidationError("invalid_config", fieldProblems);
  }
  return build(root as RawConfig, parts, kubernetesPolicy, source, baseDir, overrides);
}

/**
 * Reads and parses a config file (see parseConfig).
 * @throws ValidationError("invalid_config") when the file cannot be read or has any problem.
 */
export async function loadConfig(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
  overrides: ConfigOverrides = {},
): Promise<VigilConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message;
    throw new ValidationError("invalid_config", [
      { field: "", message: `cannot read the config file ${path}: ${reason}` },
    ]);
  }
  return parseConfig(text, path, env, overrides);
}

/**
 * The embedded defaults, for running without a config file: data in ./vigil-data, HTTP on 127.0.0.1:7470, one
 * file destination (`audit.log` in the data directory), every event recorded, fail closed.
 * @throws ValidationError("invalid_config") when an override is invalid.
 */
export function defaultConfig(overrides: ConfigOverrides = {}): VigilConfig {
  return parseConfig("", undefined, {}, overrides);
}
