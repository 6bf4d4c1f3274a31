/**
 * The Kafka audit proxy with Kafka's own command-line tools (test/support/kafka-tools.ts), the clients operators
 * run by hand and in scripts, against a real Apache Kafka 4.4 broker that enforces ACLs (KRaft's
 * StandardAuthorizer). Through the proxy's PLAINTEXT side (ANONYMOUS, a super user): kafka-topics creates,
 * describes, lists and deletes a topic; the console producer writes lines the console consumer reads back in a
 * consumer group, which kafka-consumer-groups then describes; the producer and consumer perf tests run to the
 * end. Through the broker's SASL_SSL listener (the tools speak SASL_PLAINTEXT with SCRAM-SHA-512 to the proxy,
 * the proxy TLS to the broker): an unprivileged user is denied a topic, an admin grants her access with
 * kafka-acls, she produces, the admin lists and removes the ACLs, and a login with a wrong password fails. Every
 * step is checked in the proxy's audit events: the API, the principal, the tool's client id, the topic, the
 * group, record counts, error codes and, for ACL changes, the ACLs themselves.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Admin } from "@platformatic/kafka";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KafkaBroker, type ScramUser, startKafka } from "./support/kafka.ts";
import { type Json, kafkaOf, ofType, proxyTo, until } from "./support/kafka-proxy.ts";
import { kafkaTool } from "./support/kafka-tools.ts";
import { tempDir } from "./support/vigil-process.ts";

let kafka: KafkaBroker;
let alice: ScramUser;
/** Where the tools' client config files go. */
let configDir: string;

beforeAll(async () => {
  [kafka, configDir] = await Promise.all([startKafka({ sasl: true, authorizer: true }), tempDir()]);
  alice = kafka.unprivileged as ScramUser;
}, 90_000);

afterAll(async () => {
  await kafka?.close();
});

/** Waits until `events` from index `since` on has one matching `match`; returns all that do. */
function eventsOf(events: Json[], what: string, match: (e: Json) => boolean, since = 0): Promise<Json[]> {
  return until(what, () => {
    const found = events.slice(since).filter(match);
    return found.length > 0 ? found : undefined;
  });
}

const result = (e: Json) => (e.action as Json).result;
const actorId = (e: Json) => (e.actor as Json).id;
const namesGroup = (group: string) => (e: Json) =>
  ((kafkaOf(e).groups as string[] | undefined) ?? []).includes(group);

/** The records a topic's entries in `events` count (Produce: sent; Fetch: returned). */
function recordsOf(events: Json[], topic: string): number {
  return events
    .flatMap((e) => (kafkaOf(e).topics as Json[] | undefined) ?? [])
    .filter((t) => t.name === topic)
    .reduce((n, t) => n + Number(t.records ?? 0), 0);
}

/** Creates topics straight at the broker (the setup of a test, not what it audits). */
async function createTopics(...topics: string[]): Promise<void> {
  const admin = new Admin({ clientId: "setup", bootstrapBrokers: [kafka.plaintext], retries: 5 });
  try {
    await admin.createTopics({ topics, partitions: 1, replicas: 1 });
  } finally {
    await admin.close();
  }
}

