import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { firstProblem } from "../../../test/support/fixtures.ts";
import { EVENT_ID_PATTERN, type InputEvent } from "../../event/schema.ts";
import { prepareEvents } from "../../event/validate.ts";
import { decodeKubernetes } from "./decode.ts";

const K8S = fileURLToPath(new URL("../../../../shared/fixtures/k8s/", import.meta.url));
const FALCO = `${K8S}falco-k8s_audit/`;
/** falco's directory also holds a file that is no event at all (see below). */
const NOT_AN_EVENT = "fal_01_003.json";

type Json = Record<string, unknown>;

/** A fixture file: one event, or one event per line. */
function records(path: string): Json[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as Json);
}

function one(record: unknown): InputEvent {
  const events = decodeKubernetes(record);
  expect(events).toHaveLength(1);
  return events[0] as InputEvent;
}

/** Passes the native validation exactly as ingest would; throws its ValidationError otherwise. */
function admit(events: InputEvent[]): void {
  expect(
    prepareEvents(
      events.map((value) => ({ value })),
      { source: "test" },
    ),
  ).toHaveLength(events.length);
}

const problem = firstProblem;

const falcoFiles = readdirSync(FALCO).filter((f) => f !== NOT_AN_EVENT);
const falco = falcoFiles.flatMap((f) => records(`${FALCO}${f}`).map((record) => ({ file: f, record })));
const audit2rbac = records(`${K8S}audit2rbac-demo.log`);
const elastic = records(`${K8S}elastic-integrations-test-audit.log`);
const falcoEvent = (file: string) => records(`${FALCO}${file}`)[0] as Json;

describe("decodeKubernetes: every fixture", () => {
  it("reads all falco captures (v1beta1, v1 and Events without apiVersion)", () => {
    expect(falcoFiles).toHaveLength(46);
    expect(falco).toHaveLength(51);
    const versions = new Set(falco.map(({ record }) => record.apiVersion));
    expect(versions).toEqual(new Set(["audit.k8s.io/v1beta1", "audit.k8s.io/v1", undefined]));
  });

  it.each([
    ["falco", falco.map(({ record }) => record)],
    ["audit2rbac", audit2rbac],
    ["elastic plain v1", elastic.slice(0, 3)],
  ])("%s: each record decodes to a valid native event that keeps the whole original", (_, list) => {
    expect(list.length).toBeGreaterThan(0);
    for (const record of list) {
      const event = one(record);
      expect(event.event_type).toBe(`k8s.${record.verb}`);
      expect(event.context?.correlation_id).toBe(record.auditID);
      expect(event.details).toEqual({ kubernetes: record });
      admit([event]);
    }
  });

  it("audit2rbac: all 37 lines, denied where the API server answered 403", () => {
    const events = audit2rbac.map(one);
    expect(events).toHaveLength(37);
    expect(events.filter((e) => e.action?.result === "denied")).toHaveLength(11);
    expect(events.filter((e) => e.action?.result === "success")).toHaveLength(26);
  });

  it("refuses fal_01_003.json, which is not an event", () => {
    const value = JSON.parse(readFileSync(`${FALCO}${NOT_AN_EVENT}`, "utf8"));
    expect(value).toEqual({ kind: 0 });
    expect(problem(() => decodeKubernetes(value))).toEqual({
      field: "kind",
      message: 'must be "Event" or "EventList"',
    });
  });
});

