/**
 * The part of the OCSF 1.1.0 schema Vigil emits, as data, and a validator for it.
 *
 * Source: github.com/ocsf/ocsf-schema, tag v1.1.0 (commit 8ea34523a316c4bad7e360e870a23a8e5cb29bd5):
 * events/base_event.json with includes/classification.json and includes/occurrence.json, events/iam/iam.json,
 * events/iam/{account_change,authentication,authorize_session}.json, events/application/{application,api}.json,
 * objects/*.json, profiles/{cloud,host}.json, categories.json and dictionary.json. Transcribed by resolving each
 * class's and object's `extends` chain and `$include`s (a later definition overrides an earlier one, enums are
 * merged with the dictionary's, as the OCSF server does), not picked by hand. Profile attributes are listed
 * separately: they belong to an event only when its `metadata.profiles` names the profile, except where a class
 * re-declares one with `"profile": null` (API Activity's `api`, Authentication's and Account Change's `actor`).
 *
 * The validator checks what the schema states: required attributes present, no attribute the class or object
 * does not define, value types (integer, string, IP address, object, array), enum values, the
 * `at_least_one` / `just_one` constraints, `category_uid` and `type_uid` consistent with `class_uid` and
 * `activity_id`, and `metadata.version`. Objects it does not model (`device`, `process`, …) are only checked to
 * be objects; string formats other than IP addresses are not checked.
 */
import { isIP } from "node:net";

export const OCSF_VERSION = "1.1.0";

export type Requirement = "required" | "recommended" | "optional";

export interface Shape {
  readonly attributes: ReadonlyMap<string, Requirement>;
  /** At least one of these attributes is present. */
  readonly atLeastOne?: readonly string[];
  /** Exactly one of these attributes is present. */
  readonly justOne?: readonly string[];
  /** Allowed values of the enumerated attributes. */
  readonly enums: ReadonlyMap<string, ReadonlySet<number | string>>;
}

export interface OcsfClass extends Shape {
  readonly uid: number;
  readonly caption: string;
  readonly categoryUid: number;
  /** activity_id → caption, including the schema-wide 0 Unknown and 99 Other. */
  readonly activities: ReadonlyMap<number, string>;
}

/** Space-separated names, as the lists below are written. */
function words(list: string): string[] {
  return list.split(/\s+/).filter((w) => w !== "");
}

function shape(
  lists: { required?: string; recommended?: string; optional?: string },
  extra: { atLeastOne?: string; justOne?: string; enums?: Record<string, string> } = {},
): Shape {
  const attributes = new Map<string, Requirement>();
  for (const requirement of ["required", "recommended", "optional"] as const) {
    for (const name of words(lists[requirement] ?? "")) attributes.set(name, requirement);
  }
  const enums = new Map<string, Set<number | string>>();
  for (const [name, values] of Object.entries({ ...COMMON_ENUMS, ...extra.enums })) {
    if (attributes.has(name)) {
      enums.set(name, new Set(words(values).map((v) => (/^\d+$/.test(v) ? Number(v) : v))));
    }
  }
  return {
    attributes,
    enums,
    ...(extra.atLeastOne === undefined ? {} : { atLeastOne: words(extra.atLeastOne) }),
    ...(extra.justOne === undefined ? {} : { justOne: words(extra.justOne) }),
  };
}

/** dictionary.json enums that every class shares. */
const COMMON_ENUMS: Record<string, string> = {
  severity_id: "0 1 2 3 4 5 6 99",
  status_id: "0 1 2 99",
};

export const SEVERITY_CAPTIONS: ReadonlyMap<number, string> = new Map([
  [0, "Unknown"],
  [1, "Informational"],
  [2, "Low"],
  [3, "Medium"],
  [4, "High"],
  [5, "Critical"],
  [6, "Fatal"],
  [99, "Other"],
]);

export const STATUS_CAPTIONS: ReadonlyMap<number, string> = new Map([
  [0, "Unknown"],
  [1, "Success"],
  [2, "Failure"],
  [99, "Other"],
]);

/** categories.json */
export const CATEGORY_CAPTIONS: ReadonlyMap<number, string> = new Map([
  [3, "Identity & Access Management"],
  [6, "Application Activity"],
]);

