/**
 * A declarative grammar for Kafka messages, and the decoder and encoder it drives.
 *
 * An API module (apis/*.ts) writes its request and response as lists of fields, mirroring Kafka's own message
 * definitions so that the conformance test can compare the two field by field and version by version:
 *
 *   field("acks", "0+", "int16")                                  a field in versions 0 and up
 *   field("transactionalId", "3+", { nullable: "3+" }, "string")  null allowed from version 3
 *   field("replicaNodes", "0+", "[]int32")                        an array of a primitive
 *   field("topicData", "0+", [ ...fields ])                       an array of structs
 *   field("currentLeader", "10+", { tag: 0 }, struct(...fields))  a struct, tagged with tag 0 (in all its versions)
 *
 * Names are Kafka's in camelCase (`TopicData` is `topicData`); versions are written as Kafka writes them ("3+",
 * "0-12", "5", "none").
 *
 * Decoding and encoding are compiled per version on first use: for each version the fields that exist are
 * listed once, each with its reader and writer already chosen (classic or compact, nullable or not), so decoding
 * a message walks arrays of closures and never looks at a version range.
 *
 * A decoded message is a plain object with the camelCase names: int8/int16/uint16/int32/uint32 and float64 as
 * numbers, int64 as bigint, bool, uuid as Kafka prints it (22 base64url characters), string, bytes and records as
 * Buffers sliced from the frame (no copy), arrays as arrays, structs as objects, null where nullable. A field
 * that does not exist in the version is absent. A tagged field is present only when the message carried it (no
 * default filled in), and encoding writes a tagged field only when its value is not undefined, so encoding a
 * decoded message gives back its bytes. Unknown tagged fields are kept under `_tagged` (UNKNOWN_TAGS), a Map of
 * tag to raw value, and written back in tag order among the known ones. (A message whose tags were not in
 * ascending order, or that wrote a bool as 2, is accepted as Kafka accepts it but re-encodes canonically.)
 */
import { KafkaProtocolError, type Reader, Writer } from "./bytes.ts";

export type Primitive =
  | "int8"
  | "int16"
  | "uint16"
  | "int32"
  | "uint32"
  | "int64"
  | "float64"
  | "bool"
  | "uuid"
  | "string"
  | "bytes"
  | "records";

/** Inclusive; `max` is Infinity for "n+"; empty (min > max) for "none". */
export interface VersionRange {
  readonly min: number;
  readonly max: number;
}

export interface StructType {
  readonly kind: "struct";
  readonly fields: readonly FieldDef[];
}

export interface ArrayType {
  readonly kind: "array";
  readonly of: Primitive | StructType;
}

export type FieldType = Primitive | StructType | ArrayType;

export interface FieldDef {
  readonly name: string;
  readonly type: FieldType;
  readonly versions: VersionRange;
  readonly nullable: VersionRange;
  /** Tagged (in all the field's versions) with this tag. */
  readonly tag?: number;
}

/** The property that keeps a struct's unknown tagged fields: Map<tag, raw value>. */
export const UNKNOWN_TAGS = "_tagged";

const NONE: VersionRange = Object.freeze({ min: 1, max: 0 });

/** Parses Kafka's version syntax: "3+", "0-12", "5", "none". */
export function versionRange(text: string): VersionRange {
  if (text === "none") return NONE;
  const m = /^(\d+)(?:(\+)|-(\d+))?$/.exec(text);
  if (!m) throw new Error(`bad version range ${JSON.stringify(text)}`);
  const min = Number(m[1]);
  return { min, max: m[2] ? Number.POSITIVE_INFINITY : m[3] ? Number(m[3]) : min };
}

export function inRange(range: VersionRange, version: number): boolean {
  return version >= range.min && version <= range.max;
}

export interface FieldOptions {
  /** The versions the field may be null in. */
  nullable?: string;
  /** Tagged (in all the field's versions) with this tag. */
  tag?: number;
}

/** How modules write a type: "int32", "[]int32" (an array of a primitive), [fields] (an array of structs), or struct(…). */
export type TypeSyntax = Primitive | `[]${Primitive}` | readonly FieldDef[] | StructType;

