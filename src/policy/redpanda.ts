/**
 * Redpanda's audit switches (spec/001): `enabled_event_types`, `excluded_topics` and `excluded_principals`, over
 * native events. Users who ran Redpanda's audit log bring the same three settings, so they mean the same here.
 *
 * A native event belongs to one of Redpanda's eight event types by its event_type (the Kafka API names are
 * those the OCSF and CloudEvents decoders yield, `kafka.<api in lower case without separators>`); the Kafka APIs
 * are grouped as spec/001's table groups them:
 *
 * | Redpanda type     | native event_type                                                                    |
 * |-------------------|--------------------------------------------------------------------------------------|
 * | `management`      | kafka.alterpartitionreassignments, createacls, createpartitions, createtopics,       |
 * |                   | deleteacls, deletegroups, deleterecords, deletetopics, incrementalalterconfigs,      |
 * |                   | alterconfigs, offsetdelete; beyond spec/001's list: electleaders,                    |
 * |                   | alteruserscramcredentials, alterclientquotas                                         |
 * | `produce`         | kafka.addpartitionstotxn, endtxn, initproducerid, produce                            |
 * | `consume`         | kafka.addoffsetstotxn, fetch (Confluent: fetchconsumer, fetchfollower), joingroup,   |
 * |                   | leavegroup, listoffsets, offsetcommit, syncgroup, txnoffsetcommit                    |
 * | `describe`        | kafka.describeacls, describeconfigs, describegroups, describelogdirs,                |
 * |                   | findcoordinator, listgroups, listpartitionreassignments, metadata, offsetfetch,      |
 * |                   | offsetforleaderepoch, describeproducers, describetransactions, listtransactions;     |
 * |                   | beyond spec/001's list: apiversions, describecluster, consumergroupdescribe,         |
 * |                   | describetopicpartitions, describeuserscramcredentials, describeclientquotas          |
 * | `heartbeat`       | kafka.heartbeat, consumergroupheartbeat (KIP-848's heartbeat, join and sync in one)  |
 * | `authenticate`    | auth.* (logins, failures, logouts), kafka.saslhandshake, saslauthenticate,           |
 * |                   | authentication (Confluent's methodName for a login)                                  |
 * | `schema_registry` | schema_registry.*; api.* whose resource.service names the Schema Registry            |
 * | `admin`           | admin.*; api.* whose resource.service names the Admin API (Redpanda's OCSF records)  |
 *
 * An event of none of these types (a Kubernetes request, an application's `backup.completed`, a Kafka API the
 * table does not list) is kept untouched by all three settings: they describe Kafka traffic, and an audit
 * trail should not lose events to a filter that was never about them.
 *
 * `enabled_event_types` absent enables every type: Redpanda's default (management, authenticate, admin) limits
 * what its brokers emit, while events reaching Vigil were already chosen by whoever sent them.
 */

import { suggest } from "../config/schema.ts";
import { type FieldProblem, ValidationError } from "../errors.ts";
import type { InputEvent } from "../event/schema.ts";

export const REDPANDA_EVENT_TYPES = [
  "management",
  "produce",
  "consume",
  "describe",
  "heartbeat",
  "authenticate",
  "schema_registry",
  "admin",
] as const;
export type RedpandaEventType = (typeof REDPANDA_EVENT_TYPES)[number];

/** The settings as a Vigil configuration or policy file writes them (Redpanda's names without `audit_`). */
export interface RedpandaFilterConfig {
  enabled_event_types?: readonly string[];
  excluded_topics?: readonly string[];
  excluded_principals?: readonly string[];
}

export interface RedpandaFilterOptions {
  /**
   * The topics Vigil writes its own audit records to (its kafka destinations'); excluding one is refused, as
   * Redpanda refuses excluding its own.
   */
  auditTopics?: readonly string[];
}

/** What the filters look at; native and input events both fit. */
export type FilterableEvent = Pick<InputEvent, "event_type" | "actor" | "resource" | "details">;