/** Attributes of the base event (with classification and occurrence) that every class below has. */
const BASE = {
  required: "activity_id category_uid class_uid metadata severity_id time type_uid",
  recommended: "message status_id timezone_offset",
  optional: `activity_name category_name class_name count duration end_time enrichments observables raw_data
    severity start_time status status_code status_detail type_name unmapped`,
};

function eventClass(
  uid: number,
  caption: string,
  activities: Record<number, string>,
  lists: { required?: string; recommended?: string; optional?: string },
  extra: { atLeastOne?: string; justOne?: string; enums?: Record<string, string> } = {},
): OcsfClass {
  const merged = {
    required: `${BASE.required} ${lists.required ?? ""}`,
    recommended: `${BASE.recommended} ${lists.recommended ?? ""}`,
    optional: `${BASE.optional} ${lists.optional ?? ""}`,
  };
  return {
    uid,
    caption,
    categoryUid: Math.floor(uid / 1000),
    activities: new Map([
      [0, "Unknown"],
      ...Object.entries(activities).map(([k, v]) => [Number(k), v] as const),
      [99, "Other"],
    ]),
    ...shape(merged, extra),
  };
}

export const ACCOUNT_CHANGE = eventClass(
  3001,
  "Account Change",
  {
    1: "Create",
    2: "Enable",
    3: "Password Change",
    4: "Password Reset",
    5: "Disable",
    6: "Delete",
    7: "Attach Policy",
    8: "Detach Policy",
    9: "Lock",
    10: "MFA Factor Enable",
    11: "MFA Factor Disable",
  },
  { required: "user", recommended: "actor src_endpoint", optional: "http_request policy user_result" },
);

export const AUTHENTICATION = eventClass(
  3002,
  "Authentication",
  {
    1: "Logon",
    2: "Logoff",
    3: "Authentication Ticket",
    4: "Service Ticket Request",
    5: "Service Ticket Renew",
  },
  {
    required: "user",
    recommended: "auth_protocol_id dst_endpoint is_remote logon_type_id service",
    optional: `actor auth_protocol certificate http_request is_cleartext is_mfa is_new_logon logon_process
      logon_type session src_endpoint`,
  },
  {
    atLeastOne: "service dst_endpoint",
    enums: { auth_protocol_id: "0 1 2 3 4 5 6 7 8 9 10 99", logon_type_id: "0 2 3 4 5 7 8 9 10 11 12 13 99" },
  },
);

export const AUTHORIZE_SESSION = eventClass(
  3003,
  "Authorize Session",
  { 1: "Assign Privileges", 2: "Assign Groups" },
  { required: "user", recommended: "group privileges session", optional: "dst_endpoint" },
  { justOne: "privileges group" },
);

export const API_ACTIVITY = eventClass(
  6003,
  "API Activity",
  { 1: "Create", 2: "Read", 3: "Update", 4: "Delete" },
  { required: "actor api src_endpoint", recommended: "resources", optional: "dst_endpoint http_request" },
);

export const OCSF_CLASSES: ReadonlyMap<number, OcsfClass> = new Map(
  [ACCOUNT_CHANGE, AUTHENTICATION, AUTHORIZE_SESSION, API_ACTIVITY].map((c) => [c.uid, c]),
);

