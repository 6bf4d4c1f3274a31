/**
 * Kubernetes audit policy files (`apiVersion: audit.k8s.io/v1`, `kind: Policy`), with kube-apiserver's semantics:
 * the loader and validation of `k8s.io/apiserver` (`pkg/audit/policy/reader.go`, `pkg/apis/audit/validation`) and
 * the rule checker (`pkg/audit/policy/checker.go`). Users bring the file their API server already runs with, so
 * the same file must decide the same way here: a file kube-apiserver refuses is refused, one it accepts with a
 * warning (unknown fields) is accepted with the same warning.
 *
 * Evaluation: rules in order, the first rule all of whose conditions match gives the level; no match gives
 * `None`. Rules are compiled once into sets and matchers, and each rule's decision is built at compile time, so
 * `evaluate` allocates nothing for requests without a subresource.
 */
import Type from "typebox";
import { formatPath, type Path, type PathProblem, schemaChecker, suggest } from "../config/schema.ts";
import { lineOf, parseYamlWithLines } from "../config/yaml.ts";
import { type FieldProblem, ValidationError, VigilError } from "../errors.ts";

export const KUBERNETES_LEVELS = ["None", "Metadata", "Request", "RequestResponse"] as const;
export type KubernetesLevel = (typeof KUBERNETES_LEVELS)[number];

/** In the order a request passes through them; decisions list omitted stages in this order. */
export const KUBERNETES_STAGES = ["RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"] as const;
export type KubernetesStage = (typeof KUBERNETES_STAGES)[number];

export const KUBERNETES_POLICY_API_VERSION = "audit.k8s.io/v1";

/**
 * What the policy looks at, as kube-apiserver's authorizer attributes: a resource request when `resource` is
 * set, otherwise a non-resource request for `nonResourceURL` (a path without query string).
 */
export interface RequestAttributes {
  user: { username: string; groups: string[] };
  verb: string;
  /** Absent or "" for cluster-scoped resources, which a rule's `namespaces: [""]` matches. */
  namespace?: string;
  resource?: { group: string; resource: string; subresource?: string; name?: string };
  nonResourceURL?: string;
}

/** Decisions are shared between requests and frozen: do not modify one. */
export interface KubernetesDecision {
  readonly level: KubernetesLevel;
  /** The union of the policy's and the matching rule's `omitStages`, without repeats. */
  readonly omitStages: readonly KubernetesStage[];
  readonly omitManagedFields: boolean;
  /** Index in `rules` of the rule that matched; undefined when none did (level None). */
  readonly ruleIndex: number | undefined;
}

export interface KubernetesPolicy {
  /** Where the policy came from (a file name), as given to parseKubernetesPolicy. */
  readonly source: string | undefined;
  readonly ruleCount: number;
  /** Fields kube-apiserver ignores with a warning (its lenient decoding); they are ignored here too. */
  readonly warnings: readonly FieldProblem[];
  evaluate(attrs: RequestAttributes): KubernetesDecision;
}

// The shape of the file. Objects are not strict: kube-apiserver accepts unknown fields (with a warning), and so
// does unknownFieldWarnings. `level` is checked by validateRule, which gives upstream's messages.
const StringList = Type.Array(Type.String());
const GroupResourcesSchema = Type.Object({
  group: Type.Optional(Type.String()),
  resources: Type.Optional(StringList),
  resourceNames: Type.Optional(StringList),
});
const RuleSchema = Type.Object({
  level: Type.Optional(Type.String()),
  users: Type.Optional(StringList),
  userGroups: Type.Optional(StringList),
  verbs: Type.Optional(StringList),
  resources: Type.Optional(Type.Array(GroupResourcesSchema)),
  namespaces: Type.Optional(StringList),
  nonResourceURLs: Type.Optional(StringList),
  omitStages: Type.Optional(StringList),
  omitManagedFields: Type.Optional(Type.Boolean()),
});
const PolicySchema = Type.Object({
  apiVersion: Type.Optional(Type.String()),
  kind: Type.Optional(Type.String()),
  metadata: Type.Optional(Type.Unknown()),
  rules: Type.Optional(Type.Array(RuleSchema)),
  omitStages: Type.Optional(StringList),
  omitManagedFields: Type.Optional(Type.Boolean()),
});
type RawRule = Type.Static<typeof RuleSchema>;
type RawGroupResources = Type.Static<typeof GroupResourcesSchema>;
type RawPolicy = Type.Static<typeof PolicySchema>;

