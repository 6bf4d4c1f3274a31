/**
 * Sealed records as Kubernetes audit Events (`audit.k8s.io`), for events that came from a Kubernetes API server.
 *
 * Contract with the Kubernetes decoder (formats/kubernetes/decode.ts): an event from Kubernetes holds the API
 * server's original Event object, unchanged, in `details.kubernetes`. The encoder re-emits that original (its
 * apiVersion as received: `audit.k8s.io/v1` from current API servers; a v1beta1 one is not converted, which would
 * drop fields and the ability to verify) with two annotations added:
 *
 * - `vigil.dev/integrity`: the integrity block as JSON, in the sealer's field order;
 * - `vigil.dev/event`: the native event as JSON, with `details.kubernetes` cut down to the original's
 *   `annotations` (`{}` when it had none) — the body is the rest of it.
 *
 * To rebuild the sealed record, take the Event without `annotations`, put back `annotations` from
 * `vigil.dev/event`'s `details.kubernetes` (if there), set it as that event's `details.kubernetes`, and
 * canonicalize. This holds even when the original already carried `vigil.dev/*` annotations.
 *
 * Any other event (no `details.kubernetes`, or one that is not an audit Event) has no Kubernetes form: `encode`
 * returns undefined and the caller skips the record.
 */
import type { NativeEvent } from "../../event/schema.ts";
import type { Encoder, SealedRecord } from "../encoder.ts";

export const INTEGRITY_ANNOTATION = "vigil.dev/integrity";
export const EVENT_ANNOTATION = "vigil.dev/event";

export type KubernetesAuditEvent = Record<string, unknown> & { kind: "Event" };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * An audit Event: `kind: Event` and an `audit.k8s.io` apiVersion, or none (older API servers' log backend wrote
 * events without one, as the falco fixtures show).
 */
function isAuditEvent(v: unknown): v is KubernetesAuditEvent {
  return (
    isObject(v) &&
    v.kind === "Event" &&
    (v.apiVersion === undefined ||
      (typeof v.apiVersion === "string" && v.apiVersion.startsWith("audit.k8s.io/")))
  );
}

/** The original Kubernetes Event with Vigil's annotations, or undefined for an event not from Kubernetes. */
export function toKubernetesEvent(record: SealedRecord): KubernetesAuditEvent | undefined {
  const original = (record.event.details as Record<string, unknown> | undefined)?.kubernetes;
  if (!isAuditEvent(original)) return undefined;
  const { annotations } = original;
  const event: NativeEvent = {
    ...record.event,
    details: { ...record.event.details, kubernetes: annotations === undefined ? {} : { annotations } },
  };
  return {
    ...original,
    annotations: {
      ...(isObject(annotations) ? annotations : {}),
      [INTEGRITY_ANNOTATION]: JSON.stringify(record.integrity),
      [EVENT_ANNOTATION]: JSON.stringify(event),
    },
  };
}

export function createKubernetesEncoder(): Encoder {
  return {
    format: "kubernetes",
    mediaType: "application/json",
    encode: (record: SealedRecord) => {
      const event = toKubernetesEvent(record);
      return event === undefined ? undefined : JSON.stringify(event);
    },
  };
}
