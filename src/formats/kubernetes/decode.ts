import { isIP } from "node:net";
import type { InputEvent } from "../../event/schema.ts";
import { compact, eventId, invalid, isRecord, type Json, text } from "../decode-util.ts";

const API_VERSIONS = ["audit.k8s.io/v1", "audit.k8s.io/v1beta1"];
const SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:";
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/** Decodes one Event, an EventList or an AKS diagnostic record; throws `invalid_event` naming the field. */
export function decodeKubernetes(value: unknown): InputEvent[] {
  if (!isRecord(value)) throw invalid("", "a Kubernetes audit record must be a JSON object");
  if (isAksRecord(value)) return [decodeAks(value)];
  if (isRecord(value.protoPayload)) {
    throw invalid(
      "protoPayload",
      "a Google Cloud Audit Logs LogEntry (GKE) holds GCP's AuditLog record, not an audit.k8s.io Event",
    );
  }
  checkApiVersion(value.apiVersion, "apiVersion");
  if (value.kind === "EventList") {
    if (!Array.isArray(value.items)) throw invalid("items", "an EventList must hold an array of events");
    // Items of a list carry no type of their own; give each the list's, as the log backend writes them.
    const typeMeta =
      value.apiVersion === undefined ? { kind: "Event" } : { kind: "Event", apiVersion: value.apiVersion };
    return value.items.map((item, i) => {
      if (!isRecord(item)) throw invalid(`items[${i}]`, "an event must be a JSON object");
      return decodeEvent({ ...typeMeta, ...item }, `items[${i}].`);
    });
  }
  if (value.kind !== "Event") throw invalid("kind", 'must be "Event" or "EventList"');
  return [decodeEvent(value, "")];
}

/** Whether a value is an AKS `kube-audit` / `kube-audit-admin` diagnostic record. */
export function isAksRecord(value: Json): boolean {
  return (
    typeof value.category === "string" &&
    value.category.startsWith("kube-audit") &&
    isRecord(value.properties) &&
    value.properties.log !== undefined
  );
}

function decodeAks(record: Json): InputEvent {
  const { log, ...properties } = record.properties as Json;
  let event: unknown = log;
  if (typeof log === "string") {
    try {
      event = JSON.parse(log);
    } catch (e) {
      throw invalid("properties.log", `is not valid JSON: ${(e as Error).message}`);
    }
  }
  if (!isRecord(event)) throw invalid("properties.log", "must hold an audit.k8s.io Event");
  const decoded = decodeEvent(event, "properties.log.");
  const context = compact({ ...decoded.context, cluster_id: text(record.resourceId, 256) });
  return {
    ...decoded,
    ...(Object.keys(context).length > 0 ? { context } : {}),
    details: { ...decoded.details, aks: structuredClone({ ...record, properties }) },
  };
}

function decodeEvent(event: Json, at: string): InputEvent {
  if (event.kind !== "Event") throw invalid(`${at}kind`, 'must be "Event"');
  checkApiVersion(event.apiVersion, `${at}apiVersion`);
  const auditId = required(event, "auditID", at);
  const verb = required(event, "verb", at);
  const stage = typeof event.stage === "string" && event.stage !== "" ? event.stage : undefined;
  const received = timestampOf(event, at);
  const user = isRecord(event.user) ? userView(event.user) : undefined;
  const impersonated = isRecord(event.impersonatedUser) ? userView(event.impersonatedUser) : undefined;
  const ips = Array.isArray(event.sourceIPs) ? event.sourceIPs : [];
  const ip = typeof ips[0] === "string" && isIP(ips[0]) !== 0 ? ips[0] : undefined;
  const actor = compact({
    ...user,
    ip_address: ip,
    user_agent: text(event.userAgent, 1024),
    impersonated_user: impersonated,
  });
  const resource = compact({ ...objectRefView(event.objectRef), path: text(event.requestURI, 4096) });
  const action = compact({
    operation: text(verb, 128),
    ...statusView(event.responseStatus),
    duration_ms: stage === "ResponseComplete" ? durationMs(received, event.stageTimestamp) : undefined,
  });
  const correlationId = text(auditId, 256);
  return {
    event_type: `k8s.${typeSegment(verb, at)}`,
    event_id: eventId(stage === undefined ? auditId : `${auditId}:${stage}`),
    timestamp: received,
    ...(Object.keys(actor).length > 0 ? { actor } : {}),
    ...(Object.keys(resource).length > 0 ? { resource } : {}),
    action,
    ...(correlationId === undefined ? {} : { context: { correlation_id: correlationId } }),
    details: { kubernetes: structuredClone(event) },
  };
}

