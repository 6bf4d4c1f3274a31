/** RFC 9457 problem details: every HTTP error Vigil sends is `application/problem+json`. */
import type { FastifyReply } from "fastify";
import { type ErrorCode, type FieldProblem, ValidationError, type VigilError } from "../errors.ts";

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldProblem[];
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  invalid_event: 400,
  invalid_request: 400,
  usage: 400,
  internal: 500,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  queue_full: 503,
  journal_failed: 503,
};

const TITLE: Partial<Record<ErrorCode, string>> = {
  invalid_event: "Invalid event",
  invalid_request: "Invalid request",
  payload_too_large: "Request body too large",
  unsupported_media_type: "Unsupported media type",
  unauthorized: "Missing or unknown bearer token",
  forbidden: "Token lacks the required scope",
  not_found: "Not found",
  queue_full: "Ingest queue full",
  journal_failed: "Journal unavailable",
};

export function problemBody(error: VigilError): ProblemBody {
  const body: ProblemBody = {
    type: `urn:vigil:problem:${error.code}`,
    title: TITLE[error.code] ?? "Internal error",
    status: STATUS[error.code] ?? 500,
    detail: error.message,
  };
  if (error instanceof ValidationError) body.errors = error.problems;
  return body;
}

export function sendProblem(
  reply: FastifyReply,
  error: VigilError,
  retryAfterSeconds?: number,
): FastifyReply {
  const body = problemBody(error);
  const { status } = body;
  if (status === 401) reply.header("www-authenticate", 'Bearer realm="vigil"');
  if (retryAfterSeconds !== undefined && (status === 503 || status === 429)) {
    reply.header("retry-after", String(retryAfterSeconds));
  }
  return reply.code(status).type("application/problem+json").send(body);
}