describe("Kafka's tools through the proxy, PLAINTEXT", () => {
  it("kafka-topics creates, describes, lists and deletes a topic, each audited as ANONYMOUS", async () => {
    const { proxy, events, bootstrap } = await proxyTo(kafka.plaintext);
    const topic = `tools-topics-${Date.now()}`;
    try {
      const server = ["--bootstrap-server", bootstrap];
      const created = await kafkaTool("kafka-topics", [
        ...server,
        "--create",
        "--topic",
        topic,
        "--partitions",
        "2",
      ]);
      expect(created.stdout).toContain(`Created topic ${topic}.`);
      const [described, listed] = await Promise.all([
        kafkaTool("kafka-topics", [...server, "--describe", "--topic", topic]),
        kafkaTool("kafka-topics", [...server, "--list"]),
      ]);
      expect(described.stdout).toMatch(new RegExp(`Topic: ${topic}\\tTopicId: \\S+\\tPartitionCount: 2\\t`));
      expect(listed.stdout.split("\n")).toContain(topic);
      await kafkaTool("kafka-topics", [...server, "--delete", "--topic", topic]);

      const tool = { type: "anonymous", id: "ANONYMOUS", ip_address: "127.0.0.1" };
      const clientId = expect.stringMatching(/^adminclient-\d+$/);
      expect(ofType(events, "kafka.createtopics")).toEqual([
        expect.objectContaining({
          actor: tool,
          resource: { type: "topic", id: topic },
          action: expect.objectContaining({ operation: "CreateTopics", result: "success" }),
          details: { kafka: expect.objectContaining({ client_id: clientId }) },
        }),
      ]);
      // --describe reads the partitions of the topic it names.
      const partitions = ofType(events, "kafka.describetopicpartitions");
      expect(partitions.some((e) => (e.resource as Json).id === topic && result(e) === "success")).toBe(true);
      expect(ofType(events, "kafka.deletetopics")).toEqual([
        expect.objectContaining({
          actor: tool,
          resource: { type: "topic", id: topic },
          action: expect.objectContaining({ operation: "DeleteTopics", result: "success" }),
          details: { kafka: expect.objectContaining({ client_id: clientId }) },
        }),
      ]);
      expect(events.every((e) => actorId(e) === "ANONYMOUS")).toBe(true);
    } finally {
      await proxy.stop();
    }
  });

  it("the console producer's lines come back to the console consumer in a group, which kafka-consumer-groups describes", async () => {
    const topic = `tools-console-${Date.now()}`;
    const group = `group-${topic}`;
    await createTopics(topic);
    const { proxy, events, bootstrap } = await proxyTo(kafka.plaintext);
    const lines = Array.from({ length: 20 }, (_, i) => `line ${i}`);
    try {
      await kafkaTool("kafka-console-producer", ["--bootstrap-server", bootstrap, "--topic", topic], {
        input: `${lines.join("\n")}\n`,
      });
      const consumed = await kafkaTool("kafka-console-consumer", [
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--group",
        group,
        "--from-beginning",
        "--max-messages",
        String(lines.length),
      ]);
      expect(consumed.stdout.trim().split("\n")).toEqual(lines);
      const described = await kafkaTool("kafka-consumer-groups", [
        "--bootstrap-server",
        bootstrap,
        "--describe",
        "--group",
        group,
      ]);
      // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG …: the consumer committed all 20.
      expect(described.stdout).toMatch(new RegExp(`${group}\\s+${topic}\\s+0\\s+20\\s+20\\s+0\\s`));

      const produced = ofType(events, "kafka.produce").filter(
        (e) => kafkaOf(e).client_id === "console-producer" && result(e) === "success",
      );
      expect(recordsOf(produced, topic)).toBe(lines.length);
      const consumer = events.filter((e) => kafkaOf(e).client_id === "console-consumer");
      expect(recordsOf(ofType(consumer, "kafka.fetch"), topic)).toBeGreaterThanOrEqual(lines.length);
      for (const type of ["kafka.joingroup", "kafka.syncgroup", "kafka.offsetcommit"]) {
        const named = ofType(consumer, type).filter((e) => namesGroup(group)(e) && result(e) === "success");
        expect(named.length, type).toBeGreaterThan(0);
      }
      expect(ofType(consumer, "kafka.offsetcommit").filter(namesGroup(group))[0]?.resource).toEqual({
        type: "topic",
        id: topic,
      });
      // kafka-consumer-groups read the group's committed offsets and its description.
      const tool = events.filter((e) => /^adminclient-\d+$/.test(String(kafkaOf(e).client_id)));
      expect(ofType(tool, "kafka.offsetfetch").some(namesGroup(group))).toBe(true);
      expect(ofType(tool, "kafka.describegroups").some((e) => result(e) === "success")).toBe(true);
      expect(events.every((e) => actorId(e) === "ANONYMOUS")).toBe(true);
    } finally {
      await proxy.stop();
    }
  });

  it("ProducerPerformance and ConsumerPerformance run to completion, every record counted", async () => {
    const topic = `tools-perf-${Date.now()}`;
    const records = 2000;
    await createTopics(topic);
    const { proxy, events, bootstrap } = await proxyTo(kafka.plaintext);
    try {
      const sent = await kafkaTool("kafka-producer-perf-test", [
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--num-records",
        String(records),
        "--record-size",
        "100",
        "--throughput",
        "-1",
      ]);
      expect(sent.stdout).toContain(`${records} records sent`);
      const read = await kafkaTool("kafka-consumer-perf-test", [
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--num-records",
        String(records),
      ]);
      // start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, …
      const row = read.stdout.trim().split("\n").at(-1)?.split(", ");
      expect(Number(row?.[4])).toBe(records);

      const produced = ofType(events, "kafka.produce");
      expect(produced.length).toBeGreaterThan(0);
      expect(produced.every((e) => kafkaOf(e).client_id === "perf-producer-client")).toBe(true);
      const stored = produced.filter((e) => result(e) === "success");
      expect(recordsOf(stored, topic)).toBe(records);
      const fetched = ofType(events, "kafka.fetch");
      expect(fetched.every((e) => kafkaOf(e).client_id === "perf-consumer-client")).toBe(true);
      expect(recordsOf(fetched, topic)).toBeGreaterThanOrEqual(records);
    } finally {
      await proxy.stop();
    }
  });
});

