import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { InputEvent } from "../../event/schema.ts";
import { prepareEvents } from "../../event/validate.ts";
import { MAX_LINE_CHARS, type ParsedLine, parseLine, parseLines, unparsedEvent } from "./parse.ts";

const FIXTURES = new URL("../../../../shared/fixtures/kafka/", import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, FIXTURES), "utf8");
const ACL = "kafka-authorizer-acl-lines.log";
const STRIMZI = "elastic-integrations-test-strimzi_kafka-4-1-1.log";
const AUTHLOG = "elastic-integrations-test-authlog.log";

/** Every event must be accepted by the ingest validation exactly as a source would hand it over. */
function assertValid(events: InputEvent[]) {
  const prepared = prepareEvents(
    events.map((value) => ({ value })),
    { source: "authorizer-log" },
  );
  expect(prepared).toHaveLength(events.length);
}

function event(parsed: ParsedLine): InputEvent {
  if (parsed.kind !== "event") throw new Error(`expected an event, got ${JSON.stringify(parsed)}`);
  return parsed.event;
}

/** InputEvent types details as an open object; tests read its fields by name. */
function details(e: InputEvent | undefined): Record<string, unknown> {
  return (e?.details ?? {}) as Record<string, unknown>;
}

function reason(parsed: ParsedLine): string {
  if (parsed.kind !== "unparsed") throw new Error(`expected unparsed, got ${JSON.stringify(parsed)}`);
  return parsed.reason;
}

/** A text's lines as parseLines counts them: a final terminator opens no line (two fixtures have none). */
function lines(text: string): string[] {
  const all = text.split("\n");
  if (text.endsWith("\n")) all.pop();
  return all;
}

describe("fixtures: every line accounted for", () => {
  it("kafka-authorizer-acl-lines.log: 8 events, 4 provenance comments", () => {
    const all = lines(fixture(ACL));
    expect(all).toHaveLength(12);
    const comments = all.filter((l) => l.startsWith("#"));
    const logLines = all.filter((l) => !l.startsWith("#"));
    expect(comments).toHaveLength(4);
    const r = parseLines(logLines.join("\n"));
    expect([r.events.length, r.unparsed.length, r.ignored]).toEqual([8, 0, 0]);
    expect(r.events.length + r.unparsed.length + r.ignored + comments.length).toBe(all.length);
    for (const l of logLines) expect(parseLine(l).kind).toBe("event");
    assertValid(r.events);
  });

  it("the unfiltered ACL file: the comment that names kafka.authorizer.logger is kept as unparsed", () => {
    const r = parseLines(fixture(ACL));
    expect([r.events.length, r.unparsed.length, r.ignored]).toEqual([8, 1, 3]);
    expect(r.unparsed[0]).toMatchObject({
      line: 1,
      reason: "kafka.authorizer.logger line without a Principal = … decision",
    });
  });

  it("strimzi Kafka 4.1: 3 StandardAuthorizer events, 24 controller lines ignored", () => {
    const text = fixture(STRIMZI);
    const all = lines(text);
    expect(all).toHaveLength(27);
    const r = parseLines(text);
    expect([r.events.length, r.unparsed.length, r.ignored]).toEqual([3, 0, 24]);
    for (const l of all) {
      expect(parseLine(l).kind).toBe(l.includes("Principal = ") ? "event" : "ignored");
    }
    assertValid(r.events);
  });

  it("authlog: 3 SASL logins", () => {
    const text = fixture(AUTHLOG);
    expect(lines(text)).toHaveLength(3);
    const r = parseLines(text);
    expect([r.events.length, r.unparsed.length, r.ignored]).toEqual([3, 0, 0]);
    assertValid(r.events);
  });
});

