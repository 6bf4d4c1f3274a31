import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runInProcess } from "../../../test/support/run-in-process.ts";
import { policyCommand } from "./policy.ts";

const SHARED = new URL("../../../../shared/", import.meta.url);
const FALCO = new URL("fixtures/k8s/falco-k8s_audit/", SHARED);

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "vigil-policy-cli-"));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const run = (args: string[]) => runInProcess(policyCommand(), ["test", ...args]);

async function write(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

/** The YAML block of spec/002 under a heading. */
async function specPolicy(heading: string): Promise<string> {
  const text = await readFile(new URL("spec/002_6731cb9eaa4b4e70.txt", SHARED), "utf8");
  const after = text.slice(text.indexOf(`### ${heading}\n`));
  const start = after.indexOf("```yaml\n") + "```yaml\n".length;
  return after.slice(start, after.indexOf("\n```", start) + 1);
}

/** The first line of each falco capture, as one NDJSON file. */
async function falcoEvents(names: string[]): Promise<string> {
  const lines = await Promise.all(
    names.map(async (n) => (await readFile(new URL(n, FALCO), "utf8")).split("\n")[0] as string),
  );
  return write("events.ndjson", `${lines.join("\n")}\n`);
}

const FALCO_FILES = [
  "create_secret.json",
  "exec_pod.json",
  "create_clusterrolebinding.json",
  "create_deployment.json",
  "create_configmap.json",
];

describe("vigil policy test: Kubernetes policies", () => {
  it("prints rule, level and what is kept for each falco event under the spec/002 policy", async () => {
    const policy = await write("audit-policy.yaml", await specPolicy("Audit Policy File"));
    const r = await run([policy, await falcoEvents(FALCO_FILES)]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out.split("\n")).toEqual([
      "line 1: 55a81824-ab56-46c5-8b02-96336f5e78d7:ResponseComplete k8s.create — rule 0, level RequestResponse: keep (metadata, request and response bodies); omit stages RequestReceived",
      "line 2: ca1ed9f4-7bf4-4c85-81a8-1b11253d1ba6:ResponseStarted k8s.create — rule 1, level Metadata: keep (metadata only, request and response bodies stripped); omit stages RequestReceived",
      "line 3: e040d0ab-473c-442c-9707-88553173e962:ResponseComplete k8s.create — rule 2, level RequestResponse: keep (metadata, request and response bodies); omit stages RequestReceived",
      // falco's deployment is in the old `extensions` group, which rule 3 (apps) does not name.
      "line 4: c5be68f4-80b8-4159-adc4-76ddb195334e:ResponseComplete k8s.create — rule 5, level Metadata: keep (metadata only, request and response bodies stripped); omit stages RequestReceived",
      "line 5: 155b887c-c27c-4fdb-9667-999f74512d0a:ResponseComplete k8s.create — rule 5, level Metadata: keep (metadata only, request and response bodies stripped); omit stages RequestReceived",
      "",
    ]);
  });

  it("drops level None and omitted stages, and passes events from elsewhere", async () => {
    const policy = await write("minimal.yaml", await specPolicy("Minimal Security Policy"));
    const secret = (await readFile(new URL("create_secret.json", FALCO), "utf8")).split("\n")[0] as string;
    const received = JSON.stringify({ ...JSON.parse(secret), stage: "RequestReceived" });
    const configmap = (await readFile(new URL("create_configmap.json", FALCO), "utf8")).split(
      "\n",
    )[0] as string;
    const native = JSON.stringify({ event_type: "backup.completed", event_id: "b1" });
    const events = await write("events.ndjson", `${received}\n\n${configmap}\n${native}\n`);
    const r = await run([policy, events, "--json"]);
    expect(r.code).toBe(0);
    expect(
      r.out
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l)),
    ).toEqual([
      {
        line: 1,
        event_id: "55a81824-ab56-46c5-8b02-96336f5e78d7:RequestReceived",
        event_type: "k8s.create",
        rule: 0,
        level: "Metadata",
        omitted_stages: ["RequestReceived"],
        keep: false,
        detail: "stage RequestReceived omitted",
      },
      {
        line: 3,
        event_id: "155b887c-c27c-4fdb-9667-999f74512d0a:ResponseComplete",
        event_type: "k8s.create",
        rule: 2,
        level: "None",
        omitted_stages: ["RequestReceived"],
        keep: false,
        detail: "not recorded",
      },
      {
        line: 4,
        event_id: "b1",
        event_type: "backup.completed",
        rule: null,
        keep: true,
        detail: "not a Kubernetes request: the policy does not apply",
      },
    ]);
  });

  it("exits 2 for a policy kube-apiserver refuses, naming key path and line", async () => {
    const policy = await write(
      "bad.yaml",
      "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Metadata\n  - resources: [{group: ''}]\n",
    );
    const r = await run([policy, await falcoEvents(["create_secret.json"])]);
    expect(r.code).toBe(2);
    expect(r.out).toBe("");
    expect(r.err).toContain(`${policy}: line 5: rules[1].level:`);
  });
});

