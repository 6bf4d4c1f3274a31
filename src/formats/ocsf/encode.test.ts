import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { NativeEvent } from "../../event/schema.ts";
import { canonicalize } from "../../integrity/canonical.ts";
import {
  checkRecordSignature,
  EMPTY_CHAIN,
  formatRecord,
  type Integrity,
  parseRecord,
  Sealer,
} from "../../integrity/chain.ts";
import { keyFromSecret } from "../../integrity/keys.ts";
import { decodeCloudEvents } from "../cloudevents/decode.ts";
import { createEncoder, readSealedRecord, type SealedRecord } from "../encoder.ts";
import { decodeKubernetes } from "../kubernetes/decode.ts";
import { decodeOcsf } from "./decode.ts";
import { type OcsfEvent, toOcsf } from "./encode.ts";
import { OCSF_VERSION, validateOcsfEvent } from "./schema.ts";

const FIXTURES = new URL("../../../../shared/fixtures/", import.meta.url);
const key = keyFromSecret(Buffer.alloc(32, 7), "test");
const options = { productVersion: "0.1.0" };

let counter = 0;
function nativeEvent(fields: Partial<NativeEvent> & { event_type: string }): NativeEvent {
  counter++;
  return {
    timestamp: "2024-12-01T10:15:30.123Z",
    event_id: `evt_${counter}`,
    version: "1.0",
    received_at: "2024-12-01T10:15:30.456Z",
    origin: { source: "http", address: "127.0.0.1", token: "backup-tool" },
    actor: { type: "user", id: "alice@company.com" },
    ...fields,
  };
}

function seal(events: NativeEvent[]): SealedRecord[] {
  const sealer = new Sealer(key, EMPTY_CHAIN);
  return events.map((e) => readSealedRecord(Buffer.from(sealer.seal(canonicalize(e)).line)));
}

/** The JSON records of a fixture file, one per non-empty line. */
function fixture(path: string): unknown[] {
  return readFileSync(new URL(path, FIXTURES), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as unknown);
}

function sealOne(event: NativeEvent): SealedRecord {
  return seal([event])[0] as SealedRecord;
}

/** The sealed record line rebuilt from the OCSF event alone. */
function reassemble(ocsf: OcsfEvent): string {
  const unmapped = ocsf.unmapped as { vigil_integrity: Integrity };
  return formatRecord(ocsf.raw_data as string, unmapped.vigil_integrity);
}

function verifies(line: string): string {
  const parsed = parseRecord(Buffer.from(line));
  if (!parsed.ok) return parsed.reason;
  return checkRecordSignature(parsed.record, key.secret);
}

/** spec/000's "Standard Fields" example, as sealed. */
const standard = nativeEvent({
  timestamp: "2024-12-01T10:15:30.123Z",
  event_type: "backup.completed",
  event_id: "evt_abc123def456",
  actor: {
    type: "user",
    id: "alice@company.com",
    roles: ["backup-operator"],
    ip_address: "10.0.0.50",
    user_agent: "kafka-backup-cli/1.0.0",
  },
  resource: { type: "backup", id: "production-backup-20241201", path: "s3://kafka-backups/production/" },
  action: { operation: "backup", result: "success", duration_ms: 45000 },
  context: { cluster_id: "prod-us-west-2", environment: "production", correlation_id: "req_xyz789" },
  details: { backup_id: "production-backup-20241201", records_backed_up: 1500000 },
});