describe("StandardAuthorizer (KRaft)", () => {
  it("parses the strimzi lines exactly, including the +0200 offset", () => {
    const r = parseLines(fixture(STRIMZI));
    const all = lines(fixture(STRIMZI));
    const expected = (timestamp: string, raw: string | undefined) => ({
      timestamp,
      event_type: "access.denied",
      actor: { type: "user", id: "anon", principal_type: "User", ip_address: "0.0.0.0" },
      resource: { type: "cluster", id: "kafka-cluster", pattern_type: "LITERAL" },
      action: { operation: "describe_configs", result: "denied", api: "DescribeConfigs" },
      details: {
        authorizer: "standard",
        logger: "logger",
        level: "INFO",
        resource_ref_count: 1,
        rule: "DefaultDeny",
        raw,
      },
    });
    expect(r.events).toEqual([
      expected("2026-05-27T13:33:11.000Z", all[10]),
      expected("2026-05-27T13:34:11.000Z", all[18]),
      expected("2026-05-27T11:34:11.000Z", all[26]),
    ]);
  });

  it("parses an Allowed line decided by a MatchingAcl rule, in Kafka's default layout", () => {
    const raw =
      "[2024-03-01 09:15:02,481] DEBUG Principal = User:alice is Allowed operation = READ from host = 10.0.0.7 on resource = Topic:LITERAL:orders for request = Fetch with resourceRefCount = 1 based on rule MatchingAcl(acl=StandardAcl(resourceType=TOPIC, resourceName=orders, patternType=LITERAL, principal=User:alice, host=*, operation=READ, permissionType=ALLOW)) (kafka.authorizer.logger)";
    expect(event(parseLine(raw))).toEqual({
      timestamp: "2024-03-01T09:15:02.481Z",
      event_type: "access.granted",
      actor: { type: "user", id: "alice", principal_type: "User", ip_address: "10.0.0.7" },
      resource: { type: "topic", id: "orders", pattern_type: "LITERAL" },
      action: { operation: "read", result: "success", api: "Fetch" },
      details: {
        authorizer: "standard",
        logger: "kafka.authorizer.logger",
        level: "DEBUG",
        resource_ref_count: 1,
        rule: "MatchingAcl(acl=StandardAcl(resourceType=TOPIC, resourceName=orders, patternType=LITERAL, principal=User:alice, host=*, operation=READ, permissionType=ALLOW))",
        acl: {
          resource_type: "topic",
          resource_name: "orders",
          pattern_type: "LITERAL",
          principal: "User:alice",
          host: "*",
          operation: "read",
          permission_type: "allow",
        },
        raw,
      },
    });
  });

  it("parses a SuperUser rule, a DN principal with spaces, an IPv6 host and a PREFIXED transactional id", () => {
    const superUser = event(
      parseLine(
        "[2024-03-01 09:15:03,002] DEBUG Principal = User:admin is Allowed operation = ALTER_CONFIGS from host = 10.0.0.2 on resource = Cluster:LITERAL:kafka-cluster for request = IncrementalAlterConfigs with resourceRefCount = 1 based on rule SuperUser (kafka.authorizer.logger)",
      ),
    );
    expect(superUser.action).toEqual({
      operation: "alter_configs",
      result: "success",
      api: "IncrementalAlterConfigs",
    });
    expect(superUser.details).toMatchObject({ rule: "SuperUser" });
    expect(details(superUser).acl).toBeUndefined();

    const denied = event(
      parseLine(
        "[2024-03-01 09:15:04,100] INFO Principal = User:CN=bob,OU=Payments,O=Example Corp is Denied operation = WRITE from host = 2001:db8:0:0:0:0:0:17 on resource = TransactionalId:PREFIXED:payments- for request = AddPartitionsToTxn with resourceRefCount = 1 based on rule MatchingAcl(acl=StandardAcl(resourceType=TRANSACTIONAL_ID, resourceName=payments-, patternType=PREFIXED, principal=User:CN=bob,OU=Payments,O=Example Corp, host=*, operation=WRITE, permissionType=DENY)) (kafka.authorizer.logger)",
      ),
    );
    expect(denied).toMatchObject({
      event_type: "access.denied",
      actor: { id: "CN=bob,OU=Payments,O=Example Corp", ip_address: "2001:db8:0:0:0:0:0:17" },
      resource: { type: "transactional_id", id: "payments-", pattern_type: "PREFIXED" },
      action: { operation: "write", result: "denied", api: "AddPartitionsToTxn" },
      details: {
        acl: { resource_type: "transactional_id", permission_type: "deny", pattern_type: "PREFIXED" },
      },
    });
    assertValid([superUser, denied]);
  });
});

