/**
 * The Kubernetes webhook source: the `audit.k8s.io` EventList that kube-apiserver's webhook audit backend posts
 * (batch mode), recorded as the configured Kubernetes audit policy says. Each item is evaluated against the
 * policy; level None and omitted stages are not recorded; the level decides which bodies are kept; then
 * managedFields are stripped (when the rule says so). Secret values are redacted by the pipeline, as for every
 * source (`audit.redaction`).
 */
import { ValidationError } from "../../errors.ts";
import type { EventOrigin, InputEvent, NativeEvent } from "../../event/schema.ts";
import { type EventLimits, prepareEvents, type RawItem } from "../../event/validate.ts";
import { decodeKubernetes } from "../../formats/kubernetes/decode.ts";
import {
  attributesFromK8sEvent,
  KUBERNETES_LEVELS,
  type KubernetesDecision,
  type KubernetesLevel,
  type KubernetesPolicy,
} from "../../policy/kubernetes.ts";
import { omitManagedFields } from "../../policy/redact.ts";

type Json = Record<string, unknown>;

/**
 * Without a policy file every request is recorded at Metadata: who did what to which object and with what
 * result, but no bodies, which may hold Secrets or personal data.
 */
const DEFAULT_DECISION: KubernetesDecision = Object.freeze({
  level: "Metadata",
  omitStages: Object.freeze([]),
  omitManagedFields: false,
  ruleIndex: undefined,
});

export interface KubernetesBatch {
  /** The events to ingest, in list order. */
  events: NativeEvent[];
  /** For each of `events`, its index in the list. */
  positions: number[];
  /** The items the policy does not record (level None or an omitted stage), with their list index. */
  excluded: { index: number; event_id: string }[];
  /** How many items the list held. */
  total: number;
}

function isRecord(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** The lower of two levels: bodies the API server did not send cannot be recorded, whatever our policy says. */
function recordedLevel(policy: KubernetesLevel, sent: unknown): KubernetesLevel {
  const sentIndex = KUBERNETES_LEVELS.indexOf(sent as KubernetesLevel);
  return sentIndex >= 0 && sentIndex < KUBERNETES_LEVELS.indexOf(policy)
    ? (KUBERNETES_LEVELS[sentIndex] as KubernetesLevel)
    : policy;
}

/** The Event as recorded at `level`: Metadata keeps no body, Request the request body, RequestResponse both. */
function atLevel(event: Json, level: KubernetesLevel): Json {
  const { requestObject, responseObject, ...metadata } = event;
  const kept: Json = { ...metadata, level: recordedLevel(level, event.level) };
  if (level !== "Metadata" && requestObject !== undefined) kept.requestObject = requestObject;
  if (level === "RequestResponse" && responseObject !== undefined) kept.responseObject = responseObject;
  return kept;
}

/**
 * Decodes an EventList and applies `policy` (undefined: every request at Metadata) to each item.
 * @throws ValidationError("invalid_event") naming the item and field (`items[3].auditID`) when the body is not
 * an EventList or an item is not a valid Event; nothing of a refused list is recorded.
 */
export function prepareKubernetesList(
  value: unknown,
  policy: KubernetesPolicy | undefined,
  origin: EventOrigin,
  limits: EventLimits,
): KubernetesBatch {
  if (!isRecord(value) || value.kind !== "EventList") {
    throw new ValidationError("invalid_event", [
      {
        field: isRecord(value) ? "kind" : "",
        message: "the body must be an audit.k8s.io EventList (kind: EventList), as the webhook backend posts",
      },
    ]);
  }
  const decoded = decodeKubernetes(value);
  const items: RawItem[] = [];
  const positions: number[] = [];
  const excluded: KubernetesBatch["excluded"] = [];
  decoded.forEach((event, index) => {
    // decodeKubernetes keeps each item, with the list's type, under details.kubernetes and always sets an id.
    const k8s = (event.details as { kubernetes: Json }).kubernetes;
    const decision = policy?.evaluate(attributesFromK8sEvent(k8s)) ?? DEFAULT_DECISION;
    const stage = k8s.stage;
    if (decision.level === "None" || decision.omitStages.some((s) => s === stage)) {
      excluded.push({ index, event_id: event.event_id as string });
      return;
    }
    let kept: InputEvent = {
      ...event,
      details: { ...event.details, kubernetes: atLevel(k8s, decision.level) },
    };
    if (decision.omitManagedFields) kept = omitManagedFields(kept);
    items.push({ value: kept });
    positions.push(index);
  });
  if (items.length === 0) return { events: [], positions, excluded, total: decoded.length };
  try {
    return { events: prepareEvents(items, origin, limits), positions, excluded, total: decoded.length };
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    // Name the item by its place in the list the client sent, not among the items the policy kept.
    const problems = e.problems.map(({ index, ...p }) =>
      index === undefined
        ? p
        : { ...p, field: `items[${positions[index]}]${p.field === "" ? "" : `.${p.field}`}` },
    );
    throw new ValidationError("invalid_event", problems, e.total);
  }
}
