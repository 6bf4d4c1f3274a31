import { readdir, readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { ValidationError, VigilError } from "../errors.ts";
import {
  attributesFromK8sEvent,
  type KubernetesDecision,
  type KubernetesLevel,
  type KubernetesPolicy,
  type KubernetesStage,
  parseKubernetesPolicy,
  type RequestAttributes,
} from "./kubernetes.ts";

const FIXTURES = new URL("../../../shared/fixtures/k8s/", import.meta.url);
const SPEC = new URL("../../../shared/spec/002_6731cb9eaa4b4e70.txt", import.meta.url);
const HEADER = "apiVersion: audit.k8s.io/v1\nkind: Policy\n";

/** A policy file (JSON is YAML) holding `rules` and any policy-level fields in `extra`. */
function policyText(rules: object[], extra: object = {}): string {
  return JSON.stringify({ apiVersion: "audit.k8s.io/v1", kind: "Policy", ...extra, rules }, null, 2);
}

function problemsOf(text: string): { field: string; message: string; line?: number }[] {
  try {
    parseKubernetesPolicy(text);
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    expect((e as ValidationError).code).toBe("invalid_config");
    return (e as ValidationError).problems;
  }
  throw new Error("expected the policy to be refused");
}

function decision(
  level: KubernetesLevel,
  ruleIndex: number | undefined,
  omitStages: KubernetesStage[] = [],
  omitManagedFields = false,
): KubernetesDecision {
  return { level, omitStages, omitManagedFields, ruleIndex };
}

/** A resource request; `resource` may be `resource/subresource`. */
function request(
  verb: string,
  resource: string,
  more: { group?: string; namespace?: string; name?: string; user?: string; groups?: string[] } = {},
): RequestAttributes {
  const [res = "", subresource] = resource.split("/");
  return {
    user: { username: more.user ?? "alice", groups: more.groups ?? ["system:authenticated"] },
    verb,
    ...(more.namespace === undefined ? {} : { namespace: more.namespace }),
    resource: {
      group: more.group ?? "",
      resource: res,
      ...(subresource === undefined ? {} : { subresource }),
      ...(more.name === undefined ? {} : { name: more.name }),
    },
  };
}

function nonResource(verb: string, url: string, user = "alice"): RequestAttributes {
  return { user: { username: user, groups: ["system:authenticated"] }, verb, nonResourceURL: url };
}

// Translated case by case from kube-apiserver's staging/src/k8s.io/apiserver/pkg/audit/policy/checker_test.go.
describe("upstream checker_test.go", () => {
  const tim = { username: "tim@k8s.io", groups: ["humans", "developers"] };
  const ATTRS: Record<string, RequestAttributes> = {
    namespaced: {
      user: tim,
      verb: "get",
      namespace: "default",
      resource: { group: "", resource: "pods", name: "busybox" },
    },
    cluster: {
      user: tim,
      verb: "get",
      resource: { group: "rbac.authorization.k8s.io", resource: "clusterroles", name: "edit" },
    },
    nonResource: { user: tim, verb: "get", nonResourceURL: "/logs/kubelet.log" },
    subresource: {
      user: tim,
      verb: "get",
      namespace: "default",
      resource: { group: "", resource: "pods", subresource: "log", name: "busybox" },
    },
    // Upstream's request has no user at all; an event without one gives these attributes.
    Unauthorized: {
      user: { username: "", groups: [] },
      verb: "get",
      namespace: "default",
      resource: { group: "", resource: "pods", name: "busybox" },
    },
  };
  const RULES: Record<string, object> = {
    default: { level: "Metadata" },
    create: { level: "Request", verbs: ["create"] },
    tims: { level: "Metadata", users: ["tim@k8s.io"] },
    humans: { level: "Metadata", userGroups: ["humans"] },
    serviceAccounts: { level: "Request", userGroups: ["system:serviceaccounts"] },
    getPods: { level: "RequestResponse", verbs: ["get"], resources: [{ resources: ["pods"] }] },
    getPodLogs: { level: "Request", verbs: ["get"], resources: [{ resources: ["pods/log"] }] },
    getPodWildcardMatching: { level: "Request", verbs: ["get"], resources: [{ resources: ["*"] }] },
    getPodResourceWildcardMatching: {
      level: "Request",
      verbs: ["get"],
      resources: [{ resources: ["*/log"] }],
    },
    getPodSubResourceWildcardMatching: {
      level: "Request",
      verbs: ["get"],
      resources: [{ resources: ["pods/*"] }],
    },
    getClusterRoles: {
      level: "RequestResponse",
      verbs: ["get"],
      resources: [{ group: "rbac.authorization.k8s.io", resources: ["clusterroles"] }],
      namespaces: [""],
    },
    getLogs: { level: "RequestResponse", verbs: ["get"], nonResourceURLs: ["/logs*"] },
    getMetrics: { level: "Request", verbs: ["get"], nonResourceURLs: ["/metrics"] },
    clusterRoleEdit: {
      level: "Request",
      resources: [
        { group: "rbac.authorization.k8s.io", resources: ["clusterroles"], resourceNames: ["edit"] },
      ],
    },
    "omit RequestReceived": { level: "Request", omitStages: ["RequestReceived"] },
    "only audit panic": {
      level: "Request",
      omitStages: ["RequestReceived", "ResponseStarted", "ResponseComplete"],
    },
  };

  function check(
    req: string,
    level: KubernetesLevel,
    policyStages: KubernetesStage[],
    omitStages: KubernetesStage[],
    ruleNames: string[],
  ): void {
    const rules = ruleNames.map((name) => {
      const rule = RULES[name];
      if (rule === undefined) throw new Error(`no rule ${name}`);
      return rule;
    });
    const attrs = ATTRS[req];
    if (attrs === undefined) throw new Error(`no request ${req}`);
    const result = parseKubernetesPolicy(policyText(rules, { omitStages: policyStages })).evaluate(attrs);
    expect(result.level).toBe(level);
    // Upstream compares the stages as sets; ours come in stage order without repeats.
    expect([...result.omitStages].sort()).toEqual([...new Set(omitStages)].sort());
  }

  // testAuditLevel: [request, expected level, rules in order].
  const LEVEL_CASES: [string, KubernetesLevel, ...string[]][] = [
    ["namespaced", "Metadata", "default"],
    ["namespaced", "None", "create"],
    ["namespaced", "Metadata", "tims"],
    ["namespaced", "Metadata", "humans"],
    ["namespaced", "None", "serviceAccounts"],
    ["namespaced", "RequestResponse", "getPods"],
    ["namespaced", "None", "getClusterRoles"],
    ["namespaced", "None", "getLogs"],
    ["namespaced", "None", "getMetrics"],
    ["namespaced", "Metadata", "getMetrics", "serviceAccounts", "default"],
    ["namespaced", "RequestResponse", "getMetrics", "getPods", "default"],
    ["namespaced", "RequestResponse", "getPodLogs", "getPods"],

    ["cluster", "Metadata", "default"],
    ["cluster", "None", "create"],
    ["cluster", "Metadata", "tims"],
    ["cluster", "Metadata", "humans"],
    ["cluster", "None", "serviceAccounts"],
    ["cluster", "None", "getPods"],
    ["cluster", "RequestResponse", "getClusterRoles"],
    ["cluster", "Request", "clusterRoleEdit", "getClusterRoles"],
    ["cluster", "None", "getLogs"],
    ["cluster", "None", "getMetrics"],
    ["cluster", "Metadata", "getMetrics", "serviceAccounts", "default"],
    ["cluster", "RequestResponse", "getMetrics", "getClusterRoles", "default"],
    ["cluster", "None", "getPodLogs", "getPods"],

    ["nonResource", "Metadata", "default"],
    ["nonResource", "None", "create"],
    ["nonResource", "Metadata", "tims"],
    ["nonResource", "Metadata", "humans"],
    ["nonResource", "None", "serviceAccounts"],
    ["nonResource", "None", "getPods"],
    ["nonResource", "None", "getClusterRoles"],
    ["nonResource", "RequestResponse", "getLogs"],
    ["nonResource", "None", "getMetrics"],
    ["nonResource", "Metadata", "getMetrics", "serviceAccounts", "default"],
    ["nonResource", "RequestResponse", "getLogs", "getClusterRoles", "default"],
    ["nonResource", "None", "getPodLogs", "getPods"],

    ["subresource", "Request", "getPodLogs", "getPods"],
    ["subresource", "Request", "getPodWildcardMatching"],
    ["subresource", "Request", "getPodResourceWildcardMatching"],
    ["subresource", "Request", "getPodSubResourceWildcardMatching"],

    ["Unauthorized", "None", "tims"],
    ["Unauthorized", "Metadata", "tims", "default"],
    ["Unauthorized", "None", "humans"],
    ["Unauthorized", "Metadata", "humans", "default"],
  ];

  describe("TestChecker: levels without policy omitStages", () => {
    it.each(LEVEL_CASES)("%s → %s with rules %s", (req, level, ...names) => {
      check(req, level, [], [], names);
    });
  });

  describe("TestCheckerPolicyOmitStages: levels with policy omitStages", () => {
    const stages: KubernetesStage[] = ["RequestReceived", "ResponseStarted"];
    it.each(LEVEL_CASES)("%s → %s with rules %s", (req, level, ...names) => {
      check(req, level, stages, stages, names);
    });
  });

  // [request, expected level, policy omitStages, expected omitStages, rules in order].
  const STAGE_CASES: [string, KubernetesLevel, KubernetesStage[], KubernetesStage[], string[]][] = [
    // TestChecker: rule omitStages
    ["namespaced", "Request", [], ["RequestReceived"], ["omit RequestReceived", "getPods", "default"]],
    [
      "namespaced",
      "Request",
      [],
      ["RequestReceived", "ResponseStarted", "ResponseComplete"],
      ["only audit panic", "getPods", "default"],
    ],
    ["cluster", "Request", [], ["RequestReceived"], ["omit RequestReceived", "getPods", "default"]],
    [
      "cluster",
      "Request",
      [],
      ["RequestReceived", "ResponseStarted", "ResponseComplete"],
      ["only audit panic", "getPods", "default"],
    ],
    ["nonResource", "Request", [], ["RequestReceived"], ["omit RequestReceived", "getPods", "default"]],
    [
      "nonResource",
      "Request",
      [],
      ["RequestReceived", "ResponseStarted", "ResponseComplete"],
      ["only audit panic", "getPods", "default"],
    ],
    // TestCheckerPolicyOmitStages: policy and rule omitStages
    [
      "namespaced",
      "Request",
      ["RequestReceived", "ResponseStarted"],
      ["RequestReceived", "ResponseStarted"],
      ["omit RequestReceived", "getPods", "default"],
    ],
    [
      "namespaced",
      "Request",
      ["RequestReceived", "ResponseStarted"],
      ["RequestReceived", "ResponseStarted", "ResponseComplete"],
      ["only audit panic", "getPods", "default"],
    ],
    [
      "cluster",
      "Request",
      ["RequestReceived", "ResponseStarted"],
      ["RequestReceived", "ResponseStarted"],
      ["omit RequestReceived", "getPods", "default"],
    ],
    [
      "cluster",
      "Request",
      ["RequestReceived", "ResponseStarted"],
      ["RequestReceived", "ResponseStarted", "ResponseComplete"],
      ["only audit panic", "getPods", "default"],
    ],
    [
      "nonResource",
      "Metadata",
      ["RequestReceived", "ResponseStarted"],
      ["RequestReceived", "ResponseStarted"],
      ["default", "omit RequestReceived", "getPods"],
    ],
    [
      "nonResource",
      "Request",
      ["RequestReceived", "ResponseStarted"],
      ["RequestReceived", "ResponseStarted", "ResponseComplete"],
      ["only audit panic", "getPods", "default"],
    ],
  ];

  describe("TestChecker / TestCheckerPolicyOmitStages: omitStages", () => {
    it.each(STAGE_CASES)(
      "%s → %s, policy stages %j → %j, rules %j",
      (req, level, policy, expected, names) => {
        check(req, level, policy, expected, names);
      },
    );
  });

  // TestUnionStages: [policy omitStages, rule omitStages, expected union].
  const UNION_CASES: [KubernetesStage[], KubernetesStage[], KubernetesStage[]][] = [
    [[], [], []],
    [["RequestReceived"], [], ["RequestReceived"]],
    [["RequestReceived"], ["RequestReceived"], ["RequestReceived"]],
    [["RequestReceived"], ["ResponseStarted"], ["RequestReceived", "ResponseStarted"]],
    [["RequestReceived", "RequestReceived"], ["RequestReceived", "RequestReceived"], ["RequestReceived"]],
    [
      ["RequestReceived", "ResponseStarted"],
      ["Panic", "RequestReceived"],
      ["RequestReceived", "ResponseStarted", "Panic"],
    ],
  ];

  describe("TestUnionStages", () => {
    it.each(UNION_CASES)("policy %j ∪ rule %j = %j", (policyStages, ruleStages, expected) => {
      const policy = parseKubernetesPolicy(
        policyText([{ level: "Metadata", omitStages: ruleStages }], { omitStages: policyStages }),
      );
      expect(policy.evaluate(ATTRS.namespaced as RequestAttributes).omitStages).toEqual(expected);
    });

    it("without policy omitStages (nil) the rule's are kept", () => {
      const policy = parseKubernetesPolicy(
        policyText([{ level: "Metadata", omitStages: ["RequestReceived"] }]),
      );
      expect(policy.evaluate(ATTRS.namespaced as RequestAttributes).omitStages).toEqual(["RequestReceived"]);
    });
  });

  describe("TestOmitManagedFields", () => {
    const get: RequestAttributes = { user: { username: "", groups: [] }, verb: "get" };
    const rule = { level: "RequestResponse", verbs: ["get"] };
    it.each([
      ["global policy default is false, rule does not override", false, undefined, false],
      ["global policy default is true, rule does not override", true, undefined, true],
      ["global policy default is true, rule overrides to false", true, false, false],
      ["global policy default is false, rule overrides to true", false, true, true],
    ] as const)("%s", (_name, policyDefault, ruleSetting, expected) => {
      const policy = parseKubernetesPolicy(
        policyText([{ ...rule, ...(ruleSetting === undefined ? {} : { omitManagedFields: ruleSetting }) }], {
          omitManagedFields: policyDefault,
        }),
      );
      expect(policy.evaluate(get).omitManagedFields).toBe(expected);
    });
  });
});

// Behaviour of upstream's checker.go that its tests do not exercise.
describe("matching, beyond upstream's table", () => {
  const evaluate = (rules: object[], attrs: RequestAttributes, extra: object = {}): KubernetesDecision =>
    parseKubernetesPolicy(policyText(rules, extra)).evaluate(attrs);
  const rule = (resources: string[], more: object = {}): object => ({
    level: "Request",
    resources: [{ resources, ...more }],
  });

  it("gives None, the policy's omitStages and omitManagedFields when no rule matches", () => {
    expect(
      evaluate([{ level: "Metadata", verbs: ["delete"] }], request("get", "pods"), {
        omitStages: ["Panic", "RequestReceived"],
        omitManagedFields: true,
      }),
    ).toEqual(decision("None", undefined, ["RequestReceived", "Panic"], true));
  });

  it("names the first matching rule, and its decision is frozen and shared", () => {
    const policy = parseKubernetesPolicy(
      policyText([{ level: "None", verbs: ["watch"] }, { level: "Metadata" }, { level: "Request" }]),
    );
    const first = policy.evaluate(request("get", "pods"));
    expect(first).toEqual(decision("Metadata", 1));
    expect(policy.evaluate(request("list", "secrets"))).toBe(first);
    expect(Object.isFrozen(first) && Object.isFrozen(first.omitStages)).toBe(true);
    expect(policy.ruleCount).toBe(3);
  });

  it("a plain resource does not match its subresources", () => {
    expect(evaluate([rule(["pods"])], request("get", "pods/log")).level).toBe("None");
    expect(evaluate([rule(["pods"])], request("get", "pods")).level).toBe("Request");
  });

  it("resource/subresource matches only that subresource", () => {
    expect(evaluate([rule(["pods/log"])], request("get", "pods/log")).level).toBe("Request");
    expect(evaluate([rule(["pods/log"])], request("get", "pods/exec")).level).toBe("None");
    expect(evaluate([rule(["pods/log"])], request("get", "pods")).level).toBe("None");
  });

  it("resource/* matches the resource itself and all its subresources, as upstream", () => {
    expect(evaluate([rule(["pods/*"])], request("get", "pods")).level).toBe("Request");
    expect(evaluate([rule(["pods/*"])], request("create", "pods/exec")).level).toBe("Request");
    expect(evaluate([rule(["pods/*"])], request("get", "nodes/status")).level).toBe("None");
  });

  it("*/subresource matches that subresource of any resource, never a resource without one", () => {
    expect(evaluate([rule(["*/status"])], request("update", "nodes/status")).level).toBe("Request");
    expect(evaluate([rule(["*/status"])], request("update", "deployments/status", { group: "" })).level).toBe(
      "Request",
    );
    expect(evaluate([rule(["*/status"])], request("update", "nodes")).level).toBe("None");
    expect(evaluate([rule(["*/status"])], request("update", "nodes/proxy")).level).toBe("None");
  });

  it("* matches every resource and subresource of the group, and only of that group", () => {
    expect(evaluate([rule(["*"])], request("get", "secrets")).level).toBe("Request");
    expect(evaluate([rule(["*"])], request("create", "pods/exec")).level).toBe("Request");
    expect(evaluate([rule(["*"])], request("get", "deployments", { group: "apps" })).level).toBe("None");
  });

  it("*/* and */ match neither resources nor subresources (upstream has no such forms)", () => {
    for (const form of ["*/*", "*/"]) {
      expect(evaluate([rule([form])], request("get", "pods")).level).toBe("None");
      expect(evaluate([rule([form])], request("get", "pods/log")).level).toBe("None");
    }
  });

  it("a group without resources matches the whole group; group names are compared exactly", () => {
    const groupOnly = [{ level: "Request", resources: [{ group: "apps" }] }];
    expect(evaluate(groupOnly, request("delete", "deployments/scale", { group: "apps" })).level).toBe(
      "Request",
    );
    expect(evaluate(groupOnly, request("delete", "deployments", { group: "extensions" })).level).toBe("None");
    expect(evaluate([{ level: "Request", resources: [{}] }], request("get", "pods")).level).toBe("Request");
    expect(
      evaluate([{ level: "Request", resources: [{}] }], request("get", "deployments", { group: "apps" }))
        .level,
    ).toBe("None");
  });

  it("any entry of resources may match", () => {
    const rules = [
      {
        level: "Request",
        resources: [
          { group: "apps", resources: ["deployments"] },
          { group: "", resources: ["pods"] },
          { group: "apps", resources: ["statefulsets"] },
        ],
      },
    ];
    expect(evaluate(rules, request("get", "statefulsets", { group: "apps" })).level).toBe("Request");
    expect(evaluate(rules, request("get", "pods")).level).toBe("Request");
    expect(evaluate(rules, request("get", "daemonsets", { group: "apps" })).level).toBe("None");
  });

  it("resourceNames restricts by name; a request without a name does not match", () => {
    const rules = [rule(["configmaps"], { resourceNames: ["cluster-info"] })];
    expect(evaluate(rules, request("get", "configmaps", { name: "cluster-info" })).level).toBe("Request");
    expect(evaluate(rules, request("get", "configmaps", { name: "other" })).level).toBe("None");
    expect(evaluate(rules, request("list", "configmaps")).level).toBe("None");
  });

  it('namespaces: [""] matches cluster-scoped requests only; namespaces alone select resource requests', () => {
    const clusterOnly = [{ level: "Request", namespaces: [""] }];
    expect(evaluate(clusterOnly, request("get", "nodes")).level).toBe("Request");
    expect(evaluate(clusterOnly, request("get", "nodes", { namespace: "" })).level).toBe("Request");
    expect(evaluate(clusterOnly, request("get", "pods", { namespace: "default" })).level).toBe("None");
    expect(evaluate(clusterOnly, nonResource("get", "/healthz")).level).toBe("None");
    const kubeSystem = [{ level: "Request", namespaces: ["kube-system"] }];
    expect(evaluate(kubeSystem, request("get", "pods", { namespace: "kube-system" })).level).toBe("Request");
    expect(evaluate(kubeSystem, request("get", "pods", { namespace: "default" })).level).toBe("None");
  });

  it("a rule without resources, namespaces or URLs matches both kinds of request", () => {
    const rules = [{ level: "Request", verbs: ["get"] }];
    expect(evaluate(rules, request("get", "pods")).level).toBe("Request");
    expect(evaluate(rules, nonResource("get", "/metrics")).level).toBe("Request");
  });

  it("nonResourceURLs: exact, trailing * as a prefix, and * alone; never a resource request", () => {
    const rules = [{ level: "Request", nonResourceURLs: ["/metrics", "/logs*", "/api/v1/*"] }];
    expect(evaluate(rules, nonResource("get", "/metrics")).level).toBe("Request");
    expect(evaluate(rules, nonResource("get", "/metrics/cadvisor")).level).toBe("None");
    expect(evaluate(rules, nonResource("get", "/logs")).level).toBe("Request");
    expect(evaluate(rules, nonResource("get", "/logsfoo/bar")).level).toBe("Request");
    expect(evaluate(rules, nonResource("get", "/api/v1")).level).toBe("None");
    expect(evaluate(rules, nonResource("get", "/api/v1/")).level).toBe("Request");
    expect(evaluate(rules, nonResource("get", "/log")).level).toBe("None");
    const any = [{ level: "Request", nonResourceURLs: ["*"] }];
    expect(evaluate(any, nonResource("post", "/anything/at/all")).level).toBe("Request");
    expect(evaluate(any, request("get", "pods")).level).toBe("None");
  });

  it("users, userGroups and verbs must all match", () => {
    const rules = [{ level: "Request", users: ["bob"], userGroups: ["devs", "ops"], verbs: ["delete"] }];
    const as = (user: string, groups: string[], verb: string): RequestAttributes =>
      request(verb, "pods", { user, groups });
    expect(evaluate(rules, as("bob", ["system:authenticated", "ops"], "delete")).level).toBe("Request");
    expect(evaluate(rules, as("bob", ["system:authenticated"], "delete")).level).toBe("None");
    expect(evaluate(rules, as("alice", ["ops"], "delete")).level).toBe("None");
    expect(evaluate(rules, as("bob", ["ops"], "get")).level).toBe("None");
  });

  it("an empty condition list is no condition", () => {
    const rules = [
      { level: "Request", users: [], verbs: [], resources: [], namespaces: [], nonResourceURLs: [] },
    ];
    expect(evaluate(rules, request("get", "pods")).level).toBe("Request");
    expect(evaluate(rules, nonResource("get", "/x")).level).toBe("Request");
  });
});

/** The fenced YAML blocks of spec/002, each under the last heading (or line in bold) above it. */
async function specBlocks(): Promise<{ heading: string; yaml: string }[]> {
  const lines = (await readFile(SPEC, "utf8")).split("\n");
  const blocks: { heading: string; yaml: string }[] = [];
  let heading = "";
  let body: string[] | undefined;
  for (const line of lines) {
    if (body !== undefined) {
      if (line.trim() === "```") {
        blocks.push({ heading, yaml: `${body.join("\n")}\n` });
        body = undefined;
      } else {
        body.push(line);
      }
    } else if (line.trim() === "```yaml") {
      body = [];
    } else if (/^(#+ .*|\*\*[^*]+\*\*:?|\d+\. \*\*[^*]+\*\*:?)$/.test(line)) {
      heading = line.replace(/[#*]/g, "").replace(/:$/, "").trim();
    }
  }
  return blocks;
}

async function specPolicy(heading: string): Promise<string> {
  const found = (await specBlocks()).filter((b) => b.heading === heading);
  expect(found.map((b) => b.heading)).toEqual([heading]);
  return found[0]?.yaml ?? "";
}

function dedent(text: string, by: number): string {
  return text
    .split("\n")
    .map((line) => line.slice(by))
    .join("\n");
}

describe("spec/002 policies", () => {
  const rr: KubernetesStage[] = ["RequestReceived"];

  it("has the four complete Policy files and the fragments these tests use", async () => {
    const blocks = await specBlocks();
    expect(blocks.filter((b) => b.yaml.includes("kind: Policy")).map((b) => b.heading)).toEqual([
      "Audit Policy File",
      "Minimal Security Policy",
      "Comprehensive Security Policy",
      "Compliance-Focused Policy",
    ]);
  });

  it("Audit Policy File: secrets, exec, RBAC writes, workload writes, token reviews, catch-all", async () => {
    const policy = parseKubernetesPolicy(await specPolicy("Audit Policy File"), "audit-policy.yaml");
    expect(policy.source).toBe("audit-policy.yaml");
    expect(policy.ruleCount).toBe(6);
    expect(policy.warnings).toEqual([]);
    const rbac = "rbac.authorization.k8s.io";
    expect(policy.evaluate(request("get", "secrets", { namespace: "production" }))).toEqual(
      decision("RequestResponse", 0, rr),
    );
    expect(policy.evaluate(request("create", "pods/exec", { namespace: "default" }))).toEqual(
      decision("Metadata", 1, rr),
    );
    expect(policy.evaluate(request("create", "pods/portforward"))).toEqual(decision("Metadata", 1, rr));
    expect(policy.evaluate(request("patch", "rolebindings", { group: rbac }))).toEqual(
      decision("RequestResponse", 2, rr),
    );
    // Reads of RBAC objects fall through to the catch-all.
    expect(policy.evaluate(request("get", "rolebindings", { group: rbac }))).toEqual(
      decision("Metadata", 5, rr),
    );
    expect(policy.evaluate(request("delete", "deployments", { group: "apps" }))).toEqual(
      decision("Request", 3, rr),
    );
    expect(policy.evaluate(request("update", "networkpolicies", { group: "networking.k8s.io" }))).toEqual(
      decision("Request", 3, rr),
    );
    expect(policy.evaluate(request("create", "tokenreviews", { group: "authentication.k8s.io" }))).toEqual(
      decision("Metadata", 4, rr),
    );
    // The catch-all repeats the policy's omitStages: the union holds it once.
    expect(policy.evaluate(request("list", "nodes"))).toEqual(decision("Metadata", 5, rr));
    expect(policy.evaluate(nonResource("get", "/healthz"))).toEqual(decision("Metadata", 5, rr));
  });

  it("Policy Rule Precedence: the first match wins", async () => {
    const policy = parseKubernetesPolicy(HEADER + (await specPolicy("Policy Rule Precedence")));
    expect(policy.evaluate(request("get", "secrets", { namespace: "kube-system" }))).toEqual(
      decision("None", 0),
    );
    expect(policy.evaluate(request("get", "secrets", { namespace: "default" }))).toEqual(
      decision("RequestResponse", 1),
    );
  });

  it("Example of each level", async () => {
    const policy = parseKubernetesPolicy(`${HEADER}rules:\n${await specPolicy("Example of each level")}`);
    expect(policy.evaluate(request("watch", "endpoints"))).toEqual(decision("None", 0));
    expect(policy.evaluate(request("get", "pods"))).toEqual(decision("Metadata", 1));
    expect(policy.evaluate(request("create", "configmaps"))).toEqual(decision("Request", 2));
    expect(policy.evaluate(request("delete", "secrets"))).toEqual(decision("RequestResponse", 3));
    expect(policy.evaluate(request("create", "pods"))).toEqual(decision("None", undefined));
  });

  it("Minimal Security Policy: secrets and exec at Metadata, nothing else", async () => {
    const policy = parseKubernetesPolicy(await specPolicy("Minimal Security Policy"));
    expect(policy.evaluate(request("get", "secrets", { namespace: "default" }))).toEqual(
      decision("Metadata", 0, rr),
    );
    expect(policy.evaluate(request("create", "pods/attach"))).toEqual(decision("Metadata", 1, rr));
    expect(policy.evaluate(request("create", "pods"))).toEqual(decision("None", 2, rr));
    expect(policy.evaluate(nonResource("get", "/api"))).toEqual(decision("None", 2, rr));
  });

  it("Comprehensive Security Policy", async () => {
    const policy = parseKubernetesPolicy(await specPolicy("Comprehensive Security Policy"));
    expect(policy.ruleCount).toBe(8);
    expect(policy.evaluate(request("get", "pods/status"))).toEqual(decision("None", 0, rr));
    expect(policy.evaluate(request("get", "pods"))).toEqual(decision("Metadata", 7, rr));
    expect(policy.evaluate(request("watch", "services", { user: "system:kube-proxy" }))).toEqual(
      decision("None", 0, rr),
    );
    expect(policy.evaluate(request("list", "secrets"))).toEqual(decision("RequestResponse", 2, rr));
    // Rule 4 has a group and no resources: every RBAC resource.
    expect(policy.evaluate(request("delete", "roles", { group: "rbac.authorization.k8s.io" }))).toEqual(
      decision("RequestResponse", 3, rr),
    );
    expect(policy.evaluate(request("create", "pods/exec"))).toEqual(decision("Request", 4, rr));
    // An exec over a websocket is a `get`: rule 5 only covers `create`.
    expect(policy.evaluate(request("get", "pods/exec"))).toEqual(decision("Metadata", 7, rr));
    expect(policy.evaluate(request("create", "poddisruptionbudgets", { group: "policy" }))).toEqual(
      decision("Request", 5, rr),
    );
    expect(
      policy.evaluate(request("create", "selfsubjectaccessreviews", { group: "authorization.k8s.io" })),
    ).toEqual(decision("Metadata", 6, rr));
    expect(policy.evaluate(nonResource("get", "/version"))).toEqual(decision("Metadata", 7, rr));
  });

  it("Compliance-Focused Policy", async () => {
    const policy = parseKubernetesPolicy(await specPolicy("Compliance-Focused Policy"));
    expect(policy.evaluate(request("create", "widgets", { group: "example.com" }))).toEqual(
      decision("RequestResponse", 0, rr),
    );
    expect(policy.evaluate(request("get", "secrets"))).toEqual(decision("Request", 1, rr));
    expect(policy.evaluate(request("list", "configmaps"))).toEqual(decision("Request", 1, rr));
    expect(policy.evaluate(request("watch", "secrets"))).toEqual(decision("Metadata", 2, rr));
    // A non-resource POST has the verb "post", not "create".
    expect(policy.evaluate(nonResource("post", "/apis"))).toEqual(decision("Metadata", 2, rr));
  });

  it("Optimization Strategies, as one policy", async () => {
    const [health, stages, readOnly, metadata] = await Promise.all(
      [
        "1. Use None for health checks",
        "2. Omit RequestReceived stage",
        "3. Don't log read-only for most resources",
        "4. Use metadata for high-volume resources",
      ].map(async (heading) => dedent(await specPolicy(heading), 3)),
    );
    const policy = parseKubernetesPolicy(`${HEADER}${stages}rules:\n${health}${readOnly}${metadata}`);
    expect(policy.evaluate(request("watch", "endpoints", { user: "system:kube-proxy" }))).toEqual(
      decision("None", 0, rr),
    );
    expect(policy.evaluate(request("get", "nodes"))).toEqual(decision("None", 1, rr));
    expect(policy.evaluate(request("create", "pods"))).toEqual(decision("Metadata", 2, rr));
    expect(policy.evaluate(request("get", "secrets"))).toEqual(decision("None", undefined, rr));
  });

  it("the kube-apiserver manifest of the spec is refused as a policy", async () => {
    const manifest = (await specBlocks()).find((b) => b.heading === "API Server Configuration");
    expect(problemsOf(manifest?.yaml ?? "")).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ field: "apiVersion", line: 2 }),
        expect.objectContaining({ field: "kind", message: "must be Policy", line: 3 }),
      ]),
    );
  });
});

