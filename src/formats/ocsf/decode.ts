/**
 * OCSF records, as Redpanda's audit log writes them (OCSF 1.0), to native events.
 *
 * Redpanda writes three classes: Authentication (3002), API Activity (6003) and Application Lifecycle (6002,
 * broker start and stop). Other classes are refused. Mapping (`details.ocsf` is the whole record, so nothing is
 * lost):
 * - event_type: 3002 Logon → `auth.login`, or `auth.failed` when status_id is 2 (Failure); Logoff →
 *   `auth.logout`; other activities `auth.<activity>` (`auth.preauth`, …).
 *   6003 on the Kafka protocol (an `api.operation` and no `http_request`) → `kafka.<api>`, the Kafka API name
 *   in lower case without separators (`create_acls` → `kafka.createacls`, `produce` → `kafka.produce`), the
 *   same names the Confluent decoder yields; Redpanda's activity_id says little there (it writes Update for
 *   produce and metadata alike). 6003 over HTTP (Admin API, Schema Registry, HTTP Proxy) →
 *   `api.<activity>`: `api.create`, `api.read`, `api.update`, `api.delete`, `api.other`.
 *   6002 → `app.<activity>`: `app.start`, `app.stop`, ….
 * - timestamp: `time` (epoch milliseconds) in RFC 3339. Redpanda records carry no id: the server assigns one.
 * - actor: `user` (3002) or `actor.user` (6003): name, type from type_id (user, admin, system), group names
 *   as roles; ip_address = src_endpoint.ip, client_id = src_endpoint.name, user_agent from http_request.
 * - resource: 6003 the first of `resources` (type, name as id), path = http_request.url.path, service =
 *   api.service.name; 3002 the service authenticated to; 6002 the application.
 * - action: operation = api.operation, else the activity name (`logon`, `start`); result from status_id:
 *   1 success, 2 failure, or denied when an authorization decision says so; count, and ended_at (RFC 3339)
 *   from end_time, when Redpanda folded repeats of the same event into one record (as Vigil's Kafka proxy folds
 *   its own, which the OCSF encoder writes back the same way); protocol = auth_protocol.
 */
import { isIP } from "node:net";
import type { InputEvent } from "../../event/schema.ts";
import { compact, invalid, isRecord, type Json, text } from "../decode-util.ts";

const AUTHENTICATION = 3002;
const APPLICATION_LIFECYCLE = 6002;
const API_ACTIVITY = 6003;

/** activity_id captions of each class, as event-type segments (OCSF 1.0). */
const ACTIVITIES: Record<number, Record<number, string>> = {
  [AUTHENTICATION]: {
    0: "unknown",
    1: "logon",
    2: "logoff",
    3: "authentication_ticket",
    4: "service_ticket_request",
    5: "service_ticket_renew",
    6: "preauth",
    99: "other",
  },
  [APPLICATION_LIFECYCLE]: {
    0: "unknown",
    1: "install",
    2: "remove",
    3: "start",
    4: "stop",
    5: "restart",
    6: "enable",
    7: "disable",
    8: "update",
    99: "other",
  },
  [API_ACTIVITY]: { 0: "unknown", 1: "create", 2: "read", 3: "update", 4: "delete", 99: "other" },
};

const USER_TYPES: Record<number, string> = { 1: "user", 2: "admin", 3: "system" };
const STATUS_FAILURE = 2;
/** The last millisecond RFC 3339 can write (9999-12-31T23:59:59.999Z). */
const MAX_TIME = 253402300799999;

/** An OCSF timestamp: milliseconds since the epoch that RFC 3339 can write. */
function isTime(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= MAX_TIME;
}

/** Decodes one OCSF record; throws `invalid_event` naming the field. */
export function decodeOcsf(value: unknown): InputEvent[] {
  if (!isRecord(value)) throw invalid("", "an OCSF record must be a JSON object");
  const classUid = value.class_uid;
  if (!Number.isInteger(classUid)) throw invalid("class_uid", "is required");
  const activities = ACTIVITIES[classUid as number];
  if (activities === undefined) {
    throw invalid(
      "class_uid",
      "must be 3002 (Authentication), 6002 (Application Lifecycle) or 6003 (API Activity)",
    );
  }
  if (!Number.isInteger(value.activity_id)) throw invalid("activity_id", "is required");
  if (!isRecord(value.metadata)) throw invalid("metadata", "is required");
  const time = value.time;
  if (!isTime(time)) throw invalid("time", "must be a time in milliseconds since the epoch");
  const activityId = value.activity_id as number;
  const activity = activities[activityId] ?? `activity_${activityId}`;
  const mapped =
    classUid === AUTHENTICATION
      ? authentication(value, activity)
      : classUid === API_ACTIVITY
        ? apiActivity(value, activity)
        : lifecycle(value, activity);
  return [
    {
      event_type: mapped.eventType,
      timestamp: new Date(time).toISOString(),
      ...nonEmpty("actor", mapped.actor),
      ...nonEmpty("resource", mapped.resource),
      action: compact({
        ...mapped.action,
        result: result(value.status_id, mapped.denied),
        count: Number.isInteger(value.count) ? value.count : undefined,
        ended_at: isTime(value.end_time) ? new Date(value.end_time).toISOString() : undefined,
      }),
      details: { ocsf: structuredClone(value) },
    },
  ];
}

