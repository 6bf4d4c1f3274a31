/**
 * What one proxied Kafka request becomes in the audit trail: a native event (src/event/schema.ts) saying who
 * (the SASL principal, else ANONYMOUS, and the client's address and client id), did what (the API, its version,
 * the topics, groups and transactional id touched, partitions and record counts for produce and fetch), with
 * what result (every non-zero error code, counted) and how long the broker took. Message contents are never
 * recorded: record batches are only counted (protocol/index.ts countRecords), keys and values are not read.
 *
 * `event_type` is `kafka.<api name in lower case>` (`kafka.produce`, `kafka.createtopics`), the names the
 * Redpanda and Confluent decoders give, so `enabled_event_types` / `excluded_topics` / `excluded_principals`
 * (src/policy/redpanda.ts) apply to proxied traffic as to imported audit logs. Authentication results are
 * `auth.login` / `auth.failed`.
 */
import { isIP } from "node:net";
import { type ApiSpec, countRecords } from "./protocol/index.ts";

/** The native model's limit for ids (src/event/schema.ts): longer names (a client may send any) are cut. */
const MAX_ID = 1024;
const cut = (s: string): string => (s.length > MAX_ID ? `${s.slice(0, MAX_ID - 1)}…` : s);

/** Who is on a connection, as far as the proxy has seen. */
export interface Peer {
  /** The authenticated principal (SASL user name, or the client certificate's subject), if any. */
  principal?: string;
  mechanism?: string;
  address: string;
  port: number;
  /** The proxy's listener the client came in on, and the broker it leads to. */
  listener: string;
  broker: string;
}

/** One request and its answer (none for Produce with acks=0). */
export interface Exchange {
  api: ApiSpec;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
  request: Record<string, unknown> | undefined;
  response: Record<string, unknown> | undefined;
  /** Why the request or response could not be decoded (the bytes were still forwarded). */
  decodeError?: string;
  /** Vigil's audit topics the request tried to write or alter, refused by the proxy (protect.ts). */
  refusedTopics?: string[];
  startedAt: number;
  durationMs: number | undefined;
}

/** Topic ids (Produce v13+, Fetch v13+) to names, learnt from Metadata responses. */
export type TopicNames = ReadonlyMap<string, string>;

