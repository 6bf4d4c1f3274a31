/**
 * Test support for the Kafka codec (src/sources/kafka-proxy/protocol/), imported by its tests and the proxy's
 * benchmark only (never by the codec):
 *
 * - Kafka's own message definitions, the JSON files `scripts/deps/kafka` extracts from the kafka-clients jar into
 *   `.tools/kafka/message` (with their `//` comment lines stripped), which the conformance test compares the API
 *   modules with;
 * - a seeded random message generator driven by those definitions (not by our schemas), and a reference encoder,
 *   also driven by them and written independently of the codec as plainly as possible, so that the codec's
 *   output can be compared with a second implementation byte for byte;
 * - a record batch builder (magic 2, uncompressed, with its CRC-32C), as a producer writes batches;
 * - the rendering of an API's grammar that each API module's doc comment must show.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Writer } from "../../src/sources/kafka-proxy/protocol/bytes.ts";
import {
  type ApiSpec,
  type FieldDef,
  type FieldType,
  inRange,
  type VersionRange,
  versionRange,
} from "../../src/sources/kafka-proxy/protocol/schema.ts";

export const MESSAGE_DIR = resolve(import.meta.dirname, "../../.tools/kafka/message");

export interface KafkaField {
  name: string;
  type: string;
  versions: string;
  nullableVersions?: string;
  taggedVersions?: string;
  tag?: number;
  flexibleVersions?: string;
  fields?: KafkaField[];
}

export interface KafkaMessage {
  apiKey: number;
  type: string;
  name: string;
  validVersions: string;
  flexibleVersions: string;
  fields: KafkaField[];
  commonStructs?: { name: string; fields: KafkaField[] }[];
}

/** Reads `<name>.json` (e.g. "ProduceRequest") from MESSAGE_DIR. */
export function loadMessage(name: string): KafkaMessage {
  if (!existsSync(MESSAGE_DIR)) {
    throw new Error(`Kafka's message definitions are not in ${MESSAGE_DIR}: run scripts/test-deps`);
  }
  const text = readFileSync(join(MESSAGE_DIR, `${name}.json`), "utf8").replace(/^\s*\/\/.*$/gm, "");
  return JSON.parse(text) as KafkaMessage;
}

export const PRIMITIVES = new Set([
  "int8",
  "int16",
  "uint16",
  "int32",
  "uint32",
  "int64",
  "float64",
  "bool",
  "uuid",
  "string",
  "bytes",
  "records",
]);