describe("decodeKubernetes: mapped values", () => {
  it("falco, no apiVersion: exec into a pod is pods/exec, started with 101, stage in the id", () => {
    const record = falcoEvent("exec_pod.json");
    expect(record.apiVersion).toBeUndefined();
    expect(one(record)).toEqual({
      event_type: "k8s.create",
      event_id: "ca1ed9f4-7bf4-4c85-81a8-1b11253d1ba6:ResponseStarted",
      timestamp: "2018-10-26T13:38:34.867116Z",
      actor: {
        type: "user",
        id: "minikube-user",
        roles: ["system:masters", "system:authenticated"],
        ip_address: "192.168.99.1",
      },
      resource: {
        type: "pods/exec",
        id: "nginx-deployment-7998647bdf-phvq7",
        namespace: "default",
        api_version: "v1",
        path: "/api/v1/namespaces/default/pods/nginx-deployment-7998647bdf-phvq7/exec?command=bash&container=nginx1&container=nginx1&stdin=true&stdout=true&tty=true",
      },
      // ResponseStarted: the exec session is still open, so there is no duration yet.
      action: { operation: "create", result: "success", status_code: 101 },
      context: { correlation_id: "ca1ed9f4-7bf4-4c85-81a8-1b11253d1ba6" },
      details: { kubernetes: record },
    });
  });

  it("falco v1beta1: a service account creating a pod over IPv6, with its duration in microseconds", () => {
    const event = one(falcoEvent("create_nginx_pod_privileged.json"));
    expect(event.actor).toEqual({
      type: "serviceaccount",
      id: "system:serviceaccount:kube-system:replicaset-controller",
      roles: ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
      ip_address: "::1",
    });
    expect(event.resource).toEqual({
      type: "pods",
      namespace: "default",
      api_version: "v1",
      path: "/api/v1/namespaces/default/pods",
    });
    const record = falcoEvent("create_nginx_pod_privileged.json");
    expect(record.apiVersion).toBe("audit.k8s.io/v1beta1");
    expect(event.timestamp).toBe(record.requestReceivedTimestamp);
    expect(event.action).toMatchObject({ operation: "create", result: "success", status_code: 201 });
  });

  it("falco v1: a secret created with kubectl, with the API group of a cluster role elsewhere", () => {
    const secret = one(falcoEvent("create_secret.json"));
    expect(secret.actor?.user_agent).toBe("kubectl/v1.17.3 (darwin/amd64) kubernetes/06ad960");
    expect(secret.resource).toMatchObject({ type: "secrets", id: "example-secret", namespace: "default" });
    const role = one(falcoEvent("delete_clusterrole.json"));
    expect(role.event_type).toBe("k8s.delete");
    expect(role.resource).toMatchObject({
      type: "clusterroles",
      id: "some-reader",
      api_group: "rbac.authorization.k8s.io",
    });
    expect(role.resource).not.toHaveProperty("namespace");
  });

  it("audit2rbac (2017): impersonation, 403 as denied, the old `timestamp` as the time", () => {
    const record = audit2rbac[0] as Json;
    expect(record.requestReceivedTimestamp).toBeUndefined();
    expect(one(record)).toEqual({
      event_type: "k8s.list",
      event_id: "033d17af-082d-4b24-aa22-627752e83d71:ResponseComplete",
      timestamp: "2017-09-11T19:55:05Z",
      actor: {
        type: "user",
        id: "system:admin",
        roles: ["system:masters", "system:authenticated"],
        ip_address: "::1",
        impersonated_user: { type: "user", id: "bob", roles: ["system:authenticated"] },
      },
      resource: {
        type: "pods",
        namespace: "default",
        api_version: "v1",
        path: "/api/v1/namespaces/default/pods",
      },
      action: { operation: "list", result: "denied", status_code: 403 },
      context: { correlation_id: "033d17af-082d-4b24-aa22-627752e83d71" },
      details: { kubernetes: record },
    });
  });

  it("audit2rbac: a non-resource request has only a path; an impersonated service account is one", () => {
    const nonResource = one(audit2rbac.find((r) => r.requestURI === "/apis"));
    expect(nonResource.resource).toEqual({ path: "/apis" });
    const impersonated = audit2rbac.map((r) => (one(r).actor as Json | undefined)?.impersonated_user);
    expect(impersonated).toContainEqual({
      type: "serviceaccount",
      id: "system:serviceaccount:ns1:sa1",
      roles: ["system:serviceaccounts", "system:serviceaccounts:ns1", "system:authenticated"],
    });
  });

  it("elastic v1: the duration from receipt to completion, to the microsecond", () => {
    const event = one(elastic[0]);
    expect(event.event_id).toBe("abcde12345:ResponseComplete");
    expect(event.action).toEqual({ operation: "get", result: "success", status_code: 200, duration_ms: 3.3 });
    // A `system:serviceaccounts:` group-like name is a user; only `system:serviceaccount:` is an account.
    expect(event.actor?.type).toBe("user");
    expect(one(elastic[1]).actor?.type).toBe("serviceaccount");
  });
});

