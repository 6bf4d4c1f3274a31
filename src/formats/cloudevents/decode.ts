import { isIP } from "node:net";
import type { InputEvent } from "../../event/schema.ts";
import { compact, eventId, invalid, isRecord, type Json, text } from "../decode-util.ts";

const SPEC_VERSIONS = ["0.3", "1.0"];
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/** Decodes one CloudEvent or a batch (an array); throws `invalid_event` naming the field. */
export function decodeCloudEvents(value: unknown): InputEvent[] {
  if (Array.isArray(value)) return value.map((v, i) => decodeOne(v, `[${i}].`));
  return [decodeOne(value, "")];
}

function decodeOne(value: unknown, at: string): InputEvent {
  if (!isRecord(value)) throw invalid(at.slice(0, -1), "a CloudEvent must be a JSON object");
  if (!SPEC_VERSIONS.includes(value.specversion as string)) {
    throw invalid(`${at}specversion`, `must be one of ${SPEC_VERSIONS.join(", ")}`);
  }
  const id = required(value, "id", at);
  required(value, "source", at);
  const type = required(value, "type", at);
  const time = value.time;
  if (
    time !== undefined &&
    (typeof time !== "string" || time.length > 40 || !RFC3339.test(time) || Number.isNaN(Date.parse(time)))
  ) {
    throw invalid(`${at}time`, "must be an RFC 3339 date-time");
  }
  const data = isRecord(value.data) ? value.data : {};
  const method = typeof data.methodName === "string" ? data.methodName : undefined;
  const eventType = (method === undefined ? undefined : eventTypeOf(method)) ?? eventTypeOf(type);
  if (eventType === undefined) throw invalid(`${at}type`, "must contain a letter or digit");
  const authz = isRecord(data.authorizationInfo) ? data.authorizationInfo : undefined;
  const actor = actorView(data);
  const resource = resourceView(data, authz);
  const action = compact({
    operation: text(authz?.operation, 128) ?? text(method, 128),
    result: resultOf(data, authz),
  });
  const clusterId = text(crnPart(value.source, "kafka"), 256);
  return {
    event_type: eventType,
    event_id: eventId(id),
    ...(time === undefined ? {} : { timestamp: time as string }),
    ...(Object.keys(actor).length > 0 ? { actor } : {}),
    ...(Object.keys(resource).length > 0 ? { resource } : {}),
    ...(Object.keys(action).length > 0 ? { action } : {}),
    ...(clusterId === undefined ? {} : { context: { cluster_id: clusterId } }),
    details: { cloudevents: structuredClone(value) },
  };
}

function required(event: Json, key: string, at: string): string {
  const value = event[key];
  if (typeof value !== "string" || value === "") throw invalid(`${at}${key}`, "is required");
  return value;
}

/** A dotted name as an event type: parts in lower case, other characters as `_`, at least two parts. */
function eventTypeOf(name: string): string | undefined {
  const parts = name
    .toLowerCase()
    .split(/[./]/)
    .map((p) => p.replace(/[^a-z0-9_-]/g, "_").replace(/^[_-]+/, ""))
    .filter((p) => p !== "")
    .map((p) => p.slice(0, 63));
  if (parts.length === 0) return undefined;
  if (parts.length === 1) parts.unshift("confluent");
  // Drop trailing parts of an overlong name: two parts of at most 63 characters always fit in 128.
  while (parts.join(".").length > 128) parts.pop();
  return parts.join(".");
}

function actorView(data: Json): Json {
  const authn = isRecord(data.authenticationInfo) ? data.authenticationInfo : {};
  const principal = text(authn.principal, 1024);
  const prefix = principal === undefined ? undefined : /^([A-Za-z]+):/.exec(principal)?.[1];
  const requestMetadata = isRecord(data.requestMetadata) ? data.requestMetadata : {};
  const address = requestMetadata.client_address;
  // Java's InetAddress.toString: `hostname/address`, with an empty hostname when unresolved.
  const ip = typeof address === "string" ? address.slice(address.lastIndexOf("/") + 1) : undefined;
  const request = isRecord(data.request) ? data.request : {};
  return compact({
    type: prefix?.toLowerCase(),
    id: principal,
    ip_address: ip !== undefined && isIP(ip) !== 0 ? ip : undefined,
    client_id: text(request.client_id, 1024),
  });
}

function resourceView(data: Json, authz: Json | undefined): Json {
  const crn = typeof data.resourceName === "string" ? data.resourceName : undefined;
  const last = crn?.slice(crn.lastIndexOf("/") + 1);
  const eq = last?.indexOf("=") ?? -1;
  const fromCrn = last !== undefined && eq > 0 ? { type: last.slice(0, eq), id: last.slice(eq + 1) } : {};
  const authzType = typeof authz?.resourceType === "string" ? authz.resourceType.toLowerCase() : undefined;
  const type = authz === undefined ? fromCrn.type : authzType;
  return compact({
    type: text(type, 128),
    id: text(authz === undefined ? fromCrn.id : authz.resourceName, 1024),
    pattern_type: text(authz?.patternType, 64),
    path: text(crn, 4096),
  });
}

function resultOf(data: Json, authz: Json | undefined): string | undefined {
  if (typeof authz?.granted === "boolean") return authz.granted ? "success" : "denied";
  const status = isRecord(data.result) ? data.result.status : undefined;
  if (typeof status !== "string" || status === "") return undefined;
  return status === "SUCCESS" ? "success" : "failure";
}

/** The value of the `key=value` part of a Confluent resource name (CRN), e.g. the Kafka cluster id. */
function crnPart(crn: unknown, key: string): string | undefined {
  if (typeof crn !== "string") return undefined;
  const part = crn.split("/").find((p) => p.startsWith(`${key}=`));
  return part?.slice(key.length + 1) || undefined;
}
