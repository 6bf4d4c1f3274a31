/**
 * Turns untrusted input into native events: decoding (UTF-8, JSON, NDJSON), schema validation with errors
 * naming the field, structural limits, and the fields only the server may fill.
 */
import { isIP } from "node:net";
import { Compile } from "typebox/compile";
import { v7 as uuidv7 } from "uuid";
import { type FieldProblem, MAX_REPORTED_PROBLEMS, ValidationError, type VigilError } from "../errors.ts";
import {
  EVENT_SCHEMA_VERSION,
  type EventOrigin,
  InputEvent,
  type NativeEvent,
  SERVER_FIELDS,
} from "./schema.ts";

export interface EventLimits {
  /** Deepest nesting of objects and arrays within one event. */
  maxDepth: number;
  /** Largest canonical size of one event, in bytes. */
  maxEventBytes: number;
}

export const DEFAULT_EVENT_LIMITS: EventLimits = { maxDepth: 32, maxEventBytes: 256 * 1024 };

const inputValidator = Compile(InputEvent);
const utf8 = new TextDecoder("utf-8", { fatal: true });
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

export type BodyFormat = "json" | "ndjson";

/** One decoded input item and the line it came from (NDJSON), for error messages. */
export interface RawItem {
  value: unknown;
  line?: number;
}

/**
 * Decodes a request body: one JSON event, a JSON array of events, or NDJSON (one event per line).
 * Throws a ValidationError naming the item and line when the bytes are not valid UTF-8 or JSON.
 */
export function decodeBody(body: Uint8Array, format: BodyFormat): RawItem[] {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new ValidationError("invalid_event", [{ field: "", message: "body is not valid UTF-8" }]);
  }
  if (format === "json") {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new ValidationError("invalid_event", [
        { field: "", message: `malformed JSON: ${(e as Error).message}` },
      ]);
    }
    if (Array.isArray(value)) return value.map((v) => ({ value: v }));
    return [{ value }];
  }
  const items: RawItem[] = [];
  const problems: FieldProblem[] = [];
  let total = 0;
  let start = 0;
  let line = 0;
  while (start <= text.length) {
    let end = text.indexOf("\n", start);
    if (end === -1) end = text.length;
    line++;
    const raw = text.slice(start, end).trim();
    start = end + 1;
    if (raw === "") continue;
    try {
      items.push({ value: JSON.parse(raw), line });
    } catch (e) {
      if (++total <= MAX_REPORTED_PROBLEMS) {
        problems.push({
          index: items.length,
          line,
          field: "",
          message: `malformed JSON: ${(e as Error).message}`,
        });
      }
      items.push({ value: undefined, line });
    }
  }
  if (total > 0) throw new ValidationError("invalid_event", problems, total);
  return items;
}

/** Whether a value nests deeper than maxDepth or holds a `__proto__` key; fast, without building paths. */
function structureOk(value: unknown, maxDepth: number, depth = 0): boolean {
  if (value === null || typeof value !== "object") return true;
  if (depth >= maxDepth) return false;
  if (Array.isArray(value)) {
    for (const v of value) if (!structureOk(v, maxDepth, depth + 1)) return false;
    return true;
  }
  for (const k of Object.keys(value)) {
    if (k === "__proto__" || !structureOk((value as Record<string, unknown>)[k], maxDepth, depth + 1))
      return false;
  }
  return true;
}

/**
 * Names the first structural problem (too deep, a `__proto__` key). Iterative, so hostile nesting cannot
 * exhaust the stack; only run once structureOk said there is one (structureOk's recursion is bounded by maxDepth).
 */
function structureProblem(value: unknown, maxDepth: number): FieldProblem | undefined {
  const stack: [unknown, string, number][] = [[value, "", 0]];
  while (stack.length > 0) {
    const [v, path, depth] = stack.pop() as [unknown, string, number];
    if (v === null || typeof v !== "object") continue;
    if (depth >= maxDepth) return { field: path, message: `nested deeper than ${maxDepth} levels` };
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push([v[i], `${path}[${i}]`, depth + 1]);
      continue;
    }
    for (const k of Object.keys(v)) {
      const child = path === "" ? k : `${path}.${k}`;
      if (k === "__proto__") return { field: child, message: "the key __proto__ is not allowed" };
      stack.push([(v as Record<string, unknown>)[k], child, depth + 1]);
    }
  }
  return undefined;
}

function pointerToPath(pointer: string): string {
  if (pointer === "") return "";
  return pointer
    .slice(1)
    .split("/")
    .map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"))
    .reduce((acc, seg) => (/^\d+$/.test(seg) ? `${acc}[${seg}]` : acc === "" ? seg : `${acc}.${seg}`), "");
}

