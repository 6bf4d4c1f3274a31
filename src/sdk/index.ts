/**
 * The Vigil SDK, the package entry (`import { AuditClient } from "vigil"`): everything a tool needs to send audit
 * events, and nothing from the server.
 */
export {
  AuditClient,
  AuditClientError,
  type AuditClientErrorCode,
  type AuditClientOptions,
  type AuditEvent,
  type AuditEventDefaults,
  type AuditProblem,
  type LogResult,
  type LogStatus,
} from "./client.ts";
