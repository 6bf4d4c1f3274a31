/**
 * One base error for everything Vigil raises on purpose. `code` is a closed union so callers can branch on it;
 * `retryable` tells a sender whether trying again can succeed.
 */
export type ErrorCode =
  | "invalid_event"
  | "invalid_config"
  | "unsupported_config"
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
  | "usage";

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

export class ValidationError extends VigilError {
  readonly problems: FieldProblem[];

  constructor(code: "invalid_event" | "invalid_config", problems: FieldProblem[]) {
    super(code, problems.map(formatProblem).join("; "));
    this.name = "ValidationError";
    this.problems = problems;
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
