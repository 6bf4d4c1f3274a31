/**
 * Redaction before sealing: values at configured field paths, and by default the contents of Kubernetes
 * Secrets, are replaced with `<redacted>`. A sealed record can never be edited, so a secret that reaches the
 * chain stays there; this is the last place to keep it out.
 *
 * Paths are dotted, over the native event: `details.password`, `details.*.token`, `actor.user_agent`. A `*`
 * segment matches every key of an object and every element of an array; a number matches an array index. The
 * value at the end of a path is replaced whatever it is (a string, an object, a list); a path that leads
 * nowhere changes nothing. Results are new objects: the input is never modified, and subtrees a redaction does
 * not touch are shared with it.
 */
import { type FieldProblem, ValidationError } from "../errors.ts";

export const REDACTED = "<redacted>";

export interface RedactionConfig {
  /** Dotted paths with `*` segments. */
  fields?: readonly string[];
  /** Redact `data` and `stringData` of Secrets in Kubernetes request and response bodies. Default true. */
  kubernetesSecrets?: boolean;
}

export interface Redaction {
  /**
   * Whether `redact` may change the event: a field path is configured, or the event carries a Kubernetes
   * Secret. Cheap, so a caller can skip the copy `redact` makes for every other event.
   */
  applies(event: object): boolean;
  redact<T extends object>(event: T): T;
}

type Json = Record<string, unknown>;

// Keys that reach an object's prototype instead of its data; no path may name them.
const FORBIDDEN = new Set(["__proto__", "constructor", "prototype"]);

function isRecord(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * Replaces what `path[i..]` reaches in `value`; returns `value` itself when nothing changed, so untouched
 * subtrees are not copied.
 */
function redactAt(value: unknown, path: readonly string[], i: number): unknown {
  if (i === path.length) return REDACTED;
  const segment = path[i] as string;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    const visit = (index: number): void => {
      const next = redactAt(value[index], path, i + 1);
      if (next === value[index]) return;
      copy ??= [...value];
      copy[index] = next;
    };
    if (segment === "*") for (let index = 0; index < value.length; index++) visit(index);
    else if (/^\d+$/.test(segment) && Number(segment) < value.length) visit(Number(segment));
    return copy ?? value;
  }
  if (!isRecord(value)) return value;
  let copy: Json | undefined;
  const visit = (key: string): void => {
    const next = redactAt(value[key], path, i + 1);
    if (next === value[key]) return;
    // An own `__proto__` key (JSON.parse makes them) must stay data: define, never assign.
    copy ??= { ...value };
    Object.defineProperty(copy, key, { value: next, enumerable: true, writable: true, configurable: true });
  };
  if (segment === "*") {
    for (const key of Object.keys(value)) if (!FORBIDDEN.has(key)) visit(key);
  } else if (Object.hasOwn(value, segment)) {
    visit(segment);
  }
  return copy ?? value;
}

function redactPaths<T>(value: T, paths: readonly (readonly string[])[]): T {
  let out: unknown = value;
  for (const path of paths) out = redactAt(out, path, 0);
  return out as T;
}

function parsePath(text: string, field: string, problems: FieldProblem[]): string[] | undefined {
  const segments = text.split(".");
  if (segments.some((s) => s === "")) {
    problems.push({ field, message: `"${text}" is not a dotted path: a segment is empty` });
    return undefined;
  }
  const bad = segments.find((s) => FORBIDDEN.has(s));
  if (bad !== undefined) {
    problems.push({ field, message: `"${text}": the segment "${bad}" is not allowed in a path` });
    return undefined;
  }
  if (PROTECTED.has(segments[0] as string)) {
    problems.push({
      field,
      message: `"${text}": ${segments[0]} is required in every record and cannot be redacted`,
    });
    return undefined;
  }
  return segments;
}

/** `kubectl apply` copies the whole object, Secret values included, into this annotation. */
const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

// In a Secret body, or in each Secret of a list response.
const SECRET_PATHS: readonly (readonly string[])[] = [
  ["data", "*"],
  ["stringData", "*"],
  ["metadata", "annotations", LAST_APPLIED],
  ["items", "*", "data", "*"],
  ["items", "*", "stringData", "*"],
  ["items", "*", "metadata", "annotations", LAST_APPLIED],
];

/** Fields every sealed event needs as the server set them: redacting them would break the record, not hide data. */
const PROTECTED = new Set([
  "event_type",
  "event_id",
  "timestamp",
  "version",
  "received_at",
  "origin",
  "integrity",
]);
const BODIES = ["requestObject", "responseObject"] as const;