describe("decodeKubernetes: wrapped records", () => {
  const gke = elastic[3] as Json;
  const aks = elastic[4] as Json;

  it("unwraps the AKS diagnostic record: the Event, the cluster, and the envelope without the Event", () => {
    const { log, ...properties } = aks.properties as Json;
    const event = one(aks);
    expect(event.event_type).toBe("k8s.update");
    expect(event.actor).toMatchObject({ id: "aksService", ip_address: "67.43.156.1" });
    expect(event.context).toEqual({
      correlation_id: "abcde12345",
      cluster_id:
        "/SUBSCRIPTIONS/1234567890/RESOURCEGROUPS/TEST-RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/TEST-AKS",
    });
    expect(event.details).toEqual({ kubernetes: log, aks: { ...aks, properties } });
    admit([event]);
  });

  it("unwraps an AKS record whose properties.log is the Event as a JSON string", () => {
    const props = aks.properties as Json;
    const asString = { ...aks, properties: { ...props, log: JSON.stringify(props.log) } };
    expect(decodeKubernetes(asString)).toEqual(decodeKubernetes(aks));
    const broken = { ...aks, properties: { ...props, log: "{" } };
    expect(problem(() => decodeKubernetes(broken))?.field).toBe("properties.log");
    const inner = { ...aks, properties: { ...props, log: { ...(props.log as Json), verb: "" } } };
    expect(problem(() => decodeKubernetes(inner))).toEqual({
      field: "properties.log.verb",
      message: "is required",
    });
  });

  it("refuses the GKE Cloud Audit Logs LogEntry: it holds GCP's AuditLog, not the Event", () => {
    expect(problem(() => decodeKubernetes(gke))).toEqual({
      field: "protoPayload",
      message:
        "a Google Cloud Audit Logs LogEntry (GKE) holds GCP's AuditLog record, not an audit.k8s.io Event",
    });
  });
});

describe("decodeKubernetes: EventList (webhook batches)", () => {
  const withoutType = elastic.slice(0, 3).map(({ kind: _k, apiVersion: _v, ...rest }) => rest);

  it("yields one event per item; items get the list's type, as the log backend writes them", () => {
    const events = decodeKubernetes({
      kind: "EventList",
      apiVersion: "audit.k8s.io/v1",
      metadata: {},
      items: withoutType,
    });
    expect(events).toHaveLength(3);
    expect(events.map((e) => e.details)).toEqual(elastic.slice(0, 3).map((kubernetes) => ({ kubernetes })));
    admit(events);
  });

  it("names the item that does not fit", () => {
    const items = [withoutType[0], { ...withoutType[1], verb: 7 }];
    expect(
      problem(() => decodeKubernetes({ kind: "EventList", apiVersion: "audit.k8s.io/v1", items })),
    ).toEqual({
      field: "items[1].verb",
      message: "is required",
    });
    expect(problem(() => decodeKubernetes({ kind: "EventList", items: {} }))?.field).toBe("items");
    expect(problem(() => decodeKubernetes({ kind: "EventList", items: [3] }))?.field).toBe("items[0]");
  });
});