/** Events of a fixture file: one JSON value (an Event or an EventList) or NDJSON. */
function eventsIn(text: string): unknown[] {
  let values: unknown[];
  try {
    values = [JSON.parse(text)];
  } catch {
    values = text
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => JSON.parse(line));
  }
  return values.flatMap((v) =>
    (v as { kind?: unknown }).kind === "EventList" ? (v as { items: unknown[] }).items : [v],
  );
}

async function fixtureEvents(): Promise<Map<string, unknown[]>> {
  const byFile = new Map<string, unknown[]>();
  const falco = new URL("falco-k8s_audit/", FIXTURES);
  for (const name of (await readdir(falco)).sort()) {
    if (name === "fal_01_003.json") continue; // not an event
    byFile.set(name, eventsIn(await readFile(new URL(name, falco), "utf8")));
  }
  byFile.set(
    "audit2rbac-demo.log",
    eventsIn(await readFile(new URL("audit2rbac-demo.log", FIXTURES), "utf8")),
  );
  return byFile;
}

async function fixtureEvent(name: string, index = 0): Promise<unknown> {
  const events = (await fixtureEvents()).get(name);
  expect(events).toBeDefined();
  return events?.[index];
}

describe("real audit events (fixtures)", () => {
  it("every event gets attributes and a decision under each spec/002 policy", async () => {
    const byFile = await fixtureEvents();
    const falco = [...byFile].filter(([name]) => name.endsWith(".json")).flatMap(([, events]) => events);
    expect(falco).toHaveLength(51);
    expect(byFile.get("audit2rbac-demo.log")).toHaveLength(37);
    const policies: KubernetesPolicy[] = [];
    for (const heading of [
      "Audit Policy File",
      "Minimal Security Policy",
      "Comprehensive Security Policy",
      "Compliance-Focused Policy",
    ]) {
      policies.push(parseKubernetesPolicy(await specPolicy(heading)));
    }
    const levels = new Set<string>();
    for (const event of [...byFile.values()].flat()) {
      const attrs = attributesFromK8sEvent(event);
      expect(attrs.verb).not.toBe("");
      expect(attrs.user.username).not.toBe("");
      expect(attrs.resource === undefined).toBe(attrs.nonResourceURL !== undefined);
      for (const policy of policies) levels.add(policy.evaluate(attrs).level);
    }
    expect([...levels].sort()).toEqual(["Metadata", "None", "Request", "RequestResponse"]);
  });

  it("a Secret request: Metadata under the minimal policy, RequestResponse under the Audit Policy File", async () => {
    const attrs = attributesFromK8sEvent(await fixtureEvent("create_secret.json"));
    expect(attrs).toEqual({
      user: { username: "minikube-user", groups: ["system:masters", "system:authenticated"] },
      verb: "create",
      namespace: "default",
      resource: { group: "", resource: "secrets", name: "example-secret" },
    });
    expect(parseKubernetesPolicy(await specPolicy("Minimal Security Policy")).evaluate(attrs)).toEqual(
      decision("Metadata", 0, ["RequestReceived"]),
    );
    expect(parseKubernetesPolicy(await specPolicy("Audit Policy File")).evaluate(attrs)).toEqual(
      decision("RequestResponse", 0, ["RequestReceived"]),
    );
  });

  it("pod exec: the subresource from objectRef, the query left out", async () => {
    const attrs = attributesFromK8sEvent(await fixtureEvent("exec_pod.json"));
    expect(attrs.resource).toEqual({
      group: "",
      resource: "pods",
      subresource: "exec",
      name: "nginx-deployment-7998647bdf-phvq7",
    });
    expect(parseKubernetesPolicy(await specPolicy("Minimal Security Policy")).evaluate(attrs).ruleIndex).toBe(
      1,
    );
    expect(parseKubernetesPolicy(await specPolicy("Comprehensive Security Policy")).evaluate(attrs)).toEqual(
      decision("Request", 4, ["RequestReceived"]),
    );
  });

  it("a ClusterRoleBinding creation: RBAC rule of the Audit Policy File", async () => {
    const attrs = attributesFromK8sEvent(await fixtureEvent("attach_cluster_admin_role.json"));
    expect(attrs.resource?.group).toBe("rbac.authorization.k8s.io");
    expect(attrs.namespace).toBeUndefined();
    expect(parseKubernetesPolicy(await specPolicy("Audit Policy File")).evaluate(attrs)).toEqual(
      decision("RequestResponse", 2, ["RequestReceived"]),
    );
  });

  it("a Deployment of the old extensions group is not the apps rule's", async () => {
    const attrs = attributesFromK8sEvent(await fixtureEvent("create_deployment.json"));
    expect(attrs.resource?.group).toBe("extensions");
    expect(parseKubernetesPolicy(await specPolicy("Audit Policy File")).evaluate(attrs)).toEqual(
      decision("Metadata", 5, ["RequestReceived"]),
    );
  });

  it("audit2rbac: the impersonating user is the policy's user; discovery is a non-resource request", async () => {
    const events = (await fixtureEvents()).get("audit2rbac-demo.log") ?? [];
    const first = attributesFromK8sEvent(events[0]);
    expect(first.user.username).toBe("system:admin");
    const api = events.map(attributesFromK8sEvent).find((a) => a.nonResourceURL === "/api");
    expect(api).toEqual({
      user: { username: "system:admin", groups: ["system:masters", "system:authenticated"] },
      verb: "get",
      nonResourceURL: "/api",
    });
    const secrets = attributesFromK8sEvent(events[36]);
    expect(secrets.resource?.resource).toBe("secrets");
    expect(parseKubernetesPolicy(await specPolicy("Compliance-Focused Policy")).evaluate(secrets)).toEqual(
      decision("Request", 1, ["RequestReceived"]),
    );
    const minimal = parseKubernetesPolicy(await specPolicy("Minimal Security Policy"));
    expect(minimal.evaluate(api as RequestAttributes)).toEqual(decision("None", 2, ["RequestReceived"]));
  });

  it("a list of pods in a namespace, from a requestURI with a query", async () => {
    const attrs = attributesFromK8sEvent((await fixtureEvents()).get("audit2rbac-demo.log")?.[1]);
    expect(attrs).toEqual({
      user: { username: "system:admin", groups: ["system:masters", "system:authenticated"] },
      verb: "list",
      namespace: "default",
      resource: { group: "", resource: "pods" },
    });
  });

  it("the 20-rule policy of the benchmark parses cleanly and decides the fixtures", async () => {
    const text = await readFile(new URL("testdata/policy-20-rules.yaml", import.meta.url), "utf8");
    const policy = parseKubernetesPolicy(text);
    expect(policy.ruleCount).toBe(20);
    expect(policy.warnings).toEqual([]);
    const rr: KubernetesStage[] = ["RequestReceived"];
    const secret = attributesFromK8sEvent(await fixtureEvent("create_kube_system_secret.json"));
    expect(policy.evaluate(secret)).toEqual(decision("Metadata", 10, rr));
    expect(
      policy.evaluate(request("get", "secrets", { namespace: "kube-system", name: "bootstrap-signer" })),
    ).toEqual(decision("RequestResponse", 9, rr));
    expect(policy.evaluate(request("patch", "nodes/status", { groups: ["system:nodes"] }))).toEqual(
      decision("Request", 7, rr),
    );
    expect(policy.evaluate(nonResource("get", "/readyz/etcd"))).toEqual(decision("None", 5, rr));
    expect(policy.evaluate(request("update", "crontabs/status", { group: "apiextensions.k8s.io" }))).toEqual(
      decision("Metadata", 18, rr),
    );
  });
});

