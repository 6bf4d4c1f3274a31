/**
 * The API modules against Kafka 4.4's own message definitions (.tools/kafka/message, see test/support/kafka-codec.ts): for every
 * API, the key, valid and flexible versions, and for every version the field tree: the same fields in the same
 * order, with the same types and nullability, the same tagged fields with the same tags. Also: the modules cover
 * the APIs the proxy needs, each module's doc comment shows its grammar as rendered from its schema, and each
 * API's Redpanda event type agrees with the audit policy's table.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  baseType,
  camel,
  has,
  isTagged,
  type KafkaField,
  type KafkaMessage,
  loadMessage,
  PRIMITIVES,
  renderGrammar,
  structFields,
} from "../../../../test/support/kafka-codec.ts";
import { redpandaEventType } from "../../../policy/redpanda.ts";
import { APIS } from "./index.ts";
import {
  type ApiSpec,
  type FieldDef,
  type FieldType,
  inRange,
  type VersionRange,
  versionRange,
} from "./schema.ts";

/** The APIs the brief asks for, first group then second. */
const REQUIRED = [
  18, 3, 10, 60, 0, 1, 2, 8, 9, 11, 12, 13, 14, 15, 16, 17, 36, 19, 20, 21, 22, 37, 30, 31, 29, 32, 33, 44,
  42, 47, 24, 25, 26, 28, 23, 35, 45, 46, 61, 65, 66, 68, 69, 75, 43, 50, 51, 48, 49,
];

const apis = [...APIS.values()];

it("covers every API the proxy decodes, each under its key", () => {
  expect([...APIS.keys()].sort((a, b) => a - b)).toEqual([...REQUIRED].sort((a, b) => a - b));
  for (const [key, api] of APIS) expect(api.key).toBe(key);
});

/** A field's type as the comparison sees it: a primitive, "[]" + primitive, "[]struct" or "struct". */
function ourType(type: FieldType): string {
  if (typeof type === "string") return type;
  if (type.kind === "struct") return "struct";
  return typeof type.of === "string" ? `[]${type.of}` : "[]struct";
}

function kafkaType(f: KafkaField): string {
  const base = baseType(f.type);
  const kind = PRIMITIVES.has(base) ? base : "struct";
  return f.type.startsWith("[]") ? `[]${kind}` : kind;
}

function ourStructFields(type: FieldType): readonly FieldDef[] {
  if (typeof type === "string") return [];
  if (type.kind === "struct") return type.fields;
  return typeof type.of === "string" ? [] : type.of.fields;
}

/**
 * Every difference between our fields and Kafka's at `version`, as readable lines (empty when they agree).
 * Regular fields are compared in order; tagged fields by tag.
 */
function compareStruct(
  ours: readonly FieldDef[],
  theirs: KafkaField[],
  msg: KafkaMessage,
  version: number,
  path: string,
): string[] {
  const problems: string[] = [];
  const ourFields = ours.filter((f) => inRange(f.versions, version));
  const theirFields = theirs.filter((f) => has(f.versions, version));
  for (const f of theirFields) {
    if (f.flexibleVersions !== undefined) problems.push(`${path}${f.name}: field-level flexibleVersions`);
  }
  const ourRegular = ourFields.filter((f) => f.tag === undefined);
  const theirRegular = theirFields.filter((f) => !isTagged(f, version));
  const names = (fs: { name: string }[], map: (n: string) => string) => fs.map((f) => map(f.name)).join(", ");
  if (names(ourRegular, (n) => n) !== names(theirRegular, camel)) {
    problems.push(
      `${path}: fields [${names(ourRegular, (n) => n)}], Kafka has [${names(theirRegular, camel)}]`,
    );
    return problems;
  }
  const pairs: [FieldDef, KafkaField][] = ourRegular.map((f, i) => [f, theirRegular[i] as KafkaField]);
  const ourTagged = new Map(ourFields.filter((f) => f.tag !== undefined).map((f) => [f.tag, f]));
  const theirTagged = theirFields.filter((f) => isTagged(f, version));
  if (ourTagged.size !== theirTagged.length) {
    problems.push(`${path}: ${ourTagged.size} tagged fields, Kafka has ${theirTagged.length}`);
  }
  for (const t of theirTagged) {
    const mine = ourTagged.get(t.tag);
    if (mine === undefined || mine.name !== camel(t.name)) {
      problems.push(`${path}${camel(t.name)}: Kafka tags it ${t.tag}, ours is ${mine?.name ?? "missing"}`);
    } else {
      pairs.push([mine, t]);
    }
  }
  for (const [mine, t] of pairs) {
    const at = `${path}${mine.name}`;
    if (ourType(mine.type) !== kafkaType(t))
      problems.push(`${at}: type ${ourType(mine.type)}, Kafka ${t.type}`);
    if (inRange(mine.nullable, version) !== has(t.nullableVersions, version)) {
      problems.push(
        `${at}: nullable ${inRange(mine.nullable, version)}, Kafka ${t.nullableVersions ?? "never"}`,
      );
    }
    if (kafkaType(t).endsWith("struct")) {
      problems.push(
        ...compareStruct(ourStructFields(mine.type), structFields(t, msg), msg, version, `${at}.`),
      );
    }
  }
  return problems;
}