interface Mapped {
  eventType: string;
  actor: Json;
  resource: Json;
  action: Json;
  /** Whether an authorization decision denied the request (only API Activity carries one). */
  denied: boolean;
}

function authentication(value: Json, activity: string): Mapped {
  const eventType =
    activity === "logon"
      ? value.status_id === STATUS_FAILURE
        ? "auth.failed"
        : "auth.login"
      : activity === "logoff"
        ? "auth.logout"
        : `auth.${activity}`;
  const service = isRecord(value.service) ? value.service : {};
  return {
    eventType,
    actor: { ...userView(value.user), ...sourceView(value.src_endpoint) },
    resource: compact({ type: "service", id: text(service.name, 1024) }),
    action: compact({ operation: activity, protocol: text(value.auth_protocol, 1024) }),
    denied: false,
  };
}

function apiActivity(value: Json, activity: string): Mapped {
  const api = isRecord(value.api) ? value.api : {};
  const http = isRecord(value.http_request) ? value.http_request : undefined;
  const operation = typeof api.operation === "string" ? api.operation : undefined;
  const kafkaApi = http === undefined && operation !== undefined ? apiSegment(operation) : undefined;
  const actor = isRecord(value.actor) ? value.actor : {};
  const authorizations = Array.isArray(actor.authorizations) ? actor.authorizations : [];
  const first = Array.isArray(value.resources) && isRecord(value.resources[0]) ? value.resources[0] : {};
  const url = http !== undefined && isRecord(http.url) ? http.url : {};
  const service = isRecord(api.service) ? api.service : {};
  return {
    eventType: kafkaApi === undefined ? `api.${activity}` : `kafka.${kafkaApi}`,
    actor: {
      ...userView(actor.user),
      ...sourceView(value.src_endpoint),
      ...compact({ user_agent: text(http?.user_agent, 1024) }),
    },
    resource: compact({
      type: text(first.type, 128),
      id: text(first.name, 1024),
      path: text(url.path, 4096),
      service: text(service.name, 1024),
    }),
    action: { operation: text(operation, 128) ?? activity },
    denied: authorizations.some((a) => isRecord(a) && a.decision === "denied"),
  };
}

function lifecycle(value: Json, activity: string): Mapped {
  const app = isRecord(value.app) ? value.app : {};
  return {
    eventType: `app.${activity}`,
    actor: {},
    resource: compact({ type: "application", id: text(app.name, 1024) }),
    action: { operation: activity },
    denied: false,
  };
}

function userView(user: unknown): Json {
  if (!isRecord(user)) return {};
  const groups = Array.isArray(user.groups) ? user.groups : [];
  const names = groups.map((g) => (isRecord(g) ? g.name : undefined));
  const roles =
    names.length > 0 && names.length <= 256 && names.every((n) => typeof n === "string" && n.length <= 256)
      ? names
      : undefined;
  return compact({
    type: USER_TYPES[user.type_id as number],
    id: text(user.name, 1024),
    roles,
  });
}

function sourceView(endpoint: unknown): Json {
  if (!isRecord(endpoint)) return {};
  const ip = typeof endpoint.ip === "string" && isIP(endpoint.ip) !== 0 ? endpoint.ip : undefined;
  return compact({ ip_address: ip, client_id: text(endpoint.name, 1024) });
}

function result(statusId: unknown, denied: boolean): string | undefined {
  if (statusId === 1) return "success";
  if (statusId === STATUS_FAILURE) return denied ? "denied" : "failure";
  return undefined;
}

/** A Kafka API name as an event-type segment: `create_acls`, `CreateAcls` → `createacls`. */
function apiSegment(name: string): string | undefined {
  const segment = name
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "")
    .slice(0, 122);
  return segment === "" ? undefined : segment;
}

function nonEmpty(key: string, obj: Json): Json {
  return Object.keys(obj).length > 0 ? { [key]: obj } : {};
}