interface TopicUse {
  name: string;
  partitions: number;
  records?: number;
  batches?: number;
  bytes?: number;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * Topics named anywhere in a request or response: `topic`, `topicName`, `name` inside a `topic…` array,
 * `topicNames`, and `topicId` resolved through `names`; with the partitions and record batches listed under
 * each.
 */
function topicsOf(body: Json | undefined, names: TopicNames): Map<string, TopicUse> {
  const topics = new Map<string, TopicUse>();
  const use = (name: string): TopicUse => {
    let t = topics.get(name);
    if (!t) {
      t = { name, partitions: 0 };
      topics.set(name, t);
    }
    return t;
  };
  const walk = (v: unknown, key: string, inTopics: boolean): void => {
    if (Array.isArray(v)) {
      const topical = /topic/i.test(key);
      if (key === "topicNames") for (const n of v) if (typeof n === "string") use(n);
      for (const item of v) walk(item, key, topical);
      return;
    }
    if (!isObject(v)) return;
    let name: string | undefined;
    if (typeof v.topic === "string") name = v.topic;
    else if (typeof v.topicName === "string") name = v.topicName;
    else if (inTopics && typeof v.name === "string") name = v.name;
    else if (typeof v.topicId === "string" && names.has(v.topicId)) name = names.get(v.topicId);
    if (name !== undefined) {
      const t = use(name);
      for (const k in v) {
        const child = v[k];
        if (!Array.isArray(child) || !/partition/i.test(k)) continue;
        t.partitions += child.length;
        for (const p of child) {
          if (!isObject(p) || !Buffer.isBuffer(p.records)) continue;
          const c = countRecords(p.records);
          t.records = (t.records ?? 0) + c.records;
          t.batches = (t.batches ?? 0) + c.batches;
          t.bytes = (t.bytes ?? 0) + c.bytes;
        }
      }
    }
    // for…in rather than Object.entries: this runs on every request, and decoded bodies are plain objects.
    for (const k in v) {
      const child = v[k];
      if (typeof child === "object" && child !== null && !Buffer.isBuffer(child)) walk(child, k, false);
    }
  };
  if (body) walk(body, "", false);
  return topics;
}

/** Calls `visit` on every member of every object in a decoded body, depth first (bytes are not entered). */
function eachMember(v: unknown, visit: (key: string, value: unknown) => void): void {
  if (Array.isArray(v)) {
    for (const item of v) eachMember(item, visit);
    return;
  }
  if (!isObject(v)) return;
  for (const k in v) {
    const child = v[k];
    visit(k, child);
    if (typeof child === "object" && child !== null && !Buffer.isBuffer(child)) eachMember(child, visit);
  }
}

/** Group ids, transactional ids: the other named resources a request can touch. */
function namedIds(body: Json | undefined, keys: readonly string[]): string[] {
  const found = new Set<string>();
  eachMember(body, (k, v) => {
    if (!keys.includes(k)) return;
    if (typeof v === "string" && v !== "") found.add(v);
    if (Array.isArray(v)) for (const c of v) if (typeof c === "string") found.add(c);
  });
  return [...found];
}

/** Every non-zero `errorCode` in a response, counted. */
function errorCodes(body: Json | undefined): Record<string, number> {
  const counts: Record<string, number> = {};
  eachMember(body, (k, v) => {
    if (k === "errorCode" && typeof v === "number" && v !== 0)
      counts[String(v)] = (counts[String(v)] ?? 0) + 1;
  });
  return counts;
}

/** Kafka's ACL enums (org.apache.kafka.common.acl / resource), as its tools and logs spell them. */
const RESOURCE_TYPES = [
  "UNKNOWN",
  "ANY",
  "TOPIC",
  "GROUP",
  "CLUSTER",
  "TRANSACTIONAL_ID",
  "DELEGATION_TOKEN",
  "USER",
];
const PATTERN_TYPES = ["UNKNOWN", "ANY", "MATCH", "LITERAL", "PREFIXED"];
const OPERATIONS = [
  "UNKNOWN",
  "ANY",
  "ALL",
  "READ",
  "WRITE",
  "CREATE",
  "DELETE",
  "ALTER",
  "DESCRIBE",
  "CLUSTER_ACTION",
  "DESCRIBE_CONFIGS",
  "ALTER_CONFIGS",
  "IDEMPOTENT_WRITE",
  "CREATE_TOKENS",
  "DESCRIBE_TOKENS",
  "TWO_PHASE_COMMIT",
];
const PERMISSIONS = ["UNKNOWN", "ANY", "DENY", "ALLOW"];
const spell = (names: readonly string[], code: unknown): string | null =>
  typeof code === "number" ? (names[code] ?? String(code)) : null;
const text = (v: unknown): string | null => (typeof v === "string" ? cut(v) : null);

/** One ACL binding (CreateAcls) or filter (DeleteAcls, DescribeAcls) as the audit event records it. */
export interface AclEntry {
  resource_type: string | null;
  resource_name: string | null;
  pattern_type: string | null;
  principal: string | null;
  host: string | null;
  operation: string | null;
  permission: string | null;
}

/**
 * The ACLs a CreateAcls request creates, or the filters a DeleteAcls / DescribeAcls request matches; version 0
 * has no pattern type, which Kafka reads as LITERAL. Undefined for other APIs.
 */
function aclsOf(api: string, version: number, body: Json | undefined): AclEntry[] | undefined {
  if (!body) return undefined;
  const pattern = (code: unknown) => (version === 0 ? "LITERAL" : spell(PATTERN_TYPES, code));
  if (api === "CreateAcls") {
    return ((body.creations as Json[] | undefined) ?? []).map((c) => ({
      resource_type: spell(RESOURCE_TYPES, c.resourceType),
      resource_name: text(c.resourceName),
      pattern_type: pattern(c.resourcePatternType),
      principal: text(c.principal),
      host: text(c.host),
      operation: spell(OPERATIONS, c.operation),
      permission: spell(PERMISSIONS, c.permissionType),
    }));
  }
  const filter = (f: Json): AclEntry => ({
    resource_type: spell(RESOURCE_TYPES, f.resourceTypeFilter),
    resource_name: text(f.resourceNameFilter),
    pattern_type: pattern(f.patternTypeFilter),
    principal: text(f.principalFilter),
    host: text(f.hostFilter),
    operation: spell(OPERATIONS, f.operation),
    permission: spell(PERMISSIONS, f.permissionType),
  });
  if (api === "DeleteAcls") return ((body.filters as Json[] | undefined) ?? []).map(filter);
  if (api === "DescribeAcls") return [filter(body)];
  return undefined;
}

/** Kafka's config resource types (org.apache.kafka.common.config.ConfigResource.Type). */
const CONFIG_RESOURCE_TYPES: Record<number, string> = {
  2: "TOPIC",
  4: "BROKER",
  8: "BROKER_LOGGER",
  16: "CLIENT_METRICS",
  32: "GROUP",
};
const CONFIG_APIS = new Set(["DescribeConfigs", "AlterConfigs", "IncrementalAlterConfigs"]);

/** A config resource a request reads or changes, with the names of the configs it names (never their values). */
export interface ConfigResource {
  type: string;
  name: string;
  configs?: string[];
}

/**
 * The config resources of DescribeConfigs (`configurationKeys`: the configs asked for, null for all),
 * AlterConfigs and IncrementalAlterConfigs (`configs[].name`). Values are not recorded: a broker's configs hold
 * passwords (`sasl.jaas.config`, `ssl.keystore.password`), and Kafka itself only masks them by type.
 */
function configResourcesOf(api: string, body: Json | undefined): ConfigResource[] | undefined {
  if (!body || !CONFIG_APIS.has(api)) return undefined;
  return ((body.resources as Json[] | undefined) ?? []).map((r) => {
    const names =
      api === "DescribeConfigs"
        ? (r.configurationKeys as string[] | null | undefined)
        : ((r.configs as Json[] | undefined) ?? []).map((c) => String(c.name));
    return {
      type:
        typeof r.resourceType === "number"
          ? (CONFIG_RESOURCE_TYPES[r.resourceType] ?? String(r.resourceType))
          : "UNKNOWN",
      name: cut(String(r.resourceName ?? "")),
      ...(names ? { configs: names.map(cut) } : {}),
    };
  });
}

/**
 * The groups and transactional ids a FindCoordinator request looks up (`key` before v4, `coordinatorKeys`
 * after; keyType 1 is a transaction, 0 and 2 (share groups) are groups).
 */
function coordinatorKeys(body: Json | undefined): { groups: string[]; transactionalIds: string[] } {
  const keys = Array.isArray(body?.coordinatorKeys)
    ? (body.coordinatorKeys as string[])
    : typeof body?.key === "string"
      ? [body.key]
      : [];
  return body?.keyType === 1
    ? { groups: [], transactionalIds: keys }
    : { groups: keys, transactionalIds: [] };
}

/** The resource an ACL entry is about (`{type: "topic", id: "orders"}`), when it names one. */
function aclResource(acl: AclEntry | undefined): Json | undefined {
  if (!acl?.resource_type || acl.resource_name === null) return undefined;
  return { type: acl.resource_type.toLowerCase(), id: acl.resource_name };
}

/** The native event for one exchange. */
export function exchangeEvent(x: Exchange, peer: Peer, names: TopicNames): Json {
  const requestTopics = topicsOf(x.request, names);
  // Fetch: the records are in the response; the request only names topics and partitions.
  const responseTopics = x.api.name === "Fetch" ? topicsOf(x.response, names) : undefined;
  const topics = [...requestTopics.values()].map((t) => {
    const answered = responseTopics?.get(t.name);
    return answered?.records === undefined
      ? t
      : { ...t, records: answered.records, batches: answered.batches, bytes: answered.bytes };
  });
  const lookedUp = x.api.name === "FindCoordinator" ? coordinatorKeys(x.request) : undefined;
  const groups =
    lookedUp?.groups ??
    namedIds(
      x.request,
      x.api.name === "DescribeGroups" ? ["groups"] : ["groupId", "groupIds", "groupsNames"],
    );
  const transactionalIds =
    lookedUp?.transactionalIds ?? namedIds(x.request, ["transactionalId", "transactionalIds"]);
  const configResources = configResourcesOf(x.api.name, x.request);
  const configResource = configResources?.[0];
  const errors = errorCodes(x.response);
  const failed = Object.keys(errors).length > 0 || x.decodeError !== undefined;
  const acls = aclsOf(x.api.name, x.apiVersion, x.request);
  const resource =
    aclResource(acls?.[0]) ??
    (configResource ? { type: configResource.type.toLowerCase(), id: configResource.name } : undefined) ??
    (topics.length > 0
      ? { type: "topic", id: cut(topics[0]?.name ?? "") }
      : groups.length > 0
        ? { type: "group", id: cut(groups[0] ?? "") }
        : transactionalIds.length > 0
          ? { type: "transactional_id", id: cut(transactionalIds[0] ?? "") }
          : { type: "cluster", id: peer.broker });
  const kafka: Json = {
    api: x.api.name,
    api_key: x.api.key,
    api_version: x.apiVersion,
    category: x.api.category,
    correlation_id: x.correlationId,
    client_id: x.clientId,
    client_port: peer.port,
    listener: peer.listener,
    broker: peer.broker,
    ...(topics.length > 0 ? { topics } : {}),
    ...(groups.length > 0 ? { groups } : {}),
    ...(transactionalIds.length > 0 ? { transactional_ids: transactionalIds } : {}),
    ...(acls ? { acls } : {}),
    ...(configResources ? { config_resources: configResources } : {}),
    ...(Object.keys(errors).length > 0 ? { error_codes: errors } : {}),
    ...(x.response === undefined && x.durationMs === undefined ? { response: "none (acks=0)" } : {}),
    ...(x.decodeError ? { decode_error: x.decodeError } : {}),
    ...(x.refusedTopics ? { refused_audit_topics: x.refusedTopics } : {}),
  };
  return {
    event_type: `kafka.${x.api.name.toLowerCase()}`,
    timestamp: new Date(x.startedAt).toISOString(),
    actor: principalActor(peer),
    resource,
    action: {
      operation: x.api.name,
      result: failed ? "failure" : "success",
      ...(x.durationMs === undefined ? {} : { duration_ms: Math.round(x.durationMs * 1000) / 1000 }),
    },
    details: { kafka },
  };
}

/** The authentication outcome of a SASL exchange. */
export function authEvent(
  peer: Peer,
  ok: boolean,
  detail: { errorCode?: number; message?: string | null },
): Json {
  return {
    event_type: ok ? "auth.login" : "auth.failed",
    timestamp: new Date().toISOString(),
    actor: principalActor(peer),
    resource: { type: "cluster", id: peer.broker },
    action: { operation: "authenticate", result: ok ? "success" : "failure" },
    details: {
      kafka: {
        mechanism: peer.mechanism ?? null,
        client_port: peer.port,
        listener: peer.listener,
        broker: peer.broker,
        ...(detail.errorCode ? { error_code: detail.errorCode } : {}),
        ...(detail.message ? { error_message: detail.message } : {}),
      },
    },
  };
}

/** The actor of a connection's events (also used by proxy.ts for APIs the codec does not know). */
export function principalActor(peer: Peer): Json {
  const ip = isIP(peer.address) ? { ip_address: peer.address } : {};
  return peer.principal === undefined
    ? { type: "anonymous", id: "ANONYMOUS", ...ip }
    : { type: "user", id: cut(`User:${peer.principal}`), ...ip };
}