/** Fields of ours that exist in no version of the API (they could never be read or written). */
function deadFields(fields: readonly FieldDef[], api: ApiSpec, path: string): string[] {
  return fields.flatMap((f) => {
    const live = f.versions.min <= api.maxVersion && f.versions.max >= api.minVersion;
    return [
      ...(live ? [] : [`${path}${f.name}`]),
      ...deadFields(ourStructFields(f.type), api, `${path}${f.name}.`),
    ];
  });
}

const sameRange = (r: VersionRange) => ({ min: r.min, max: r.max });

describe.each(apis.map((api) => [api.name, api] as const))("%s", (_name, api) => {
  for (const [kind, schema] of [
    ["Request", api.request],
    ["Response", api.response],
  ] as const) {
    it(`${kind}: key, versions and every version's fields match Kafka 4.4's ${api.name}${kind}.json`, () => {
      const msg = loadMessage(`${api.name}${kind}`);
      expect(msg.name).toBe(schema.name);
      expect(msg.apiKey).toBe(api.key);
      expect(sameRange(versionRange(msg.validVersions))).toEqual({
        min: api.minVersion,
        max: api.maxVersion,
      });
      expect(sameRange(schema.versions)).toEqual({ min: api.minVersion, max: api.maxVersion });
      const flexible = versionRange(msg.flexibleVersions);
      expect(api.flexibleFrom).toBe(flexible.min <= flexible.max ? flexible.min : Number.POSITIVE_INFINITY);
      expect(sameRange(schema.flexible)).toEqual(sameRange(flexible));
      const problems: string[] = [];
      for (let v = api.minVersion; v <= api.maxVersion; v++) {
        problems.push(...compareStruct(schema.fields, msg.fields, msg, v, `v${v} `));
      }
      expect(problems).toEqual([]);
      expect(deadFields(schema.fields, api, "")).toEqual([]);
    });
  }

  it("its module's doc comment shows its grammar", () => {
    const file = `${api.name.replace(/(?<=[a-z])(?=[A-Z])/g, "-").toLowerCase()}.ts`;
    const source = readFileSync(join(import.meta.dirname, "apis", file), "utf8");
    const comment = /^\/\*\*\n([\s\S]*?)\n \*\//.exec(source)?.[1] ?? "";
    const text = comment
      .split("\n")
      .map((l) => l.replace(/^ \* ?/, ""))
      .join("\n");
    expect(text).toContain(renderGrammar(api));
    expect(text).toMatch(new RegExp(`^${api.name} \\(API key ${api.key}\\): \\w`));
  });

  it("its Redpanda event type agrees with the audit policy's table", () => {
    // The policy's table (spec/001's list and the APIs it leaves out, each in its closest type) knows every API.
    expect(api.category).toBe(redpandaEventType({ event_type: `kafka.${api.name.toLowerCase()}` }));
  });
});

it("a comparison that can fail: a changed field is reported", () => {
  const msg = loadMessage("ProduceRequest");
  const produce = APIS.get(0) as ApiSpec;
  const [first, ...rest] = produce.request.fields;
  const renamed = { ...(first as FieldDef), name: "txnId" };
  expect(compareStruct([renamed, ...rest], msg.fields, msg, 9, "")).toHaveLength(1);
  const notNullable = { ...(first as FieldDef), nullable: versionRange("none") };
  expect(compareStruct([notNullable, ...rest], msg.fields, msg, 9, "")).toEqual([
    "transactionalId: nullable false, Kafka 3+",
  ]);
});
