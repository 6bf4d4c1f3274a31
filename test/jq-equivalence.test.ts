/**
 * Every jq line of spec/000 ("Searching and Analysis") and spec/002 ("Analyzing Audit Logs") beside its
 * `vigil query` form (docs/search.md, "From jq to vigil query"), run on the same data: the real server with the
 * index on, a Kubernetes audit policy that keeps request bodies, a file destination `format: kubernetes` (spec/002's
 * jq lines run on it unchanged) and a native one (spec/000's lines, reading `.event` of each sealed record first).
 *
 * Data: the real Kubernetes logs ../shared/fixtures/k8s/*.log posted to `POST /v1/k8s/audit` as they are, a
 * generated set of Kubernetes events giving every spec/002 question matches and near misses (named by their
 * auditID), and native events for spec/000. Before each question the test waits until the index and both files
 * hold the same chain head (queries record `audit.read` events, so the head moves between questions); the jq
 * line then runs on the file, `vigil query` on the index, and the answers must agree: the same events in the same
 * order (auditID, event_id), the same projected values, the same counts. Where jq's answer differs by design
 * (an event printed once per matching container, ties at the cut of `head -20`, a spec line that never matches
 * real events) the test shows the difference instead of hiding it, as docs/search.md describes.
 */
import { readdirSync, readFileSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitIndexed, writeConfig } from "./support/files.ts";
import { jqErrors, jsonValues, runShell, uniqCounts } from "./support/jq.ts";
import {
  event,
  ndjson,
  post,
  ROOT,
  runVigil,
  startVigil,
  tempDir,
  type VigilProcess,
  waitForDelivery,
} from "./support/vigil-process.ts";

type Json = Record<string, unknown>;

const K8S = fileURLToPath(new URL("../../shared/fixtures/k8s/", import.meta.url));
const DOCS = join(ROOT, "docs/search.md");
/** Every match: more than the data holds (`vigil query` prints 100 by default; jq prints everything). */
const ALL = "1000000";
const K = "details.kubernetes";