describe("AclAuthorizer (ZooKeeper, 2.4+)", () => {
  // The fixtures hold no AclAuthorizer line; these follow AclAuthorizer.logAuditMessage's format string.
  it("parses group names with spaces, parentheses and colons", () => {
    const raw =
      "[2023-06-10 08:00:00,001] INFO Principal = User:carol is Denied Operation = Read from host = 192.168.1.20 on resource = Group:LITERAL:billing consumers (blue) for request = JoinGroup with resourceRefCount = 1 (kafka.authorizer.logger)";
    expect(event(parseLine(raw))).toEqual({
      timestamp: "2023-06-10T08:00:00.001Z",
      event_type: "access.denied",
      actor: { type: "user", id: "carol", principal_type: "User", ip_address: "192.168.1.20" },
      resource: { type: "group", id: "billing consumers (blue)", pattern_type: "LITERAL" },
      action: { operation: "read", result: "denied", api: "JoinGroup" },
      details: {
        authorizer: "acl",
        logger: "kafka.authorizer.logger",
        level: "INFO",
        resource_ref_count: 1,
        raw,
      },
    });
    expect(
      event(
        parseLine(
          "[2023-06-10 08:00:02,250] INFO Principal = User:dave is Denied Operation = Describe from host = 10.1.2.4 on resource = Group:LITERAL:team:a:b for request = OffsetFetch with resourceRefCount = 2 (kafka.authorizer.logger)",
        ),
      ),
    ).toMatchObject({
      resource: { type: "group", id: "team:a:b", pattern_type: "LITERAL" },
      action: { operation: "describe", api: "OffsetFetch" },
      details: { resource_ref_count: 2 },
    });
  });

  it("turns CamelCase operations into the StandardAuthorizer's snake case", () => {
    const e = event(
      parseLine(
        "[2023-06-10 08:00:01,500] DEBUG Principal = User:svc-connect is Allowed Operation = IdempotentWrite from host = 10.1.2.3 on resource = Cluster:LITERAL:kafka-cluster for request = InitProducerId with resourceRefCount = 1 (kafka.authorizer.logger)",
      ),
    );
    expect(e).toMatchObject({
      event_type: "access.granted",
      actor: { id: "svc-connect" },
      resource: { type: "cluster", id: "kafka-cluster" },
      action: { operation: "idempotent_write", result: "success", api: "InitProducerId" },
      details: { authorizer: "acl", level: "DEBUG" },
    });
  });

  it("keeps a resource-type check (UNKNOWN:NONE) and a host that is not an IP", () => {
    const e = event(
      parseLine(
        "Principal = User:erin is Denied Operation = Write from host = broker-7 on resource = Topic:UNKNOWN:NONE for request = InitProducerId with resourceRefCount = 0",
      ),
    );
    expect(e.actor).toEqual({ type: "user", id: "erin", principal_type: "User" });
    expect(e.resource).toEqual({ type: "topic", id: "NONE", pattern_type: "UNKNOWN" });
    expect(e.details).toMatchObject({ host: "broker-7", resource_ref_count: 0 });
    expect(e.timestamp).toBeUndefined();
    assertValid([e]);
  });
});