describe("vigil policy test: Vigil filters", () => {
  const redpanda = async () => {
    const text = await readFile(new URL("fixtures/redpanda-ocsf-samples.ndjson", SHARED), "utf8");
    return write("redpanda.ndjson", text);
  };

  it("prints the glob or filter deciding each event of the Redpanda fixture", async () => {
    const policy = await write(
      "vigil.yaml",
      [
        "exclude_events: ['api.*']",
        "enabled_event_types: [produce, authenticate, management]",
        "excluded_topics: [sales-topic]",
        "excluded_principals: ['User:admin']",
        "",
      ].join("\n"),
    );
    const r = await run([policy, await redpanda()]);
    expect(r.code).toBe(0);
    const lines = r.out.trim().split("\n");
    expect(lines.slice(0, 7)).toEqual([
      "line 1: - auth.login — all events: keep (whole event, Redpanda type authenticate)",
      "line 2: - auth.login — all events: keep (whole event, Redpanda type authenticate)",
      "line 3: - auth.failed — excluded_principals User:admin: drop (principal excluded, Redpanda type authenticate)",
      "line 4: - kafka.createacls — excluded_principals User:admin: drop (principal excluded, Redpanda type management)",
      "line 5: - kafka.produce — excluded_topics sales-topic: drop (topic excluded, Redpanda type produce)",
      "line 6: - kafka.metadata — enabled_event_types: drop (type describe not enabled)",
      "line 7: - api.read — exclude_events api.*: drop (excluded)",
    ]);
  });

  it("names the events glob that keeps an event", async () => {
    const policy = await write("vigil.yaml", "events: ['auth.log*', 'kafka.*']\n");
    const r = await run([policy, await redpanda()]);
    expect(r.out.trim().split("\n").slice(0, 5)).toEqual([
      "line 1: - auth.login — events auth.log*: keep (whole event, Redpanda type authenticate)",
      "line 2: - auth.login — events auth.log*: keep (whole event, Redpanda type authenticate)",
      "line 3: - auth.failed — events: drop (no glob in events matches)",
      "line 4: - kafka.createacls — events kafka.*: keep (whole event, Redpanda type management)",
      "line 5: - kafka.produce — events kafka.*: keep (whole event, Redpanda type produce)",
    ]);
  });

  it("exits 2 for unknown keys, unknown event types and the audit topic, with key path and line", async () => {
    const events = await redpanda();
    const unknown = await write("unknown.yaml", "events: ['a.*']\nexcluded_topic: [x]\n");
    const r1 = await run([unknown, events]);
    expect(r1.code).toBe(2);
    expect(r1.err).toContain(`${unknown}: line 2: excluded_topic: unknown key`);

    const bad = await write(
      "bad.yaml",
      "enabled_event_types:\n  - produce\n  - consumer\nexcluded_topics:\n  - tmp\n  - vigil-audit\n",
    );
    const r2 = await run([bad, events, "--audit-topic", "vigil-audit"]);
    expect(r2.code).toBe(2);
    expect(r2.out).toBe("");
    expect(r2.err).toContain(`${bad}: line 3: enabled_event_types[1]: unknown event type "consumer"`);
    expect(r2.err).toContain(
      `${bad}: line 6: excluded_topics[1]: cannot exclude the audit topic "vigil-audit"`,
    );
    // Excluding a topic is refused only when it is the audit topic.
    const good = await write("good.yaml", "excluded_topics: [vigil-audit]\n");
    expect((await run([good, events])).code).toBe(0);
    expect((await run([good, events, "--audit-topic", "vigil-audit"])).code).toBe(2);
  });

  it("exits 2 naming an input line that is not JSON or not an event", async () => {
    const policy = await write("vigil.yaml", "events: ['*']\n");
    const notJson = await write("a.ndjson", '{"event_type":"a.b"}\n{oops\n');
    const r1 = await run([policy, notJson]);
    expect(r1.code).toBe(2);
    expect(r1.out).toBe("");
    expect(r1.err).toContain(`${notJson}: line 2: not JSON`);
    const notEvent = await write("b.ndjson", '{"event_type":"a.b"}\n\n{"hello":1}\n');
    const r2 = await run([policy, notEvent]);
    expect(r2.code).toBe(2);
    expect(r2.err).toContain(`${notEvent}: line 3: not a Kubernetes, OCSF or CloudEvents record`);
  });
});