/** Keeps every request and response body, so spec/002's requestObject questions have something to look at. */
const POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: RequestResponse
`;

interface Generated {
  /** auditID: what the event is for (matches) or against (near misses). */
  id: string;
  verb: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  apiGroup?: string;
  user: string;
  /** sourceIPs; null: the event has none. */
  ips: string[] | null;
  code: number;
  requestObject?: Json;
  /** Default ResponseComplete; a connection (exec, attach) is recorded when the response starts. */
  stage?: string;
  /** Default RequestResponse, as the policy asks; Metadata: the API server sent no body. */
  level?: string;
}

const container = (name: string, securityContext?: Json): Json => ({
  name,
  image: `registry.example.com/${name}:1.0`,
  ...(securityContext === undefined ? {} : { securityContext }),
});
const pod = (spec: Json): Json => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { generateName: "web-" },
  spec,
});

/** Kubernetes events crafted so that every spec/002 question has matches and near misses. */
// biome-ignore format: one event per line reads as a table
const GENERATED: Generated[] = [
  // Secret access; a ConfigMap read is the near miss.
  { id: "secret-get-production", verb: "get", resource: "secrets", namespace: "production", name: "db-password", user: "alice@example.com", ips: ["10.0.0.12"], code: 200 },
  { id: "secret-list-kube-system", verb: "list", resource: "secrets", namespace: "kube-system", user: "system:serviceaccount:kube-system:external-secrets", ips: ["10.0.0.13"], code: 200 },
  { id: "configmap-get", verb: "get", resource: "configmaps", namespace: "default", name: "app-config", user: "alice@example.com", ips: ["10.0.0.12"], code: 200 },
  // Failed authentication: a TokenReview answered 401; one answered 201 and a 403 on pods are near misses.
  { id: "tokenreview-401", verb: "create", resource: "tokenreviews", apiGroup: "authentication.k8s.io", user: "system:anonymous", ips: ["203.0.113.50"], code: 401 },
  { id: "tokenreview-201", verb: "create", resource: "tokenreviews", apiGroup: "authentication.k8s.io", user: "system:kube-controller-manager", ips: ["10.0.0.2"], code: 201 },
  { id: "pod-get-403", verb: "get", resource: "pods", namespace: "default", name: "web-1", user: "bob@example.com", ips: ["192.168.1.20"], code: 403 },
  // A suspicious user; a similar name is the near miss.
  { id: "suspicious-exec", verb: "create", resource: "pods", subresource: "exec", namespace: "production", name: "web-7f9c", user: "suspicious-user@example.com", ips: ["198.51.100.23"], code: 101, stage: "ResponseStarted" },
  { id: "suspicious-secret-get", verb: "get", resource: "secrets", namespace: "production", name: "db-password", user: "suspicious-user@example.com", ips: ["198.51.100.23"], code: 403 },
  { id: "similar-user-get", verb: "get", resource: "pods", namespace: "default", name: "web-1", user: "suspicious-user@example.org", ips: ["10.0.0.14"], code: 200 },
  // Exec and attach; port-forward and logs are near misses.
  { id: "attach-debug-pod", verb: "create", resource: "pods", subresource: "attach", namespace: "default", name: "debug", user: "bob@example.com", ips: ["192.168.1.20"], code: 101, stage: "ResponseStarted" },
  { id: "portforward-db", verb: "create", resource: "pods", subresource: "portforward", namespace: "default", name: "db-0", user: "bob@example.com", ips: ["192.168.1.20"], code: 101, stage: "ResponseStarted" },
  { id: "pod-log-get", verb: "get", resource: "pods", subresource: "log", namespace: "default", name: "web-1", user: "bob@example.com", ips: ["192.168.1.20"], code: 200 },
  // Privileged pods: the second container only, both containers, host namespaces; near misses: unprivileged,
  // privileged but updated rather than created, privileged in a Deployment's template, and a creation recorded
  // without its body (level Metadata).
  { id: "pod-privileged-second-container", verb: "create", resource: "pods", namespace: "production", user: "system:serviceaccount:kube-system:replicaset-controller", ips: ["10.0.0.3"], code: 201, requestObject: pod({ containers: [container("app"), container("sidecar", { privileged: true })] }) },
  { id: "pod-privileged-both-containers", verb: "create", resource: "pods", namespace: "default", user: "alice@example.com", ips: ["10.0.0.12"], code: 201, requestObject: pod({ containers: [container("app", { privileged: true }), container("sidecar", { privileged: true })] }) },
  { id: "pod-unprivileged", verb: "create", resource: "pods", namespace: "default", user: "alice@example.com", ips: ["10.0.0.12"], code: 201, requestObject: pod({ containers: [container("app", { privileged: false }), container("sidecar")] }) },
  { id: "pod-host-network", verb: "create", resource: "pods", namespace: "default", user: "alice@example.com", ips: ["10.0.0.12"], code: 201, requestObject: pod({ hostNetwork: true, containers: [container("app")] }) },
  { id: "pod-host-pid", verb: "create", resource: "pods", namespace: "default", user: "alice@example.com", ips: ["10.0.0.12"], code: 201, requestObject: pod({ hostPID: true, hostNetwork: false, containers: [container("app")] }) },
  { id: "pod-update-privileged", verb: "update", resource: "pods", namespace: "default", name: "web-1", user: "alice@example.com", ips: ["10.0.0.12"], code: 200, requestObject: pod({ containers: [container("app", { privileged: true })] }) },
  { id: "deployment-privileged", verb: "create", resource: "deployments", apiGroup: "apps", namespace: "production", name: "web", user: "alice@example.com", ips: ["10.0.0.12"], code: 201, requestObject: { apiVersion: "apps/v1", kind: "Deployment", spec: { template: { spec: { containers: [container("app", { privileged: true })] } } } } },
  { id: "pod-create-metadata-only", verb: "create", resource: "pods", namespace: "default", user: "alice@example.com", ips: ["10.0.0.12"], code: 201, level: "Metadata" },
  // RBAC: create, update, delete; patch and get are near misses of "RBAC changes".
  { id: "rbac-clusterrolebinding-create", verb: "create", resource: "clusterrolebindings", apiGroup: "rbac.authorization.k8s.io", name: "ops-admin", user: "alice@example.com", ips: ["10.0.0.12"], code: 201 },
  { id: "rbac-role-update", verb: "update", resource: "roles", apiGroup: "rbac.authorization.k8s.io", namespace: "production", name: "reader", user: "alice@example.com", ips: ["10.0.0.12"], code: 200 },
  { id: "rbac-rolebinding-delete", verb: "delete", resource: "rolebindings", apiGroup: "rbac.authorization.k8s.io", namespace: "default", name: "reader-binding", user: "bob@example.com", ips: ["192.168.1.20"], code: 200 },
  { id: "rbac-clusterrole-patch", verb: "patch", resource: "clusterroles", apiGroup: "rbac.authorization.k8s.io", name: "viewer", user: "bob@example.com", ips: ["192.168.1.20"], code: 200 },
  { id: "rbac-clusterrole-get", verb: "get", resource: "clusterroles", apiGroup: "rbac.authorization.k8s.io", name: "viewer", user: "bob@example.com", ips: ["192.168.1.20"], code: 200 },
  // NetworkPolicies: deleted, and created (near miss).
  { id: "networkpolicy-delete", verb: "delete", resource: "networkpolicies", apiGroup: "networking.k8s.io", namespace: "production", name: "deny-all", user: "bob@example.com", ips: ["192.168.1.20"], code: 200 },
  { id: "networkpolicy-create", verb: "create", resource: "networkpolicies", apiGroup: "networking.k8s.io", namespace: "production", name: "allow-web", user: "bob@example.com", ips: ["192.168.1.20"], code: 201 },
  // A service account token, as the API server records a TokenRequest; creating the account is the near miss.
  { id: "serviceaccount-token-create", verb: "create", resource: "serviceaccounts", subresource: "token", namespace: "ci", name: "build-bot", user: "system:serviceaccount:ci:runner", ips: ["10.0.0.21"], code: 201 },
  { id: "serviceaccount-create", verb: "create", resource: "serviceaccounts", namespace: "ci", name: "build-bot", user: "alice@example.com", ips: ["10.0.0.12"], code: 201 },
  // Writes: deletecollection is not among spec/002's four verbs.
  { id: "pods-deletecollection", verb: "deletecollection", resource: "pods", namespace: "staging", user: "bob@example.com", ips: ["192.168.1.20"], code: 200 },
  // Namespaces: a name that only starts with "production".
  { id: "production-east-get", verb: "get", resource: "pods", namespace: "production-east", name: "web-2", user: "bob@example.com", ips: ["192.168.1.20"], code: 200 },
  // Service accounts: a group-like user name is the near miss.
  { id: "serviceaccount-group-like-user", verb: "list", resource: "pods", namespace: "default", user: "system:serviceaccounts:ci", ips: ["10.0.0.22"], code: 200 },
  // Source IPs: none at all, internal first (external second), and 172.16/12 (which the spec's line calls external).
  { id: "no-source-ips", verb: "get", resource: "namespaces", name: "default", user: "alice@example.com", ips: null, code: 200 },
  { id: "internal-then-external-ip", verb: "get", resource: "pods", namespace: "default", name: "web-1", user: "alice@example.com", ips: ["10.0.0.5", "203.0.113.9"], code: 200 },
  { id: "private-172-ip", verb: "get", resource: "pods", namespace: "default", name: "web-1", user: "alice@example.com", ips: ["172.16.4.2"], code: 200 },
];

function requestUri(g: Generated): string {
  const base = g.apiGroup === undefined ? "/api/v1" : `/apis/${g.apiGroup}/v1`;
  const ns = g.namespace === undefined ? "" : `/namespaces/${g.namespace}`;
  const named = g.name !== undefined && g.verb !== "create" && g.verb !== "list";
  const name = named || g.subresource !== undefined ? `/${g.name}` : "";
  return `${base}${ns}/${g.resource}${name}${g.subresource === undefined ? "" : `/${g.subresource}`}`;
}

/** The audit.k8s.io/v1 Event the API server would write for `g`, the `i`-th of the set. */
function kubernetesEvent(g: Generated, i: number): Json {
  const at = `2026-03-02T10:${String(i).padStart(2, "0")}:00.`;
  return {
    kind: "Event",
    apiVersion: "audit.k8s.io/v1",
    level: g.level ?? "RequestResponse",
    auditID: g.id,
    stage: g.stage ?? "ResponseComplete",
    requestURI: requestUri(g),
    verb: g.verb,
    user: { username: g.user, groups: ["system:authenticated"] },
    ...(g.ips === null ? {} : { sourceIPs: g.ips }),
    userAgent: "kubectl/v1.31.0 (linux/amd64) kubernetes/9b0a7c1",
    objectRef: {
      resource: g.resource,
      ...(g.subresource === undefined ? {} : { subresource: g.subresource }),
      ...(g.namespace === undefined ? {} : { namespace: g.namespace }),
      ...(g.name === undefined ? {} : { name: g.name }),
      ...(g.apiGroup === undefined ? {} : { apiGroup: g.apiGroup }),
      apiVersion: "v1",
    },
    responseStatus: { metadata: {}, code: g.code },
    ...(g.requestObject === undefined ? {} : { requestObject: g.requestObject }),
    requestReceivedTimestamp: `${at}123456Z`,
    stageTimestamp: `${at}654321Z`,
    annotations: { "authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": "" },
  };
}

/** Native events for spec/000's questions, with near misses. */
const NATIVE: Json[] = [
  ["backup-failed-production", "backup.failed", "alice@company.com"],
  ["backup-failed-staging", "backup.failed", "backup-scheduler"],
  ["backup-completed-1", "backup.completed", "alice@company.com"],
  ["backup-completed-2", "backup.completed", "backup-scheduler"],
  ["backup-started", "backup.started", "alice@company.com"],
  ["restore-failed", "restore.failed", "bob@company.com"],
  ["access-denied-bob-1", "access.denied", "bob@company.com"],
  ["access-denied-bob-2", "access.denied", "bob@company.com"],
  ["access-denied-alice", "access.denied", "alice@company.com"],
  ["access-denied-bob-other-domain", "access.denied", "bob@company.org"],
  ["access-granted-bob", "access.granted", "bob@company.com"],
].map(([id, type, actor], i) =>
  event(i, { event_id: id, event_type: type, actor: { type: "user", id: actor, ip_address: "203.0.113.7" } }),
);

/**
 * The Event lines of a fixture log, unchanged. The elastic log's GKE LogEntry and AKS wrapper lines are not
 * audit Events (`POST /v1/k8s/audit` takes an EventList of Events), and its three Events share one auditID and
 * stage, so Vigil records the first (a repeated event id is not sealed twice): the files hold what Vigil holds.
 */
function fixtureEvents(name: string): Json[] {
  return readFileSync(join(K8S, name), "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as Json)
    .filter((value) => value.kind === "Event");
}

interface Hit {
  sequence: number;
  event: Json & { event_id: string; details?: { kubernetes?: Json } };
}

const auditId = (hit: Hit) => hit.event.details?.kubernetes?.auditID as string;
const idsOf = (values: unknown[]) => values.map((v) => (v as Json).auditID as string);

/** What jq 1.6 prints for an event whose `containers[]` is missing (exec, attach, a creation without its body). */
const ITERATE_NULL = /^jq: error \(at <stdin>:\d+\): Cannot iterate over null \(null\)$/;
/** What it prints for `startswith` on an event without `sourceIPs`. */
const STARTSWITH_NULL = /^jq: error \(at <stdin>:\d+\): startswith\(\) requires string inputs$/;

/** A question whose answer is a list of events. */
interface EventQuestion {
  name: string;
  /** The spec's line as written. */
  jq: string;
  /** The `vigil query` expression (docs/search.md). */
  vigil: string;
  /** Generated events it must find (auditIDs), and near misses it must not. */
  finds: string[];
  misses: string[];
  /** Errors jq prints on this data: it skips those events, as Vigil does (unknown does not match). */
  jqErrors?: RegExp;
  /** jq prints an event once per matching container (`containers[]`); Vigil once. */
  repeats?: true;
}

const SPEC_002_EVENTS: EventQuestion[] = [
  {
    name: "Find All Secret Access",
    jq: String.raw`cat /var/log/kubernetes/audit.log | \
  jq 'select(.objectRef.resource=="secrets")'`,
    vigil: `${K}.objectRef.resource == 'secrets'`,
    finds: ["secret-get-production", "secret-list-kube-system", "suspicious-secret-get"],
    misses: ["configmap-get"],
  },
  {
    name: "Find Failed Authentication Attempts",
    jq: String.raw`cat /var/log/kubernetes/audit.log | \
  jq 'select(.responseStatus.code >= 400 and .objectRef.resource=="tokenreviews")'`,
    vigil: `${K}.responseStatus.code >= 400 and ${K}.objectRef.resource == 'tokenreviews'`,
    finds: ["tokenreview-401"],
    misses: ["tokenreview-201", "pod-get-403"],
  },
  {
    name: "Track Actions by User",
    jq: String.raw`cat /var/log/kubernetes/audit.log | \
  jq 'select(.user.username=="suspicious-user@example.com")'`,
    vigil: `${K}.user.username == 'suspicious-user@example.com'`,
    finds: ["suspicious-exec", "suspicious-secret-get"],
    misses: ["similar-user-get"],
  },
  {
    name: "Find RBAC Changes",
    jq: String.raw`cat /var/log/kubernetes/audit.log | \
  jq 'select(.objectRef.apiGroup=="rbac.authorization.k8s.io" and
             (.verb=="create" or .verb=="update" or .verb=="delete"))'`,
    vigil: `${K}.objectRef.apiGroup == 'rbac.authorization.k8s.io' and ${K}.verb in ['create', 'update', 'delete']`,
    finds: ["rbac-clusterrolebinding-create", "rbac-role-update", "rbac-rolebinding-delete"],
    misses: ["rbac-clusterrole-patch", "rbac-clusterrole-get"],
  },
  {
    name: "Find Requests from External IPs",
    jq: String.raw`cat /var/log/kubernetes/audit.log | \
  jq 'select(.sourceIPs[0] | startswith("10.") or startswith("192.168.") | not)'`,
    vigil: `not (${K}.sourceIPs[0].startsWith('10.') or ${K}.sourceIPs[0].startsWith('192.168.'))`,
    finds: ["tokenreview-401", "suspicious-exec", "private-172-ip"],
    misses: ["no-source-ips", "internal-then-external-ip", "attach-debug-pod", "secret-get-production"],
    jqErrors: STARTSWITH_NULL,
  },
  {
    name: "Find all actions on security-sensitive resources",
    jq: `cat audit.log | jq 'select(.objectRef.resource=="secrets" or
                            .objectRef.resource=="serviceaccounts" or
                            (.objectRef.apiGroup=="rbac.authorization.k8s.io"))'`,
    vigil: `${K}.objectRef.resource in ['secrets', 'serviceaccounts'] or ${K}.objectRef.apiGroup == 'rbac.authorization.k8s.io'`,
    finds: [
      "secret-get-production",
      "serviceaccount-create",
      "serviceaccount-token-create",
      "rbac-clusterrole-get",
    ],
    misses: ["configmap-get", "networkpolicy-delete"],
  },
  {
    name: "Find privileged pod creation (host namespaces too)",
    jq: `cat audit.log | jq 'select(.verb=="create" and
                            .objectRef.resource=="pods" and
                            (.requestObject.spec.hostNetwork==true or
                             .requestObject.spec.hostPID==true or
                             .requestObject.spec.containers[].securityContext.privileged==true))'`,
    vigil: `${K}.verb == 'create' and ${K}.objectRef.resource == 'pods' and (${K}.requestObject.spec.hostNetwork == true or ${K}.requestObject.spec.hostPID == true or ${K}.requestObject.spec.containers.exists(c, c.securityContext.privileged == true))`,
    finds: [
      "pod-privileged-second-container",
      "pod-privileged-both-containers",
      "pod-host-network",
      "pod-host-pid",
    ],
    misses: [
      "pod-unprivileged",
      "pod-update-privileged",
      "deployment-privileged",
      "pod-create-metadata-only",
    ],
    jqErrors: ITERATE_NULL,
    repeats: true,
  },
  {
    name: "Find NetworkPolicy deletions",
    jq: `cat audit.log | jq 'select(.verb=="delete" and
                            .objectRef.resource=="networkpolicies")'`,
    vigil: `${K}.verb == 'delete' and ${K}.objectRef.resource == 'networkpolicies'`,
    finds: ["networkpolicy-delete"],
    misses: ["networkpolicy-create", "rbac-rolebinding-delete"],
  },
  {
    name: "All write operations (create/update/delete)",
    jq: `cat audit.log | jq 'select(.verb=="create" or .verb=="update" or .verb=="delete" or .verb=="patch")'`,
    vigil: `${K}.verb in ['create', 'update', 'delete', 'patch']`,
    finds: [
      "rbac-clusterrolebinding-create",
      "rbac-role-update",
      "networkpolicy-delete",
      "rbac-clusterrole-patch",
    ],
    misses: ["pods-deletecollection", "rbac-clusterrole-get"],
  },
  {
    name: "Access to production namespace",
    jq: `cat audit.log | jq 'select(.objectRef.namespace=="production")'`,
    vigil: `${K}.objectRef.namespace == 'production'`,
    finds: ["secret-get-production", "suspicious-exec", "networkpolicy-delete", "deployment-privileged"],
    misses: ["production-east-get", "pods-deletecollection"],
  },
  {
    name: "Actions by service accounts (vs users)",
    jq: `cat audit.log | jq 'select(.user.username | startswith("system:serviceaccount:"))'`,
    vigil: `${K}.user.username.startsWith('system:serviceaccount:')`,
    finds: ["secret-list-kube-system", "pod-privileged-second-container", "serviceaccount-token-create"],
    misses: ["serviceaccount-group-like-user", "secret-get-production"],
  },
];