describe("SimpleAclAuthorizer (before 2.4)", () => {
  it("parses the fixture lines exactly, with and without a timestamp or level", () => {
    const all = lines(fixture(ACL));
    expect(event(parseLine(all[2] as string))).toEqual({
      event_type: "access.denied",
      actor: { type: "user", id: "sftp", principal_type: "User", ip_address: "192.168.224.6" },
      resource: { type: "topic", id: "test_sftp_sink", pattern_type: "LITERAL" },
      action: { operation: "describe", result: "denied" },
      details: { authorizer: "simple", logger: "kafka.authorizer.logger", level: "INFO", raw: all[2] },
    });
    expect(event(parseLine(all[4] as string))).toEqual({
      timestamp: "2019-12-06T11:17:45.758Z",
      event_type: "access.denied",
      actor: { type: "user", id: "sftp", principal_type: "User", ip_address: "172.18.0.6" },
      resource: { type: "cluster", id: "kafka-cluster", pattern_type: "LITERAL" },
      action: { operation: "create", result: "denied" },
      details: { authorizer: "simple", logger: "kafka.authorizer.logger", level: "INFO", raw: all[4] },
    });
    expect(event(parseLine(all[7] as string))).toEqual({
      timestamp: "2020-05-12T13:46:43.292Z",
      event_type: "access.granted",
      actor: { type: "user", id: "clientrestproxy", principal_type: "User", ip_address: "192.168.16.6" },
      resource: { type: "topic", id: "jsontest", pattern_type: "LITERAL" },
      action: { operation: "write", result: "success" },
      details: { authorizer: "simple", logger: "kafka.authorizer.logger", level: "DEBUG", raw: all[7] },
    });
    // Logger before the message, no level; `Topic:ANY` names a pattern type, not a topic.
    expect(event(parseLine(all[11] as string))).toEqual({
      event_type: "access.denied",
      actor: { type: "user", id: "alice", principal_type: "User", ip_address: "172.21.0.1" },
      resource: { type: "topic", id: "rbactest", pattern_type: "LITERAL" },
      action: { operation: "describe", result: "denied" },
      details: { authorizer: "simple", logger: "kafka.authorizer.logger", raw: all[11] },
    });
    expect(event(parseLine(all[10] as string))).toMatchObject({
      actor: { id: "alice.mydomain.example", ip_address: "10.42.0.0" },
      resource: { type: "topic", pattern_type: "ANY" },
    });
  });

  it("reads the pre-2.0 Type:name resource as literal", () => {
    expect(
      event(
        parseLine(
          "[2018-01-05 12:00:00,000] INFO Principal = User:erin is Denied Operation = Read from host = 10.9.9.9 on resource = Topic:orders (kafka.authorizer.logger)",
        ),
      ).resource,
    ).toEqual({ type: "topic", id: "orders", pattern_type: "LITERAL" });
  });
});

