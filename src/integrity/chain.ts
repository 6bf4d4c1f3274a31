/**
 * The per-record HMAC chain of spec/000 ("Immutable Logging").
 *
 * A sealed record is one JSON line:
 *   {"event":<JCS(event)>,"integrity":{"sequence_number":n,"previous_signature":"sha256:…","signature":"sha256:…","key_id":"…"}}
 *
 * The signature is HMAC-SHA256 over the RFC 8785 canonical form of the object
 *   {"event": event, "key_id": key_id, "previous_signature": previous_signature, "sequence_number": n}
 * so a consumer that re-parses the JSON can recompute it with any JCS library. Because the sealer writes the
 * event already in canonical form, a verifier can hash the event bytes straight out of the line (fast path) and
 * fall back to re-canonicalizing only for lines some other tool re-serialized.
 *
 * Re-canonicalizing goes through JSON.parse, which keeps the last of duplicate member names: a forged member
 * placed before the sealed one would vanish in the canonical form and the record would verify, while readers
 * that keep the first occurrence show the forgery. RFC 8785 takes I-JSON input only, so text with duplicate
 * names is refused wherever it is parsed rather than hashed as written: the whole line on the general path, the
 * event when its verbatim bytes do not verify; the fast path takes only an integrity block in the sealer's exact
 * layout.
 *
 * A sealed record has exactly the members `event` and `integrity`, and `integrity` exactly the four above:
 * nothing signs any other member, so one added after sealing is refused rather than passed off as sealed.
 */
import { createHmac, type KeyObject, timingSafeEqual } from "node:crypto";
import { canonicalize } from "./canonical.ts";
import { hasDuplicateMemberNames } from "./json-keys.ts";

export const SIGNATURE_PREFIX = "sha256:";
/** The previous_signature of the first record of a chain. */
export const GENESIS_SIGNATURE = `${SIGNATURE_PREFIX}${"0".repeat(64)}`;

export interface Integrity {
  sequence_number: number;
  previous_signature: string;
  signature: string;
  key_id: string;
}

export interface SigningKey {
  id: string;
  /** A KeyObject, not a Buffer: Node re-validates a Buffer key on every createHmac, which dominated verify time. */
  secret: KeyObject;
}

/** Where a chain stands: the last sealed sequence number and its signature (0 and genesis when empty). */
export interface ChainHead {
  sequence: number;
  signature: string;
}

export const EMPTY_CHAIN: ChainHead = { sequence: 0, signature: GENESIS_SIGNATURE };

const EVENT_PREFIX = Buffer.from('{"event":');
const INTEGRITY_MARK = Buffer.from(',"integrity":');
/**
 * The integrity block exactly as `formatRecord` writes it, its strings limited to printable ASCII other than `"`
 * and `\` so that their text is their value. A block that matches names each field once: the fast path reads it
 * without JSON.parse (faster), and a duplicate name, on which JSON.parse and other readers would disagree, never
 * gets past it.
 */
const SEALED_INTEGRITY =
  /^\{"sequence_number":([1-9]\d{0,15}),"previous_signature":"([\x20\x21\x23-\x5b\x5d-\x7e]*)","signature":"([\x20\x21\x23-\x5b\x5d-\x7e]*)","key_id":"([\x20\x21\x23-\x5b\x5d-\x7e]*)"\}$/;

function signingTail(keyId: string, previous: string, sequence: number): string {
  return `,"key_id":${JSON.stringify(keyId)},"previous_signature":${JSON.stringify(previous)},"sequence_number":${sequence}}`;
}

