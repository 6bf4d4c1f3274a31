import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.ts";
import type { InputEvent } from "../event/schema.ts";
import { decode } from "../formats/decode.ts";
import { compileRedaction, omitManagedFields, REDACTED } from "./redact.ts";

const FALCO = new URL("../../../shared/fixtures/k8s/falco-k8s_audit/", import.meta.url);

async function falco(name: string): Promise<InputEvent> {
  const text = await readFile(new URL(name, FALCO), "utf8");
  // Some captures hold several events, one a line: the first is enough here.
  const [event] = decode(JSON.parse(text.split("\n")[0] as string));
  if (event === undefined) throw new Error(`${name}: no event`);
  return event;
}

/** Kubernetes Event of a decoded event. */
function k8s(event: InputEvent): Record<string, unknown> {
  return (event.details as { kubernetes: Record<string, unknown> }).kubernetes;
}

/** A decoded fixture with a body set on its Kubernetes Event (a copy; the fixture file is not changed). */
function withBody(event: InputEvent, body: "requestObject" | "responseObject", value: unknown): InputEvent {
  return { ...event, details: { ...event.details, kubernetes: { ...k8s(event), [body]: value } } };
}

describe("compileRedaction: field paths", () => {
  const event = {
    event_type: "user.created",
    actor: { id: "alice", user_agent: "curl/8" },
    details: {
      password: "hunter2",
      github: { token: "ghp_1", user: "a" },
      gitlab: { token: "glpat_2" },
      plain: "x",
      keys: [{ secret: "s1", id: 1 }, { id: 2 }, { secret: "s3" }],
    },
  };

  it("replaces values at plain, wildcard and array paths, and leaves the rest", () => {
    const { redact } = compileRedaction({
      fields: [
        "details.password",
        "details.*.token",
        "actor.user_agent",
        "details.keys.*.secret",
        "details.nope.x",
      ],
    });
    expect(redact(event)).toEqual({
      event_type: "user.created",
      actor: { id: "alice", user_agent: REDACTED },
      details: {
        password: REDACTED,
        github: { token: REDACTED, user: "a" },
        gitlab: { token: REDACTED },
        plain: "x",
        keys: [{ secret: REDACTED, id: 1 }, { id: 2 }, { secret: REDACTED }],
      },
    });
  });

  it("replaces a whole subtree, and indexes arrays by number", () => {
    const { redact } = compileRedaction({ fields: ["details.github", "details.keys.2.secret"] });
    const out = redact(event);
    expect(out.details.github).toBe(REDACTED);
    expect(out.details.keys).toEqual([{ secret: "s1", id: 1 }, { id: 2 }, { secret: REDACTED }]);
  });

  it("never modifies its input and always returns a new object", () => {
    const before = structuredClone(event);
    const { redact } = compileRedaction({ fields: ["details.*.token", "details.keys.*.secret"] });
    redact(event);
    expect(event).toEqual(before);
    const none = compileRedaction({ fields: [], kubernetesSecrets: false }).redact(event);
    expect(none).not.toBe(event);
    expect(none).toEqual(event);
  });

  it("does not reach the prototype through an own __proto__ key", () => {
    const hostile = JSON.parse(
      '{"event_type":"x.y","details":{"__proto__":{"token":"t"},"a":{"token":"u"}}}',
    );
    const out = compileRedaction({ fields: ["details.*.token"] }).redact(hostile);
    expect(out.details.a.token).toBe(REDACTED);
    expect(Object.getPrototypeOf(out.details)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).token).toBeUndefined();
  });

  it("refuses paths that name the prototype or have empty segments", () => {
    try {
      compileRedaction({ fields: ["details.ok", "details.__proto__.x", "a..b", "constructor.prototype"] });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ValidationError);
      expect((e as ValidationError).problems.map((p) => p.field)).toEqual([
        "fields[1]",
        "fields[2]",
        "fields[3]",
      ]);
      expect((e as ValidationError).problems[0]?.message).toContain('"__proto__" is not allowed');
    }
  });
});

