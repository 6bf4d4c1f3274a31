import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileQuery, QueryError } from "./cel.ts";
import { QUERY_COLUMNS } from "./fields.ts";

type Ev = Record<string, unknown> & { event_id: string };

const base = { version: "1.0", received_at: "2026-11-01T10:00:00.123Z", origin: { source: "http" } };
const EVENTS: Ev[] = [
  {
    ...base,
    event_id: "e1",
    event_type: "backup.failed",
    timestamp: "2026-11-01T09:00:00Z",
    actor: { type: "service", id: "system:serviceaccount:ops:backup", roles: ["admin", "ops"] },
    context: { environment: "production", cluster_id: "c1" },
    action: { operation: "create", result: "failure", duration_ms: 1500 },
    details: { code: 500, reason: "disk full", retry: true, nested: { level: "x_%" } },
  },
  {
    ...base,
    event_id: "e2",
    event_type: "access.denied",
    timestamp: "2026-10-31T23:59:59.999Z",
    actor: { type: "user", id: "bob@company.com", ip_address: "203.0.113.7", roles: [] },
    resource: { type: "secrets", id: "db-password", path: "/api/v1/namespaces/production/secrets/db" },
    action: { operation: "get", result: "denied" },
    context: { environment: "staging" },
    details: { code: "403", operation: "read", resource: "secrets", nested: null },
  },
  {
    ...base,
    event_id: "e3",
    event_type: "restore.completed",
    timestamp: "2026-11-02T00:00:00Z",
    resource: { type: "pods/exec", id: "web-1" },
    action: { operation: "create", duration_ms: 20 },
    details: {
      code: 200.5,
      kubernetes: { verb: "create", objectRef: { resource: "pods", subresource: "exec" } },
    },
  },
  {
    ...base,
    event_id: "e4",
    event_type: "rbac.role_changed",
    timestamp: "2026-11-01T00:00:00Z",
    actor: { id: "alice", ip_address: "10.0.0.5", roles: ["admin"] },
    resource: {
      type: "clusterrolebindings",
      path: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/x",
    },
    action: { operation: "delete", result: "success" },
    details: { kubernetes: { objectRef: { apiGroup: "rbac.authorization.k8s.io" } } },
  },
  { ...base, event_id: "e5", event_type: "auth.login", timestamp: "2026-11-01T00:00:00.0005Z" },
];

/** Expressions: spec/000 and spec/002 jq questions in CEL form, plus edge cases. */
const EXPRESSIONS = [
  // spec/000 "Searching and Analysis"
  `event_type == 'backup.failed'`,
  `event_type == 'access.denied' and actor.id == 'bob@company.com'`,
  `timestamp >= timestamp('2026-11-01T00:00:00Z') and timestamp < timestamp('2026-11-02T00:00:00Z') and event_type.startsWith('backup')`,
  `timestamp >= timestamp('2026-11-01T00:00:00Z') and timestamp < timestamp('2026-11-03T00:00:00Z') and event_type.startsWith('restore')`,
  `timestamp >= timestamp('2026-10-01T00:00:00Z') and event_type == 'access.denied'`,
  `event_type == 'backup.failed' and context.environment == 'production'`,
  // spec/002 "Analyzing Audit Logs", over the native mapping of Kubernetes events
  `resource.type == 'secrets'`,
  `resource.type == 'pods/exec' or resource.type == 'pods/attach'`,
  `details.kubernetes.objectRef.apiGroup == 'rbac.authorization.k8s.io' and action.operation in ['create', 'update', 'delete']`,
  `not (actor.ip_address.startsWith('10.') or actor.ip_address.startsWith('192.168.'))`,
  `resource.type == 'secrets' or resource.type == 'serviceaccounts' or details.kubernetes.objectRef.apiGroup == 'rbac.authorization.k8s.io'`,
  `action.operation == 'create' or action.operation == 'update' or action.operation == 'delete' or action.operation == 'patch'`,
  `resource.path.contains('/namespaces/production/')`,
  `actor.id.startsWith('system:serviceaccount:')`,
  `actor.id == 'suspicious-user@example.com'`,
  // edge cases: missing fields, negation, types, details, lists
  `actor.id != 'bob@company.com'`,
  `!(actor.id == 'bob@company.com')`,
  `actor.id == 'alice' || event_type == 'auth.login'`,
  `'admin' in actor.roles`,
  `!('admin' in actor.roles)`,
  `action.duration_ms > 100`,
  `action.duration_ms <= 20.0`,
  `details.code == 500`,
  `details.code >= 200`,
  `details.code != 500`,
  `details.code == '403'`,
  `details.code != '403'`,
  `details.code < 300`,
  `details.code in [200.5, 500.0]`,
  `details.code in [500, 200]`,
  `details.code in ['403']`,
  `details.retry == true`,
  `details.retry != false`,
  `details.nested.level.endsWith('_%')`,
  `details.nested.level == 'x_%'`,
  `details.nested == 'x'`,
  `details.nested != 'x'`,
  `details.reason.contains('full')`,
  `details.reason.contains('%')`,
  `timestamp > timestamp('2026-11-01T00:00:00Z')`,
  `timestamp == timestamp('2026-11-01T00:00:00Z')`,
  `received_at != timestamp('2026-11-01T10:00:00.123Z')`,
  `event_type in ['auth.login', 'backup.failed'] and not (context.environment == 'production')`,
  `true`,
  `false or event_id == 'e3'`,
  // not translatable: in process only
  `size(actor.roles) > 1`,
  `actor.roles.exists(r, r == 'ops')`,
  `event_type > 'b'`,
  `details.code + 1 > 200`,
  `details.code in [200.5, 500]`,
];

