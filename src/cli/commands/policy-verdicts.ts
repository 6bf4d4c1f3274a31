/**
 * What a policy does to each event of a file: the work of `vigil policy test` (policy.ts, which holds the command's
 * options and help and loads this module only when the command runs, since it needs the YAML parser, the schema
 * checker, every input format's decoder and the policy compilers). The policy is a Kubernetes `audit.k8s.io`
 * Policy or a Vigil fragment; a bad policy or an unreadable input line is a usage error (exit 2).
 */
import { readFile } from "node:fs/promises";
import Type from "typebox";
import { isMap, LineCounter, parseDocument } from "yaml";
import { EVENT_GLOB_PATTERN, formatPath, type Path, schemaChecker } from "../../config/schema.ts";
import { type FieldProblem, formatProblem, ValidationError } from "../../errors.ts";
import type { InputEvent } from "../../event/schema.ts";
import { decode, detectFormat } from "../../formats/decode.ts";
import {
  attributesFromK8sEvent,
  type KubernetesLevel,
  type KubernetesPolicy,
  parseKubernetesPolicy,
} from "../../policy/kubernetes.ts";
import { compileRedaction, REDACTED, type Redaction, type RedactionConfig } from "../../policy/redact.ts";
import { compileRedpandaFilters, type RedpandaFilters } from "../../policy/redpanda.ts";
import { compilePolicy, type Policy } from "../../policy/rules.ts";
import { CliExit, EXIT } from "../common.ts";