const checkPolicyShape = schemaChecker(PolicySchema);
const POLICY_KEYS = Object.keys(PolicySchema.properties);
const RULE_KEYS = Object.keys(RuleSchema.properties);
const GROUP_RESOURCES_KEYS = Object.keys(GroupResourcesSchema.properties);

type Mapping = Record<string, unknown>;

function isMapping(value: unknown): value is Mapping {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Drops keys whose value is null, recursively: kube-apiserver decodes a null field as absent (`level:` with no
 * value is "level is required", `users: ~` is no users condition).
 */
function withoutNullFields(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNullFields);
  if (!isMapping(value)) return value;
  const out: Mapping = {};
  for (const [key, item] of Object.entries(value)) {
    if (item !== null) out[key] = withoutNullFields(item);
  }
  return out;
}

function unknownKeys(
  value: unknown,
  known: readonly string[],
  path: Path,
  out: PathProblem[],
  parentKeys: readonly string[] = [],
): void {
  if (!isMapping(value)) return;
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const hint = suggest(key, known);
    // The usual cause of an unknown field in a resources entry: a rule's field indented one level too deep.
    const misplaced = parentKeys.includes(key)
      ? `; ${key} is a field of the rule: check its indentation`
      : "";
    out.push({
      path: [...path, key],
      message: `unknown field, ignored as kube-apiserver ignores it${misplaced || (hint ? `; did you mean ${hint}?` : "")}`,
    });
  }
}

function unknownFieldWarnings(policy: RawPolicy): PathProblem[] {
  const out: PathProblem[] = [];
  unknownKeys(policy, POLICY_KEYS, [], out);
  (policy.rules ?? []).forEach((rule, i) => {
    unknownKeys(rule, RULE_KEYS, ["rules", i], out);
    (rule.resources ?? []).forEach((gr, j) => {
      unknownKeys(gr, GROUP_RESOURCES_KEYS, ["rules", i, "resources", j], out, RULE_KEYS);
    });
  });
  return out;
}

const LEVEL_SET: ReadonlySet<string> = new Set(KUBERNETES_LEVELS);
const STAGE_SET: ReadonlySet<string> = new Set(KUBERNETES_STAGES);
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_SUBDOMAIN_MAX = 253;

function validateStages(stages: readonly string[] | undefined, path: Path, out: PathProblem[]): void {
  (stages ?? []).forEach((stage, i) => {
    if (!STAGE_SET.has(stage)) {
      out.push({
        path: [...path, i],
        message: `unknown stage ${JSON.stringify(stage)}: allowed stages are ${KUBERNETES_STAGES.join(", ")}`,
      });
    }
  });
}

function validateGroup(group: string, path: Path, out: PathProblem[]): void {
  // "" is the core group ("v1" objects: pods, secrets, …).
  if (group === "") return;
  if (group.length > DNS1123_SUBDOMAIN_MAX) {
    out.push({ path, message: `must be no more than ${DNS1123_SUBDOMAIN_MAX} characters` });
  } else if (!DNS1123_SUBDOMAIN.test(group)) {
    const slash = group.indexOf("/");
    const hint = slash > 0 ? ` (name the group without its version: ${group.slice(0, slash)})` : "";
    out.push({
      path,
      message:
        `${JSON.stringify(group)} is not an API group name, which is a lowercase RFC 1123 subdomain: ` +
        `a-z, 0-9, '-' and '.', starting and ending with a letter or digit${hint}`,
    });
  }
}

function validateRule(rule: RawRule, path: Path, out: PathProblem[]): void {
  if (rule.level === undefined || rule.level === "") {
    out.push({ path: [...path, "level"], message: `is required: one of ${KUBERNETES_LEVELS.join(", ")}` });
  } else if (!LEVEL_SET.has(rule.level)) {
    out.push({
      path: [...path, "level"],
      message: `unsupported value ${JSON.stringify(rule.level)}: must be one of ${KUBERNETES_LEVELS.join(", ")}`,
    });
  }
  (rule.nonResourceURLs ?? []).forEach((url, i) => {
    if (url === "*") return;
    const at = [...path, "nonResourceURLs", i];
    if (!url.startsWith("/")) {
      out.push({
        path: at,
        message: `${JSON.stringify(url)}: a non-resource URL must begin with '/' (or be *)`,
      });
    }
    if (url.slice(0, -1).includes("*")) {
      out.push({
        path: at,
        message: `${JSON.stringify(url)}: a '*' wildcard may only be the last character of a non-resource URL`,
      });
    }
  });
  (rule.resources ?? []).forEach((gr, j) => {
    validateGroup(gr.group ?? "", [...path, "resources", j, "group"], out);
    if ((gr.resourceNames ?? []).length > 0 && (gr.resources ?? []).length === 0) {
      out.push({
        path: [...path, "resources", j, "resourceNames"],
        message: "using resourceNames requires at least one resource",
      });
    }
  });
  validateStages(rule.omitStages, [...path, "omitStages"], out);
  const nonResource = (rule.nonResourceURLs ?? []).length > 0;
  if (nonResource && ((rule.resources ?? []).length > 0 || (rule.namespaces ?? []).length > 0)) {
    out.push({
      path: [...path, "nonResourceURLs"],
      message:
        "a rule cannot apply to both resources (resources, namespaces) and non-resource URLs: split it in two",
    });
  }
}