/** A field: `field("acks", "0+", "int16")`, `field("records", "0+", { nullable: "0+" }, "records")`. */
export function field(name: string, versions: string, type: TypeSyntax): FieldDef;
export function field(name: string, versions: string, opts: FieldOptions, type: TypeSyntax): FieldDef;
export function field(
  name: string,
  versions: string,
  a: FieldOptions | TypeSyntax,
  b?: TypeSyntax,
): FieldDef {
  const opts: FieldOptions = b === undefined || !isOptions(a) ? {} : a;
  const syntax = b ?? a;
  if (isOptions(syntax)) throw new Error(`field ${name} has no type`);
  const def = {
    name,
    type: typeOf(syntax),
    versions: versionRange(versions),
    nullable: opts.nullable === undefined ? NONE : versionRange(opts.nullable),
  };
  return opts.tag === undefined ? def : { ...def, tag: opts.tag };
}

function isOptions(a: FieldOptions | TypeSyntax): a is FieldOptions {
  return typeof a === "object" && !Array.isArray(a) && !("kind" in a);
}

function typeOf(syntax: TypeSyntax): FieldType {
  if (typeof syntax === "string") {
    return syntax.startsWith("[]")
      ? { kind: "array", of: syntax.slice(2) as Primitive }
      : (syntax as Primitive);
  }
  if (Array.isArray(syntax)) return { kind: "array", of: struct(...syntax) };
  return syntax as StructType;
}

export function struct(...fields: FieldDef[]): StructType {
  return { kind: "struct", fields };
}

/** A request or response body: its fields, and a decoder and encoder per version. */
export interface MessageSchema {
  /** Kafka's name, e.g. "ProduceRequest". */
  readonly name: string;
  readonly versions: VersionRange;
  readonly flexible: VersionRange;
  readonly fields: readonly FieldDef[];
  /** Reads the body at `r` (up to r.end, and not beyond: the caller checks what is left). */
  decode(r: Reader, version: number): Record<string, unknown>;
  encode(w: Writer, version: number, body: Record<string, unknown>): void;
}

/** Redpanda's audit event types that Kafka APIs fall into (spec/001); schema_registry is not a Kafka API. */
export type RedpandaCategory =
  | "management"
  | "produce"
  | "consume"
  | "describe"
  | "heartbeat"
  | "authenticate"
  | "admin";

export interface ApiSpec {
  key: number;
  /** Kafka's name, e.g. "Produce", "CreateTopics". */
  name: string;
  category: RedpandaCategory;
  minVersion: number;
  maxVersion: number;
  /** The first flexible version (compact encodings, tagged fields, header v2/v1); Infinity if none. */
  flexibleFrom: number;
  request: MessageSchema;
  response: MessageSchema;
}

/** Builds an API's spec from its key, name, category, versions ("0-13"), flexible versions ("9+"), and bodies. */
export function defineApi(api: {
  key: number;
  name: string;
  category: RedpandaCategory;
  versions: string;
  flexible: string;
  request: FieldDef[];
  response: FieldDef[];
}): ApiSpec {
  const versions = versionRange(api.versions);
  const flexible = versionRange(api.flexible);
  return {
    key: api.key,
    name: api.name,
    category: api.category,
    minVersion: versions.min,
    maxVersion: versions.max,
    flexibleFrom: flexible.min <= flexible.max ? flexible.min : Number.POSITIVE_INFINITY,
    request: message(`${api.name}Request`, versions, flexible, api.request),
    response: message(`${api.name}Response`, versions, flexible, api.response),
  };
}

function message(
  name: string,
  versions: VersionRange,
  flexible: VersionRange,
  fields: readonly FieldDef[],
): MessageSchema {
  const compiled: Codec[] = [];
  const codec = (version: number): Codec => {
    if (!Number.isInteger(version) || !inRange(versions, version)) {
      throw new KafkaProtocolError(
        `${name} version ${version} is not supported (${versions.min === versions.max ? `only version ${versions.min}` : `versions ${versions.min}-${versions.max}`})`,
      );
    }
    let c = compiled[version];
    if (c === undefined) {
      c = compileStruct(fields, version, inRange(flexible, version), false);
      compiled[version] = c;
    }
    return c;
  };
  return {
    name,
    versions,
    flexible,
    fields,
    decode(r, version) {
      const c = codec(version);
      try {
        return c.read(r) as Record<string, unknown>;
      } catch (e) {
        throw e instanceof KafkaProtocolError ? e.inMessage(`${name} v${version}`) : e;
      }
    },
    encode(w, version, body) {
      const c = codec(version);
      try {
        c.write(w, body);
      } catch (e) {
        throw e instanceof KafkaProtocolError ? e.inMessage(`encoding ${name} v${version}`) : e;
      }
    },
  };
}

