/**
 * CloudEvents (specversion 0.3 and 1.0, structured JSON, one event or a batch array), as Confluent Platform
 * and Confluent Cloud write their audit logs, to native events.
 *
 * Mapping (`details.cloudevents` is the whole event, extension attributes such as `confluentRouting` (0.3)
 * or `route` (1.0) included, so nothing is lost):
 * - event_type from data.methodName in lower case, its dots kept: `kafka.CreateTopics` → `kafka.createtopics`,
 *   `mds.Authorize` → `mds.authorize`; a name of one part is put under `confluent.`. Without a methodName,
 *   from `type`, `/` read as a dot (`io.confluent.kafka.server/authorization` →
 *   `io.confluent.kafka.server.authorization`).
 * - event_id = `id` (rewritten deterministically when outside the id alphabet); timestamp = `time`.
 * - actor: id = authenticationInfo.principal (`User:alice`), type from its prefix (`user`); ip_address =
 *   requestMetadata.client_address (Java writes `/172.27.0.3`); client_id = request.client_id.
 * - resource: type (lower case), id and pattern_type from authorizationInfo; else type and id from the last
 *   `type=id` part of data.resourceName (`crn:///kafka=abc` → kafka, abc); path = data.resourceName (CRN).
 * - action: operation = authorizationInfo.operation, else methodName; result = success / denied from
 *   authorizationInfo.granted, else success / failure from result.status.
 * - context.cluster_id = the Kafka cluster id in the `kafka=` part of `source`.
 */
import { createHash } from "node:crypto";
import { isIP } from "node:net";
import { ValidationError } from "../../errors.ts";
import { EVENT_ID_PATTERN, type InputEvent } from "../../event/schema.ts";

type Json = Record<string, unknown>;

const SPEC_VERSIONS = ["0.3", "1.0"];
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const ID_PATTERN = new RegExp(EVENT_ID_PATTERN);

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

/**
 * An event id from a foreign id: unchanged when it fits the id alphabet, else its legible part and a hash of
 * the whole, so the same record always gets the same id and different records different ids.
 */
function eventId(raw: string): string {
  if (raw.length <= 128 && ID_PATTERN.test(raw)) return raw;
  const legible = raw
    .replace(/[^A-Za-z0-9._:-]/g, "_")
    .replace(/^[^A-Za-z0-9]+/, "")
    .slice(0, 64);
  const hash = createHash("sha256").update(raw).digest("hex").slice(0, 32);
  return legible === "" ? hash : `${legible}:${hash}`;
}

function text(value: unknown, max: number): string | undefined {
  return typeof value === "string" && value.length <= max ? value : undefined;
}

/** Drops undefined members, so absent source fields stay absent. */
function compact(obj: Json): Json {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}

function isRecord(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function invalid(field: string, message: string): ValidationError {
  return new ValidationError("invalid_event", [{ field, message }]);
}