/** A JSON Patch (kubectl patch --type json) writes Secret values in its operations' `value`. */
function redactJsonPatch(ops: unknown[]): unknown[] {
  let copy: unknown[] | undefined;
  ops.forEach((op, i) => {
    if (!isRecord(op) || !Object.hasOwn(op, "value") || typeof op.path !== "string") return;
    if (!/^\/(data|stringData|metadata\/annotations)(\/|$)/.test(op.path)) return;
    copy ??= [...ops];
    copy[i] = { ...op, value: isRecord(op.value) ? redactPaths(op.value, [["*"]]) : REDACTED };
  });
  return copy ?? ops;
}

/** The `details.kubernetes` Event of an event decoded from Kubernetes, if it is one. */
function kubernetesEvent(event: object): Json | undefined {
  const details = (event as { details?: unknown }).details;
  if (!isRecord(details) || !isRecord(details.kubernetes)) return undefined;
  return details.kubernetes;
}

/** Returns `event` with `kubernetes` as its `details.kubernetes`, copying only the objects on the way. */
function withKubernetes<T extends object>(event: T, kubernetes: Json): T {
  const details = (event as { details: Json }).details;
  return { ...event, details: { ...details, kubernetes } };
}

/** The `details.kubernetes` Event of an event about Kubernetes Secrets, if it is one. */
function secretEvent(event: object): Json | undefined {
  const k8s = kubernetesEvent(event);
  const ref = k8s?.objectRef;
  // Secrets are in the core group only (apiGroup "" or absent); a CRD named `secrets` elsewhere is not one.
  if (!isRecord(ref) || ref.resource !== "secrets" || (ref.apiGroup !== undefined && ref.apiGroup !== "")) {
    return undefined;
  }
  return k8s;
}

function redactSecrets<T extends object>(event: T): T {
  const k8s = secretEvent(event);
  if (k8s === undefined) return event;
  let changed: Json | undefined;
  for (const body of BODIES) {
    const value = k8s[body];
    const next = Array.isArray(value) ? redactJsonPatch(value) : redactPaths(value, SECRET_PATHS);
    if (next === value) continue;
    changed ??= { ...k8s };
    changed[body] = next;
  }
  return changed === undefined ? event : withKubernetes(event, changed);
}

/**
 * Compiles redaction rules.
 * @throws ValidationError("invalid_config") naming each bad path (`fields[1]`): empty segments, or a segment
 * that would reach an object's prototype (`__proto__`, `constructor`, `prototype`).
 */
export function compileRedaction(config: RedactionConfig): Redaction {
  const problems: FieldProblem[] = [];
  const paths: string[][] = [];
  (config.fields ?? []).forEach((text, i) => {
    const path = parsePath(text, `fields[${i}]`, problems);
    if (path !== undefined) paths.push(path);
  });
  if (problems.length > 0) throw new ValidationError("invalid_config", problems);
  const secrets = config.kubernetesSecrets ?? true;
  return {
    applies: (event) => paths.length > 0 || (secrets && secretEvent(event) !== undefined),
    redact(event) {
      const redacted = redactPaths(secrets ? redactSecrets(event) : event, paths);
      // Callers own the result: even an event with nothing to redact comes back as a new object.
      return redacted === event ? { ...event } : redacted;
    },
  };
}

/**
 * Strips `metadata.managedFields` from a Kubernetes event's request and response bodies (and from each item of a
 * list), as kube-apiserver's `omitManagedFields` does: they record which client set which field, are large, and
 * say nothing about the request. Events not from Kubernetes come back unchanged; the input is never modified.
 */
export function omitManagedFields<T extends object>(event: T): T {
  const k8s = kubernetesEvent(event);
  if (k8s === undefined) return event;
  const strip = (object: unknown): unknown => {
    if (!isRecord(object) || !isRecord(object.metadata) || !Object.hasOwn(object.metadata, "managedFields")) {
      return object;
    }
    const { managedFields: _, ...metadata } = object.metadata;
    return { ...object, metadata };
  };
  let changed: Json | undefined;
  for (const body of BODIES) {
    const value = k8s[body];
    let next = strip(value);
    if (isRecord(next) && Array.isArray(next.items)) {
      const items = next.items;
      const stripped = items.map(strip);
      if (stripped.some((item, i) => item !== items[i])) next = { ...next, items: stripped };
    }
    if (next === value) continue;
    changed ??= { ...k8s };
    changed[body] = next;
  }
  return changed === undefined ? event : withKubernetes(event, changed);
}
