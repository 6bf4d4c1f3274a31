/**
 * Protecting Vigil's own audit topics (issue 7, point 5), as Redpanda protects `_redpanda.audit_log`: a request
 * through the proxy that produces to, deletes, or alters a protected topic — Produce, DeleteTopics,
 * CreatePartitions, DeleteRecords, AlterConfigs, IncrementalAlterConfigs — has those entries taken out; the rest
 * of the request goes to the broker as usual, and the answer the client gets carries TOPIC_AUTHORIZATION_FAILED
 * (29) for each entry taken out, exactly where the broker would have put its own answer for it, so clients see
 * the error they see when an ACL denies them. When nothing is left the proxy answers alone.
 *
 * `split` works on decoded requests and `refusals` builds response entries with every field of the version
 * (defaults from the API's schema, then the fields that matter), so the codec encodes them like any response.
 */

import type { ApiSpec } from "./protocol/index.ts";
import type { FieldDef, FieldType } from "./protocol/schema.ts";

/** Kafka's TOPIC_AUTHORIZATION_FAILED. */
export const TOPIC_AUTHORIZATION_FAILED = 29;
const MESSAGE = "Vigil's audit topic is written by Vigil only";
/** AlterConfigs resource type of a topic. */
const TOPIC_RESOURCE = 2;

type Json = Record<string, unknown>;

export interface Refused {
  /** The request without the protected entries; undefined when none is left (the proxy answers alone). */
  kept: Json | undefined;
  /** The topics refused, for the audit event. */
  topics: string[];
  /** Adds the refusals to the broker's response (or to an empty one when nothing was forwarded). */
  answer(response: Json | undefined): Json;
}

const PROTECTED_APIS = new Set([0, 20, 37, 21, 33, 44]);

/** Whether requests of this API can touch a topic's data or configuration. */
export function guards(apiKey: number): boolean {
  return PROTECTED_APIS.has(apiKey);
}

/** How one API names protected entries in its request, and answers them in its response. */
interface Rule<T> {
  /** The request's list of entries. */
  list: string;
  /** The topic an entry is about (undefined: not a topic). */
  topic: (entry: T) => string | undefined;
  /** The response's list the answers go into. */
  answers: string;
  /** The answer to one refused entry (the fields that matter; the rest are the schema's defaults). */
  answer: (entry: T, make: (path: string[], fields: Json) => Json) => Json;
}

/**
 * Splits a decoded request: undefined when it touches no protected topic. `topicName` resolves topic ids
 * (Produce v13+, DeleteTopics v6+) to names.
 */
export function split(
  api: ApiSpec,
  version: number,
  request: Json,
  isProtected: (topic: string) => boolean,
  topicName: (id: string) => string | undefined,
): Refused | undefined {
  const rule = ruleFor(api.key, version, topicName) as Rule<unknown> | undefined;
  if (!rule) return undefined;
  const entries = (request[rule.list] as unknown[] | undefined) ?? [];
  const refused: unknown[] = [];
  const kept: unknown[] = [];
  for (const e of entries) {
    const topic = rule.topic(e);
    (topic !== undefined && isProtected(topic) ? refused : kept).push(e);
  }
  if (refused.length === 0) return undefined;
  const make = (path: string[], fields: Json): Json => ({
    ...defaults(elementOf(api.response.fields, path), version),
    ...fields,
  });
  return {
    kept: kept.length > 0 ? { ...request, [rule.list]: kept } : undefined,
    topics: refused.map((e) => rule.topic(e) as string),
    answer: (response) => {
      const body = response ?? defaults(api.response.fields, version);
      const already = (body[rule.answers] as Json[] | undefined) ?? [];
      body[rule.answers] = [...already, ...refused.map((e) => rule.answer(e, make))];
      return body;
    },
  };
}

