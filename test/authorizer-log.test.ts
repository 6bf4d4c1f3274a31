/**
 * The kafka_authorizer_log source through the real server, configured by a real vigil.yaml: a broker's
 * authorizer log (real lines) is tailed into the trail, appended lines follow, a restart delivers nothing twice
 * (nor does one that lost the tailer's position), and the sealed log verifies. Also: a cloudevents file destination names the log by its origin.
 */
import { appendFile, copyFile, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readRecords, type SealedRecord, waitUntil, writeConfig } from "./support/files.ts";
import { get, runVigil, startVigil, tempDir, type VigilProcess } from "./support/vigil-process.ts";

const FIXTURE = "/work/shared/fixtures/kafka/kafka-authorizer-acl-lines.log";

/** The fixture's 8 authorization lines; its first comment line names kafka.authorizer.logger and is kept raw. */
const FIXTURE_EVENTS = [
  ["access.denied", "sftp"],
  ["access.denied", "sftp"],
  ["access.denied", "sftp"],
  ["access.denied", "sftp"],
  ["access.granted", "clientrestproxy"],
  ["access.granted", "clientrestproxy"],
  ["access.denied", "alice.mydomain.example"],
  ["access.denied", "alice"],
];

const APPENDED = [
  "[2024-03-01 10:00:00,000] INFO Principal = User:bob is Allowed Operation = Read from host = 10.0.0.7 on resource = Topic:LITERAL:orders for request = Fetch with resourceRefCount = 1 (kafka.authorizer.logger)",
  "[2024-03-01 10:00:01,000] INFO Principal = User:eve is Denied Operation = Write from host = 10.0.0.8 on resource = Topic:LITERAL:orders for request = Produce with resourceRefCount = 1 (kafka.authorizer.logger)",
];

interface SourceStatus {
  name: string;
  type: string;
  path: string;
  events: number;
  unparsed: number;
  position: number;
}

/** Waits until the file holds at least `n` records, and returns them. */
function recordsAtLeast(path: string, n: number): Promise<SealedRecord[]> {
  return waitUntil(`${n} records in ${path}`, async () => {
    const records = await readRecords(path).catch(() => []);
    return records.length >= n ? records : undefined;
  });
}

const summary = (records: SealedRecord[]) =>
  records
    .filter((r) => r.event.event_type.startsWith("access."))
    .map((r) => [r.event.event_type, (r.event.actor as { id: string }).id]);

async function sourceStatuses(vigil: VigilProcess): Promise<SourceStatus[]> {
  return ((await (await get(vigil, "/v1/status")).json()) as { sources: SourceStatus[] }).sources;
}

describe("kafka_authorizer_log source", () => {
  it("tails the log into the trail, follows appends, delivers nothing twice across a restart", async () => {
    const dir = await tempDir("vigil-kafkalog-");
    const log = join(dir, "kafka-authorizer.log");
    await copyFile(FIXTURE, log);
    const audit = join(dir, "audit.log");
    const cloudevents = join(dir, "audit.cloudevents");
    const config = await writeConfig(
      dir,
      [
        "audit:",
        "  sources:",
        "    - type: kafka_authorizer_log",
        "      path: kafka-authorizer.log",
        "      name: broker-1",
        "  destinations:",
        "    - type: file",
        `      path: ${audit}`,
        "    - type: file",
        `      path: ${cloudevents}`,
        "      format: cloudevents",
      ].join("\n"),
    );
    const dataDir = await tempDir("vigil-kafkalog-data-");

    let vigil = await startVigil({ dataDir, args: ["--config", config] });
    try {
      let records = await recordsAtLeast(audit, FIXTURE_EVENTS.length + 1);
      expect(summary(records)).toEqual(FIXTURE_EVENTS);
      const unparsed = records.filter((r) => r.event.event_type === "kafka.log_unparsed");
      expect(unparsed).toHaveLength(1);
      expect(records[0]?.event.origin).toEqual({ source: "kafka-authorizer-log", token: "broker-1" });

      await appendFile(log, `${APPENDED.join("\n")}\n`);
      records = await recordsAtLeast(audit, FIXTURE_EVENTS.length + 3);
      expect(summary(records).slice(-2)).toEqual([
        ["access.granted", "bob"],
        ["access.denied", "eve"],
      ]);

      const [status] = await sourceStatuses(vigil);
      expect(status).toMatchObject({
        name: "broker-1",
        type: "kafka_authorizer_log",
        path: log,
        events: FIXTURE_EVENTS.length + 3,
        unparsed: 1,
        position: (await stat(log)).size,
      });
      expect((await stat(join(dataDir, "sources"))).mode & 0o777).toBe(0o700);
      expect((await stat(join(dataDir, "sources", "broker-1.json"))).mode & 0o777).toBe(0o600);
    } finally {
      await vigil.stop();
    }

    // Restarted, the tailer resumes at its saved position: only a line appended meanwhile is new.
    await appendFile(log, `${APPENDED[0]?.replace("User:bob", "User:carol")}\n`);
    vigil = await startVigil({ dataDir, args: ["--config", config] });
    try {
      const records = await recordsAtLeast(audit, FIXTURE_EVENTS.length + 4);
      expect(summary(records).at(-1)).toEqual(["access.granted", "carol"]);
      await waitUntil("the source to catch up", async () => {
        const [status] = await sourceStatuses(vigil);
        return status?.position === (await stat(log)).size ? status : undefined;
      });
      expect((await sourceStatuses(vigil))[0]).toMatchObject({ events: 1 });
    } finally {
      await vigil.stop();
    }

    // Without its state the tailer reads the whole file again: every line is answered by its event id, not
    // sealed a second time.
    await rm(join(dataDir, "sources", "broker-1.json"));
    vigil = await startVigil({ dataDir, args: ["--config", config] });
    try {
      await waitUntil("the source to read the file again", async () => {
        const [status] = await sourceStatuses(vigil);
        return status?.position === (await stat(log)).size ? status : undefined;
      });
      expect((await sourceStatuses(vigil))[0]).toMatchObject({ events: FIXTURE_EVENTS.length + 4 });
      const chain = (await (await get(vigil, "/v1/status")).json()) as { chain: { sequence: number } };
      expect(chain.chain.sequence).toBe(FIXTURE_EVENTS.length + 4);
    } finally {
      await vigil.stop();
    }

    const records = await readRecords(audit);
    expect(records).toHaveLength(FIXTURE_EVENTS.length + 4);
    const ids = records.map((r) => r.event.event_id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every((id) => id.startsWith("kafkalog_"))).toBe(true);

    const verified = await runVigil(["verify", "--data-dir", dataDir, audit]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);

    const origin = (await readFile(join(dataDir, "origin"), "utf8")).trim();
    const first = JSON.parse((await readFile(cloudevents, "utf8")).split("\n")[0] as string) as {
      source: string;
    };
    expect(first.source).toBe(`vigil://${encodeURI(origin)}`);
  });
});
