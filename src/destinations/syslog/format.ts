/**
 * RFC 5424 messages for the syslog destination: one record, one message.
 *
 * ```
 * <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [vigil@32473 seq="N" key="KEY_ID" sig="SIG"] BOM MSG
 * ```
 * - PRI = facility × 8 + severity. Severity 4 (warning) for an event that reports a failure: `action.result`, or
 *   the last part of `event_type`, is one of FAILURE_WORDS (`failure`, `failed`, `denied`, `error`, …, so
 *   `auth.failed` and `access.denied`); 6 (informational) for every other event.
 * - TIMESTAMP: the event's `timestamp` as RFC 5424 wants it (RFC 3339 with an upper-case `T` and `Z`, at most 6
 *   fraction digits: more are cut, not rounded); the receive time when the timestamp cannot be written so (a leap
 *   second); NILVALUE `-` when neither can.
 * - HOSTNAME (≤ 255), APP-NAME (≤ 48), PROCID (≤ 128, Vigil's pid), MSGID (≤ 32, the event type): printable
 *   US-ASCII only (RFC 5424 §6.2): every other character becomes `_`, the value is cut to its length, and an
 *   empty one is written as NILVALUE `-`.
 * - STRUCTURED-DATA: one element, SD-ID `vigil@32473`, holding the record's place in the chain (sequence number,
 *   key id, signature) so a receiver can index and check records without parsing MSG. 32473 is IANA's example
 *   enterprise number (RFC 5612): a placeholder until Vigil registers a Private Enterprise Number of its own.
 *   PARAM-VALUEs escape `"`, `\` and `]` with a backslash (RFC 5424 §6.3.3).
 * - A space always separates STRUCTURED-DATA from MSG (rsyslog misreads the message without it), then MSG: a
 *   UTF-8 BOM (RFC 5424 §6.4: MSG is UTF-8) and the record in the destination's `format:` (the sealed record line
 *   for native). Record JSON has no raw control characters (JSON escapes them), so no receiver rewrites it and a
 *   newline never splits a message.
 */
import type { NativeEvent } from "../../event/schema.ts";
import type { Integrity } from "../../integrity/chain.ts";

/** The SD-ID of Vigil's structured data element (see the header about 32473). */
export const SD_ID = "vigil@32473";

/** Facility names (RFC 5424 §6.2.1, as syslog.conf names them); a number 0–23 is accepted as well. */
export const FACILITIES: Readonly<Record<string, number>> = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
};

export const SEVERITY_WARNING = 4;
export const SEVERITY_INFORMATIONAL = 6;

/** Results and event-type endings that make an event a warning rather than information. */
export const FAILURE_WORDS: ReadonlySet<string> = new Set([
  "failure",
  "failed",
  "fail",
  "error",
  "errored",
  "denied",
  "deny",
  "rejected",
  "refused",
  "forbidden",
  "unauthorized",
]);

/** Most characters of each header field (RFC 5424 §6). */
export const MAX_HOSTNAME = 255;
export const MAX_APP_NAME = 48;
export const MAX_PROCID = 128;
export const MAX_MSGID = 32;

const NILVALUE = "-";
const BOM = "\uFEFF";

/** The facility code of a configured facility (a name or 0–23); undefined for anything else. */
export function facilityCode(value: unknown): number | undefined {
  if (typeof value === "number")
    return Number.isInteger(value) && value >= 0 && value <= 23 ? value : undefined;
  return typeof value === "string" && Object.hasOwn(FACILITIES, value) ? FACILITIES[value] : undefined;
}

/** Warning for an event that reports a failure (see FAILURE_WORDS), informational otherwise. */
export function severityOf(event: Pick<NativeEvent, "event_type" | "action">): number {
  const result = event.action?.result;
  if (typeof result === "string" && FAILURE_WORDS.has(result.toLowerCase())) return SEVERITY_WARNING;
  const type = typeof event.event_type === "string" ? event.event_type : "";
  const last = type.slice(type.lastIndexOf(".") + 1).toLowerCase();
  return FAILURE_WORDS.has(last) ? SEVERITY_WARNING : SEVERITY_INFORMATIONAL;
}

export function priority(facility: number, severity: number): number {
  return facility * 8 + severity;
}

/** A header field in printable US-ASCII (others become `_`), cut to `maxLength`; NILVALUE when empty. */
export function headerField(value: string, maxLength: number): string {
  const clean = value.replace(/[^\x21-\x7e]/g, "_").slice(0, maxLength);
  return clean === "" ? NILVALUE : clean;
}

const RFC3339 =
  /^(\d{4}-\d{2}-\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * An RFC 3339 date-time as RFC 5424's TIMESTAMP: upper-case `T` and `Z`, at most 6 fraction digits (cut).
 * Undefined when it is not one, or uses what RFC 5424 forbids (a leap second).
 */
export function rfc5424Timestamp(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  const [, date, hour, minute, second, fraction, zulu, sign, offsetHour, offsetMinute] = m;
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) return undefined;
  if (zulu === undefined && (Number(offsetHour) > 23 || Number(offsetMinute) > 59)) return undefined;
  if (Number.isNaN(Date.parse(`${date}T${hour}:${minute}:${second}Z`))) return undefined;
  const frac = fraction === undefined ? "" : `.${fraction.slice(0, 6)}`;
  const offset = zulu === undefined ? `${sign}${offsetHour}:${offsetMinute}` : "Z";
  return `${date}T${hour}:${minute}:${second}${frac}${offset}`;
}

/** A PARAM-VALUE with `"`, `\` and `]` escaped (RFC 5424 §6.3.3). */
export function escapeParamValue(value: string): string {
  return value.replace(/["\\\]]/g, "\\$&");
}

export interface SyslogIdentity {
  facility: number;
  hostname: string;
  appName: string;
  procId: string;
}

/** Formats records as RFC 5424 messages for one sender (facility, host, app, process). */
export class SyslogFormatter {
  readonly #facility: number;
  /** ` HOSTNAME APP-NAME PROCID `, the same for every message. */
  readonly #middle: string;

  constructor(identity: SyslogIdentity) {
    this.#facility = identity.facility;
    this.#middle =
      ` ${headerField(identity.hostname, MAX_HOSTNAME)} ${headerField(identity.appName, MAX_APP_NAME)}` +
      ` ${headerField(identity.procId, MAX_PROCID)} `;
  }

  /** The message for one record: `event` and `integrity` give the header, `msg` (one JSON text) is MSG. */
  format(event: NativeEvent, integrity: Integrity, msg: string): Buffer {
    const pri = priority(this.#facility, severityOf(event));
    const timestamp = rfc5424Timestamp(event.timestamp) ?? rfc5424Timestamp(event.received_at) ?? NILVALUE;
    const msgId = headerField(typeof event.event_type === "string" ? event.event_type : "", MAX_MSGID);
    const sd =
      `[${SD_ID} seq="${integrity.sequence_number}" key="${escapeParamValue(integrity.key_id)}"` +
      ` sig="${escapeParamValue(integrity.signature)}"]`;
    return Buffer.from(`<${pri}>1 ${timestamp}${this.#middle}${msgId} ${sd} ${BOM}${msg}`);
  }
}