/** Objects whose attributes are checked; any other object-typed value is only checked to be an object. */
const OBJECTS: ReadonlyMap<string, Shape> = new Map([
  [
    "metadata",
    shape({
      required: "product version",
      recommended: "log_name log_provider original_time tenant_uid",
      optional: `correlation_uid event_code extension extensions labels log_level log_version logged_time loggers
        modified_time processed_time profiles sequence uid`,
    }),
  ],
  [
    "product",
    shape(
      {
        required: "vendor_name",
        recommended: "name uid version",
        optional: "cpe_name feature lang path url_string",
      },
      { atLeastOne: "name uid" },
    ),
  ],
  [
    "api",
    shape({ required: "operation", recommended: "request response", optional: "group service version" }),
  ],
  ["service", shape({ recommended: "name uid version", optional: "labels" }, { atLeastOne: "name uid" })],
  [
    "actor",
    shape(
      { recommended: "process user", optional: "authorizations idp invoked_by session" },
      { atLeastOne: "process user invoked_by session" },
    ),
  ],
  [
    "user",
    shape(
      {
        recommended: "name type_id uid",
        optional: "account credential_uid domain email_addr full_name groups ldap_person org type uid_alt",
      },
      { atLeastOne: "account name uid", enums: { type_id: "0 1 2 3 99" } },
    ),
  ],
  [
    "group",
    shape({ recommended: "name uid", optional: "desc domain privileges type" }, { atLeastOne: "name uid" }),
  ],
  [
    "network_endpoint",
    shape(
      {
        recommended: "hostname instance_uid interface_name interface_uid ip name port svc_name type_id uid",
        optional: `domain hw_info intermediate_ips location mac os proxy_endpoint subnet_uid type vlan_uid vpc_uid
          zone`,
      },
      {
        atLeastOne: "ip uid name hostname svc_name instance_uid interface_uid interface_name",
        enums: { type_id: "0 1 2 3 4 5 6 7 8 9 10 11 99" },
      },
    ),
  ],
  [
    "resource_details",
    shape(
      {
        recommended: "owner",
        optional: "cloud_partition criticality data group labels name namespace region type uid version",
      },
      { atLeastOne: "name uid" },
    ),
  ],
  [
    "http_request",
    shape(
      {
        recommended: "http_headers url user_agent version",
        optional: "args http_method length referrer uid x_forwarded_for",
      },
      { enums: { http_method: "CONNECT DELETE GET HEAD OPTIONS POST PUT TRACE" } },
    ),
  ],
  ["cloud", shape({ required: "provider", recommended: "region", optional: "account org project_uid zone" })],
]);

/** profiles/*.json: attributes an event gains by naming the profile in `metadata.profiles`. */
const PROFILES: ReadonlyMap<string, Shape> = new Map([
  ["cloud", shape({ required: "cloud", optional: "api" })],
  ["host", shape({ recommended: "device", optional: "actor" })],
]);

/**
 * dictionary.json: the type of every attribute named above. `integer`, `number`, `string`, `boolean`, `json`
 * (anything), `ip` (a string holding an IP address), `object` (any object) or an object's name; `[]` marks an
 * array.
 */
const TYPES: ReadonlyMap<string, string> = new Map(
  words(`
  account:account activity_id:integer activity_name:string actor:actor api:api args:string auth_protocol:string
  auth_protocol_id:integer authorizations:authorization[] category_name:string category_uid:integer
  certificate:certificate class_name:string class_uid:integer cloud:cloud cloud_partition:string
  correlation_uid:string count:integer cpe_name:string credential_uid:string criticality:string data:json
  desc:string device:device domain:string dst_endpoint:network_endpoint duration:integer email_addr:string
  end_time:integer enrichments:enrichment[] event_code:string extension:extension extensions:extension[]
  feature:feature full_name:string group:group groups:group[] hostname:string http_headers:http_header[]
  http_method:string http_request:http_request hw_info:device_hw_info idp:idp instance_uid:string
  interface_name:string interface_uid:string intermediate_ips:ip[] invoked_by:string ip:ip is_cleartext:boolean
  is_mfa:boolean is_new_logon:boolean is_remote:boolean labels:string[] lang:string ldap_person:ldap_person
  length:integer location:location log_level:string log_name:string log_provider:string log_version:string
  logged_time:integer loggers:logger[] logon_process:process logon_type:string logon_type_id:integer mac:string
  message:string metadata:metadata modified_time:integer name:string namespace:string observables:observable[]
  operation:string org:organization original_time:string os:os owner:user path:string policy:policy port:integer
  privileges:string[] process:process processed_time:integer product:product profiles:string[]
  project_uid:string provider:string proxy_endpoint:network_proxy raw_data:string referrer:string region:string
  request:request resources:resource_details[] response:response sequence:integer service:service
  session:session severity:string severity_id:integer src_endpoint:network_endpoint start_time:integer
  status:string status_code:string status_detail:string status_id:integer subnet_uid:string svc_name:string
  tenant_uid:string time:integer timezone_offset:integer type:string type_id:integer type_name:string
  type_uid:integer uid:string uid_alt:string unmapped:object url:url url_string:string user:user
  user_agent:string user_result:user vendor_name:string version:string vlan_uid:string vpc_uid:string
  x_forwarded_for:ip[] zone:string`).map((entry) => entry.split(":") as [string, string]),
);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function present(obj: Record<string, unknown>, name: string): boolean {
  return obj[name] !== undefined && obj[name] !== null;
}