describe("attributesFromK8sEvent", () => {
  it("takes objectRef for resource requests, with the core group as an absent apiGroup", () => {
    expect(
      attributesFromK8sEvent({
        kind: "Event",
        verb: "update",
        user: { username: "kubelet", groups: ["system:nodes", 7] },
        objectRef: {
          apiGroup: "apps",
          resource: "deployments",
          subresource: "status",
          namespace: "prod",
          name: "web",
        },
        requestURI: "/apis/apps/v1/namespaces/prod/deployments/web/status",
      }),
    ).toEqual({
      user: { username: "kubelet", groups: ["system:nodes"] },
      verb: "update",
      namespace: "prod",
      resource: { group: "apps", resource: "deployments", subresource: "status", name: "web" },
    });
  });

  it("uses the path of requestURI without objectRef, and tolerates a missing user", () => {
    expect(attributesFromK8sEvent({ verb: "get", requestURI: "/metrics?x=1" })).toEqual({
      user: { username: "", groups: [] },
      verb: "get",
      nonResourceURL: "/metrics",
    });
  });

  it("refuses anything but an object", () => {
    for (const bad of [null, "event", [], 3]) {
      expect(() => attributesFromK8sEvent(bad)).toThrow(VigilError);
    }
  });
});

describe("validation (upstream validation_test.go and reader_test.go, with our paths and lines)", () => {
  const VALID_RULES: object[] = [
    { level: "Metadata" },
    { level: "None", userGroups: ["system:serviceaccounts", "system:nodes"] },
    {
      level: "RequestResponse",
      verbs: ["get"],
      resources: [{ group: "rbac.authorization.k8s.io", resources: ["roles", "rolebindings"] }],
      namespaces: ["kube-system"],
    },
    {
      level: "Metadata",
      userGroups: ["developers"],
      nonResourceURLs: ["/logs*", "/healthz*", "/metrics", "*"],
    },
  ];

  it.each(VALID_RULES.map((rule, i) => [i, rule] as const))("valid rule %i", (_i, rule) => {
    expect(parseKubernetesPolicy(policyText([rule])).ruleCount).toBe(1);
  });

  it("valid rules together", () => {
    expect(parseKubernetesPolicy(policyText(VALID_RULES)).ruleCount).toBe(4);
  });

  // [case, rule, the fields refused].
  const INVALID_RULES: [string, object, string[]][] = [
    ["empty rule (missing level)", {}, ["rules[0].level"]],
    [
      "missing level",
      { verbs: ["get"], resources: [{ resources: ["secrets"] }], namespaces: ["kube-system"] },
      ["rules[0].level"],
    ],
    ["invalid level", { level: "FooBar" }, ["rules[0].level"]],
    [
      "nonResourceURLs + namespaces",
      { level: "Metadata", namespaces: ["default"], nonResourceURLs: ["/logs*"] },
      ["rules[0].nonResourceURLs"],
    ],
    [
      "nonResourceURLs + resources",
      { level: "Metadata", resources: [{ resources: ["secrets"] }], nonResourceURLs: ["/logs*"] },
      ["rules[0].nonResourceURLs"],
    ],
    [
      "invalid group name",
      {
        level: "Metadata",
        resources: [{ group: "rbac.authorization.k8s.io/v1beta1", resources: ["roles"] }],
      },
      ["rules[0].resources[0].group"],
    ],
    [
      "non-resource URL without /",
      { level: "Metadata", nonResourceURLs: ["logs", "/healthz*"] },
      ["rules[0].nonResourceURLs[0]"],
    ],
    [
      "empty non-resource URL",
      { level: "Metadata", nonResourceURLs: ["", "/healthz*"] },
      ["rules[0].nonResourceURLs[0]"],
    ],
    [
      "non-resource URL with two *",
      { level: "Metadata", nonResourceURLs: ["/logs/*/*", "/metrics"] },
      ["rules[0].nonResourceURLs[0]"],
    ],
    [
      "non-resource URL with * not at the end",
      { level: "Metadata", nonResourceURLs: ["/logs/*.log", "/metrics"] },
      ["rules[0].nonResourceURLs[0]"],
    ],
    [
      "resourceNames without resources",
      { level: "Metadata", resources: [{ group: "apps", resourceNames: ["web"] }] },
      ["rules[0].resources[0].resourceNames"],
    ],
    [
      "unknown stage",
      { level: "Metadata", omitStages: ["ResponseComplete", "RequestRecieved"] },
      ["rules[0].omitStages[1]"],
    ],
    ["level in lower case", { level: "metadata" }, ["rules[0].level"]],
    [
      "upper-case group",
      { level: "Metadata", resources: [{ group: "Apps", resources: ["deployments"] }] },
      ["rules[0].resources[0].group"],
    ],
    [
      "group longer than 253 characters",
      { level: "Metadata", resources: [{ group: `${"a".repeat(250)}.com`, resources: ["x"] }] },
      ["rules[0].resources[0].group"],
    ],
  ];

  it.each(INVALID_RULES)("%s", (_name, rule, fields) => {
    expect(problemsOf(policyText([rule])).map((p) => p.field)).toEqual(fields);
  });

  it("one invalid rule among valid ones is named by its index", () => {
    expect(problemsOf(policyText([...VALID_RULES, {}])).map((p) => p.field)).toEqual(["rules[4].level"]);
  });

  it("messages say what is wrong", () => {
    const problems = problemsOf(
      policyText([
        { level: "FooBar" },
        { level: "Metadata", nonResourceURLs: ["logs", "/a/*/b"], namespaces: ["x"] },
        { level: "Metadata", resources: [{ group: "rbac.authorization.k8s.io/v1", resources: ["roles"] }] },
      ]),
    );
    // In file order: the list's key comes before its items.
    expect(problems.map((p) => [p.field, p.message])).toEqual([
      [
        "rules[0].level",
        'unsupported value "FooBar": must be one of None, Metadata, Request, RequestResponse',
      ],
      [
        "rules[1].nonResourceURLs",
        "a rule cannot apply to both resources (resources, namespaces) and non-resource URLs: split it in two",
      ],
      ["rules[1].nonResourceURLs[0]", `"logs": a non-resource URL must begin with '/' (or be *)`],
      [
        "rules[1].nonResourceURLs[1]",
        `"/a/*/b": a '*' wildcard may only be the last character of a non-resource URL`,
      ],
      [
        "rules[2].resources[0].group",
        `"rbac.authorization.k8s.io/v1" is not an API group name, which is a lowercase RFC 1123 subdomain: ` +
          "a-z, 0-9, '-' and '.', starting and ending with a letter or digit (name the group without its " +
          "version: rbac.authorization.k8s.io)",
      ],
    ]);
  });

  it("validates the policy's own omitStages", () => {
    const problems = problemsOf(policyText([{ level: "None" }], { omitStages: ["RequestReceived", "Done"] }));
    expect(problems.map((p) => p.field)).toEqual(["omitStages[1]"]);
  });

  const POLICY_DEF = `
apiVersion: audit.k8s.io/{version}
kind: Policy
rules:
  - level: None
    nonResourceURLs:
      - /healthz*
      - /version
  - level: RequestResponse
    users: ["tim"]
    userGroups: ["testers", "developers"]
    verbs: ["patch", "delete", "create"]
    resources:
      - group: ""
      - group: "rbac.authorization.k8s.io"
        resources: ["clusterroles", "clusterrolebindings"]
    namespaces: ["default", "kube-system"]
  - level: Metadata
`;

  it("TestParser: the v1 policy loads with its three rules", () => {
    const policy = parseKubernetesPolicy(POLICY_DEF.replace("{version}", "v1"));
    expect(policy.ruleCount).toBe(3);
    const tim = (verb: string, resource: string, group = "", namespace = "default"): RequestAttributes => ({
      ...request(verb, resource, { group, namespace, user: "tim", groups: ["testers"] }),
    });
    expect(policy.evaluate(nonResource("get", "/healthz/ping", "tim")).level).toBe("None");
    expect(policy.evaluate(tim("delete", "configmaps")).level).toBe("RequestResponse");
    expect(policy.evaluate(tim("delete", "clusterroles", "rbac.authorization.k8s.io")).level).toBe(
      "RequestResponse",
    );
    expect(policy.evaluate(tim("delete", "roles", "rbac.authorization.k8s.io")).level).toBe("Metadata");
    expect(policy.evaluate(tim("delete", "configmaps", "", "prod")).level).toBe("Metadata");
  });

  it.each(["v1beta1", "v1alpha1"])(
    "refuses audit.k8s.io/%s, which kube-apiserver no longer reads",
    (version) => {
      expect(problemsOf(POLICY_DEF.replace("{version}", version))).toEqual([
        {
          field: "apiVersion",
          line: 2,
          message:
            "must be audit.k8s.io/v1; kube-apiserver no longer reads older versions, and the Policy fields are the same in all of them",
        },
      ]);
    },
  );

  it("TestParsePolicyWithNoVersionOrKind", () => {
    const withoutHeader = POLICY_DEF.split("\n").slice(3).join("\n");
    expect(problemsOf(withoutHeader).map((p) => p.field)).toEqual(["apiVersion", "kind"]);
  });

  it("TestParsePolicyWithUnknownField: accepted with a warning, the misplaced field ignored", () => {
    const policy = parseKubernetesPolicy(`
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: None
  resources:
  - group: coordination.k8s.io
    resources:
    - "leases"
    verbs: ["watch", "get", "list"] # invalid indentation on verbs
`);
    expect(policy.warnings).toEqual([
      {
        field: "rules[0].resources[0].verbs",
        line: 10,
        message:
          "unknown field, ignored as kube-apiserver ignores it; verbs is a field of the rule: check its indentation",
      },
    ]);
    // Without its verbs the rule matches every verb, as in kube-apiserver.
    expect(policy.evaluate(request("delete", "leases", { group: "coordination.k8s.io" })).level).toBe("None");
  });

  it("warns about unknown fields at every level, with a suggestion where one is close", () => {
    const policy = parseKubernetesPolicy(`${HEADER}metadata:
  name: audit
omitStage: [Panic]
rules:
  - level: Metadata
    namespace: [kube-system]
    colour: blue
`);
    expect(
      policy.warnings.map((w) => [w.field, w.line, w.message.endsWith("did you mean omitStages?")]),
    ).toEqual([
      ["omitStage", 5, true],
      ["rules[0].namespace", 8, false],
      ["rules[0].colour", 9, false],
    ]);
    expect(policy.warnings[1]?.message).toMatch(/did you mean namespaces\?$/);
    // The misspelt namespace restricts nothing.
    expect(policy.evaluate(request("get", "pods", { namespace: "default" })).level).toBe("Metadata");
  });

  it("TestPolicyCntCheck: a policy without rules and an empty file are refused", () => {
    expect(problemsOf("apiVersion: audit.k8s.io/v1\nkind: Policy")).toEqual([
      { field: "rules", message: "must list at least one rule (kube-apiserver refuses a policy without)" },
    ]);
    expect(problemsOf(`${HEADER}rules: []\n`).map((p) => p.field)).toEqual(["rules"]);
    expect(problemsOf("")[0]?.message).toMatch(/^the policy is empty/);
    expect(problemsOf("# only a comment\n")[0]?.message).toMatch(/^the policy is empty/);
  });

  it("names the line of each problem, in file order", () => {
    const problems = problemsOf(`${HEADER}omitStages: [Panic]
rules:
  - level: Metadata
  - level: Loud
    verbs: ["get"]
  - level: None
    nonResourceURLs:
      - /healthz
      - healthz*
`);
    expect(problems).toEqual([
      expect.objectContaining({ field: "rules[1].level", line: 6 }),
      expect.objectContaining({ field: "rules[2].nonResourceURLs[1]", line: 11 }),
    ]);
  });

  it("type errors name the field and line, and the other rules are still checked", () => {
    const problems = problemsOf(`${HEADER}rules:
  - level: Metadata
    verbs: get
  - level: [Request]
  - omitManagedFields: "no"
    level: Loud
`);
    expect(problems.map((p) => [p.field, p.line, p.message])).toEqual([
      ["rules[0].verbs", 5, "must be a list"],
      ["rules[1].level", 6, "must be a string"],
      ["rules[2].omitManagedFields", 7, "must be true or false"],
    ]);
    expect(problemsOf(`${HEADER}rules: {level: None}\n`).map((p) => [p.field, p.message])).toEqual([
      ["rules", "must be a list"],
    ]);
  });

  it("a null field is an absent one, as in kube-apiserver", () => {
    expect(problemsOf(`${HEADER}rules:\n  - level:\n`).map((p) => [p.field, p.message])).toEqual([
      ["rules[0].level", "is required: one of None, Metadata, Request, RequestResponse"],
    ]);
    const policy = parseKubernetesPolicy(
      `${HEADER}omitStages: ~\nrules:\n  - level: Request\n    users: ~\n`,
    );
    expect(policy.evaluate(request("get", "pods"))).toEqual(decision("Request", 0));
  });

  it("reads YAML 1.1 as kube-apiserver does: yes is true, an unquoted no is not a string", () => {
    const policy = parseKubernetesPolicy(`${HEADER}omitManagedFields: yes\nrules:\n  - level: Metadata\n`);
    expect(policy.evaluate(request("get", "pods")).omitManagedFields).toBe(true);
    expect(problemsOf(`${HEADER}rules:\n  - level: Metadata\n    namespaces: [no]\n`)).toEqual([
      { field: "rules[0].namespaces[0]", line: 5, message: "must be a string" },
    ]);
  });

  it("refuses YAML errors with their line, and a document that is not a mapping", () => {
    const problems = problemsOf(`${HEADER}rules:\n  - level: Metadata\n   verbs: [get\n`);
    expect(problems[0]?.message).toMatch(/^invalid YAML/);
    expect(problems[0]?.line).toBeGreaterThanOrEqual(4);
    expect(problemsOf("- level: None\n")[0]?.message).toMatch(/must be a YAML mapping/);
  });

  it("refuses another kind", () => {
    expect(problemsOf("apiVersion: audit.k8s.io/v1\nkind: Event\nrules:\n  - level: None\n")).toEqual([
      { field: "kind", line: 2, message: "must be Policy" },
    ]);
  });
});