/** spec/000's lines on the native file: each sealed record is `{"event": …, "integrity": …}`. */
const SPEC_000_EVENTS: (Omit<EventQuestion, "jqErrors"> & { spec: string })[] = [
  {
    name: "Find all failed backups",
    spec: `cat audit.log | jq 'select(.event_type == "backup.failed")'`,
    jq: `cat audit.log | jq '.event | select(.event_type == "backup.failed")'`,
    vigil: "event_type == 'backup.failed'",
    finds: ["backup-failed-production", "backup-failed-staging"],
    misses: ["backup-completed-1", "restore-failed", "backup-started"],
  },
  {
    name: "Find access denied for user",
    spec: `cat audit.log | jq 'select(.event_type == "access.denied" and .actor.id == "bob@company.com")'`,
    jq: `cat audit.log | jq '.event | select(.event_type == "access.denied" and .actor.id == "bob@company.com")'`,
    vigil: "event_type == 'access.denied' and actor.id == 'bob@company.com'",
    finds: ["access-denied-bob-1", "access-denied-bob-2"],
    misses: ["access-denied-alice", "access-denied-bob-other-domain", "access-granted-bob"],
  },
];

const COUNT_BY_TYPE = {
  spec: `cat audit.log | jq '.event_type' | sort | uniq -c`,
  jq: `cat audit.log | jq '.event.event_type' | sort | uniq -c`,
  vigil: ["--count-by", "event_type"],
};