describe("SASL authentication", () => {
  it("parses the authlog fixture exactly", () => {
    const all = lines(fixture(AUTHLOG));
    const r = parseLines(fixture(AUTHLOG));
    const expected = (timestamp: string, raw: string | undefined) => ({
      timestamp,
      event_type: "auth.login",
      actor: { type: "user", id: "svc@local" },
      action: { operation: "authenticate", result: "success" },
      details: {
        authorizer: "sasl",
        logger: "org.apache.kafka.common.security.authenticator.SaslServerCallbackHandler",
        level: "INFO",
        listener: "SASL_SSL",
        mechanism: "GSSAPI",
        authentication_id: "svc@local",
        authorization_id: "svc@local",
        raw,
      },
    });
    expect(r.events).toEqual([
      expected("2025-01-01T12:39:15.875Z", all[0]),
      expected("2025-01-01T12:40:15.875Z", all[1]),
      expected("2025-01-01T12:40:15.155Z", all[2]),
    ]);
  });

  it("parses failed authentication and re-authentication (Selector), old and new forms", () => {
    const scram =
      "[2024-03-01 09:20:00,000] INFO [SocketServer listenerType=BROKER, nodeId=1] Failed authentication with /10.0.0.99 (channelId=10.0.0.1:9094-10.0.0.99:53122-7) (Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512) (org.apache.kafka.common.network.Selector)";
    expect(event(parseLine(scram))).toEqual({
      timestamp: "2024-03-01T09:20:00.000Z",
      event_type: "auth.failed",
      actor: { ip_address: "10.0.0.99" },
      action: { operation: "authenticate", result: "failure" },
      details: {
        authorizer: "sasl",
        logger: "org.apache.kafka.common.network.Selector",
        level: "INFO",
        client_address: "/10.0.0.99",
        channel_id: "10.0.0.1:9094-10.0.0.99:53122-7",
        error:
          "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512",
        mechanism: "SCRAM-SHA-512",
        raw: scram,
      },
    });
    const plain = event(
      parseLine(
        "[2020-02-02 02:02:02,020] INFO [SocketServer brokerId=0] Failed authentication with client.example.com/10.0.0.50 (Authentication failed: Invalid username or password) (org.apache.kafka.common.network.Selector)",
      ),
    );
    expect(plain).toMatchObject({
      actor: { ip_address: "10.0.0.50" },
      details: {
        client_address: "client.example.com/10.0.0.50",
        error: "Authentication failed: Invalid username or password",
      },
    });
    expect(details(plain).channel_id).toBeUndefined();
    const reauth = event(
      parseLine(
        "[2024-03-01 09:21:00,000] INFO [SocketServer listenerType=BROKER, nodeId=1] Failed re-authentication with /10.0.0.98 (channelId=10.0.0.1:9094-10.0.0.98:50000-2) (Authentication failed: Invalid username or password) (org.apache.kafka.common.network.Selector)",
      ),
    );
    expect(reauth.action).toEqual({ operation: "reauthenticate", result: "failure" });
    const ssl = event(
      parseLine(
        "[2024-03-01 09:22:00,000] INFO [SocketServer listenerType=BROKER, nodeId=1] Failed authentication with /10.0.0.97 (channelId=10.0.0.1:9093-10.0.0.97:50001-3) (SSL handshake failed) (org.apache.kafka.common.network.Selector)",
      ),
    );
    expect(ssl.details).toMatchObject({ authorizer: "ssl", error: "SSL handshake failed" });
    assertValid([plain, reauth, ssl]);
  });

  it("ignores SaslServerAuthenticator's DEBUG handshake steps but keeps other SaslServer lines as unparsed", () => {
    expect(
      parseLine(
        "[2024-03-01 09:20:00,000] DEBUG Set SASL server state to HANDSHAKE_REQUEST during authentication (org.apache.kafka.common.security.authenticator.SaslServerAuthenticator)",
      ),
    ).toEqual({ kind: "ignored" });
    expect(
      parseLine(
        "[2024-03-01 09:20:00,000] INFO Something new happened (org.apache.kafka.common.security.authenticator.SaslServerCallbackHandler)",
      ),
    ).toEqual({
      kind: "unparsed",
      raw: "[2024-03-01 09:20:00,000] INFO Something new happened (org.apache.kafka.common.security.authenticator.SaslServerCallbackHandler)",
      reason: "SaslServer line that is not a known authentication outcome",
      timestamp: "2024-03-01T09:20:00.000Z",
    });
  });
});