describe("OCSF encoder", () => {
  it("maps the spec/000 standard event to API Activity, field by field", () => {
    const record = sealOne(standard);
    expect(toOcsf(record, options)).toEqual({
      class_uid: 6003,
      class_name: "API Activity",
      category_uid: 6,
      category_name: "Application Activity",
      activity_id: 99,
      activity_name: "Other",
      type_uid: 600399,
      type_name: "API Activity: Other",
      severity_id: 1,
      severity: "Informational",
      status_id: 1,
      status: "Success",
      time: 1733048130123,
      timezone_offset: 0,
      duration: 45000,
      metadata: {
        version: "1.1.0",
        product: { name: "Vigil", vendor_name: "Vigil", version: "0.1.0" },
        uid: "evt_abc123def456",
        sequence: 1,
        original_time: "2024-12-01T10:15:30.123Z",
        logged_time: 1733048130456,
        correlation_uid: "req_xyz789",
      },
      actor: { user: { name: "alice@company.com", type_id: 1, groups: [{ name: "backup-operator" }] } },
      api: { operation: "backup" },
      src_endpoint: { ip: "10.0.0.50" },
      resources: [
        {
          name: "production-backup-20241201",
          type: "backup",
          data: { path: "s3://kafka-backups/production/" },
        },
      ],
      http_request: { user_agent: "kafka-backup-cli/1.0.0" },
      raw_data: record.eventText,
      unmapped: {
        vigil_integrity: record.integrity,
        origin: { source: "http", address: "127.0.0.1", token: "backup-tool" },
        context: { cluster_id: "prod-us-west-2", environment: "production", correlation_id: "req_xyz789" },
        details: { backup_id: "production-backup-20241201", records_backed_up: 1500000 },
      },
    });
  });

  it("maps an authentication failure to Authentication 3002", () => {
    const record = sealOne(
      nativeEvent({
        event_type: "auth.failed",
        timestamp: "2024-12-01T11:15:30.123+01:00",
        actor: { type: "service", id: "User:producer", ip_address: "172.27.0.3" },
        context: { cluster_id: "kafka-prod" },
        details: { reason: "SASL authentication failed: invalid credentials" },
      }),
    );
    const { raw_data, unmapped, metadata, ...rest } = toOcsf(record, options);
    expect(rest).toEqual({
      class_uid: 3002,
      class_name: "Authentication",
      category_uid: 3,
      category_name: "Identity & Access Management",
      activity_id: 1,
      activity_name: "Logon",
      type_uid: 300201,
      type_name: "Authentication: Logon",
      severity_id: 1,
      severity: "Informational",
      status_id: 2,
      status: "Failure",
      status_detail: "SASL authentication failed: invalid credentials",
      time: 1733048130123,
      timezone_offset: 60,
      user: { name: "User:producer", type_id: 99, type: "service" },
      service: { name: "kafka-prod" },
      src_endpoint: { ip: "172.27.0.3" },
    });
  });

  it("maps access.denied to Authorize Session 3003 with the permission asked for", () => {
    const denied = nativeEvent({
      event_type: "access.denied",
      actor: { type: "user", id: "bob@company.com" },
      details: { operation: "restore", required_permission: "restore:topic:production-orders" },
    });
    const granted = nativeEvent({
      event_type: "access.granted",
      actor: { id: "User:alice" },
      resource: { type: "topic", id: "orders" },
      action: { operation: "Read" },
    });
    const [d, g] = seal([denied, granted]).map((r) => toOcsf(r, options));
    expect(d).toMatchObject({
      class_uid: 3003,
      activity_id: 1,
      activity_name: "Assign Privileges",
      type_uid: 300301,
      status_id: 2,
      user: { name: "bob@company.com", type_id: 1 },
      privileges: ["restore:topic:production-orders"],
    });
    expect(g).toMatchObject({ class_uid: 3003, status_id: 1, privileges: ["Read:topic:orders"] });
    // Authorize Session has no src_endpoint, actor (without the host profile) or http_request.
    expect(d).not.toHaveProperty("src_endpoint");
  });

  it("maps user changes to Account Change 3001: the resource is the account, the actor who changed it", () => {
    const record = sealOne(
      nativeEvent({
        event_type: "user.password_reset",
        actor: { type: "admin", id: "root", ip_address: "10.0.0.1" },
        resource: { type: "user", id: "bob" },
      }),
    );
    expect(toOcsf(record, options)).toMatchObject({
      class_uid: 3001,
      activity_id: 4,
      activity_name: "Password Reset",
      type_uid: 300104,
      user: { name: "bob" },
      actor: { user: { name: "root", type_id: 2 } },
      src_endpoint: { ip: "10.0.0.1" },
    });
  });

  const cases: [string, Partial<NativeEvent>, number, number, number][] = [
    // event_type, other fields, class_uid, activity_id, status_id
    ["auth.login", { action: { result: "success" } }, 3002, 1, 1],
    ["auth.logout", {}, 3002, 2, 0],
    ["auth.token_refresh", { action: { operation: "sign_out" } }, 3002, 2, 0],
    ["auth.session", { action: { operation: "signedOut" } }, 3002, 2, 0],
    ["auth.login", { action: { operation: "catalog_offset" } }, 3002, 1, 0],
    ["access.granted", {}, 3003, 1, 1],
    ["user.created", {}, 3001, 1, 0],
    ["account.disabled", {}, 3001, 5, 0],
    ["user.mfa_disabled", {}, 3001, 11, 0],
    ["user.mfa_deleted", {}, 3001, 99, 0],
    ["account.locked", {}, 3001, 9, 0],
    ["user.renamed", {}, 3001, 99, 0],
    ["kafka.produce", { action: { operation: "Write", result: "allowed" } }, 6003, 3, 1],
    ["kafka.admin", { action: { operation: "create_acls" } }, 6003, 1, 0],
    ["kafka.admin", { action: { operation: "IncrementalAlterConfigs" } }, 6003, 3, 0],
    ["kafka.metadata", { action: { operation: "DescribeConfigs", result: "denied" } }, 6003, 2, 2],
    ["k8s.request", { action: { operation: "get" } }, 6003, 2, 0],
    ["k8s.request", { action: { operation: "deletecollection" } }, 6003, 4, 0],
    ["http.request", { action: { operation: "POST" } }, 6003, 1, 0],
    ["config.changed", {}, 6003, 3, 0],
    ["backup.started", { action: { operation: "backup" } }, 6003, 99, 0],
    ["backup.failed", {}, 6003, 99, 2],
    ["restore.completed", { action: { result: "partial" } }, 6003, 99, 99],
    // No actor: an IAM class would need an invented user, so these become API Activity.
    ["auth.login", { actor: undefined }, 6003, 99, 0],
    ["access.denied", { actor: { ip_address: "10.1.1.1" } }, 6003, 99, 2],
  ];

  it.each(cases)(
    "%s %j → class %i activity %i status %i, valid",
    (eventType, fields, cls, activity, status) => {
      const ocsf = toOcsf(sealOne(nativeEvent({ event_type: eventType, ...fields })), options);
      expect([ocsf.class_uid, ocsf.activity_id, ocsf.type_uid, ocsf.status_id]).toEqual([
        cls,
        activity,
        cls * 100 + activity,
        status,
      ]);
      expect(validateOcsfEvent(ocsf)).toEqual([]);
    },
  );

  it("keeps an unrecognised result as the status text and falls back to the tool for a missing actor", () => {
    const [partial, anonymous] = seal([
      nativeEvent({ event_type: "restore.completed", action: { result: "partial" } }),
      nativeEvent({ event_type: "backup.started", actor: undefined, origin: { source: "sdk" } }),
    ]).map((r) => toOcsf(r, options));
    expect(partial).toMatchObject({ status_id: 99, status: "partial" });
    expect(anonymous).toMatchObject({ actor: { invoked_by: "sdk" }, src_endpoint: { name: "sdk" } });
    expect(validateOcsfEvent(anonymous)).toEqual([]);
  });

  it("carries the integrity block: the record rebuilt from raw_data and unmapped verifies", () => {
    const records = seal(
      cases.map(([eventType, fields]) => nativeEvent({ event_type: eventType, ...fields })),
    );
    const encoder = createEncoder("ocsf", options);
    for (const record of records) {
      const ocsf = JSON.parse(encoder.encode(record) as string) as OcsfEvent;
      expect((ocsf.unmapped as { vigil_integrity: unknown }).vigil_integrity).toEqual(record.integrity);
      const line = reassemble(ocsf);
      expect(line).toBe(Buffer.from(record.line).toString());
      expect(verifies(line)).toBe("valid");
    }
    const tampered = JSON.parse(encoder.encode(records[0] as SealedRecord) as string) as OcsfEvent;
    tampered.raw_data = (tampered.raw_data as string).replace("alice", "mallory");
    expect(verifies(reassemble(tampered))).toBe("invalid");
  });

  it("writes count, start_time and end_time for an event standing for several identical ones", () => {
    const produce = (action: Record<string, unknown>) =>
      toOcsf(
        sealOne(
          nativeEvent({
            event_type: "kafka.produce",
            actor: { type: "user", id: "User:alice", ip_address: "10.0.0.7" },
            resource: { type: "topic", id: "orders" },
            action: { operation: "Produce", result: "success", duration_ms: 1.25, ...action },
          }),
        ),
        options,
      );
    const folded = produce({ count: 3, ended_at: "2024-12-01T10:15:30.623Z" });
    expect(folded).toMatchObject({
      time: 1733048130123,
      count: 3,
      start_time: 1733048130123,
      end_time: 1733048130623,
      duration: 1,
    });
    expect(validateOcsfEvent(folded)).toEqual([]);
    // An end that does not parse is left out; the count and start stay.
    const unended = produce({ count: 2, ended_at: "later" });
    expect(unended).toMatchObject({ count: 2, start_time: 1733048130123 });
    expect(unended).not.toHaveProperty("end_time");
    expect(validateOcsfEvent(unended)).toEqual([]);
    // One request (or a count that is no count of requests) is an ordinary event.
    for (const action of [
      {},
      { count: 1 },
      { count: 2.5 },
      { count: "3" },
      { ended_at: "2024-12-01T10:15:31Z" },
    ]) {
      const single = produce(action);
      for (const key of ["count", "start_time", "end_time"]) expect(single).not.toHaveProperty(key);
    }
  });

  it("writes Redpanda's folded record back with its own count, start_time and end_time", () => {
    const redpanda = fixture("redpanda-ocsf-samples.ndjson")[5] as OcsfEvent;
    expect(redpanda.count).toBe(2);
    const [input] = decodeOcsf(redpanda);
    const ocsf = toOcsf(
      sealOne(nativeEvent(input as Partial<NativeEvent> & { event_type: string })),
      options,
    );
    expect({ count: ocsf.count, start_time: ocsf.start_time, end_time: ocsf.end_time }).toEqual({
      count: redpanda.count,
      start_time: redpanda.start_time,
      end_time: redpanda.end_time,
    });
  });

  it("encodes through the registry as JSON text", () => {
    const encoder = createEncoder("ocsf", options);
    const record = sealOne(standard);
    expect(encoder.format).toBe("ocsf");
    expect(encoder.mediaType).toBe("application/json");
    expect(encoder.encode(record)).toBe(JSON.stringify(toOcsf(record, options)));
  });
});