/** Checks one value against its dictionary type, recursing into modelled objects. */
function checkValue(value: unknown, type: string, path: string, problems: string[]): void {
  if (type.endsWith("[]")) {
    if (!Array.isArray(value)) {
      problems.push(`${path}: must be an array`);
      return;
    }
    value.forEach((item, i) => {
      checkValue(item, type.slice(0, -2), `${path}[${i}]`, problems);
    });
    return;
  }
  switch (type) {
    case "json":
      return;
    case "integer":
      if (!Number.isSafeInteger(value)) problems.push(`${path}: must be an integer`);
      return;
    case "number":
      if (typeof value !== "number" || !Number.isFinite(value)) problems.push(`${path}: must be a number`);
      return;
    case "string":
      if (typeof value !== "string") problems.push(`${path}: must be a string`);
      return;
    case "boolean":
      if (typeof value !== "boolean") problems.push(`${path}: must be a boolean`);
      return;
    case "ip":
      if (typeof value !== "string" || isIP(value) === 0) problems.push(`${path}: must be an IP address`);
      return;
  }
  if (!isObject(value)) {
    problems.push(`${path}: must be an object`);
    return;
  }
  const objectShape = OBJECTS.get(type);
  if (objectShape) checkShape(value, objectShape, path, problems);
}

function checkShape(obj: Record<string, unknown>, s: Shape, path: string, problems: string[]): void {
  const at = (name: string) => (path === "" ? name : `${path}.${name}`);
  for (const [name, requirement] of s.attributes) {
    if (requirement === "required" && !present(obj, name)) problems.push(`${at(name)}: required`);
  }
  for (const [name, value] of Object.entries(obj)) {
    if (!s.attributes.has(name)) {
      problems.push(`${at(name)}: not an attribute of ${path === "" ? "this class" : path}`);
      continue;
    }
    if (value === undefined) continue;
    checkValue(value, TYPES.get(name) ?? "json", at(name), problems);
    const allowed = s.enums.get(name);
    if (allowed && !allowed.has(value as number | string))
      problems.push(`${at(name)}: ${String(value)} not in enum`);
  }
  if (s.atLeastOne && !s.atLeastOne.some((n) => present(obj, n))) {
    problems.push(`${path || "event"}: needs at least one of ${s.atLeastOne.join(", ")}`);
  }
  if (s.justOne && s.justOne.filter((n) => present(obj, n)).length !== 1) {
    problems.push(`${path || "event"}: needs exactly one of ${s.justOne.join(", ")}`);
  }
}

/** The class shape widened by the profiles the event names (each profile once, required only when named). */
function withProfiles(c: OcsfClass, profiles: unknown, problems: string[]): Shape {
  if (!Array.isArray(profiles)) return c;
  const attributes = new Map(c.attributes);
  for (const name of profiles) {
    const profile = PROFILES.get(name as string);
    if (!profile) {
      problems.push(`metadata.profiles: ${String(name)} is not a profile this validator knows`);
      continue;
    }
    for (const [attr, requirement] of profile.attributes) {
      if (!attributes.has(attr)) attributes.set(attr, requirement);
    }
  }
  return { ...c, attributes };
}

/**
 * Validates one OCSF event against the schema data above. Returns the problems found, each `path: what`; an
 * empty list means valid.
 */
export function validateOcsfEvent(event: unknown): string[] {
  const problems: string[] = [];
  if (!isObject(event)) return ["event: must be an object"];
  const c = OCSF_CLASSES.get(event.class_uid as number);
  if (!c)
    return [`class_uid: ${String(event.class_uid)} is not one of ${[...OCSF_CLASSES.keys()].join(", ")}`];
  const metadata = isObject(event.metadata) ? event.metadata : {};
  checkShape(event, withProfiles(c, metadata.profiles, problems), "", problems);
  if (event.category_uid !== c.categoryUid) {
    problems.push(
      `category_uid: ${String(event.category_uid)}, class ${c.uid} is in category ${c.categoryUid}`,
    );
  }
  const activity = event.activity_id as number;
  if (!c.activities.has(activity)) problems.push(`activity_id: ${String(activity)} not in enum`);
  if (event.type_uid !== c.uid * 100 + activity) {
    problems.push(`type_uid: ${String(event.type_uid)}, expected class_uid × 100 + activity_id`);
  }
  if (metadata.version !== undefined && metadata.version !== OCSF_VERSION) {
    problems.push(`metadata.version: ${String(metadata.version)}, this schema is ${OCSF_VERSION}`);
  }
  return problems;
}
