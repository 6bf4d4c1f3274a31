/** Small helpers the decoders (formats/<name>/decode.ts) share. */
import { createHash } from "node:crypto";
import { ValidationError } from "../errors.ts";
import { EVENT_ID_PATTERN } from "../event/schema.ts";

export type Json = Record<string, unknown>;

const ID_PATTERN = new RegExp(EVENT_ID_PATTERN);

export function isRecord(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** The value when it is a string of at most `max` characters. */
export function text(value: unknown, max: number): string | undefined {
  return typeof value === "string" && value.length <= max ? value : undefined;
}

export function invalid(field: string, message: string): ValidationError {
  return new ValidationError("invalid_event", [{ field, message }]);
}

/** Drops undefined members, so absent source fields stay absent. */
export function compact(obj: Json): Json {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}

/**
 * A source's record id as a native event_id: kept when it already fits the id alphabet and length, otherwise a
 * readable part plus a hash of the original, so the same input always gets the same id.
 */
export function eventId(raw: string): string {
  if (raw.length <= 128 && ID_PATTERN.test(raw)) return raw;
  const legible = raw
    .replace(/[^A-Za-z0-9._:-]/g, "_")
    .replace(/^[^A-Za-z0-9]+/, "")
    .slice(0, 64);
  const hash = createHash("sha256").update(raw).digest("hex").slice(0, 32);
  return legible === "" ? hash : `${legible}:${hash}`;
}