function checkApiVersion(apiVersion: unknown, field: string): void {
  if (apiVersion !== undefined && !API_VERSIONS.includes(apiVersion as string)) {
    throw invalid(field, `must be one of ${API_VERSIONS.join(", ")}`);
  }
}

function required(event: Json, key: string, at: string): string {
  const value = event[key];
  if (typeof value !== "string" || value === "") throw invalid(`${at}${key}`, "is required");
  return value;
}

/** The time the API server received the request; old records name it differently. */
function timestampOf(event: Json, at: string): string {
  const metadata = isRecord(event.metadata) ? event.metadata : {};
  const candidates: [string, unknown][] = [
    ["requestReceivedTimestamp", event.requestReceivedTimestamp],
    ["timestamp", event.timestamp],
    ["metadata.creationTimestamp", metadata.creationTimestamp],
  ];
  for (const [field, value] of candidates) {
    if (value === undefined) continue;
    if (
      typeof value !== "string" ||
      value.length > 40 ||
      !RFC3339.test(value) ||
      Number.isNaN(Date.parse(value))
    )
      throw invalid(`${at}${field}`, "must be an RFC 3339 date-time");
    return value;
  }
  throw invalid(`${at}requestReceivedTimestamp`, "is required");
}

function userView(user: Json): Json {
  const username = typeof user.username === "string" ? user.username : undefined;
  return compact({
    type: username?.startsWith(SERVICE_ACCOUNT_PREFIX) ? "serviceaccount" : "user",
    id: text(username, 1024),
    roles: roles(user.groups),
  });
}

function roles(groups: unknown): string[] | undefined {
  if (!Array.isArray(groups) || groups.length > 256) return undefined;
  return groups.every((g) => typeof g === "string" && g.length <= 256) ? (groups as string[]) : undefined;
}

function objectRefView(ref: unknown): Json {
  if (!isRecord(ref)) return {};
  const type =
    typeof ref.resource === "string" && typeof ref.subresource === "string" && ref.subresource !== ""
      ? `${ref.resource}/${ref.subresource}`
      : ref.resource;
  return {
    type: text(type, 128),
    id: text(ref.name, 1024),
    namespace: text(ref.namespace, 1024),
    api_group: text(ref.apiGroup, 1024),
    api_version: text(ref.apiVersion, 1024),
  };
}

function statusView(status: unknown): Json {
  if (!isRecord(status)) return {};
  const code = status.code;
  if (typeof code !== "number" || !Number.isInteger(code)) {
    // A Status without a code still says whether it failed.
    if (status.status === "Failure") return { result: "failure" };
    if (status.status === "Success") return { result: "success" };
    return {};
  }
  const result = code === 401 || code === 403 ? "denied" : code >= 400 ? "failure" : "success";
  return { result, status_code: code };
}

/** Milliseconds (to the microsecond the API server records) from receipt of the request to the stage. */
function durationMs(received: string, stageTimestamp: unknown): number | undefined {
  if (typeof stageTimestamp !== "string" || !RFC3339.test(stageTimestamp)) return undefined;
  const ms = epochMs(stageTimestamp) - epochMs(received);
  return Number.isFinite(ms) && ms >= 0 ? Math.round(ms * 1000) / 1000 : undefined;
}

/** Date.parse keeps only milliseconds; the API server writes microseconds. */
function epochMs(timestamp: string): number {
  const fraction = /\.(\d+)/.exec(timestamp)?.[1];
  const whole = Date.parse(timestamp.replace(/\.\d+/, ""));
  return fraction === undefined ? whole : whole + Number(`0.${fraction}`) * 1000;
}

/** A verb as an event-type segment: lower case, other characters as `_`. */
function typeSegment(verb: string, at: string): string {
  const segment = verb
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, "_")
    .replace(/^[_-]+/, "")
    .slice(0, 124);
  if (segment === "") throw invalid(`${at}verb`, "must contain a letter or digit");
  return segment;
}