function schemaProblems(value: unknown): FieldProblem[] {
  const out: FieldProblem[] = [];
  const seen = new Set<string>();
  for (const e of inputValidator.Errors(value)) {
    if (e.keyword === "additionalProperties") continue; // reported per key by the `false` schema below
    const field = pointerToPath(e.instancePath);
    let message = e.message;
    if (e.keyword === "boolean") message = "unknown field (put tool-specific data under details)";
    else if (e.keyword === "required") {
      const missing = (e.params as { requiredProperties?: string[] }).requiredProperties ?? [];
      for (const m of missing)
        out.push({ field: field === "" ? m : `${field}.${m}`, message: "is required" });
      continue;
    } else if (field === "event_type" && e.keyword === "pattern")
      message = "must be category.action in lower case, e.g. backup.completed";
    else if (field === "event_id" && e.keyword === "pattern")
      message = "may contain only letters, digits and . _ : - and must start with a letter or digit";
    const key = `${field}\0${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ field, message });
  }
  return out;
}

function itemProblems(value: unknown, limits: EventLimits): FieldProblem[] {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return [{ field: "", message: "an event must be a JSON object" }];
  }
  const obj = value as Record<string, unknown>;
  const problems: FieldProblem[] = [];
  for (const f of SERVER_FIELDS) {
    if (Object.hasOwn(obj, f)) {
      problems.push({
        field: f,
        message:
          f === "integrity"
            ? "integrity fields are assigned by the sealer and are never accepted from a client"
            : "is set by the server and cannot be sent",
      });
    }
  }
  if (Object.hasOwn(obj, "event") && Object.hasOwn(obj, "integrity")) {
    // A sealed record sent back in: refuse the whole thing rather than unwrap and trust it.
    return problems;
  }
  if (!structureOk(value, limits.maxDepth)) {
    const structural = structureProblem(value, limits.maxDepth);
    if (structural) return [...problems, structural];
  }
  if (!inputValidator.Check(value)) {
    for (const p of schemaProblems(value)) {
      if (SERVER_FIELDS.includes(p.field as (typeof SERVER_FIELDS)[number])) continue;
      problems.push(p);
    }
  }
  if (
    typeof obj.timestamp === "string" &&
    !(RFC3339.test(obj.timestamp) && !Number.isNaN(Date.parse(obj.timestamp)))
  ) {
    problems.push({
      field: "timestamp",
      message: "must be an RFC 3339 date-time, e.g. 2024-12-01T10:15:30.123Z",
    });
  }
  const actor = obj.actor as Record<string, unknown> | undefined;
  if (
    actor &&
    typeof actor === "object" &&
    typeof actor.ip_address === "string" &&
    isIP(actor.ip_address) === 0
  ) {
    problems.push({ field: "actor.ip_address", message: "must be an IPv4 or IPv6 address" });
  }
  return problems;
}

/** A new event id: `evt_` and a time-ordered UUIDv7 in hex, so ids sort roughly by creation time. */
export function newEventId(): string {
  return `evt_${uuidv7().replaceAll("-", "")}`;
}

/**
 * Validates every item and returns native events with the server's fields filled in. All or nothing: if any
 * item is bad, throws one ValidationError listing every problem of every item.
 * The returned events are new objects; the input values are not mutated.
 */
export function prepareEvents(
  items: RawItem[],
  origin: EventOrigin,
  limits: EventLimits = DEFAULT_EVENT_LIMITS,
  now: Date = new Date(),
): NativeEvent[] {
  if (items.length === 0) {
    throw new ValidationError("invalid_event", [{ field: "", message: "no events in the request" }]);
  }
  const problems: FieldProblem[] = [];
  let total = 0;
  const events: NativeEvent[] = [];
  const receivedAt = now.toISOString();
  items.forEach((item, index) => {
    const found = itemProblems(item.value, limits);
    if (found.length > 0) {
      for (const p of found) {
        if (++total > MAX_REPORTED_PROBLEMS) continue;
        problems.push({ ...p, index, ...(item.line === undefined ? {} : { line: item.line }) });
      }
      return;
    }
    const input = item.value as InputEvent;
    events.push({
      ...input,
      event_id: input.event_id ?? newEventId(),
      timestamp: input.timestamp ?? receivedAt,
      version: input.version ?? EVENT_SCHEMA_VERSION,
      received_at: receivedAt,
      origin,
    });
  });
  if (total > 0) throw new ValidationError("invalid_event", problems, total);
  return events;
}

/** Thrown when one event's canonical form is over the limit; raised by the pipeline after canonicalizing. */
export function eventTooLarge(index: number, size: number, limit: number): VigilError {
  return new ValidationError("invalid_event", [
    { index, field: "", message: `event is ${size} bytes, over the ${limit}-byte limit` },
  ]);
}