const StringList = Type.Array(Type.String());
const FragmentSchema = Type.Object(
  {
    events: Type.Optional(Type.Array(Type.String({ pattern: EVENT_GLOB_PATTERN }), { minItems: 1 })),
    exclude_events: Type.Optional(Type.Array(Type.String({ pattern: EVENT_GLOB_PATTERN }))),
    enabled_event_types: Type.Optional(StringList),
    excluded_topics: Type.Optional(StringList),
    excluded_principals: Type.Optional(StringList),
    redaction: Type.Optional(
      Type.Object(
        {
          fields: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
          kubernetes_secrets: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
type Fragment = Type.Static<typeof FragmentSchema>;
const checkFragment = schemaChecker(FragmentSchema);

/** One event's verdict; also the `--json` output, one object per line. */
export interface Verdict {
  line: number;
  event_id?: string;
  event_type: string;
  /** Kubernetes: the index of the matching rule, null for none. Vigil: the glob or setting that decided. */
  rule: number | string | null;
  level?: KubernetesLevel;
  keep: boolean;
  /** What of the event would be recorded, or why it would not be. */
  detail: string;
  omitted_stages?: string[];
  /** Paths whose values would be recorded as `<redacted>` (redaction), for a kept event. */
  redacted?: string[];
}

type Tester = (event: InputEvent, line: number) => Verdict;

function invalidPolicy(file: string, problems: readonly FieldProblem[]): CliExit {
  return new CliExit(EXIT.usage, problems.map((p) => `${file}: ${formatProblem(p)}`).join("\n"));
}

const BODIES: Record<Exclude<KubernetesLevel, "None">, string> = {
  Metadata: "metadata only, request and response bodies stripped",
  Request: "metadata and request body, response body stripped",
  RequestResponse: "metadata, request and response bodies",
};

function kubernetesTester(policy: KubernetesPolicy): Tester {
  return (event, line) => {
    const head = { line, event_id: event.event_id, event_type: event.event_type };
    const k8s = (event.details as Record<string, unknown> | undefined)?.kubernetes;
    if (k8s === undefined) {
      return {
        ...head,
        rule: null,
        keep: true,
        detail: "not a Kubernetes request: the policy does not apply",
      };
    }
    const decision = policy.evaluate(attributesFromK8sEvent(k8s));
    const verdict = {
      ...head,
      rule: decision.ruleIndex ?? null,
      level: decision.level,
      omitted_stages: [...decision.omitStages],
    };
    if (decision.level === "None") return { ...verdict, keep: false, detail: "not recorded" };
    const stage = (k8s as { stage?: unknown }).stage;
    if (typeof stage === "string" && decision.omitStages.some((s) => s === stage)) {
      return { ...verdict, keep: false, detail: `stage ${stage} omitted` };
    }
    const managed = decision.omitManagedFields ? ", managedFields stripped" : "";
    return { ...verdict, keep: true, detail: `${BODIES[decision.level]}${managed}` };
  };
}

function vigilTester(fragment: Fragment, filters: RedpandaFilters): Tester {
  const globs: Policy = compilePolicy({
    events: fragment.events,
    excludeEvents: fragment.exclude_events ?? [],
  });
  // The compiled policy answers for a whole list; one policy per glob says which glob it was.
  const each = (list: readonly string[] | undefined) =>
    (list ?? []).map((glob) => ({ glob, policy: compilePolicy({ events: [glob], excludeEvents: [] }) }));
  const included = each(fragment.events);
  const excluded = each(fragment.exclude_events);
  const first = (list: typeof included, type: string) =>
    list.find((g) => g.policy.decide({ event_type: type }).keep)?.glob;
  return (event, line) => {
    const head = { line, event_id: event.event_id, event_type: event.event_type };
    const type = event.event_type;
    const decision = globs.decide(event);
    if (decision.reason === "not_in_events") {
      return { ...head, rule: "events", keep: false, detail: "no glob in events matches" };
    }
    if (decision.reason === "excluded") {
      return { ...head, rule: `exclude_events ${first(excluded, type)}`, keep: false, detail: "excluded" };
    }
    const filtered = filters.decide(event);
    const kind = filtered.eventType === undefined ? "" : `, Redpanda type ${filtered.eventType}`;
    switch (filtered.reason) {
      case "event_type_disabled":
        return {
          ...head,
          rule: "enabled_event_types",
          keep: false,
          detail: `type ${filtered.eventType} not enabled`,
        };
      case "excluded_principal":
        return {
          ...head,
          rule: `excluded_principals ${filtered.match}`,
          keep: false,
          detail: `principal excluded${kind}`,
        };
      case "excluded_topic":
        return {
          ...head,
          rule: `excluded_topics ${filtered.match}`,
          keep: false,
          detail: `topic excluded${kind}`,
        };
      default: {
        const rule = fragment.events === undefined ? "all events" : `events ${first(included, type)}`;
        return { ...head, rule, keep: true, detail: `whole event${kind}` };
      }
    }
  };
}

function parseFragment(
  text: string,
  file: string,
  auditTopic: string,
): { test: Tester; redaction?: RedactionConfig } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw invalidPolicy(
      file,
      doc.errors.map((e) => ({ field: "", line: lineCounter.linePos(e.pos[0]).line, message: e.message })),
    );
  }
  const lineOf = (path: Path): number | undefined => {
    const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
    const start = node?.range?.[0] ?? (path.length > 0 ? undefined : 0);
    return start === undefined ? undefined : lineCounter.linePos(start).line;
  };
  const value: unknown = doc.toJS() ?? {};
  const problems = checkFragment(value);
  if (problems.length > 0) {
    throw invalidPolicy(
      file,
      problems.map((p) => {
        const line = lineOf(p.path) ?? lineOf(p.path.slice(0, -1));
        return { field: formatPath(p.path), message: p.message, ...(line === undefined ? {} : { line }) };
      }),
    );
  }
  const fragment = value as Fragment;
  const redaction =
    fragment.redaction === undefined
      ? {}
      : {
          redaction: {
            fields: fragment.redaction.fields ?? [],
            kubernetesSecrets: fragment.redaction.kubernetes_secrets ?? true,
          },
        };
  try {
    return {
      test: vigilTester(fragment, compileRedpandaFilters(fragment, { auditTopics: [auditTopic] })),
      ...redaction,
    };
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    throw invalidPolicy(
      file,
      e.problems.map((p) => {
        // Redpanda problems name `key[index]`.
        const m = /^(\w+)\[(\d+)\]$/.exec(p.field);
        const line = m ? lineOf([m[1] as string, Number(m[2])]) : undefined;
        return line === undefined ? p : { ...p, line };
      }),
    );
  }
}

/** Where a value differs from its redacted copy by being `<redacted>`, as dotted paths (array indices as numbers). */
function redactedPaths(before: unknown, after: unknown, path: string, out: string[]): string[] {
  if (after === REDACTED && before !== REDACTED) {
    out.push(path);
  } else if (
    after !== before &&
    after !== null &&
    typeof after === "object" &&
    before !== null &&
    typeof before === "object"
  ) {
    for (const [key, value] of Object.entries(after)) {
      redactedPaths(
        (before as Record<string, unknown>)[key],
        value,
        path === "" ? key : `${path}.${key}`,
        out,
      );
    }
  }
  return out;
}

/** The bodies a Kubernetes level records: paths under the others are stripped before redaction matters. */
function recordedAtLevel(path: string, level: KubernetesLevel | undefined): boolean {
  if (path.startsWith("details.kubernetes.requestObject"))
    return level === "Request" || level === "RequestResponse";
  if (path.startsWith("details.kubernetes.responseObject")) return level === "RequestResponse";
  return true;
}

/** Adds to each kept event's verdict what redaction would replace, as the server does before sealing. */
function withRedaction(test: Tester, redaction: Redaction): Tester {
  return (event, line) => {
    const verdict = test(event, line);
    if (!verdict.keep || !redaction.applies(event)) return verdict;
    const paths = redactedPaths(event, redaction.redact(event), "", []).filter((p) =>
      recordedAtLevel(p, verdict.level),
    );
    if (paths.length === 0) return verdict;
    return { ...verdict, detail: `${verdict.detail}; redacted ${paths.join(", ")}`, redacted: paths };
  };
}

/** A Kubernetes Policy is told apart by its header; anything else is a Vigil fragment. */
function loadPolicy(
  text: string,
  file: string,
  auditTopic: string,
): { test: Tester; redaction?: RedactionConfig } {
  const doc = parseDocument(text, { prettyErrors: false });
  const header =
    doc.errors.length === 0 && isMap(doc.contents) ? (doc.toJS() as Record<string, unknown>) : {};
  // Any audit.k8s.io header goes to the Kubernetes parser, so a wrong version gets kube-apiserver's error.
  const apiVersion = header.apiVersion;
  if (
    header.kind === "Policy" ||
    (typeof apiVersion === "string" && apiVersion.startsWith("audit.k8s.io/"))
  ) {
    try {
      return { test: kubernetesTester(parseKubernetesPolicy(text, file)) };
    } catch (e) {
      if (e instanceof ValidationError) throw invalidPolicy(file, e.problems);
      throw e;
    }
  }
  return parseFragment(text, file, auditTopic);
}

/** Redaction as the server would apply it: the policy file's `redaction:`, plus `--redact` paths and flags. */
function redactionFor(
  fromFile: RedactionConfig | undefined,
  flags: { redact: string[]; kubernetesSecrets: boolean },
): Redaction {
  try {
    return compileRedaction({
      fields: [...(fromFile?.fields ?? []), ...flags.redact],
      kubernetesSecrets: flags.kubernetesSecrets && (fromFile?.kubernetesSecrets ?? true),
    });
  } catch (e) {
    if (e instanceof ValidationError) {
      throw new CliExit(EXIT.usage, e.problems.map((p) => `redaction ${formatProblem(p)}`).join("\n"));
    }
    throw e;
  }
}

/** The events of one input line; a line that is neither a known format nor a native event is refused. */
function eventsOf(text: string, line: number, file: string): InputEvent[] {
  const bad = (why: string) => new CliExit(EXIT.usage, `${file}: line ${line}: ${why}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw bad(`not JSON: ${(e as Error).message}`);
  }
  if (detectFormat(value) !== undefined) {
    try {
      return decode(value);
    } catch (e) {
      throw bad((e as Error).message);
    }
  }
  const native = value as { event_type?: unknown };
  if (
    native === null ||
    typeof native !== "object" ||
    Array.isArray(native) ||
    typeof native.event_type !== "string"
  ) {
    throw bad("not a Kubernetes, OCSF or CloudEvents record, nor a native event with an event_type");
  }
  return [value as InputEvent];
}

/**
 * The verdict for every event of `eventsFile` under `policyFile`, as the server would decide and redact. Every line
 * is read before any verdict is returned, so a bad line gives exit 2 and no partial report.
 */
export async function verdicts(
  policyFile: string,
  eventsFile: string,
  flags: { auditTopic: string; redact: string[]; kubernetesSecrets: boolean },
): Promise<Verdict[]> {
  const loaded = loadPolicy(await readFile(policyFile, "utf8"), policyFile, flags.auditTopic);
  const test = withRedaction(loaded.test, redactionFor(loaded.redaction, flags));
  const lines = (await readFile(eventsFile, "utf8")).split("\n");
  const result: Verdict[] = [];
  lines.forEach((text, i) => {
    if (text.trim() === "") return;
    for (const event of eventsOf(text, i + 1, eventsFile)) result.push(test(event, i + 1));
  });
  return result;
}