/** A type compiled for one version: how to read and write it, and the fewest bytes it can take. */
interface Codec {
  readonly minSize: number;
  read(r: Reader): unknown;
  write(w: Writer, v: unknown): void;
}

interface CompiledField {
  readonly name: string;
  readonly codec: Codec;
}

interface CompiledTag extends CompiledField {
  readonly tag: number;
}

function within(e: unknown, segment: string): unknown {
  return e instanceof KafkaProtocolError ? e.within(segment) : e;
}

function compileStruct(
  fields: readonly FieldDef[],
  version: number,
  flexible: boolean,
  nullable: boolean,
): Codec {
  const regular: CompiledField[] = [];
  const tagged: CompiledTag[] = [];
  for (const f of fields) {
    if (!inRange(f.versions, version)) continue;
    const codec = compileType(f.type, version, flexible, inRange(f.nullable, version));
    if (f.tag === undefined) {
      regular.push({ name: f.name, codec });
    } else {
      if (!flexible) throw new Error(`tagged field ${f.name} in the non-flexible version ${version}`);
      tagged.push({ name: f.name, codec, tag: f.tag });
    }
  }
  tagged.sort((a, b) => a.tag - b.tag);
  const byTag = new Map(tagged.map((t) => [t.tag, t]));
  const minSize = regular.reduce((sum, f) => sum + f.codec.minSize, flexible ? 1 : 0);

  const read = (r: Reader): Record<string, unknown> => {
    const o: Record<string, unknown> = {};
    let at = "";
    try {
      for (const f of regular) {
        at = f.name;
        o[f.name] = f.codec.read(r);
      }
      // Most structs carry no tagged fields: a single 0 byte, read without setting up the visitor.
      if (flexible && r.pos < r.end && r.buf[r.pos] === 0) {
        r.pos++;
      } else if (flexible) {
        at = "(tagged fields)";
        let unknown: Map<number, Buffer> | undefined;
        r.taggedFields((tag, fr) => {
          const known = byTag.get(tag);
          if (known === undefined) {
            unknown ??= new Map();
            unknown.set(tag, fr.raw(fr.remaining));
          } else {
            at = known.name;
            o[known.name] = known.codec.read(fr);
          }
        });
        if (unknown !== undefined) o[UNKNOWN_TAGS] = unknown;
      }
    } catch (e) {
      throw within(e, at);
    }
    return o;
  };

  const write = (w: Writer, v: unknown): void => {
    if (typeof v !== "object" || v === null || Array.isArray(v) || Buffer.isBuffer(v)) {
      throw new KafkaProtocolError(`expected an object, got ${v === null ? "null" : typeof v}`);
    }
    const o = v as Record<string, unknown>;
    let at = "";
    try {
      for (const f of regular) {
        at = f.name;
        f.codec.write(w, o[f.name]);
      }
      if (flexible) {
        at = "(tagged fields)";
        writeTags(w, o, tagged, byTag);
      }
    } catch (e) {
      throw within(e, at);
    }
  };

  if (!nullable) return { minSize, read, write };
  // A nullable struct is preceded by an int8 marker: -1 for null, 1 (any value >= 0 when read) for present.
  return {
    minSize: 1,
    read: (r) => (r.int8() < 0 ? null : read(r)),
    write: (w, v) => {
      if (v === null) {
        w.int8(-1);
      } else {
        w.int8(1);
        write(w, v);
      }
    },
  };
}

function writeTags(
  w: Writer,
  o: Record<string, unknown>,
  tagged: readonly CompiledTag[],
  byTag: ReadonlyMap<number, CompiledTag>,
): void {
  const unknown = o[UNKNOWN_TAGS];
  if (unknown === undefined && tagged.every((t) => o[t.name] === undefined)) {
    w.uvarint(0);
    return;
  }
  if (unknown !== undefined && !(unknown instanceof Map)) {
    throw new KafkaProtocolError(`${UNKNOWN_TAGS} must be a Map of tag to Buffer`);
  }
  const items: { tag: number; write: (w: Writer) => void }[] = [];
  for (const t of tagged) {
    const value = o[t.name];
    if (value !== undefined) items.push({ tag: t.tag, write: (tw) => t.codec.write(tw, value) });
  }
  if (unknown !== undefined) {
    for (const [tag, raw] of unknown as Map<unknown, unknown>) {
      if (typeof tag !== "number" || !Buffer.isBuffer(raw) || byTag.has(tag)) {
        throw new KafkaProtocolError(
          `${UNKNOWN_TAGS} holds tag ${String(tag)}: not an unknown tag with a Buffer`,
        );
      }
      items.push({ tag, write: (tw) => tw.raw(raw) });
    }
    items.sort((a, b) => a.tag - b.tag);
  }
  w.uvarint(items.length);
  for (const item of items) {
    w.uvarint(item.tag);
    const value = new Writer(64);
    item.write(value);
    const bytes = value.finish();
    w.uvarint(bytes.length);
    w.raw(bytes);
  }
}