/** HMAC-SHA256 over the canonical signing input; `canonicalEvent` must already be RFC 8785 canonical. */
export function computeSignature(
  secret: KeyObject,
  canonicalEvent: string | Uint8Array,
  keyId: string,
  previous: string,
  sequence: number,
): string {
  const mac = createHmac("sha256", secret);
  if (typeof canonicalEvent === "string") {
    // One update of one string: cheaper than three calls into the binding.
    mac.update(`{"event":${canonicalEvent}${signingTail(keyId, previous, sequence)}`);
  } else {
    mac.update('{"event":');
    mac.update(canonicalEvent);
    mac.update(signingTail(keyId, previous, sequence));
  }
  return SIGNATURE_PREFIX + mac.digest("hex");
}

/** Formats the record line (without the trailing newline). */
export function formatRecord(canonicalEvent: string, integrity: Integrity): string {
  return (
    `{"event":${canonicalEvent},"integrity":{"sequence_number":${integrity.sequence_number},` +
    `"previous_signature":"${integrity.previous_signature}","signature":"${integrity.signature}",` +
    `"key_id":${JSON.stringify(integrity.key_id)}}}`
  );
}

/**
 * Where the Sealer takes its key from when a key signs only a range of sequence numbers: a forward-secure chain
 * (forward-secure.ts) hands out a new key each epoch.
 */
export interface KeySchedule {
  /**
   * The key that signs `sequence`, and the last sequence number it signs. Called with growing sequences only: at
   * the start, and right after a key signed its last sequence, before the next record exists.
   */
  keyFor(sequence: number): { key: SigningKey; last: number };
}

/**
 * Assigns gap-free sequence numbers and signatures for one chain. Not thread-safe by design: exactly one
 * Sealer exists per chain, and `seal` is synchronous so records are chained in the order it is called.
 */
export class Sealer {
  readonly #schedule: KeySchedule;
  #key: SigningKey;
  /** The last sequence `#key` signs; a plain key signs them all, so the schedule is never asked again. */
  #keyLast: number;
  #head: ChainHead;

