/**
 * The Kubernetes sources through the real server: `POST /v1/k8s/audit` with an EventList built from the falco
 * captures and `vigil import` of a log-backend file, both under a `policy_file` (spec/002's "Audit Policy File"
 * example) and spec/000's exclude_events; the records verify. Also refusals: a bad EventList, a bad policy file.
 */
import { readdirSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { readRecords, writeConfig } from "./support/files.ts";
import { fixturePath } from "./support/fixtures.ts";
import { runVigil, startVigil, tempDir, waitForDelivery } from "./support/vigil-process.ts";

const K8S = fileURLToPath(new URL("../../shared/fixtures/k8s/", import.meta.url));
const FALCO = join(K8S, "falco-k8s_audit");

/**
 * spec/002's example policy as written, after one rule of ours on top so that a level None is exercised:
 * ConfigMaps are not recorded.
 */
const POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages:
  - "RequestReceived"
rules:
  - level: None
    resources:
    - group: ""
      resources: ["configmaps"]
  - level: RequestResponse
    resources:
    - group: ""
      resources: ["secrets"]
  - level: Metadata
    resources:
    - group: ""
      resources: ["pods/exec", "pods/attach", "pods/portforward"]
  - level: RequestResponse
    verbs: ["create", "update", "patch", "delete"]
    resources:
    - group: "rbac.authorization.k8s.io"
      resources: ["clusterroles", "clusterrolebindings", "roles", "rolebindings"]
  - level: Request
    verbs: ["create", "update", "patch", "delete"]
    resources:
    - group: ""
      resources: ["pods", "services", "serviceaccounts"]
    - group: "apps"
      resources: ["deployments", "daemonsets", "statefulsets"]
    - group: "networking.k8s.io"
      resources: ["networkpolicies"]
  - level: Metadata
    resources:
    - group: "authentication.k8s.io"
      resources: ["tokenreviews"]
  - level: Metadata
    omitStages:
    - "RequestReceived"
`;

type Json = Record<string, unknown>;

/** Every Event in a fixture file (one per line; create_configmap_sensitive_values.json holds six). */
function events(path: string): Json[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as Json);
}

const falco = (name: string) => events(join(FALCO, name))[0] as Json;
const resourceOf = (e: Json) => (e.objectRef as { resource?: string } | undefined)?.resource;
/** What the policy and `exclude_events: [k8s.get]` keep, by event id (a repeated id is recorded once). */
const keptIds = (list: Json[]) =>
  new Set(
    list
      .filter((e) => resourceOf(e) !== "configmaps" && e.verb !== "get")
      .map((e) => `${e.auditID}:${e.stage}`),
  );

async function setup(): Promise<{ dir: string; config: string }> {
  const dir = await tempDir("vigil-k8s-");
  await writeFile(join(dir, "policy.yaml"), POLICY);
  const config = await writeConfig(dir, "audit:\n  policy_file: policy.yaml\n  exclude_events: [k8s.get]\n");
  return { dir, config };
}

describe("Kubernetes webhook and import", () => {
  it("records an EventList as the policy says, imports a log file, and the records verify", async () => {
    const { config } = await setup();
    const vigil = await startVigil({ args: ["--config", config] });
    const audit = join(vigil.dataDir, "audit.log");
    const postList = (body: unknown) =>
      fetch(`${vigil.url}/v1/k8s/audit`, {
        method: "POST",
        headers: { authorization: `Bearer ${vigil.token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    try {
      const items = readdirSync(FALCO)
        .filter((f) => f !== "fal_01_003.json") // `{"kind": 0}`: no event
        .flatMap((f) => events(join(FALCO, f)));
      const res = await postList({ kind: "EventList", apiVersion: "audit.k8s.io/v1", items });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { accepted: number; excluded: number; events: { status: string }[] };
      expect(body.events).toHaveLength(items.length);
      expect(body.accepted).toBe(keptIds(items).size);
      expect(body.excluded).toBeGreaterThan(0);

      expect((await postList({ kind: "EventList", apiVersion: "audit.k8s.io/v1", items: [] })).status).toBe(
        200,
      );

      const bad = await postList({
        kind: "EventList",
        items: [falco("create_secret.json"), { kind: "Event", verb: "get" }],
      });
      expect(bad.status).toBe(400);
      expect(bad.headers.get("content-type")).toContain("application/problem+json");
      expect(((await bad.json()) as { detail: string }).detail).toContain("items[1].auditID");

      await waitForDelivery(vigil);
      const byId = new Map((await readRecords(audit)).map((r) => [r.event.event_id as string, r.event]));
      const recorded = (name: string) => {
        const e = falco(name);
        const event = byId.get(`${e.auditID}:${e.stage}`);
        return (event?.details as { kubernetes: Json } | undefined)?.kubernetes;
      };
      // Secrets: RequestResponse by policy, but the API server sent Metadata; no body reaches the record.
      const secret = recorded("create_secret.json");
      expect(secret?.level).toBe("Metadata");
      expect(secret).not.toHaveProperty("requestObject");
      expect(secret).not.toHaveProperty("responseObject");
      const rbac = recorded("create_clusterrole.json");
      expect(rbac?.level).toBe("RequestResponse");
      expect(rbac?.requestObject).toEqual(falco("create_clusterrole.json").requestObject);
      expect(rbac?.responseObject).toEqual(falco("create_clusterrole.json").responseObject);
      const pod = recorded("create_nginx_pod_privileged.json");
      expect(pod?.level).toBe("Request");
      expect(pod).toHaveProperty("requestObject");
      expect(pod).not.toHaveProperty("responseObject");
      expect(recorded("create_configmap.json")).toBeUndefined(); // level None
      expect(recorded("create_nginx_pod_unsensitive_mount.json")).toBeUndefined(); // exclude_events k8s.get

      const log = join(K8S, "audit2rbac-demo.log");
      const imported = await runVigil([
        "import",
        "--format",
        "kubernetes",
        log,
        "--url",
        vigil.url,
        "--token",
        vigil.token,
      ]);
      expect(imported.stderr).toBe("");
      expect(imported.code).toBe(0);
      const logEvents = events(log);
      const kept = keptIds(logEvents).size;
      expect(imported.stdout).toBe(
        `${log}: sent ${logEvents.length}, recorded ${kept}, excluded ${logEvents.length - kept}\n`,
      );
      await waitForDelivery(vigil);
      const records = await readRecords(audit);
      expect(records).toHaveLength(keptIds(items).size + kept);
      expect(records.every((r) => (r.event.origin as { source: string }).source === "k8s-webhook")).toBe(
        true,
      );
    } finally {
      await vigil.stop();
    }
    const verified = await runVigil(["verify", "--data-dir", vigil.dataDir, audit]);
    expect(verified.code).toBe(0);
  });

  it("import refuses a malformed line before sending anything", async () => {
    const dir = await tempDir("vigil-k8s-");
    const file = join(dir, "audit.log");
    await writeFile(file, `${JSON.stringify(falco("create_secret.json"))}\n{"kind":\n`);
    const run = await runVigil([
      "import",
      "--format",
      "kubernetes",
      file,
      "--url",
      "http://127.0.0.1:9",
      "--token",
      "x",
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${file}:2: malformed JSON`);
  });

  it("import refuses a record that is not a Kubernetes audit event (a GKE LogEntry) before sending anything", async () => {
    // Line 4 of the elastic fixture is a GKE Cloud Audit LogEntry; nothing listens at the URL, so any attempt to
    // send would fail differently.
    const run = await runVigil([
      "import",
      "--format",
      "kubernetes",
      fixturePath("k8s/elastic-integrations-test-audit.log"),
      "--url",
      "http://127.0.0.1:9",
      "--token",
      "x",
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/elastic-integrations-test-audit\.log:4: not a Kubernetes audit event/);
  });

  it("config validate reports a bad policy_file with the policy file's own line", async () => {
    const { dir, config } = await setup();
    await writeFile(join(dir, "policy.yaml"), POLICY.replace("level: Request\n", "level: Everything\n"));
    const run = await runVigil(["config", "validate", config]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      /line 2: audit\.policy_file: policy\.yaml line 23: rules\[4\]\.level: unsupported value "Everything"/,
    );
  });
});