export interface RedpandaDecision {
  keep: boolean;
  reason?: "event_type_disabled" | "excluded_topic" | "excluded_principal";
  /** The event's Redpanda type, undefined for events of none. */
  eventType?: RedpandaEventType;
  /** The setting's entry that dropped the event: the type, topic or principal as configured. */
  match?: string;
}

const KEEP: RedpandaDecision = Object.freeze({ keep: true });

export interface RedpandaFilters {
  decide(event: FilterableEvent): RedpandaDecision;
}

// Keyed by the whole event_type, so classifying an event slices no string.
const API_TYPES: ReadonlyMap<string, RedpandaEventType> = new Map(
  (
    [
      [
        "management",
        [
          "alterpartitionreassignments",
          "createacls",
          "createpartitions",
          "createtopics",
          "deleteacls",
          "deletegroups",
          "deleterecords",
          "deletetopics",
          "incrementalalterconfigs",
          "alterconfigs",
          "offsetdelete",
          "electleaders",
          "alteruserscramcredentials",
          "alterclientquotas",
        ],
      ],
      ["produce", ["addpartitionstotxn", "endtxn", "initproducerid", "produce"]],
      [
        "consume",
        [
          "addoffsetstotxn",
          "fetch",
          "fetchconsumer",
          "fetchfollower",
          "joingroup",
          "leavegroup",
          "listoffsets",
          "offsetcommit",
          "syncgroup",
          "txnoffsetcommit",
        ],
      ],
      [
        "describe",
        [
          "describeacls",
          "describeconfigs",
          "describegroups",
          "describelogdirs",
          "findcoordinator",
          "listgroups",
          "listpartitionreassignments",
          "metadata",
          "offsetfetch",
          "offsetforleaderepoch",
          "describeproducers",
          "describetransactions",
          "listtransactions",
          "apiversions",
          "describecluster",
          "consumergroupdescribe",
          "describetopicpartitions",
          "describeuserscramcredentials",
          "describeclientquotas",
        ],
      ],
      ["heartbeat", ["heartbeat", "consumergroupheartbeat"]],
      ["authenticate", ["saslhandshake", "saslauthenticate", "authentication"]],
    ] as const
  ).flatMap(([type, apis]) => apis.map((api) => [`kafka.${api}`, type] as const)),
);

/** The Redpanda event type of a native event, or undefined when it is none of the eight (see the table). */
export function redpandaEventType(event: FilterableEvent): RedpandaEventType | undefined {
  const type = event.event_type;
  if (type.startsWith("kafka.")) return API_TYPES.get(type);
  if (type.startsWith("auth.")) return "authenticate";
  if (type.startsWith("schema_registry.")) return "schema_registry";
  if (type.startsWith("admin.")) return "admin";
  if (type.startsWith("api.")) {
    // Redpanda's OCSF records of HTTP calls say which server took them only in the service name.
    const service = (event.resource as Record<string, unknown> | undefined)?.service;
    if (typeof service !== "string") return undefined;
    if (/schema[ _-]?registry/i.test(service)) return "schema_registry";
    if (/\badmin\b/i.test(service)) return "admin";
  }
  return undefined;
}

/**
 * The topics an event is about are its resource when that is a topic, and `details.topics` (names or `{name}`).
 * Returns the first of them when every one is in `excluded`, else undefined (also when it names none). Walks
 * the event in place rather than listing its topics, as it runs for every Kafka event ingested.
 */
export function excludedTopic(event: FilterableEvent, excluded: ReadonlySet<string>): string | undefined {
  let first: string | undefined;
  if (event.resource?.type === "topic" && typeof event.resource.id === "string") {
    if (!excluded.has(event.resource.id)) return undefined;
    first = event.resource.id;
  }
  const listed = (event.details as Record<string, unknown> | undefined)?.topics;
  if (Array.isArray(listed)) {
    for (const t of listed) {
      const name =
        typeof t === "string"
          ? t
          : t !== null && typeof t === "object" && typeof (t as { name?: unknown }).name === "string"
            ? (t as { name: string }).name
            : undefined;
      if (name === undefined) continue;
      if (!excluded.has(name)) return undefined;
      first ??= name;
    }
  }
  return first;
}

