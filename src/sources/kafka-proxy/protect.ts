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
  const nameOf = (entry: Json, key = "name"): string | undefined =>
    typeof entry[key] === "string"
      ? (entry[key] as string)
      : typeof entry.topicId === "string"
        ? topicName(entry.topicId)
        : undefined;
  const list = (o: Json | undefined, key: string): Json[] => (o?.[key] as Json[] | undefined) ?? [];
  const partition = (response: Json | undefined, field: string, entries: Json[]): Json => {
    const body = response ?? defaults(api.response.fields, version);
    body[field] = [...list(body, field), ...entries];
    return body;
  };
  const entry = (path: string[], overrides: Json): Json => ({
    ...defaults(elementOf(api.response.fields, path), version),
    ...overrides,
  });
  const denied = { errorCode: TOPIC_AUTHORIZATION_FAILED };

  switch (api.key) {
    case 0: {
      const [refused, kept] = partitionBy(list(request, "topicData"), (t) => isProtected(nameOf(t) ?? ""));
      if (refused.length === 0) return undefined;
      return result(
        { ...request, topicData: kept },
        kept.length > 0,
        refused.map((t) => nameOf(t) ?? ""),
        (r) =>
          partition(
            r,
            "responses",
            refused.map((t) =>
              entry(["responses"], {
                ...(typeof t.name === "string" ? { name: t.name } : {}),
                ...(typeof t.topicId === "string" ? { topicId: t.topicId } : {}),
                partitionResponses: list(t, "partitionData").map((p) =>
                  entry(["responses", "partitionResponses"], {
                    index: p.index,
                    ...denied,
                    baseOffset: -1n,
                    logAppendTimeMs: -1n,
                    logStartOffset: -1n,
                    errorMessage: version >= 8 ? MESSAGE : undefined,
                  }),
                ),
              }),
            ),
          ),
      );
    }
    case 20: {
      if (version < 6) {
        const names = (request.topicNames as string[] | undefined) ?? [];
        const [refused, kept] = partitionBy(names, (n) => isProtected(n));
        if (refused.length === 0) return undefined;
        return result({ ...request, topicNames: kept }, kept.length > 0, refused, (r) =>
          partition(
            r,
            "responses",
            refused.map((name) =>
              entry(["responses"], { name, ...denied, ...(version >= 5 ? { errorMessage: MESSAGE } : {}) }),
            ),
          ),
        );
      }
      const [refused, kept] = partitionBy(list(request, "topics"), (t) => isProtected(nameOf(t) ?? ""));
      if (refused.length === 0) return undefined;
      return result(
        { ...request, topics: kept },
        kept.length > 0,
        refused.map((t) => nameOf(t) ?? ""),
        (r) =>
          partition(
            r,
            "responses",
            refused.map((t) =>
              entry(["responses"], {
                name: nameOf(t) ?? null,
                topicId: t.topicId,
                ...denied,
                errorMessage: MESSAGE,
              }),
            ),
          ),
      );
    }
    case 37: {
      const [refused, kept] = partitionBy(list(request, "topics"), (t) => isProtected(nameOf(t) ?? ""));
      if (refused.length === 0) return undefined;
      return result(
        { ...request, topics: kept },
        kept.length > 0,
        refused.map((t) => nameOf(t) ?? ""),
        (r) =>
          partition(
            r,
            "results",
            refused.map((t) => entry(["results"], { name: t.name, ...denied, errorMessage: MESSAGE })),
          ),
      );
    }
    case 21: {
      const [refused, kept] = partitionBy(list(request, "topics"), (t) => isProtected(nameOf(t) ?? ""));
      if (refused.length === 0) return undefined;
      return result(
        { ...request, topics: kept },
        kept.length > 0,
        refused.map((t) => nameOf(t) ?? ""),
        (r) =>
          partition(
            r,
            "topics",
            refused.map((t) =>
              entry(["topics"], {
                name: t.name,
                partitions: list(t, "partitions").map((p) =>
                  entry(["topics", "partitions"], {
                    partitionIndex: p.partitionIndex,
                    lowWatermark: -1n,
                    ...denied,
                  }),
                ),
              }),
            ),
          ),
      );
    }
    case 33:
    case 44: {
      const [refused, kept] = partitionBy(
        list(request, "resources"),
        (c) => c.resourceType === TOPIC_RESOURCE && isProtected(String(c.resourceName)),
      );
      if (refused.length === 0) return undefined;
      return result(
        { ...request, resources: kept },
        kept.length > 0,
        refused.map((c) => String(c.resourceName)),
        (r) =>
          partition(
            r,
            "responses",
            refused.map((c) =>
              entry(["responses"], {
                ...denied,
                errorMessage: MESSAGE,
                resourceType: c.resourceType,
                resourceName: c.resourceName,
              }),
            ),
          ),
      );
    }
    default:
      return undefined;
  }
}

function result(
  kept: Json,
  anyLeft: boolean,
  topics: string[],
  answer: (r: Json | undefined) => Json,
): Refused {
  return { kept: anyLeft ? kept : undefined, topics, answer };
}

function partitionBy<T>(items: T[], refuse: (item: T) => boolean): [T[], T[]] {
  const refused: T[] = [];
  const kept: T[] = [];
  for (const item of items) (refuse(item) ? refused : kept).push(item);
  return [refused, kept];
}

/** The struct fields of the array element at `path` (e.g. ["responses", "partitionResponses"]). */
function elementOf(fields: readonly FieldDef[], path: string[]): readonly FieldDef[] {
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