/** Kafka's field name as the codec names it: `TopicData` → `topicData`. */
export function camel(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

/** The element type of an array type ("[]Foo" → "Foo"), or the type itself. */
export function baseType(type: string): string {
  return type.startsWith("[]") ? type.slice(2) : type;
}

/** The fields of a struct-typed field: inline, or the common struct its type names. */
export function structFields(f: KafkaField, msg: KafkaMessage): KafkaField[] {
  if (f.fields !== undefined) return f.fields;
  const common = msg.commonStructs?.find((c) => c.name === baseType(f.type));
  if (common === undefined) throw new Error(`${msg.name}: no struct ${f.type} for ${f.name}`);
  return common.fields;
}

export function has(range: string | undefined, version: number): boolean {
  return range !== undefined && inRange(versionRange(range), version);
}

/** Tagged in this version. */
export function isTagged(f: KafkaField, version: number): boolean {
  return f.tag !== undefined && has(f.taggedVersions, version);
}

/** mulberry32: a small seeded PRNG, so a failing case can be replayed from its seed. */
export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** In [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(0, 255);
    return b;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

const STRING_CHARS = ["a", "Z", "0", "-", "_", ".", " ", "é", "ß", "€", "日", "😀"];

/**
 * A random body valid for `version` of `msg`: every field of the version, arrays of 0-3 elements, null now and
 * then where nullable, tagged fields present or not, and where flexible now and then unknown tagged fields.
 */
export function generateBody(msg: KafkaMessage, version: number, rng: Rng): Record<string, unknown> {
  return generateStruct(msg.fields, msg, version, inRange(versionRange(msg.flexibleVersions), version), rng);
}

function generateStruct(
  fields: KafkaField[],
  msg: KafkaMessage,
  version: number,
  flexible: boolean,
  rng: Rng,
): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const known = new Set<number>();
  for (const f of fields) {
    if (!has(f.versions, version)) continue;
    if (isTagged(f, version)) {
      known.add(f.tag as number);
      if (rng.chance(0.5)) continue;
    }
    o[camel(f.name)] = generateValue(f, msg, version, flexible, rng);
  }
  if (flexible && rng.chance(0.25)) {
    const unknown = new Map<number, Buffer>();
    for (let i = rng.int(1, 2); i > 0; i--) {
      const tag = rng.chance(0.8) ? rng.int(0, 12) : rng.int(0, 2 ** 31);
      if (!known.has(tag)) unknown.set(tag, rng.bytes(rng.int(0, 5)));
    }
    if (unknown.size > 0) o._tagged = new Map([...unknown].sort((a, b) => a[0] - b[0]));
  }
  return o;
}

function generateValue(
  f: KafkaField,
  msg: KafkaMessage,
  version: number,
  flexible: boolean,
  rng: Rng,
): unknown {
  if (has(f.nullableVersions, version) && rng.chance(0.2)) return null;
  const base = baseType(f.type);
  const one = (): unknown =>
    PRIMITIVES.has(base)
      ? generatePrimitive(base, rng)
      : generateStruct(structFields(f, msg), msg, version, flexible, rng);
  if (!f.type.startsWith("[]")) return one();
  return Array.from({ length: rng.int(0, 3) }, one);
}

function generatePrimitive(type: string, rng: Rng): unknown {
  const b = rng.bytes(8);
  switch (type) {
    case "int8":
      return b.readInt8(0);
    case "int16":
      return b.readInt16BE(0);
    case "uint16":
      return b.readUInt16BE(0);
    case "int32":
      return b.readInt32BE(0);
    case "uint32":
      return b.readUInt32BE(0);
    case "int64":
      return b.readBigInt64BE(0);
    case "float64": {
      const v = b.readDoubleBE(0);
      return Number.isNaN(v) ? 0.5 : v;
    }
    case "bool":
      return rng.chance(0.5);
    case "uuid":
      return rng.bytes(16).toString("base64url");
    case "string":
      return Array.from(
        { length: rng.int(0, 8) },
        () => STRING_CHARS[rng.int(0, STRING_CHARS.length - 1)],
      ).join("");
    default:
      return rng.bytes(rng.int(0, 10));
  }
}

/** Encodes `body` as `version` of `msg` says, independently of the codec (header not included). */
export function referenceEncode(msg: KafkaMessage, version: number, body: Record<string, unknown>): Buffer {
  const flexible = inRange(versionRange(msg.flexibleVersions), version);
  return Buffer.concat(encodeStruct(msg.fields, msg, version, flexible, body));
}

function encodeStruct(
  fields: KafkaField[],
  msg: KafkaMessage,
  version: number,
  flexible: boolean,
  o: Record<string, unknown>,
): Buffer[] {
  const out: Buffer[] = [];
  const tagged: [number, Buffer][] = [];
  for (const f of fields) {
    if (!has(f.versions, version)) continue;
    const value = o[camel(f.name)];
    if (isTagged(f, version)) {
      if (value !== undefined) {
        tagged.push([f.tag as number, Buffer.concat(encodeValue(f, msg, version, flexible, value))]);
      }
    } else {
      out.push(...encodeValue(f, msg, version, flexible, value));
    }
  }
  if (flexible) {
    const unknown = o._tagged as Map<number, Buffer> | undefined;
    if (unknown !== undefined) tagged.push(...unknown);
    tagged.sort((a, b) => a[0] - b[0]);
    out.push(uvarint(tagged.length));
    for (const [tag, data] of tagged) out.push(uvarint(tag), uvarint(data.length), data);
  }
  return out;
}

function encodeValue(
  f: KafkaField,
  msg: KafkaMessage,
  version: number,
  flexible: boolean,
  v: unknown,
): Buffer[] {
  const base = baseType(f.type);
  const nullable = has(f.nullableVersions, version);
  if (f.type.startsWith("[]")) {
    if (v === null) return [flexible ? uvarint(0) : int32(-1)];
    const items = v as unknown[];
    const out = [flexible ? uvarint(items.length + 1) : int32(items.length)];
    for (const item of items) {
      out.push(
        ...(PRIMITIVES.has(base)
          ? [encodePrimitive(base, flexible, false, item)]
          : encodeStruct(structFields(f, msg), msg, version, flexible, item as Record<string, unknown>)),
      );
    }
    return out;
  }
  if (PRIMITIVES.has(base)) return [encodePrimitive(base, flexible, nullable, v)];
  if (nullable && v === null) return [int8(-1)];
  const fields = encodeStruct(structFields(f, msg), msg, version, flexible, v as Record<string, unknown>);
  return nullable ? [int8(1), ...fields] : fields;
}

function encodePrimitive(type: string, flexible: boolean, nullable: boolean, v: unknown): Buffer {
  const b = Buffer.alloc(8);
  switch (type) {
    case "int8":
      return int8(v as number);
    case "int16":
      b.writeInt16BE(v as number);
      return b.subarray(0, 2);
    case "uint16":
      b.writeUInt16BE(v as number);
      return b.subarray(0, 2);
    case "int32":
      return int32(v as number);
    case "uint32":
      b.writeUInt32BE(v as number);
      return b.subarray(0, 4);
    case "int64":
      b.writeBigInt64BE(v as bigint);
      return b;
    case "float64":
      b.writeDoubleBE(v as number);
      return b;
    case "bool":
      return int8(v ? 1 : 0);
    case "uuid":
      return Buffer.from(v as string, "base64url");
    case "string": {
      if (v === null && nullable) return flexible ? uvarint(0) : Buffer.from([0xff, 0xff]);
      const s = Buffer.from(v as string, "utf8");
      const len = Buffer.alloc(2);
      len.writeInt16BE(s.length);
      return Buffer.concat([flexible ? uvarint(s.length + 1) : len, s]);
    }
    default: {
      if (v === null && nullable) return flexible ? uvarint(0) : int32(-1);
      const data = v as Buffer;
      return Buffer.concat([flexible ? uvarint(data.length + 1) : int32(data.length), data]);
    }
  }
}

function int8(v: number): Buffer {
  const b = Buffer.alloc(1);
  b.writeInt8(v);
  return b;
}

function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
}