const USER = "User:";

/** Redpanda accepts a principal as `User:name` or `name`; both name the same user. */
function principalName(principal: string): string {
  return principal.startsWith(USER) ? principal.slice(USER.length) : principal;
}

/**
 * Validates and compiles the three settings.
 * @throws ValidationError("invalid_config") naming each bad entry (`enabled_event_types[2]`, `excluded_topics[0]`):
 * an unknown event type, or an excluded topic that is the audit topic itself.
 */
export function compileRedpandaFilters(
  config: RedpandaFilterConfig,
  options: RedpandaFilterOptions,
): RedpandaFilters {
  const problems: FieldProblem[] = [];
  const known: ReadonlySet<string> = new Set(REDPANDA_EVENT_TYPES);
  config.enabled_event_types?.forEach((type, i) => {
    if (known.has(type)) return;
    const hint = suggest(type, REDPANDA_EVENT_TYPES);
    problems.push({
      field: `enabled_event_types[${i}]`,
      message: `unknown event type "${type}"${hint ? ` (did you mean "${hint}"?)` : ""}: must be one of ${REDPANDA_EVENT_TYPES.join(", ")}`,
    });
  });
  config.excluded_topics?.forEach((topic, i) => {
    if (!options.auditTopics?.includes(topic)) return;
    problems.push({
      field: `excluded_topics[${i}]`,
      message: `cannot exclude the audit topic "${topic}" itself: changes to it must always be audited (Redpanda refuses _redpanda.audit_log here likewise)`,
    });
  });
  if (problems.length > 0) throw new ValidationError("invalid_config", problems);

  const enabled = config.enabled_event_types ? new Set(config.enabled_event_types) : undefined;
  const topics = new Set(config.excluded_topics ?? []);
  // Each entry as written, keyed by the actor ids that name its user: the bare name, and with `User:`. An actor
  // id is looked up as it is, in the map of its own form, so deciding slices no string.
  const bare = new Map<string, string>();
  const prefixed = new Map<string, string>();
  for (const p of config.excluded_principals ?? []) {
    const name = principalName(p);
    if (!bare.has(name)) bare.set(name, p);
    if (!prefixed.has(USER + name)) prefixed.set(USER + name, p);
  }
  // The decisions that do not depend on a configured entry are made once, not per event.
  const keepAs = new Map(REDPANDA_EVENT_TYPES.map((t) => [t, { keep: true, eventType: t } as const]));
  const disabledAs = new Map(
    REDPANDA_EVENT_TYPES.map(
      (t) => [t, { keep: false, reason: "event_type_disabled", eventType: t, match: t } as const] as const,
    ),
  );
  return {
    decide(event) {
      const eventType = redpandaEventType(event);
      if (eventType === undefined) return KEEP;
      if (enabled && !enabled.has(eventType)) return disabledAs.get(eventType) as RedpandaDecision;
      const actor = event.actor?.id;
      if (actor !== undefined && (bare.size > 0 || prefixed.size > 0)) {
        const principal = (actor.startsWith(USER) ? prefixed : bare).get(actor);
        if (principal !== undefined)
          return { keep: false, reason: "excluded_principal", eventType, match: principal };
      }
      // Redpanda audits each topic of a request separately; an event about several topics is one record here,
      // so it is dropped only when every topic it names is excluded.
      const topic = topics.size > 0 ? excludedTopic(event, topics) : undefined;
      if (topic !== undefined) return { keep: false, reason: "excluded_topic", eventType, match: topic };
      return keepAs.get(eventType) as RedpandaDecision;
    },
  };
}