function compileType(type: FieldType, version: number, flexible: boolean, nullable: boolean): Codec {
  if (typeof type === "string") return primitive(type, flexible, nullable);
  if (type.kind === "struct") return compileStruct(type.fields, version, flexible, nullable);
  const element = compileType(type.of, version, flexible, false);
  const what = flexible ? "compact array" : "array";
  return {
    minSize: flexible ? 1 : 4,
    read(r) {
      const n = flexible
        ? r.compactArrayLength(element.minSize, nullable)
        : r.arrayLength(element.minSize, nullable);
      if (n < 0) return null;
      const out: unknown[] = [];
      let i = 0;
      try {
        for (; i < n; i++) out.push(element.read(r));
      } catch (e) {
        throw within(e, `[${i}]`);
      }
      return out;
    },
    write(w, v) {
      if (v === null && nullable) {
        if (flexible) w.compactArrayLength(-1);
        else w.arrayLength(-1);
        return;
      }
      if (!Array.isArray(v))
        throw new KafkaProtocolError(`expected ${nullable ? "a nullable " : "an "}${what}`);
      if (flexible) w.compactArrayLength(v.length);
      else w.arrayLength(v.length);
      let i = 0;
      try {
        for (; i < v.length; i++) element.write(w, v[i]);
      } catch (e) {
        throw within(e, `[${i}]`);
      }
    },
  };
}

function primitive(type: Primitive, flexible: boolean, nullable: boolean): Codec {
  switch (type) {
    case "int8":
      return { minSize: 1, read: (r) => r.int8(), write: (w, v) => w.int8(v) };
    case "int16":
      return { minSize: 2, read: (r) => r.int16(), write: (w, v) => w.int16(v) };
    case "uint16":
      return { minSize: 2, read: (r) => r.uint16(), write: (w, v) => w.uint16(v) };
    case "int32":
      return { minSize: 4, read: (r) => r.int32(), write: (w, v) => w.int32(v) };
    case "uint32":
      return { minSize: 4, read: (r) => r.uint32(), write: (w, v) => w.uint32(v) };
    case "int64":
      return { minSize: 8, read: (r) => r.int64(), write: (w, v) => w.int64(v) };
    case "float64":
      return { minSize: 8, read: (r) => r.float64(), write: (w, v) => w.float64(v) };
    case "bool":
      return { minSize: 1, read: (r) => r.bool(), write: (w, v) => w.bool(v) };
    case "uuid":
      return { minSize: 16, read: (r) => r.uuid(), write: (w, v) => w.uuid(v) };
    case "string":
      if (flexible) {
        return nullable
          ? {
              minSize: 1,
              read: (r) => r.compactNullableString(),
              write: (w, v) => w.compactNullableString(v),
            }
          : { minSize: 1, read: (r) => r.compactString(), write: (w, v) => w.compactString(v) };
      }
      return nullable
        ? { minSize: 2, read: (r) => r.nullableString(), write: (w, v) => w.nullableString(v) }
        : { minSize: 2, read: (r) => r.string(), write: (w, v) => w.string(v) };
    case "bytes":
    case "records":
      if (flexible) {
        return nullable
          ? { minSize: 1, read: (r) => r.compactNullableBytes(), write: (w, v) => w.compactNullableBytes(v) }
          : { minSize: 1, read: (r) => r.compactBytes(), write: (w, v) => w.compactBytes(v) };
      }
      return nullable
        ? { minSize: 4, read: (r) => r.nullableBytes(), write: (w, v) => w.nullableBytes(v) }
        : { minSize: 4, read: (r) => r.bytes(), write: (w, v) => w.bytes(v) };
  }
}