const EXEC_ATTACH = {
  jq: String.raw`cat /var/log/kubernetes/audit.log | \
  jq 'select(.objectRef.subresource=="exec" or .objectRef.subresource=="attach") |
      {user: .user.username, pod: .objectRef.name, namespace: .objectRef.namespace, time: .requestReceivedTimestamp}'`,
  vigil: `${K}.objectRef.subresource in ['exec', 'attach']`,
  fields: `${K}.user.username,${K}.objectRef.name,${K}.objectRef.namespace,${K}.requestReceivedTimestamp`,
};

const PRIVILEGED = {
  jq: String.raw`cat /var/log/kubernetes/audit.log | \
  jq 'select(.verb=="create" and .objectRef.resource=="pods") |
      select(.requestObject.spec.containers[].securityContext.privileged==true) |
      {user: .user.username, pod: .objectRef.name, time: .requestReceivedTimestamp}'`,
  vigil: `${K}.verb == 'create' and ${K}.objectRef.resource == 'pods' and ${K}.requestObject.spec.containers.exists(c, c.securityContext.privileged == true)`,
  fields: `${K}.user.username,${K}.objectRef.name,${K}.requestReceivedTimestamp`,
};

const TOP_ENDPOINTS = {
  jq: String.raw`cat /var/log/kubernetes/audit.log | \
  jq -r '.requestURI' | \
  sort | uniq -c | sort -rn | head -20`,
  vigil: "origin.source == 'k8s-webhook'",
  args: ["--count-by", "resource.path", "--limit", "20"],
};