/** Problems with apiVersion and kind, which kube-apiserver needs to decode the file at all. */
function validateHeader(root: Mapping, out: PathProblem[]): void {
  const { apiVersion, kind } = root;
  for (const key of ["apiVersion", "kind"]) {
    if (root[key] !== undefined) continue;
    out.push({
      path: [key],
      message: `is required: a policy file starts with apiVersion: ${KUBERNETES_POLICY_API_VERSION} and kind: Policy`,
    });
  }
  if (typeof apiVersion === "string" && apiVersion !== KUBERNETES_POLICY_API_VERSION) {
    const older = apiVersion.startsWith("audit.k8s.io/")
      ? "; kube-apiserver no longer reads older versions, and the Policy fields are the same in all of them"
      : "";
    out.push({ path: ["apiVersion"], message: `must be ${KUBERNETES_POLICY_API_VERSION}${older}` });
  }
  if (typeof kind === "string" && kind !== "Policy") out.push({ path: ["kind"], message: "must be Policy" });
}

function isUnder(path: Path, prefix: Path): boolean {
  return path.length >= prefix.length && prefix.every((segment, i) => path[i] === segment);
}

/** Every problem kube-apiserver's loader would refuse the file for, plus its type errors. */
function validatePolicy(root: Mapping, out: PathProblem[]): void {
  validateHeader(root, out);
  const shape = checkPolicyShape(root);
  out.push(...shape);
  // The checks below need the types right: each runs on the parts without a type error.
  const typed = (path: Path): boolean => !shape.some((p) => isUnder(p.path, path));
  const policy = root as RawPolicy;
  if (typed(["omitStages"])) validateStages(policy.omitStages, ["omitStages"], out);
  if (!shape.some((p) => p.path.length === 1 && p.path[0] === "rules")) {
    const rules = policy.rules ?? [];
    if (rules.length === 0) {
      out.push({
        path: ["rules"],
        message: "must list at least one rule (kube-apiserver refuses a policy without)",
      });
    }
    rules.forEach((rule, i) => {
      if (typed(["rules", i])) validateRule(rule, ["rules", i], out);
    });
  }
}

/** One entry of a rule's `resources`, compiled. */
interface CompiledGroupResources {
  /** No `resources` listed: every resource of the group. */
  readonly wholeGroup: boolean;
  readonly names: ReadonlySet<string> | undefined;
  /** `*`: every resource and subresource. */
  readonly anyResource: boolean;
  /** Entries compared with `resource` or `resource/subresource` as written. */
  readonly exact: ReadonlySet<string>;
  /** `pods/*`: pods and every subresource of pods. */
  readonly withAllSubresources: ReadonlySet<string>;
  /** `*\/status`: that subresource of any resource. */
  readonly subresourceOfAny: ReadonlySet<string>;
}

interface CompiledUrls {
  readonly any: boolean;
  readonly exact: ReadonlySet<string>;
  /** `/logs*`: the text before the trailing `*`. */
  readonly prefixes: readonly string[];
}

interface CompiledRule {
  readonly users: ReadonlySet<string> | undefined;
  readonly groups: ReadonlySet<string> | undefined;
  readonly verbs: ReadonlySet<string> | undefined;
  /** A rule naming resources or namespaces applies only to resource requests, one naming URLs only to others. */
  readonly applies: "any" | "resource" | "nonResource";
  readonly namespaces: ReadonlySet<string> | undefined;
  /** By API group. */
  readonly resources: ReadonlyMap<string, readonly CompiledGroupResources[]> | undefined;
  readonly urls: CompiledUrls | undefined;
  readonly decision: KubernetesDecision;
}

function setOf(list: readonly string[] | undefined): ReadonlySet<string> | undefined {
  return list !== undefined && list.length > 0 ? new Set(list) : undefined;
}