describe("vigil policy test: redaction", () => {
  /** A Secret created through the API, with its values in the request and response bodies. */
  const secretEvent = (stage: string) =>
    JSON.stringify({
      kind: "Event",
      apiVersion: "audit.k8s.io/v1",
      level: "RequestResponse",
      auditID: `a-${stage}`,
      stage,
      requestURI: "/api/v1/namespaces/prod/secrets",
      verb: "create",
      user: { username: "alice", groups: ["system:authenticated"] },
      objectRef: { resource: "secrets", namespace: "prod", name: "db", apiVersion: "v1" },
      requestObject: { kind: "Secret", apiVersion: "v1", data: { password: "aHVudGVyMg==" } },
      responseObject: { kind: "Secret", apiVersion: "v1", data: { password: "aHVudGVyMg==" } },
      requestReceivedTimestamp: "2026-11-22T10:00:00.000000Z",
      stageTimestamp: "2026-11-22T10:00:00.100000Z",
    });
  const policy = (level: string) =>
    write("p.yaml", `apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: ${level}\n`);

  it("shows the Secret values the server would redact, only in the bodies the level keeps", async () => {
    const events = await write("s.ndjson", `${secretEvent("ResponseComplete")}\n`);
    const full = await run([await policy("RequestResponse"), events, "--json"]);
    expect(JSON.parse(full.out)).toMatchObject({
      keep: true,
      redacted: [
        "details.kubernetes.requestObject.data.password",
        "details.kubernetes.responseObject.data.password",
      ],
    });
    const request = JSON.parse((await run([await policy("Request"), events, "--json"])).out);
    expect(request.redacted).toEqual(["details.kubernetes.requestObject.data.password"]);
    const metadata = JSON.parse((await run([await policy("Metadata"), events, "--json"])).out);
    expect(metadata).not.toHaveProperty("redacted");
    const off = await run([await policy("RequestResponse"), events, "--json", "--no-kubernetes-secrets"]);
    expect(JSON.parse(off.out)).not.toHaveProperty("redacted");
  });

  it("applies a fragment's redaction fields and --redact paths, and refuses a bad path with exit 2", async () => {
    const events = await write(
      "e.ndjson",
      '{"event_type":"backup.started","details":{"password":"x","token":"y"}}\n',
    );
    const fragment = await write(
      "f.yaml",
      'events: ["backup.*"]\nredaction:\n  fields: [details.password]\n',
    );
    const r = await run([fragment, events, "--redact", "details.token"]);
    expect(r.out).toBe(
      "line 1: - backup.started — events backup.*: keep (whole event; redacted details.password, details.token)\n",
    );
    const bad = await run([fragment, events, "--redact", "details..x"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/redaction fields\[1\]/);
  });
});