describe("Kafka's tools through the proxy, SASL (SCRAM) and ACLs", () => {
  /** A client config logging in as `user` with SCRAM-SHA-512 over SASL_PLAINTEXT (to the proxy); its path. */
  async function clientConfig(name: string, user: ScramUser, extra = ""): Promise<string> {
    const file = join(configDir, `${name}.properties`);
    await writeFile(
      file,
      `security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${user.username}" password="${user.password}";
${extra}`,
    );
    return file;
  }

  it("denies a user a topic, grants it with kafka-acls, lists and removes the ACLs, audits a wrong password", async () => {
    const topic = `tools-acl-${Date.now()}`;
    await createTopics(topic);
    const { proxy, events, bootstrap } = await proxyTo(kafka.saslSsl, { upstreamTls: { ca: kafka.caPem } });
    const [admin, asAlice, wrongPassword] = await Promise.all([
      clientConfig("admin", kafka),
      clientConfig("alice", alice),
      // A failed login is final for the Java client; the timeouts only bound the tool should it retry.
      clientConfig(
        "wrong-password",
        { ...alice, password: "not-her-password" },
        "request.timeout.ms=5000\ndefault.api.timeout.ms=10000\n",
      ),
    ]);
    const produce = (input: string) =>
      kafkaTool(
        "kafka-console-producer",
        ["--bootstrap-server", bootstrap, "--command-config", asAlice, "--topic", topic],
        { input },
      );
    const acls = (...args: string[]) =>
      kafkaTool("kafka-acls", ["--bootstrap-server", bootstrap, "--command-config", admin, ...args]);
    const aliceMay = [
      "--allow-principal",
      `User:${alice.username}`,
      "--operation",
      "Write",
      "--operation",
      "Describe",
      "--topic",
      topic,
    ];
    const byAlice = (e: Json) => actorId(e) === `User:${alice.username}`;
    const byAdmin = (e: Json) => actorId(e) === `User:${kafka.username}`;
    try {
      // Denied: the console producer only logs the error of each send, and exits 0.
      const [denied, intruder] = await Promise.all([
        produce("denied\n"),
        kafkaTool(
          "kafka-topics",
          ["--bootstrap-server", bootstrap, "--command-config", wrongPassword, "--list"],
          { fails: true, timeoutMs: 30_000 },
        ),
      ]);
      expect(denied.stderr).toContain("TopicAuthorizationException");
      expect(intruder.stdout + intruder.stderr).toContain("invalid credentials");
      await eventsOf(events, "alice's login", (e) => e.event_type === "auth.login" && byAlice(e));
      const refused = events.filter(
        (e) =>
          byAlice(e) &&
          ["kafka.metadata", "kafka.produce"].includes(String(e.event_type)) &&
          (kafkaOf(e).error_codes as Json | undefined)?.["29"] !== undefined,
      );
      expect(refused.length).toBeGreaterThan(0);
      expect(refused[0]).toMatchObject({
        resource: { type: "topic", id: topic },
        action: { result: "failure" },
        details: { kafka: { client_id: "console-producer" } },
      });
      expect(ofType(events, "kafka.produce").filter((e) => result(e) === "success")).toEqual([]);
      const failedLogin = await eventsOf(events, "the failed login", (e) => e.event_type === "auth.failed");
      expect(failedLogin[0]).toMatchObject({
        actor: { type: "user", id: `User:${alice.username}` },
        action: { operation: "authenticate", result: "failure" },
        details: { kafka: { mechanism: "SCRAM-SHA-512", error_code: 58 } },
      });

      // The admin grants her Write and Describe on the topic.
      let since = events.length;
      await acls("--add", ...aliceMay);
      const grant = {
        resource_type: "TOPIC",
        resource_name: topic,
        pattern_type: "LITERAL",
        principal: `User:${alice.username}`,
        host: "*",
        permission: "ALLOW",
      };
      const [created] = await eventsOf(
        events,
        "the CreateAcls",
        (e) => e.event_type === "kafka.createacls",
        since,
      );
      expect(created).toMatchObject({
        actor: { type: "user", id: `User:${kafka.username}` },
        resource: { type: "topic", id: topic },
        action: { operation: "CreateAcls", result: "success" },
      });
      expect(kafkaOf(created as Json).acls).toEqual(
        expect.arrayContaining([
          { ...grant, operation: "WRITE" },
          { ...grant, operation: "DESCRIBE" },
        ]),
      );
      expect(kafkaOf(created as Json).acls).toHaveLength(2);

      // Now she may produce.
      since = events.length;
      await produce("one\ntwo\n");
      const sent = await eventsOf(
        events,
        "alice's records",
        (e) => e.event_type === "kafka.produce" && result(e) === "success",
        since,
      );
      expect(sent.every(byAlice)).toBe(true);
      expect(recordsOf(sent, topic)).toBe(2);
      expect(events.slice(since).filter((e) => byAlice(e) && result(e) === "failure")).toEqual([]);

      since = events.length;
      const listed = await acls("--list", "--topic", topic);
      expect(listed.stdout).toContain(
        `principal=User:${alice.username}, host=*, operation=WRITE, permissionType=ALLOW`,
      );
      const [describedAcls] = await eventsOf(
        events,
        "the DescribeAcls",
        (e) => e.event_type === "kafka.describeacls",
        since,
      );
      expect(describedAcls).toMatchObject({
        actor: { id: `User:${kafka.username}` },
        resource: { type: "topic", id: topic },
        action: { result: "success" },
      });
      // Any principal, host, operation and permission on this topic.
      expect(kafkaOf(describedAcls as Json).acls).toEqual([
        {
          resource_type: "TOPIC",
          resource_name: topic,
          pattern_type: "LITERAL",
          principal: null,
          host: null,
          operation: "ANY",
          permission: "ANY",
        },
      ]);

      since = events.length;
      await acls("--remove", ...aliceMay, "--force");
      const [deleted] = await eventsOf(
        events,
        "the DeleteAcls",
        (e) => e.event_type === "kafka.deleteacls",
        since,
      );
      expect(deleted).toMatchObject({
        actor: { type: "user", id: `User:${kafka.username}` },
        resource: { type: "topic", id: topic },
        action: { operation: "DeleteAcls", result: "success" },
      });
      expect(kafkaOf(deleted as Json).acls).toEqual(
        expect.arrayContaining([
          { ...grant, operation: "WRITE" },
          { ...grant, operation: "DESCRIBE" },
        ]),
      );
      expect(kafkaOf(deleted as Json).acls).toHaveLength(2);

      // Every ACL request was the admin's; no password is in any event.
      const aclEvents = events.filter((e) =>
        /^kafka\.(create|describe|delete)acls$/.test(String(e.event_type)),
      );
      expect(aclEvents.every(byAdmin)).toBe(true);
      const text = JSON.stringify(events);
      for (const secret of [kafka.password, alice.password, "not-her-password"])
        expect(text).not.toContain(secret);
    } finally {
      await proxy.stop();
    }
  });
});
