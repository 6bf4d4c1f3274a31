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
      for (const [k, child] of Object.entries(v)) {
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
    for (const [k, child] of Object.entries(v)) {
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
  for (const [k, child] of Object.entries(v)) {
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
  const groups = namedIds(x.request, ["groupId", "groupIds", "groupsNames"]);
  const transactionalIds = namedIds(x.request, ["transactionalId", "transactionalIds"]);
  const errors = errorCodes(x.response);
  const failed = Object.keys(errors).length > 0 || x.decodeError !== undefined;
  const resource =
    topics.length > 0
      ? { type: "topic", id: cut(topics[0]?.name ?? "") }
      : groups.length > 0
        ? { type: "group", id: cut(groups[0] ?? "") }
        : transactionalIds.length > 0
          ? { type: "transactional_id", id: cut(transactionalIds[0] ?? "") }
          : { type: "cluster", id: peer.broker };
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