describe("OCSF validator", () => {
  const valid = () => toOcsf(sealOne(standard), options);
  const auth = () =>
    toOcsf(sealOne(nativeEvent({ event_type: "auth.login", action: { result: "success" } })), options);
  const session = () => toOcsf(sealOne(nativeEvent({ event_type: "access.granted" })), options);

  it("passes Vigil's output of each class", () => {
    for (const ocsf of [valid(), auth(), session()]) expect(validateOcsfEvent(ocsf)).toEqual([]);
  });

  const broken: [string, () => OcsfEvent, string][] = [
    ["a missing required attribute", () => ({ ...auth(), user: undefined }), "user: required"],
    ["a required object attribute", () => ({ ...valid(), api: {} }), "api.operation: required"],
    [
      "metadata without product",
      () => ({ ...valid(), metadata: { version: OCSF_VERSION } }),
      "metadata.product: required",
    ],
    ["an inconsistent type_uid", () => ({ ...valid(), type_uid: 600301 }), "type_uid: 600301"],
    ["the wrong category", () => ({ ...valid(), category_uid: 3 }), "category_uid: 3"],
    [
      "an activity the class lacks",
      () => ({ ...session(), activity_id: 3, type_uid: 300303 }),
      "activity_id: 3",
    ],
    ["severity out of range", () => ({ ...valid(), severity_id: 7 }), "severity_id: 7 not in enum"],
    ["status out of range", () => ({ ...valid(), status_id: 3 }), "status_id: 3 not in enum"],
    [
      "a user type out of range",
      () => ({ ...auth(), user: { name: "a", type_id: 4 } }),
      "user.type_id: 4 not in enum",
    ],
    ["time as a string", () => ({ ...valid(), time: "2024-12-01T10:15:30Z" }), "time: must be an integer"],
    [
      "an attribute the class lacks",
      () => ({ ...session(), src_endpoint: { ip: "10.0.0.1" } }),
      "src_endpoint: not",
    ],
    [
      "an attribute the object lacks",
      () => ({ ...valid(), api: { operation: "x", verb: "y" } }),
      "api.verb: not",
    ],
    [
      "a bad IP address",
      () => ({ ...valid(), src_endpoint: { ip: "10.0.0" } }),
      "src_endpoint.ip: must be an IP",
    ],
    [
      "an actor with nothing",
      () => ({ ...valid(), actor: {} }),
      "actor: needs at least one of process, user",
    ],
    [
      "Authentication without service",
      () => ({ ...auth(), service: undefined }),
      "needs at least one of service",
    ],
    [
      "privileges and group",
      () => ({ ...session(), group: { name: "g" } }),
      "needs exactly one of privileges",
    ],
    [
      "another schema version",
      () => ({ ...valid(), metadata: { ...(valid().metadata as object), version: "1.0.0" } }),
      "metadata.version: 1.0.0",
    ],
    ["an unknown class", () => ({ ...valid(), class_uid: 4001 }), "class_uid: 4001 is not one of"],
    ["a non-object", () => [] as unknown as OcsfEvent, "event: must be an object"],
  ];

  it.each(broken)("fails for %s", (_name, make, problem) => {
    const problems = validateOcsfEvent(make());
    expect(problems.some((p) => p.includes(problem))).toBe(true);
  });

  it("accepts Redpanda's real OCSF output (fixture) except for its schema version, 1.0.0", () => {
    const lines = readFileSync(
      new URL("../../../../shared/fixtures/redpanda-ocsf-samples.ndjson", import.meta.url),
      "utf8",
    )
      .split("\n")
      .filter((l) => l !== "");
    expect(lines.length).toBe(8);
    for (const line of lines) {
      expect(validateOcsfEvent(JSON.parse(line))).toEqual(["metadata.version: 1.0.0, this schema is 1.1.0"]);
    }
  });
});