describe("decodeKubernetes: results, ids and refusals", () => {
  const base = elastic[0] as Json;

  it("maps the response code: 401 and 403 denied, other ≥ 400 failure, none when no response yet", () => {
    const result = (responseStatus: unknown) => one({ ...base, responseStatus }).action?.result;
    expect(result({ code: 401 })).toBe("denied");
    expect(result({ code: 404 })).toBe("failure");
    expect(result({ code: 500 })).toBe("failure");
    expect(result({ code: 399 })).toBe("success");
    expect(result({ status: "Failure" })).toBe("failure");
    expect(result(undefined)).toBeUndefined();
  });

  it("takes the time from requestReceivedTimestamp, else `timestamp`, else metadata.creationTimestamp", () => {
    const { requestReceivedTimestamp: _, ...old } = base;
    const metadata = { creationTimestamp: "2017-09-11T19:55:06Z" };
    expect(one({ ...old, timestamp: "2017-09-11T19:55:05Z", metadata }).timestamp).toBe(
      "2017-09-11T19:55:05Z",
    );
    expect(one({ ...old, metadata }).timestamp).toBe("2017-09-11T19:55:06Z");
  });

  it("gives each stage of one request its own id and the same correlation id", () => {
    const received = one({ ...base, stage: "RequestReceived", responseStatus: undefined });
    const complete = one(base);
    expect(received.event_id).not.toBe(complete.event_id);
    expect(received.context).toEqual(complete.context);
  });

  it("rewrites an auditID outside the id alphabet the same way every time", () => {
    const odd = one({ ...base, auditID: "audit/ID with spaces" });
    expect(odd.event_id).toMatch(new RegExp(EVENT_ID_PATTERN));
    expect(odd.event_id).toMatch(/^audit_ID_with_spaces:ResponseComplete:[0-9a-f]{32}$/);
    expect(one({ ...base, auditID: "audit/ID with spaces" }).event_id).toBe(odd.event_id);
    expect(one({ ...base, auditID: "audit ID/with spaces" }).event_id).not.toBe(odd.event_id);
    const long = one({ ...base, auditID: "a".repeat(200) });
    expect(long.event_id?.length).toBeLessThanOrEqual(128);
    admit([odd, long]);
  });

  it("keeps values that do not fit a native field out of the view only", () => {
    const event = one({
      ...base,
      sourceIPs: ["not-an-ip", "10.0.0.1"],
      requestURI: `/${"x".repeat(5000)}`,
      verb: "Custom.Verb",
    });
    expect(event.actor).not.toHaveProperty("ip_address");
    expect(event.resource).not.toHaveProperty("path");
    expect(event.event_type).toBe("k8s.custom_verb");
    expect(event.action?.operation).toBe("Custom.Verb");
    admit([event]);
  });

  it("neither changes nor shares the input", () => {
    const record = structuredClone(base);
    const event = one(record);
    const { kubernetes } = event.details as { kubernetes: Json };
    kubernetes.verb = "changed";
    expect(record).toEqual(base);
  });

  it("refuses what is not an audit.k8s.io Event, naming the field", () => {
    expect(problem(() => decodeKubernetes([base]))?.field).toBe("");
    expect(problem(() => decodeKubernetes({ ...base, apiVersion: "v1" }))).toEqual({
      field: "apiVersion",
      message: "must be one of audit.k8s.io/v1, audit.k8s.io/v1beta1",
    });
    expect(problem(() => decodeKubernetes({ ...base, auditID: undefined }))?.field).toBe("auditID");
    expect(problem(() => decodeKubernetes({ ...base, requestReceivedTimestamp: "yesterday" }))?.field).toBe(
      "requestReceivedTimestamp",
    );
    const { requestReceivedTimestamp: _, ...untimed } = base;
    expect(problem(() => decodeKubernetes(untimed))).toEqual({
      field: "requestReceivedTimestamp",
      message: "is required",
    });
    expect(problem(() => decodeKubernetes({ ...base, verb: "..." }))?.field).toBe("verb");
  });
});