describe("malformed lines are unparsed with a reason, never dropped", () => {
  it("names the format an authorizer line failed", () => {
    const bad =
      "[2024-01-01 10:00:00,123] INFO Principal = User:alice is Maybe Operation = Read from host = 10.0.0.1 on resource = Topic:LITERAL:orders (kafka.authorizer.logger)";
    expect(parseLine(bad)).toEqual({
      kind: "unparsed",
      raw: bad,
      reason:
        "authorizer line does not match the SimpleAclAuthorizer: Principal = T:name is Allowed|Denied Operation = … from host = … on resource = …",
      timestamp: "2024-01-01T10:00:00.123Z",
    });
    expect(
      reason(
        parseLine(
          "Principal = User:alice is Denied operation = READ from host = 10.0.0.1 on resource = Topic:LITERAL:orders for request = Fetch with resourceRefCount = 1",
        ),
      ),
    ).toMatch(/^authorizer line does not match the StandardAuthorizer: /);
    expect(
      reason(
        parseLine(
          "Principal = alice is Denied Operation = Read from host = 10.0.0.1 on resource = Topic:LITERAL:orders for request = Fetch with resourceRefCount = 1",
        ),
      ),
    ).toMatch(/^authorizer line does not match the AclAuthorizer: /);
    expect(
      reason(
        parseLine(
          "Principal = User:alice is Denied Operation = Read from host = 10.0.0.1 on resource = orders",
        ),
      ),
    ).toBe('resource "orders" is not Type:PATTERN:name or Type:name');
    expect(reason(parseLine("[2024-01-01 10:00:00,123] WARN cache reset (kafka.authorizer.logger)"))).toBe(
      "kafka.authorizer.logger line without a Principal = … decision",
    );
  });

  it("refuses impossible and unknown timestamps instead of inventing a time", () => {
    const line = (ts: string) =>
      `${ts} INFO Principal = User:a is Denied Operation = Read from host = 10.0.0.1 on resource = Topic:LITERAL:t (kafka.authorizer.logger)`;
    expect(reason(parseLine(line("[2024-02-30 10:00:00,000]")))).toBe(
      "invalid timestamp 2024-02-30 10:00:00",
    );
    expect(reason(parseLine(line("[2024-01-01 24:00:00,000]")))).toBe(
      "invalid timestamp 2024-01-01 24:00:00",
    );
    expect(reason(parseLine(line("[2024-01-01 10:00:00,000+1900]")))).toBe(
      "invalid timestamp 2024-01-01 10:00:00+1900",
    );
    expect(reason(parseLine(line("Dec 06 11:17:45 kafka1 kafka[812]:")))).toBe(
      "timestamp in a layout this parser does not know",
    );
  });

  it("keeps lines whose fields the native schema could not hold", () => {
    const long = "x".repeat(1025);
    expect(
      reason(
        parseLine(
          `Principal = User:${long} is Denied Operation = Read from host = 10.0.0.1 on resource = Topic:LITERAL:t`,
        ),
      ),
    ).toBe("actor.id is longer than 1024 characters");
    expect(
      reason(
        parseLine(
          `Principal = User:a is Denied Operation = Read from host = 10.0.0.1 on resource = Group:LITERAL:${long}`,
        ),
      ),
    ).toBe("resource.id is longer than 1024 characters");
    const huge = `Principal = User:a is Denied Operation = Read from host = 10.0.0.1 on resource = Group:LITERAL:${"g".repeat(MAX_LINE_CHARS)}`;
    expect(reason(parseLine(huge))).toBe(`line longer than ${MAX_LINE_CHARS} characters`);
    expect(parseLine("z".repeat(MAX_LINE_CHARS + 1))).toEqual({ kind: "ignored" });
  });

  it("parseLines reports unparsed lines with their line numbers and counts the rest", () => {
    const text = [
      "[2024-01-01 10:00:00,000] INFO Principal = User:a is Denied Operation = Read from host = 10.0.0.1 on resource = Topic:LITERAL:t (kafka.authorizer.logger)",
      "",
      "[2024-01-01 10:00:01,000] INFO Principal = User:a is Sideways Operation = Read (kafka.authorizer.logger)",
      "[2024-01-01 10:00:02,000] INFO [Controller id=0] Something else (kafka.controller.KafkaController)",
      "",
    ].join("\r\n");
    const r = parseLines(text);
    expect(r.events).toHaveLength(1);
    expect(details(r.events[0]).raw).toBe(
      "[2024-01-01 10:00:00,000] INFO Principal = User:a is Denied Operation = Read from host = 10.0.0.1 on resource = Topic:LITERAL:t (kafka.authorizer.logger)",
    );
    expect(r.unparsed).toEqual([
      {
        line: 3,
        raw: "[2024-01-01 10:00:01,000] INFO Principal = User:a is Sideways Operation = Read (kafka.authorizer.logger)",
        reason: expect.stringMatching(/^authorizer line does not match/),
        timestamp: "2024-01-01T10:00:01.000Z",
      },
    ]);
    // The blank line and the controller line; the text's final terminator opens no line.
    expect(r.ignored).toBe(2);
    expect(parseLines("")).toEqual({ events: [], unparsed: [], ignored: 0 });
  });

  it("turns an unparsed line into a valid kafka.log_unparsed event", () => {
    const r = parseLines(fixture(ACL));
    const entry = r.unparsed[0];
    if (!entry) throw new Error("expected one unparsed line");
    expect(unparsedEvent(entry)).toEqual({
      event_type: "kafka.log_unparsed",
      details: { reason: entry.reason, raw: entry.raw, line: 1 },
    });
    const timed = unparsedEvent({ raw: "x", reason: "r", timestamp: "2024-01-01T10:00:00.000Z" });
    expect(timed).toEqual({
      timestamp: "2024-01-01T10:00:00.000Z",
      event_type: "kafka.log_unparsed",
      details: { reason: "r", raw: "x" },
    });
    // Cut at the limit, never between the halves of a surrogate pair.
    const long = `${"a".repeat(MAX_LINE_CHARS - 1)}😀tail`;
    const cut = unparsedEvent({ raw: long, reason: "r" });
    expect(cut.details).toMatchObject({ raw_length: long.length });
    expect(details(cut).raw).toBe("a".repeat(MAX_LINE_CHARS - 1));
    assertValid([unparsedEvent(entry), timed, cut]);
  });
});

