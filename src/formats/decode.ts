/**
 * Audit records of other products to native events: one entry point over the per-format decoders, and the
 * recognition of a record's format for inputs that do not name it (an import of a mixed file).
 * Decoders are pure: they neither validate against the native schema (prepareEvents does) nor keep state.
 */
import { ValidationError } from "../errors.ts";
import type { InputEvent } from "../event/schema.ts";
import { decodeCloudEvents } from "./cloudevents/decode.ts";
import { decodeKubernetes, isAksRecord } from "./kubernetes/decode.ts";
import { decodeOcsf } from "./ocsf/decode.ts";

const DECODERS = {
  kubernetes: decodeKubernetes,
  ocsf: decodeOcsf,
  cloudevents: decodeCloudEvents,
} satisfies Record<string, (value: unknown) => InputEvent[]>;

export type DecodeFormat = keyof typeof DECODERS;

/**
 * Decodes one record (or a list or batch, which yields several events) of the given format, or of the format
 * detectFormat recognises when none is given. Throws `invalid_event` naming the field that does not fit.
 */
export function decode(value: unknown, format: DecodeFormat | undefined = detectFormat(value)): InputEvent[] {
  if (format === undefined) {
    throw new ValidationError("invalid_event", [
      {
        field: "",
        message: "not a recognised audit record (Kubernetes audit Event or EventList, OCSF, CloudEvents)",
      },
    ]);
  }
  return DECODERS[format](value);
}

/**
 * The format a value is in, judged by the fields that identify it, or undefined. Recognising is not
 * validating: decode still refuses a record of the right kind that lacks what the mapping needs.
 */
export function detectFormat(value: unknown): DecodeFormat | undefined {
  if (Array.isArray(value)) {
    // A CloudEvents batch; other formats have their own list shapes (EventList).
    return value.length > 0 && value.every((v) => detectFormat(v) === "cloudevents")
      ? "cloudevents"
      : undefined;
  }
  if (!isRecord(value)) return undefined;
  if (isKubernetesAudit(value) || isAksRecord(value)) return "kubernetes";
  if (
    typeof value.specversion === "string" &&
    typeof value.id === "string" &&
    typeof value.source === "string" &&
    typeof value.type === "string"
  ) {
    return "cloudevents";
  }
  if (Number.isInteger(value.class_uid) && isRecord(value.metadata) && typeof value.time === "number") {
    return "ocsf";
  }
  return undefined;
}

/**
 * An audit.k8s.io Event or EventList. Core `Event`s (apiVersion v1, events.k8s.io) share the kind, so an Event
 * without an apiVersion (falco's captures) must at least carry an auditID.
 */
function isKubernetesAudit(value: Record<string, unknown>): boolean {
  if (value.kind !== "Event" && value.kind !== "EventList") return false;
  if (typeof value.apiVersion === "string") return value.apiVersion.startsWith("audit.k8s.io/");
  return value.apiVersion === undefined && value.kind === "Event" && typeof value.auditID === "string";
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