describe("compileRedaction: Kubernetes Secrets", () => {
  const secretBody = {
    kind: "Secret",
    apiVersion: "v1",
    metadata: { name: "example-secret", namespace: "default" },
    type: "Opaque",
    data: { username: "YWRtaW4=", password: "MWYyZDFlMmU2N2Rm" },
    stringData: { note: "plain" },
  };

  it("redacts data and stringData of the falco create_secret event's bodies by default", async () => {
    const decoded = await falco("create_secret.json");
    expect(k8s(decoded).objectRef).toMatchObject({ resource: "secrets", name: "example-secret" });
    const event = withBody(withBody(decoded, "requestObject", secretBody), "responseObject", {
      ...secretBody,
      stringData: undefined,
    });
    const out = compileRedaction({}).redact(event);
    expect(k8s(out).requestObject).toEqual({
      ...secretBody,
      data: { username: REDACTED, password: REDACTED },
      stringData: { note: REDACTED },
    });
    expect(k8s(out).responseObject).toMatchObject({ data: { username: REDACTED, password: REDACTED } });
    // The rest of the event, and the input, are untouched.
    expect({ ...out, details: undefined }).toEqual({ ...event, details: undefined });
    expect((k8s(event).requestObject as typeof secretBody).data.password).toBe("MWYyZDFlMmU2N2Rm");
  });

  it("leaves the fixture as it is when it carries no body (level Metadata)", async () => {
    const event = await falco("create_secret.json");
    expect(compileRedaction({}).redact(event)).toEqual(event);
  });

  it("redacts every Secret of a list response and the values of a JSON patch", async () => {
    const decoded = await falco("create_secret.json");
    const list = { kind: "SecretList", items: [secretBody, { ...secretBody, data: { k: "dg==" } }] };
    const patch = [
      { op: "replace", path: "/data/password", value: "bmV3" },
      { op: "add", path: "/data", value: { a: "YQ==" } },
      { op: "replace", path: "/metadata/labels/x", value: "y" },
    ];
    const out = compileRedaction({}).redact(
      withBody(withBody(decoded, "responseObject", list), "requestObject", patch),
    );
    expect((k8s(out).responseObject as typeof list).items.map((i) => i.data)).toEqual([
      { username: REDACTED, password: REDACTED },
      { k: REDACTED },
    ]);
    expect(k8s(out).requestObject).toEqual([
      { op: "replace", path: "/data/password", value: REDACTED },
      { op: "add", path: "/data", value: { a: REDACTED } },
      { op: "replace", path: "/metadata/labels/x", value: "y" },
    ]);
  });

  it("leaves ConfigMaps alone unless a path names them, and can be switched off", async () => {
    const configmap = await falco("create_configmap_sensitive_values.json");
    expect(compileRedaction({}).redact(configmap)).toEqual(configmap);
    const out = compileRedaction({ fields: ["details.kubernetes.*.data.*"] }).redact(configmap);
    expect((k8s(out).requestObject as { data: object }).data).toEqual({
      "access.properties": REDACTED,
      "ui.properties": REDACTED,
    });
    const secret = withBody(await falco("create_secret.json"), "requestObject", secretBody);
    expect(compileRedaction({ kubernetesSecrets: false }).redact(secret)).toEqual(secret);
  });
});

describe("omitManagedFields", () => {
  it("strips metadata.managedFields from bodies and list items, without modifying the input", async () => {
    const decoded = await falco("create_configmap.json");
    const managed = [{ manager: "kubectl", operation: "Update" }];
    const event = withBody(
      withBody(decoded, "requestObject", {
        kind: "ConfigMap",
        metadata: { name: "c", managedFields: managed },
      }),
      "responseObject",
      {
        kind: "ConfigMapList",
        items: [{ metadata: { name: "c", managedFields: managed } }, { metadata: {} }],
      },
    );
    const out = omitManagedFields(event);
    expect(k8s(out).requestObject).toEqual({ kind: "ConfigMap", metadata: { name: "c" } });
    expect(k8s(out).responseObject).toEqual({
      kind: "ConfigMapList",
      items: [{ metadata: { name: "c" } }, { metadata: {} }],
    });
    expect((k8s(event).requestObject as { metadata: object }).metadata).toHaveProperty("managedFields");
    expect(omitManagedFields(decoded)).toBe(decoded);
  });
});

describe("Secret values copied by kubectl apply", () => {
  it("redacts the last-applied-configuration annotation of a Secret body, in lists and in JSON patches", () => {
    const lastApplied = JSON.stringify({ apiVersion: "v1", kind: "Secret", data: { password: "c2VjcmV0" } });
    const body = {
      kind: "Secret",
      metadata: {
        name: "db",
        annotations: { "kubectl.kubernetes.io/last-applied-configuration": lastApplied },
      },
      data: { password: "c2VjcmV0" },
    };
    const event = {
      event_type: "k8s.update",
      details: {
        kubernetes: {
          kind: "Event",
          objectRef: { resource: "secrets", apiGroup: "" },
          requestObject: body,
          responseObject: { kind: "SecretList", items: [body] },
        },
      },
    };
    const out = JSON.stringify(compileRedaction({}).redact(event));
    expect(out).not.toContain("c2VjcmV0");
    expect(out).toContain('"kubectl.kubernetes.io/last-applied-configuration":"<redacted>"');
    const patch = {
      event_type: "k8s.patch",
      details: {
        kubernetes: {
          kind: "Event",
          objectRef: { resource: "secrets", apiGroup: "" },
          requestObject: [{ op: "replace", path: "/metadata/annotations", value: { x: lastApplied } }],
        },
      },
    };
    expect(JSON.stringify(compileRedaction({}).redact(patch))).not.toContain("c2VjcmV0");
  });

  it("refuses to redact fields every record needs", () => {
    expect(() => compileRedaction({ fields: ["details.ok", "timestamp", "integrity.signature"] })).toThrow(
      /fields\[1\].*timestamp is required|timestamp is required/,
    );
  });
});
