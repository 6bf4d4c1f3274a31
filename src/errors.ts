/**
 * One base error for everything Vigil raises on purpose. `code` is a closed union so callers can branch on it;
 * `retryable` tells a sender whether trying again can succeed.
 */
export type ErrorCode =
  | "invalid_event"
  | "invalid_request"
  | "invalid_config"
  | "payload_too_large"
  | "unsupported_media_type"
  | "queue_full"
  | "journal_failed"
  | "journal_corrupt"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "key_missing"
  | "destination_failed"
  | "usage"
  // a bug: never retryable, reported as HTTP 500 without details,
  | "internal"
  // Signed notes and checkpoints (integrity/note.ts, integrity/checkpoint.ts):
  // a key text (signer or verifier) that is malformed or whose key hash does not match its key,
  | "bad_key"
  // a note or checkpoint that breaks the C2SP syntax,
  | "bad_note"
  // a signature by a known key (name and key hash match) that does not verify: the note was altered or forged,
  | "bad_signature"
  // a well-formed note with no valid signature by any known key, or a checkpoint of another origin.
  | "unverified";

export class VigilError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "VigilError";
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** A problem with one field of one input item; `path` is a JSON Pointer-like dotted path. */
export interface FieldProblem {
  /** Index of the event in the request (0 for a single event), or undefined for config problems. */
  index?: number;
  /** Dotted path of the offending field, e.g. `actor.ip_address`. Empty for the item as a whole. */
  field: string;
  message: string;
  /** 1-based line in the input, where known (NDJSON line or YAML line). */
  line?: number;
}

/** At most this many problems are kept and reported; the rest are only counted (a hostile body can hold millions). */
export const MAX_REPORTED_PROBLEMS = 100;
/** Problems spelled out in the message (HTTP `detail`); `problems` carries up to MAX_REPORTED_PROBLEMS. */
const PROBLEMS_IN_MESSAGE = 5;

export class ValidationError extends VigilError {
  readonly problems: FieldProblem[];
  /** How many problems were found, including those not kept. */
  readonly total: number;

  constructor(
    code: "invalid_event" | "invalid_request" | "invalid_config",
    problems: FieldProblem[],
    total = problems.length,
  ) {
    const more = total - Math.min(total, PROBLEMS_IN_MESSAGE);
    const shown = problems.slice(0, PROBLEMS_IN_MESSAGE).map(formatProblem).join("; ");
    super(code, more > 0 ? `${shown}; and ${more} more` : shown);
    this.name = "ValidationError";
    this.problems = problems.slice(0, MAX_REPORTED_PROBLEMS);
    this.total = total;
  }
}

export function formatProblem(p: FieldProblem): string {
  const where = [
    p.index === undefined ? undefined : `event ${p.index}`,
    p.line === undefined ? undefined : `line ${p.line}`,
  ]
    .filter(Boolean)
    .join(", ");
  const field = p.field === "" ? "" : `${p.field}: `;
  return `${where ? `${where}: ` : ""}${field}${p.message}`;
}