function compileGroupResources(gr: RawGroupResources): CompiledGroupResources {
  const resources = gr.resources ?? [];
  const withAllSubresources = new Set<string>();
  const subresourceOfAny = new Set<string>();
  for (const res of resources) {
    if (res.endsWith("/*")) withAllSubresources.add(res.slice(0, -2));
    if (res.startsWith("*/")) subresourceOfAny.add(res.slice(2));
  }
  return {
    wholeGroup: resources.length === 0,
    names: setOf(gr.resourceNames),
    anyResource: resources.includes("*"),
    exact: new Set(resources),
    withAllSubresources,
    subresourceOfAny,
  };
}

function compileUrls(urls: readonly string[]): CompiledUrls {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const url of urls) {
    if (url.endsWith("*")) prefixes.push(url.replace(/\*+$/, ""));
    else exact.add(url);
  }
  return { any: urls.includes("*"), exact, prefixes };
}

function stageUnion(...lists: (readonly string[] | undefined)[]): readonly KubernetesStage[] {
  const all = new Set(lists.flatMap((list) => list ?? []));
  return Object.freeze(KUBERNETES_STAGES.filter((stage) => all.has(stage)));
}

function compileRule(rule: RawRule, index: number, policy: RawPolicy): CompiledRule {
  let resources: Map<string, CompiledGroupResources[]> | undefined;
  for (const gr of rule.resources ?? []) {
    resources ??= new Map();
    const group = gr.group ?? "";
    resources.set(group, [...(resources.get(group) ?? []), compileGroupResources(gr)]);
  }
  const namespaces = setOf(rule.namespaces);
  const urls = (rule.nonResourceURLs ?? []).length > 0 ? compileUrls(rule.nonResourceURLs ?? []) : undefined;
  return {
    users: setOf(rule.users),
    groups: setOf(rule.userGroups),
    verbs: setOf(rule.verbs),
    applies:
      resources !== undefined || namespaces !== undefined
        ? "resource"
        : urls !== undefined
          ? "nonResource"
          : "any",
    namespaces,
    resources,
    urls,
    decision: Object.freeze({
      level: rule.level as KubernetesLevel,
      omitStages: stageUnion(policy.omitStages, rule.omitStages),
      // A rule's own setting wins over the policy's.
      omitManagedFields: rule.omitManagedFields ?? policy.omitManagedFields ?? false,
      ruleIndex: index,
    }),
  };
}

function groupResourcesMatch(
  gr: CompiledGroupResources,
  resource: string,
  subresource: string,
  combined: string,
  name: string,
): boolean {
  if (gr.wholeGroup) return true;
  if (gr.names !== undefined && !gr.names.has(name)) return false;
  if (gr.anyResource || gr.exact.has(combined) || gr.withAllSubresources.has(resource)) return true;
  return subresource !== "" && gr.subresourceOfAny.has(subresource);
}

function urlMatches(urls: CompiledUrls, path: string): boolean {
  if (urls.any || urls.exact.has(path)) return true;
  for (const prefix of urls.prefixes) if (path.startsWith(prefix)) return true;
  return false;
}

class CompiledPolicy implements KubernetesPolicy {
  readonly source: string | undefined;
  readonly warnings: readonly FieldProblem[];
  readonly #rules: readonly CompiledRule[];
  readonly #noMatch: KubernetesDecision;

  constructor(policy: RawPolicy, source: string | undefined, warnings: readonly FieldProblem[]) {
    this.source = source;
    this.warnings = warnings;
    this.#rules = (policy.rules ?? []).map((rule, i) => compileRule(rule, i, policy));
    this.#noMatch = Object.freeze({
      level: "None",
      omitStages: stageUnion(policy.omitStages),
      omitManagedFields: policy.omitManagedFields ?? false,
      ruleIndex: undefined,
    });
  }

  get ruleCount(): number {
    return this.#rules.length;
  }

  evaluate(attrs: RequestAttributes): KubernetesDecision {
    const { user, verb, resource: ref } = attrs;
    const namespace = attrs.namespace ?? "";
    const path = attrs.nonResourceURL ?? "";
    const group = ref?.group ?? "";
    const resource = ref?.resource ?? "";
    const subresource = ref?.subresource ?? "";
    const name = ref?.name ?? "";
    // A policy entry for a subresource is written `resource/subresource`.
    const combined = subresource === "" ? resource : `${resource}/${subresource}`;
    for (const rule of this.#rules) {
      if (rule.verbs !== undefined && !rule.verbs.has(verb)) continue;
      if (rule.users !== undefined && !rule.users.has(user.username)) continue;
      if (rule.groups !== undefined) {
        let member = false;
        for (const g of user.groups) {
          if (rule.groups.has(g)) {
            member = true;
            break;
          }
        }
        if (!member) continue;
      }
      if (rule.applies === "resource") {
        if (ref === undefined) continue;
        if (rule.namespaces !== undefined && !rule.namespaces.has(namespace)) continue;
        if (rule.resources !== undefined) {
          const entries = rule.resources.get(group);
          if (entries === undefined) continue;
          for (const gr of entries) {
            if (groupResourcesMatch(gr, resource, subresource, combined, name)) return rule.decision;
          }
          continue;
        }
      } else if (rule.applies === "nonResource") {
        if (ref !== undefined || rule.urls === undefined || !urlMatches(rule.urls, path)) continue;
      }
      return rule.decision;
    }
    return this.#noMatch;
  }
}