const TOKEN = {
  jq: `cat audit.log | jq 'select(.verb=="create" and
                            .objectRef.resource=="serviceaccounts/token")'`,
  /** The same test as the spec's line: never true for an event a real API server writes. */
  literal: `${K}.verb == 'create' and ${K}.objectRef.resource == 'serviceaccounts/token'`,
  /** What the line means: the TokenRequest subresource. */
  fixedJq: `cat audit.log | jq 'select(.verb=="create" and .objectRef.resource=="serviceaccounts" and .objectRef.subresource=="token")'`,
  vigil: "action.operation == 'create' and resource.type == 'serviceaccounts/token'",
};

describe("jq lines of spec/000 and spec/002 beside their vigil query forms", () => {
  let dir: string;
  let vigil: VigilProcess;
  let kubernetesDir: string;
  let nativeDir: string;

  beforeAll(async () => {
    dir = await tempDir("vigil-jq-");
    kubernetesDir = join(dir, "kubernetes");
    nativeDir = join(dir, "native");
    for (const sub of [kubernetesDir, nativeDir, join(dir, "data")]) await mkdir(sub);
    await writeFile(join(dir, "policy.yaml"), POLICY);
    const config = await writeConfig(
      dir,
      [
        "audit:",
        "  policy_file: policy.yaml",
        "  index:",
        "    enabled: true",
        "  destinations:",
        "    - type: file",
        `      path: ${join(kubernetesDir, "audit.log")}`,
        "      format: kubernetes",
        "    - type: file",
        `      path: ${join(nativeDir, "audit.log")}`,
        "",
      ].join("\n"),
    );
    vigil = await startVigil({ dataDir: join(dir, "data"), args: ["--config", config] });
    const postList = async (items: Json[]) => {
      const res = await fetch(`${vigil.url}/v1/k8s/audit`, {
        method: "POST",
        headers: { authorization: `Bearer ${vigil.token}`, "content-type": "application/json" },
        body: JSON.stringify({ kind: "EventList", apiVersion: "audit.k8s.io/v1", items }),
      });
      expect(res.status, await res.clone().text()).toBe(200);
    };
    const logs = readdirSync(K8S).filter((name) => name.endsWith(".log"));
    expect(logs.length).toBeGreaterThan(0);
    for (const name of logs) await postList(fixtureEvents(name));
    await postList(GENERATED.map(kubernetesEvent));
    expect((await post(vigil, ndjson(NATIVE))).status).toBe(200);
  });

  afterAll(async () => {
    await vigil?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Waits until the index and both files hold the chain head: then jq and Vigil look at the same records. */
  async function settle(): Promise<void> {
    await waitIndexed(vigil);
    await waitForDelivery(vigil);
  }

  /** Runs a spec line on the Kubernetes file (`/var/log/kubernetes/audit.log` is that file). */
  async function jqKubernetes(line: string, allowed?: RegExp) {
    const r = await runShell(line.replaceAll("/var/log/kubernetes/audit.log", "audit.log"), kubernetesDir);
    const errors = jqErrors(r.stderr, allowed);
    // jq 1.6 goes on after an error and exits 5 when the last input failed.
    expect(errors.length === 0 ? [0] : [0, 5]).toContain(r.code);
    return { stdout: r.stdout, errors };
  }

  async function query(args: string[]): Promise<string> {
    const r = await runVigil(["query", ...args, "--url", vigil.url, "--token", vigil.token]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    return r.stdout;
  }

  const lines = (text: string) =>
    text
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as unknown);
  const hits = async (expression: string) =>
    lines(await query([expression, "--format", "ndjson", "--limit", ALL])) as Hit[];
  const rows = async (expression: string, fields: string) =>
    (
      lines(await query([expression, "--fields", fields, "--format", "ndjson", "--limit", ALL])) as Json[]
    ).map((row) => fields.split(",").map((f) => row[f]));

  describe("spec/002, on a file destination with format: kubernetes", () => {
    for (const q of SPEC_002_EVENTS) {
      it(q.name, async () => {
        await settle();
        const jq = await jqKubernetes(q.jq, q.jqErrors);
        const printed = idsOf(jsonValues(jq.stdout));
        // An event's repeats are adjacent in jq's output.
        const fromJq = q.repeats ? printed.filter((id, i) => id !== printed[i - 1]) : printed;
        if (q.repeats) expect(printed.length).toBeGreaterThan(fromJq.length);
        const fromVigil = (await hits(q.vigil)).map(auditId);
        expect(fromVigil).toEqual(fromJq);
        expect(fromVigil).toEqual(expect.arrayContaining(q.finds));
        for (const miss of q.misses) expect(fromVigil).not.toContain(miss);
        if (q.jqErrors) expect(jq.errors.length).toBeGreaterThan(0);
      });
    }

    it("Find Pod Exec/Attach Events (projection: --fields)", async () => {
      await settle();
      const jq = await jqKubernetes(EXEC_ATTACH.jq);
      const fromJq = (jsonValues(jq.stdout) as Json[]).map((o) => [o.user, o.pod, o.namespace, o.time]);
      const fromVigil = await rows(EXEC_ATTACH.vigil, EXEC_ATTACH.fields);
      expect(fromVigil).toEqual(fromJq);
      expect(fromVigil.map((r) => r[1])).toEqual(expect.arrayContaining(["web-7f9c", "debug"]));
      expect(fromVigil.map((r) => r[1])).not.toContain("db-0");
      expect(fromVigil.map((r) => r[1])).not.toContain("web-1");
    });

    it("Find Privileged Pod Creation (jq prints a pod once per privileged container)", async () => {
      await settle();
      const jq = await jqKubernetes(PRIVILEGED.jq, ITERATE_NULL);
      const fromJq = (jsonValues(jq.stdout) as Json[]).map((o) => [o.user, o.pod, o.time]);
      const fromVigil = await rows(PRIVILEGED.vigil, PRIVILEGED.fields);
      // One event's repeats are adjacent in jq's output; Vigil answers each event once.
      const distinct = fromJq.filter((row, i) => JSON.stringify(row) !== JSON.stringify(fromJq[i - 1]));
      expect(fromVigil).toEqual(distinct);
      expect(fromJq.length).toBeGreaterThan(distinct.length);
      const ids = (await hits(PRIVILEGED.vigil)).map(auditId);
      expect(ids).toEqual(["pod-privileged-second-container", "pod-privileged-both-containers"]);
      expect(jq.errors.length).toBeGreaterThan(0);
    });

    it("Top API Endpoints by Request Count (--count-by resource.path --limit 20)", async () => {
      await settle();
      const top = uniqCounts((await jqKubernetes(TOP_ENDPOINTS.jq)).stdout);
      const all = uniqCounts(
        (await jqKubernetes(`cat audit.log | jq -r '.requestURI' | sort | uniq -c`)).stdout,
      );
      const buckets = lines(
        await query([TOP_ENDPOINTS.vigil, ...TOP_ENDPOINTS.args, "--format", "ndjson"]),
      ) as { key: string; count: number }[];
      const everything = lines(
        await query([TOP_ENDPOINTS.vigil, "--count-by", "resource.path", "--format", "ndjson"]),
      ) as { key: string; count: number }[];
      // Every endpoint, with the same count.
      expect(new Map(everything.map((b) => [b.key, b.count]))).toEqual(new Map(all));
      // The top 20: the same counts in the same order, the same endpoints above the last count.
      expect(top).toHaveLength(20);
      expect(buckets.map((b) => b.count)).toEqual(top.map(([, n]) => n));
      const cut = top[19]?.[1] as number;
      const above = (pairs: [string, number][]) => pairs.filter(([, n]) => n > cut).map(([k]) => k);
      expect(new Set(above(buckets.map((b) => [b.key, b.count])))).toEqual(new Set(above(top)));
      // Among endpoints tied at the cut, `sort -rn` keeps the last in byte order, Vigil the first: both only
      // keep endpoints of that tie.
      const tied = new Set(all.filter(([, n]) => n === cut).map(([k]) => k));
      const kept = buckets.filter((x) => x.count === cut);
      for (const b of kept) expect(tied).toContain(b.key);
      expect(tied.size).toBeGreaterThan(kept.length); // on this data the 20th place is within a tie
      expect(top[0]).toEqual(["/api/v1/namespaces/default/pods", expect.any(Number)]);
    });

    it("Find service account token creation (the spec's line never matches; what it means does)", async () => {
      await settle();
      const literal = await jqKubernetes(TOKEN.jq);
      expect(jsonValues(literal.stdout)).toEqual([]);
      expect(await hits(TOKEN.literal)).toEqual([]);
      const fixed = idsOf(jsonValues((await jqKubernetes(TOKEN.fixedJq)).stdout));
      const fromVigil = (await hits(TOKEN.vigil)).map(auditId);
      expect(fromVigil).toEqual(fixed);
      expect(fromVigil).toEqual(["serviceaccount-token-create"]);
    });
  });

  describe("spec/000, on a native file destination", () => {
    for (const q of SPEC_000_EVENTS) {
      it(q.name, async () => {
        await settle();
        const r = await runShell(q.jq, nativeDir);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        const fromJq = (jsonValues(r.stdout) as Json[]).map((e) => e.event_id);
        const fromVigil = (await hits(q.vigil)).map((h) => h.event.event_id);
        expect(fromVigil).toEqual(fromJq);
        expect(fromVigil).toEqual(q.finds);
        for (const miss of q.misses) expect(fromVigil).not.toContain(miss);
        // The spec's line as written looks for event_type at the top of the sealed record, where it is not.
        const asWritten = await runShell(q.spec, nativeDir);
        expect(asWritten.stdout).toBe("");
      });
    }

    it("Count events by type", async () => {
      await settle();
      const r = await runShell(COUNT_BY_TYPE.jq, nativeDir);
      expect(r.stderr).toBe("");
      const fromJq = uniqCounts(r.stdout).map(([key, n]) => [JSON.parse(key) as string, n] as const);
      const buckets = lines(await query(["", ...COUNT_BY_TYPE.vigil, "--format", "ndjson"])) as {
        key: string;
        count: number;
      }[];
      expect(new Map(buckets.map((b) => [b.key, b.count]))).toEqual(new Map(fromJq));
      const counts = new Map(fromJq);
      expect(counts.get("backup.failed")).toBe(2);
      expect(counts.get("access.denied")).toBe(4);
      expect(counts.get("k8s.get")).toBeGreaterThan(0);
      const asWritten = await runShell(COUNT_BY_TYPE.spec, nativeDir);
      expect(asWritten.stdout.trim()).toMatch(/^\d+ null$/);
    });
  });

  it("docs/search.md shows every line and form compared here", async () => {
    const docs = (await readFile(DOCS, "utf8")).replace(/\s+/g, " ");
    const flat = (text: string) => text.replace(/\s+/g, " ");
    const shown = [
      ...SPEC_002_EVENTS.flatMap((q) => [q.jq, q.vigil]),
      ...SPEC_000_EVENTS.flatMap((q) => [q.jq, q.vigil]),
      COUNT_BY_TYPE.jq,
      COUNT_BY_TYPE.vigil.join(" "),
      EXEC_ATTACH.jq,
      EXEC_ATTACH.vigil,
      EXEC_ATTACH.fields,
      PRIVILEGED.jq,
      PRIVILEGED.vigil,
      PRIVILEGED.fields,
      TOP_ENDPOINTS.jq,
      `"${TOP_ENDPOINTS.vigil}" ${TOP_ENDPOINTS.args.join(" ")}`,
      TOKEN.jq,
      TOKEN.literal,
      TOKEN.fixedJq,
      TOKEN.vigil,
    ];
    for (const text of shown) expect(docs).toContain(flat(text));
  });
});