  constructor(key: SigningKey | KeySchedule, head: ChainHead) {
    this.#schedule = "keyFor" in key ? key : { keyFor: () => ({ key, last: Number.POSITIVE_INFINITY }) };
    this.#head = { ...head };
    ({ key: this.#key, last: this.#keyLast } = this.#schedule.keyFor(head.sequence + 1));
  }

  get head(): ChainHead {
    return { ...this.#head };
  }

  /** The id of the key in use: for a forward-secure chain, the current epoch's. */
  get keyId(): string {
    return this.#key.id;
  }

  /** Seals one canonical event and returns its record line (no newline) and integrity block. */
  seal(canonicalEvent: string): { line: string; integrity: Integrity } {
    const sequence = this.#head.sequence + 1;
    const previous = this.#head.signature;
    const signature = computeSignature(this.#key.secret, canonicalEvent, this.#key.id, previous, sequence);
    const integrity: Integrity = {
      sequence_number: sequence,
      previous_signature: previous,
      signature,
      key_id: this.#key.id,
    };
    this.#head = { sequence, signature };
    // Drop a key once it has signed its last record rather than at the next record, which on a quiet log may
    // come days later: a forward-secure schedule erases its epoch's key now (it keeps it on disk until durable).
    if (sequence === this.#keyLast) {
      ({ key: this.#key, last: this.#keyLast } = this.#schedule.keyFor(sequence + 1));
    }
    return { line: formatRecord(canonicalEvent, integrity), integrity };
  }
}

/** A record line split into its parts. `event` holds the event's bytes as they appear in the line. */
export interface ParsedRecord {
  integrity: Integrity;
  event: Uint8Array;
  /** True when the event bytes were taken from the line as written (the sealer's own layout). */
  verbatim: boolean;
}

export type ParseResult = { ok: true; record: ParsedRecord } | { ok: false; reason: string };

/** Why a record with duplicate member names is refused, wherever that is found. */
export const DUPLICATE_NAMES_REASON =
  "duplicate member name in an object (not I-JSON): a reader that keeps the first occurrence sees other " +
  "content than one that keeps the last";

const RECORD_MEMBERS: ReadonlySet<string> = new Set(["event", "integrity"]);
const INTEGRITY_MEMBERS: ReadonlySet<string> = new Set([
  "sequence_number",
  "previous_signature",
  "signature",
  "key_id",
]);

/**
 * The first member of `obj` not in `allowed`. Neither the HMAC nor the Merkle leaf covers a member outside the
 * sealed layout, so a record carrying one (`"approved":true`, `"approved_by":"ciso"`) would verify while readers
 * see the addition as part of the sealed record.
 */
function unexpectedMember(obj: object, allowed: ReadonlySet<string>): string | undefined {
  return Object.keys(obj).find((name) => !allowed.has(name));
}

/** A complete, well-typed integrity block (sequence numbers start at 1). */
export function isIntegrity(v: unknown): v is Integrity {
  if (v === null || typeof v !== "object") return false;
  const i = v as Record<string, unknown>;
  return (
    Number.isSafeInteger(i.sequence_number) &&
    (i.sequence_number as number) > 0 &&
    typeof i.previous_signature === "string" &&
    typeof i.signature === "string" &&
    typeof i.key_id === "string"
  );
}

/**
 * Splits one line (without newline) into integrity block and event bytes. Never throws: a line that is not a
 * sealed record yields a reason. A record without integrity fields is refused (no downgrade to unsigned).
 */
export function parseRecord(line: Uint8Array): ParseResult {
  // Both without allocating: this runs once per record read (compare throws past the end, hence the length).
  const buf = Buffer.isBuffer(line) ? line : Buffer.from(line.buffer, line.byteOffset, line.byteLength);
  if (
    buf.length > EVENT_PREFIX.length &&
    EVENT_PREFIX.compare(buf, 0, EVENT_PREFIX.length) === 0 &&
    buf[buf.length - 1] === 0x7d
  ) {
    const mark = buf.lastIndexOf(INTEGRITY_MARK);
    if (mark > EVENT_PREFIX.length) {
      // The pattern admits ASCII only, which latin1, the cheapest decoding, decodes exactly.
      const m = SEALED_INTEGRITY.exec(buf.toString("latin1", mark + INTEGRITY_MARK.length, buf.length - 1));
      const sequence = Number(m?.[1]);
      if (m && Number.isSafeInteger(sequence)) {
        const integrity: Integrity = {
          sequence_number: sequence,
          previous_signature: m[2] as string,
          signature: m[3] as string,
          key_id: m[4] as string,
        };
        return {
          ok: true,
          record: { integrity, event: buf.subarray(EVENT_PREFIX.length, mark), verbatim: true },
        };
      }
    }
  }
  // Another layout (whitespace, escapes, order) may still be a sealed record: the general parse decides, and
  // says why not. Bytes between the two marks that are more than the event (an extra member placed there) need
  // no check here: the HMAC and the Merkle leaf cover exactly these bytes, so such a record never verifies.
  return parseReserialized(buf);
}

function parseReserialized(buf: Buffer): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(buf.toString("utf8"));
  } catch (e) {
    return { ok: false, reason: `not JSON: ${(e as Error).message}` };
  }
  if (hasDuplicateMemberNames(buf)) return { ok: false, reason: DUPLICATE_NAMES_REASON };
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { ok: false, reason: "not a JSON object" };
  }
  const obj = value as Record<string, unknown>;
  if (!("integrity" in obj)) return { ok: false, reason: "record has no integrity block (unsigned)" };
  if (!isIntegrity(obj.integrity)) return { ok: false, reason: "integrity block is incomplete or mistyped" };
  const extra = unexpectedMember(obj, RECORD_MEMBERS);
  if (extra !== undefined) {
    return { ok: false, reason: `unexpected member ${JSON.stringify(extra)} beside event and integrity` };
  }
  const extraIntegrity = unexpectedMember(obj.integrity, INTEGRITY_MEMBERS);
  if (extraIntegrity !== undefined) {
    return {
      ok: false,
      reason: `unexpected member ${JSON.stringify(extraIntegrity)} in the integrity block`,
    };
  }
  if (obj.event === null || typeof obj.event !== "object" || Array.isArray(obj.event)) {
    return { ok: false, reason: "record has no event object" };
  }
  let canonical: string;
  try {
    canonical = canonicalize(obj.event);
  } catch (e) {
    return { ok: false, reason: `event cannot be canonicalized: ${(e as Error).message}` };
  }
  return { ok: true, record: { integrity: obj.integrity, event: Buffer.from(canonical), verbatim: false } };
}

function sameSignature(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** `duplicate_names`: the event is not I-JSON, so no reading of it can be said to be the sealed one. */
export type SignatureCheck = "valid" | "invalid" | "duplicate_names";

/**
 * Keys that may sign only a range of sequence numbers: a forward-secure epoch key derived for a verifier
 * (forward-secure.ts). Its HMAC alone would also verify a record of another epoch re-signed with it under its key
 * id, which is exactly what a thief of the current epoch's key would do to rewrite earlier records.
 */
const keyRanges = new WeakMap<KeyObject, { first: number; last: number }>();

/** Makes `checkRecordSignature` refuse records outside first..last signed with `secret`. */
export function limitKeyToSequences(secret: KeyObject, first: number, last: number): void {
  keyRanges.set(secret, { first, last });
}

/**
 * Checks one record's signature against the key it names. For a verbatim line whose bytes do not match, the
 * event is re-canonicalized once before concluding, so a line another tool re-serialized still verifies. A key
 * limited to a range of sequence numbers (`limitKeyToSequences`) fails every record outside it.
 */
export function checkRecordSignature(record: ParsedRecord, secret: KeyObject): SignatureCheck {
  const { integrity } = record;
  const range = keyRanges.get(secret);
  if (range && (integrity.sequence_number < range.first || integrity.sequence_number > range.last)) {
    return "invalid";
  }
  const expected = computeSignature(
    secret,
    record.event,
    integrity.key_id,
    integrity.previous_signature,
    integrity.sequence_number,
  );
  if (sameSignature(expected, integrity.signature)) return "valid";
  // A re-serialized record was canonicalized (and checked for duplicate names) when it was parsed.
  if (!record.verbatim) return "invalid";
  const text = Buffer.from(record.event).toString("utf8");
  let canonical: string;
  try {
    canonical = canonicalize(JSON.parse(text));
  } catch {
    return "invalid";
  }
  if (hasDuplicateMemberNames(text)) return "duplicate_names";
  if (Buffer.from(canonical).equals(Buffer.from(record.event))) return "invalid";
  const again = computeSignature(
    secret,
    canonical,
    integrity.key_id,
    integrity.previous_signature,
    integrity.sequence_number,
  );
  return sameSignature(again, integrity.signature) ? "valid" : "invalid";
}

const RECEIVED_AT = '"received_at":"';

/**
 * The `received_at` of a sealed record line (the server's time of receipt), in ms since the epoch, without
 * parsing the record: undefined when it has none. Records are canonical JSON (members sorted), so the event's
 * own `received_at` is the last one in the line: a nested one (inside `details`, `actor`, `context`, `origin`)
 * sorts before it, `resource`, `timestamp` and `version` hold none, and the integrity block comes after, without
 * one; inside a JSON string the quotes of such a text would be escaped.
 */
export function recordReceivedAt(line: string | Buffer): number | undefined {
  const text = typeof line === "string" ? line : line.toString("latin1");
  const at = text.lastIndexOf(RECEIVED_AT);
  if (at < 0) return undefined;
  const start = at + RECEIVED_AT.length;
  const end = text.indexOf('"', start);
  if (end < 0 || end - start > 40) return undefined;
  const ms = Date.parse(text.slice(start, end));
  return Number.isNaN(ms) ? undefined : ms;
}