export function uvarint(v: number): Buffer {
  const bytes: number[] = [];
  let rest = v;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/**
 * An API's grammar as its module's doc comment shows it (without the comment's ` * ` prefixes): the versions,
 * then per message one line per field: name, type, and the versions it exists in when not all of its parent's
 * (within the API's versions), `tag N` for a tagged field.
 */
export function renderGrammar(api: ApiSpec): string {
  const range = (min: number, max: number) => (min === max ? `${min}` : `${min}-${max}`);
  const flexible =
    api.flexibleFrom === Number.POSITIVE_INFINITY
      ? "never flexible."
      : `${api.flexibleFrom === api.minVersion ? "all flexible" : `flexible from ${api.flexibleFrom}`} (compact lengths, tagged fields closing every struct).`;
  const lines = [
    `Versions ${range(api.minVersion, api.maxVersion)}, ${flexible}`,
    "Per field: its type, the versions it exists in when not in all of its parent's, and its tag if tagged.",
  ];
  const all = { min: api.minVersion, max: api.maxVersion };
  for (const message of [api.request, api.response]) {
    const rows: [string, string, string][] = [];
    renderFields(message.fields, all, api.maxVersion, "  ", rows);
    const nameWidth = Math.max(...rows.map((r) => r[0].length)) + 2;
    const typeWidth = Math.max(...rows.map((r) => r[1].length)) + 2;
    lines.push("", `${message.name} =>`);
    for (const [name, type, notes] of rows) {
      lines.push(`${name.padEnd(nameWidth)}${type.padEnd(typeWidth)}${notes}`.trimEnd());
    }
  }
  return lines.join("\n");
}

function intersect(a: VersionRange, b: VersionRange): VersionRange {
  return { min: Math.max(a.min, b.min), max: Math.min(a.max, b.max) };
}

function renderRange(r: VersionRange, open: boolean): string {
  if (open) return `v${r.min}+`;
  return r.min === r.max ? `v${r.min}` : `v${r.min}-${r.max}`;
}

function renderFields(
  fields: readonly FieldDef[],
  parent: VersionRange,
  apiMax: number,
  indent: string,
  rows: [string, string, string][],
): void {
  for (const f of fields) {
    const own = intersect(f.versions, parent);
    if (own.min > own.max) continue;
    const open = own.max === apiMax && f.versions.max === Number.POSITIVE_INFINITY;
    const nullable = intersect(f.nullable, own);
    let prefix = "";
    let suffix = "";
    if (nullable.min === own.min && nullable.max === own.max) prefix = "NULLABLE_";
    else if (nullable.min <= nullable.max) {
      suffix = ` (nullable ${renderRange(nullable, open && nullable.max === own.max)})`;
    }
    const notes = [
      own.min === parent.min && own.max === parent.max ? "" : renderRange(own, open),
      f.tag === undefined ? "" : `tag ${f.tag}`,
    ]
      .filter((s) => s !== "")
      .join(" ");
    const nested = nestedFields(f.type);
    rows.push([indent + f.name, prefix + typeName(f.type) + suffix, notes]);
    if (nested !== undefined) renderFields(nested, own, apiMax, `${indent}  `, rows);
  }
}

function nestedFields(type: FieldType): readonly FieldDef[] | undefined {
  if (typeof type === "string") return undefined;
  if (type.kind === "struct") return type.fields;
  return typeof type.of === "string" ? undefined : type.of.fields;
}

function typeName(type: FieldType): string {
  if (typeof type === "string") return type.toUpperCase();
  if (type.kind === "struct") return "STRUCT =>";
  return typeof type.of === "string" ? `ARRAY(${type.of.toUpperCase()})` : "ARRAY =>";
}

/** CRC-32C (Castagnoli), which record batches carry; bitwise, as batches in tests are small. */
export function crc32c(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * A record batch (magic 2) as a non-idempotent producer writes it: no compression, create time, producer id -1,
 * base offset 0, partition leader epoch -1; one record per value, keys `key-<i>`, timestamps a millisecond apart.
 */
export function recordBatch(values: Buffer[], baseTimestamp: bigint): Buffer {
  const records = new Writer();
  values.forEach((value, i) => {
    const key = Buffer.from(`key-${i}`);
    const body = new Writer();
    body.int8(0); // attributes
    body.varlong(BigInt(i)); // timestampDelta
    body.varint(i); // offsetDelta
    body.varint(key.length);
    body.raw(key);
    body.varint(value.length);
    body.raw(value);
    body.varint(0); // headers
    const bytes = body.finish();
    records.varint(bytes.length);
    records.raw(bytes);
  });
  const afterCrc = new Writer();
  afterCrc.int16(0); // attributes
  afterCrc.int32(values.length - 1); // lastOffsetDelta
  afterCrc.int64(baseTimestamp);
  afterCrc.int64(baseTimestamp + BigInt(values.length - 1)); // maxTimestamp
  afterCrc.int64(-1n); // producerId
  afterCrc.int16(-1); // producerEpoch
  afterCrc.int32(-1); // baseSequence
  afterCrc.int32(values.length);
  afterCrc.raw(records.finish());
  const checked = afterCrc.finish();
  const batch = new Writer();
  batch.int64(0n); // baseOffset
  batch.int32(4 + 1 + 4 + checked.length); // batchLength: from partitionLeaderEpoch on
  batch.int32(-1); // partitionLeaderEpoch
  batch.int8(2); // magic
  batch.uint32(crc32c(checked));
  batch.raw(checked);
  return batch.finish();
}