describe("OCSF output for every fixture, decoded to native and sealed", () => {
  const falco = "k8s/falco-k8s_audit/";
  const inputs = [
    ...fixture("redpanda-ocsf-samples.ndjson").flatMap(decodeOcsf),
    ...fixture("confluent-audit-cloudevents.ndjson").flatMap(decodeCloudEvents),
    ...fixture("k8s/audit2rbac-demo.log").flatMap(decodeKubernetes),
    // The GKE LogEntry holds GCP's record, not a Kubernetes Event: the decoder refuses it.
    ...fixture("k8s/elastic-integrations-test-audit.log")
      .filter((r) => !("protoPayload" in (r as object)))
      .flatMap(decodeKubernetes),
    // fal_01_003.json is no event at all.
    ...readdirSync(new URL(falco, FIXTURES))
      .filter((f) => f !== "fal_01_003.json")
      .flatMap((f) => fixture(`${falco}${f}`))
      .flatMap(decodeKubernetes),
  ];
  const records = seal(
    inputs.map((input) => nativeEvent(input as Partial<NativeEvent> & { event_type: string })),
  );

  it("validates against the schema and carries a record that verifies", () => {
    expect(records.length).toBeGreaterThan(100);
    const classes = new Set<unknown>();
    for (const record of records) {
      const ocsf = toOcsf(record, options);
      classes.add(ocsf.class_uid);
      expect(validateOcsfEvent(ocsf), record.eventText).toEqual([]);
      expect(verifies(reassemble(ocsf))).toBe("valid");
    }
    expect([...classes].sort()).toEqual([3002, 6003]);
  });
});