describe("timestamps", () => {
  const line = (ts: string) =>
    `${ts} INFO Principal = User:a is Denied Operation = Read from host = 10.0.0.1 on resource = Topic:LITERAL:t (kafka.authorizer.logger)`;
  const at = (ts: string, timeZone?: string) =>
    event(parseLine(line(ts), timeZone === undefined ? undefined : { timeZone })).timestamp;

  it("reads log4j's zoneless time as UTC by default", () => {
    expect(at("[2024-01-15 10:00:00,123]")).toBe("2024-01-15T10:00:00.123Z");
    expect(at("2024-01-15 10:00:00")).toBe("2024-01-15T10:00:00.000Z");
    expect(at("2024-01-15T10:00:00.5")).toBe("2024-01-15T10:00:00.500Z");
    expect(at("2024-01-15 10:00:00,123456")).toBe("2024-01-15T10:00:00.123456Z");
  });

  it("converts from the configured zone, with daylight saving", () => {
    expect(at("[2024-01-15 10:00:00,123]", "Europe/Berlin")).toBe("2024-01-15T09:00:00.123Z");
    expect(at("[2024-07-15 10:00:00,123]", "Europe/Berlin")).toBe("2024-07-15T08:00:00.123Z");
    expect(at("[2024-07-15 10:00:00,000]", "America/New_York")).toBe("2024-07-15T14:00:00.000Z");
    expect(at("[2024-12-31 23:30:00,000]", "Asia/Kolkata")).toBe("2024-12-31T18:00:00.000Z");
    // Just before and after the spring-forward and fall-back changes in Berlin (31 March, 27 October 2024):
    // the first guess lands on the wrong side of the change and must be corrected.
    expect(at("[2024-03-31 01:30:00,000]", "Europe/Berlin")).toBe("2024-03-31T00:30:00.000Z");
    expect(at("[2024-10-27 01:30:00,000]", "Europe/Berlin")).toBe("2024-10-26T23:30:00.000Z");
    expect(at("[2024-03-31 03:00:00,000]", "Europe/Berlin")).toBe("2024-03-31T01:00:00.000Z");
    expect(at("[2024-10-27 03:00:00,000]", "Europe/Berlin")).toBe("2024-10-27T02:00:00.000Z");
    expect(at("[2024-07-15 10:00:00,000]", "UTC")).toBe("2024-07-15T10:00:00.000Z");
  });

  it("prefers an offset written in the line over the configured zone", () => {
    expect(at("2024-07-15 10:00:00,000+0200", "America/New_York")).toBe("2024-07-15T08:00:00.000Z");
    expect(at("2024-07-15T10:00:00.000-05:30")).toBe("2024-07-15T15:30:00.000Z");
    expect(at("2024-07-15T10:00:00.000Z", "Europe/Berlin")).toBe("2024-07-15T10:00:00.000Z");
  });

  it("refuses an unknown zone", () => {
    expect(() => parseLine("anything", { timeZone: "Mars/Olympus" })).toThrow(RangeError);
  });
});