/**
 * Parses, validates and compiles a Kubernetes audit policy (YAML or JSON). `source` names where it came from
 * (kept as `policy.source`); problems name the field and line within the text.
 * @throws ValidationError("invalid_config") listing every problem kube-apiserver would refuse the policy for
 * (each with its field path, e.g. `rules[3].nonResourceURLs`, and line).
 * @example parseKubernetesPolicy(text).evaluate({ user: { username: "alice", groups: [] }, verb: "get",
 *   namespace: "default", resource: { group: "", resource: "secrets", name: "db" } }).level // "Metadata"
 */
export function parseKubernetesPolicy(text: string, source?: string): KubernetesPolicy {
  // kube-apiserver reads policy files with a YAML 1.1 parser (sigs.k8s.io/yaml): `yes`, `on`, `off` are booleans
  // there, so they are here too, and `omitManagedFields: yes` means the same.
  const { value, lines } = parseYamlWithLines(text, { version: "1.1" });
  const toField = (p: PathProblem): FieldProblem => {
    const line = lineOf(p.path, lines);
    return { field: formatPath(p.path), message: p.message, ...(line === undefined ? {} : { line }) };
  };
  if (!isMapping(value)) {
    throw new ValidationError("invalid_config", [
      {
        field: "",
        message:
          value === null || value === undefined
            ? `the policy is empty: expected apiVersion: ${KUBERNETES_POLICY_API_VERSION}, kind: Policy and rules`
            : "a policy must be a YAML mapping with apiVersion, kind and rules",
      },
    ]);
  }
  const root = withoutNullFields(value) as Mapping;
  const problems: PathProblem[] = [];
  validatePolicy(root, problems);
  if (problems.length > 0) {
    const fields = problems.map(toField);
    fields.sort((a, b) => (a.line ?? Number.POSITIVE_INFINITY) - (b.line ?? Number.POSITIVE_INFINITY));
    throw new ValidationError("invalid_config", fields);
  }
  const policy = root as RawPolicy;
  return new CompiledPolicy(policy, source, unknownFieldWarnings(policy).map(toField));
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === "string" ? value : fallback;
}

/**
 * The attributes kube-apiserver evaluated its policy with, rebuilt from an `audit.k8s.io` Event (v1 or v1beta1):
 * `objectRef` is present exactly for resource requests and holds the request's group, resource, subresource,
 * namespace and name; a non-resource request's path is `requestURI` without its query. The user is `user`, not
 * `impersonatedUser`: the API server's audit filter runs before impersonation is applied, so its policy saw the
 * authenticated user.
 * @throws VigilError("invalid_event") when `event` is not a JSON object.
 */
export function attributesFromK8sEvent(event: unknown): RequestAttributes {
  if (!isMapping(event))
    throw new VigilError("invalid_event", "a Kubernetes audit event must be a JSON object");
  const user = isMapping(event.user) ? event.user : {};
  const groups = Array.isArray(user.groups)
    ? user.groups.filter((g): g is string => typeof g === "string")
    : [];
  const attrs: RequestAttributes = {
    user: { username: stringOr(user.username, ""), groups },
    verb: stringOr(event.verb, ""),
  };
  const ref = event.objectRef;
  if (isMapping(ref)) {
    const resource: NonNullable<RequestAttributes["resource"]> = {
      group: stringOr(ref.apiGroup, ""),
      resource: stringOr(ref.resource, ""),
    };
    if (typeof ref.subresource === "string" && ref.subresource !== "") resource.subresource = ref.subresource;
    if (typeof ref.name === "string") resource.name = ref.name;
    attrs.resource = resource;
    if (typeof ref.namespace === "string") attrs.namespace = ref.namespace;
  } else {
    const uri = stringOr(event.requestURI, "");
    const query = uri.indexOf("?");
    attrs.nonResourceURL = query === -1 ? uri : uri.slice(0, query);
  }
  return attrs;
}