describe("compileQuery errors", () => {
  const error = (text: string): QueryError => {
    try {
      compileQuery(text);
    } catch (e) {
      if (e instanceof QueryError) return e;
      throw e;
    }
    throw new Error(`no error for ${text}`);
  };

  it("points at syntax errors", () => {
    expect(error("event_type == 'x").column).toBe(15);
    expect(error("event_type === 'x'").column).toBeGreaterThan(11);
    expect(error("").message).toMatch(/empty/);
  });

  it("names unknown fields with a suggestion", () => {
    const typo = error("event_typ == 'x'");
    expect(typo.column).toBe(1);
    expect(typo.message).toMatch(/unknown field event_typ; did you mean event_type\?/);
    const actr = error("event_type == 'x' and actr.id == 'bob'");
    expect(actr.column).toBe(23);
    expect(actr.message).toMatch(/actr; did you mean actor/);
    expect(error("actor.idd == 'x'").message).toMatch(/actor\.idd; did you mean actor\.id\?/);
    expect(error("nope == 1").message).toMatch(/unknown field nope/);
  });

  it("allows any details path and comprehension variables", () => {
    expect(() => compileQuery("details.a.b.c == 1 and actor.roles.exists(r, r == 'x')")).not.toThrow();
  });
});

describe("matches", () => {
  const ids = (text: string) => EVENTS.filter((e) => compileQuery(text).matches(e)).map((e) => e.event_id);

  it("answers the spec's questions", () => {
    expect(ids("event_type == 'backup.failed' and context.environment == 'production'")).toEqual(["e1"]);
    expect(ids("event_type == 'access.denied' and actor.id == 'bob@company.com'")).toEqual(["e2"]);
    expect(ids("actor.id.startsWith('system:serviceaccount:')")).toEqual(["e1"]);
  });

  it("treats a missing field as no match, also under negation", () => {
    expect(ids("actor.id != 'bob@company.com'")).toEqual(["e1", "e4"]);
    expect(ids("!(actor.id == 'bob@company.com')")).toEqual(["e1", "e4"]);
    expect(ids("actor.id == 'alice' || event_type == 'auth.login'")).toEqual(["e4", "e5"]);
  });
});

describe("SQL translation agrees with in-process evaluation", () => {
  let connection: Awaited<ReturnType<DuckDBInstance["connect"]>>;

  beforeAll(async () => {
    const instance = await DuckDBInstance.create(":memory:");
    connection = await instance.connect();
    const columns = Object.values(QUERY_COLUMNS).map((c) => `"${c.name}" ${c.type}`);
    await connection.run(`CREATE TABLE events (sequence BIGINT, ${columns.join(", ")}, event JSON)`);
    let sequence = 0;
    for (const event of EVENTS) {
      const values: unknown[] = [sequence++];
      for (const [path, column] of Object.entries(QUERY_COLUMNS)) {
        let value: unknown = path
          .split(".")
          .reduce<unknown>((v, k) => (v as Record<string, unknown>)?.[k], event);
        if (column.type === "TIMESTAMPTZ" && typeof value === "string") value = new Date(value).toISOString();
        if (column.type === "JSON" && value !== undefined) value = JSON.stringify(value);
        values.push(value ?? null);
      }
      values.push(JSON.stringify(event));
      const placeholders = values.map((_, i) => {
        const column = Object.values(QUERY_COLUMNS)[i - 1];
        if (column?.type === "VARCHAR[]") return `CAST($${i + 1} AS VARCHAR) :: JSON :: VARCHAR[]`;
        if (column?.type === "TIMESTAMPTZ") return `CAST($${i + 1} AS TIMESTAMPTZ)`;
        return `$${i + 1}`;
      });
      const bound = values.map((v, i) =>
        Object.values(QUERY_COLUMNS)[i - 1]?.type === "VARCHAR[]" && v !== null ? JSON.stringify(v) : v,
      );
      await connection.run(`INSERT INTO events VALUES (${placeholders.join(", ")})`, bound as never);
    }
  });

  afterAll(() => {
    connection?.closeSync();
  });

  it.each(EXPRESSIONS)("%s", async (text) => {
    const query = compileQuery(text);
    const expected = EVENTS.filter((e) => query.matches(e)).map((e) => e.event_id);
    if (query.sql === undefined) {
      expect(text).toMatch(/size|exists|> 'b'|\+ 1|200\.5, 500\]/);
      return;
    }
    const reader = await connection.runAndReadAll(
      `SELECT event_id FROM events WHERE ${query.sql.where} ORDER BY sequence`,
      query.sql.params as never,
    );
    const actual = reader.getRowObjectsJS().map((row) => row.event_id);
    expect(actual).toEqual(expected);
  });

  it("never puts user text in the SQL", () => {
    const query = compileQuery(`actor.id == "x'; DROP TABLE events; --" and details.a.b == 'y'`);
    expect(query.sql?.where).not.toMatch(/DROP|\$\.a\.b/);
    expect(query.sql?.params).toContain("x'; DROP TABLE events; --");
  });
});