function ruleFor(
  apiKey: number,
  version: number,
  topicName: (id: string) => string | undefined,
): Rule<Json> | Rule<string> | undefined {
  const name = (e: Json): string | undefined =>
    typeof e.name === "string" ? e.name : typeof e.topicId === "string" ? topicName(e.topicId) : undefined;
  const list = (e: Json, key: string) => (e[key] as Json[] | undefined) ?? [];
  const denied = { errorCode: TOPIC_AUTHORIZATION_FAILED };
  const withMessage = { ...denied, errorMessage: MESSAGE };
  const rule = (r: Rule<Json>): Rule<Json> => r;
  switch (apiKey) {
    case 0: // Produce
      return rule({
        list: "topicData",
        topic: name,
        answers: "responses",
        answer: (t, make) =>
          make(["responses"], {
            ...(typeof t.name === "string" ? { name: t.name } : {}),
            ...(typeof t.topicId === "string" ? { topicId: t.topicId } : {}),
            partitionResponses: list(t, "partitionData").map((p) =>
              make(["responses", "partitionResponses"], {
                index: p.index,
                ...denied,
                baseOffset: -1n,
                logAppendTimeMs: -1n,
                logStartOffset: -1n,
                ...(version >= 8 ? { errorMessage: MESSAGE } : {}),
              }),
            ),
          }),
      });
    case 20: // DeleteTopics: names before v6, then names or ids
      if (version < 6) {
        return {
          list: "topicNames",
          topic: (n: string) => n,
          answers: "responses",
          answer: (n: string, make) =>
            make(["responses"], { name: n, ...(version >= 5 ? withMessage : denied) }),
        } satisfies Rule<string>;
      }
      return rule({
        list: "topics",
        topic: name,
        answers: "responses",
        answer: (t, make) =>
          make(["responses"], { name: name(t) ?? null, topicId: t.topicId, ...withMessage }),
      });
    case 37: // CreatePartitions
      return rule({
        list: "topics",
        topic: name,
        answers: "results",
        answer: (t, make) => make(["results"], { name: t.name, ...withMessage }),
      });
    case 21: // DeleteRecords
      return rule({
        list: "topics",
        topic: name,
        answers: "topics",
        answer: (t, make) =>
          make(["topics"], {
            name: t.name,
            partitions: list(t, "partitions").map((p) =>
              make(["topics", "partitions"], {
                partitionIndex: p.partitionIndex,
                lowWatermark: -1n,
                ...denied,
              }),
            ),
          }),
      });
    case 33: // AlterConfigs
    case 44: // IncrementalAlterConfigs
      return rule({
        list: "resources",
        topic: (c) => (c.resourceType === TOPIC_RESOURCE ? String(c.resourceName) : undefined),
        answers: "responses",
        answer: (c, make) =>
          make(["responses"], { ...withMessage, resourceType: c.resourceType, resourceName: c.resourceName }),
      });
    default:
      return undefined;
  }
}

/** The struct fields of the array element at `path` (e.g. ["responses", "partitionResponses"]). */
export function elementOf(fields: readonly FieldDef[], path: string[]): readonly FieldDef[] {
  let current = fields;
  for (const name of path) {
    const f = current.find((x) => x.name === name);
    const type = f?.type;
    if (!type || typeof type === "string" || type.kind !== "array" || typeof type.of === "string") {
      throw new Error(`no array of structs ${path.join(".")} in the response schema`);
    }
    current = type.of.fields;
  }
  return current;
}

const inRange = (r: { min: number; max: number }, v: number) => v >= r.min && v <= r.max;

/** Every regular field a struct has at `version`, with its zero value (null where nullable, [] for arrays). */
export function defaults(fields: readonly FieldDef[], version: number): Json {
  const out: Json = {};
  for (const f of fields) {
    if (f.tag !== undefined || !inRange(f.versions, version)) continue;
    out[f.name] = inRange(f.nullable, version) && !isArray(f.type) ? null : zero(f.type, version);
  }
  return out;
}

const isArray = (t: FieldType) => typeof t !== "string" && t.kind === "array";

function zero(type: FieldType, version: number): unknown {
  if (typeof type !== "string") return type.kind === "array" ? [] : defaults(type.fields, version);
  switch (type) {
    case "int64":
      return 0n;
    case "bool":
      return false;
    case "uuid":
      return "AAAAAAAAAAAAAAAAAAAAAA";
    case "string":
      return "";
    case "bytes":
      return Buffer.alloc(0);
    case "records":
      return null;
    default:
      return 0;
  }
}
