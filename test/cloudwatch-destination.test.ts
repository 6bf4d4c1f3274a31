/**
 * The CloudWatch Logs destination against moto (test/support/moto.ts) with the real AWS SDK: the destination
 * contract, PutLogEvents' limits (moto enforces none, so the requests sent are counted and the stream read
 * back), timestamps clamped and never going back, log group and stream creation, resuming after a restart, and,
 * through the real server, spec/000's block and the outage scenario.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  DeleteLogStreamCommand,
  DescribeLogGroupsCommand,
  GetLogEventsCommand,
  type OutputLogEvent,
} from "@aws-sdk/client-cloudwatch-logs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventBytes, MAX_AGE_MS, MAX_REQUEST_BYTES } from "../src/destinations/cloudwatch/batch.ts";
import {
  type CloudWatchDestinationConfig,
  resolveCloudWatchDestination,
} from "../src/destinations/cloudwatch/config.ts";
import { CloudWatchDestination } from "../src/destinations/cloudwatch/destination.ts";
import { canonicalize } from "../src/integrity/canonical.ts";
import { parseRecord, Sealer } from "../src/integrity/chain.ts";
import { keyFromSecret } from "../src/integrity/keys.ts";
import { CursorStore } from "../src/journal/cursor.ts";
import { JournalWriter } from "../src/journal/writer.ts";
import { JournalConsumer } from "../src/pipeline/consumer.ts";
import { destinationContract, type StoredRecord } from "./support/destination-contract.ts";
import { destinationStatuses, waitUntil, writeConfig } from "./support/files.ts";
import { type Moto, startMoto } from "./support/moto.ts";
import { outageScenario } from "./support/outage.ts";
import { event, ndjson, post, startVigil, tempDir, waitForDelivery } from "./support/vigil-process.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const GROUP = "/vigil/test";
const context = { log: () => {}, productVersion: "test", logOrigin: "vigil.test/log" };
const never = new AbortController().signal;

let moto: Moto;
/** Reads what moto holds, in the moto's default region unless told otherwise. */
let reader: CloudWatchLogsClient;
let streams = 0;

beforeAll(async () => {
  moto = await startMoto();
  reader = client(moto.region);
  await reader.send(new CreateLogGroupCommand({ logGroupName: GROUP }));
});
afterAll(async () => {
  reader?.destroy();
  await moto?.close();
});

function client(region: string): CloudWatchLogsClient {
  return new CloudWatchLogsClient({
    endpoint: moto.endpoint,
    region,
    credentials: moto.credentials,
    requestHandler: { requestTimeout: 10_000, throwOnRequestTimeout: true },
  });
}

/** A new stream name, so each test reads back only its own events. */
function newStream(): string {
  return `test-${++streams}-${Date.now()}`;
}

function cloudwatch(extra: Record<string, unknown> = {}): CloudWatchDestinationConfig {
  return resolveCloudWatchDestination({
    type: "cloudwatch",
    log_group: GROUP,
    log_stream: newStream(),
    region: moto.region,
    endpoint: moto.endpoint,
    access_key_id: moto.credentials.accessKeyId,
    secret_access_key: moto.credentials.secretAccessKey,
    ...extra,
  });
}

/** Every event of a stream, in the stream's order (GetLogEvents pages until the forward token repeats). */
async function eventsOf(stream: string, group = GROUP, from = reader): Promise<OutputLogEvent[]> {
  const out: OutputLogEvent[] = [];
  let token: string | undefined;
  for (;;) {
    const page = await from.send(
      new GetLogEventsCommand({
        logGroupName: group,
        logStreamName: stream,
        startFromHead: true,
        nextToken: token,
      }),
    );
    out.push(...(page.events ?? []));
    if (page.nextForwardToken === undefined || page.nextForwardToken === token) return out;
    token = page.nextForwardToken;
  }
}

function storedOf(events: OutputLogEvent[]): StoredRecord[] {
  return events.map((e) => {
    const parsed = parseRecord(Buffer.from(e.message ?? ""));
    if (!parsed.ok) throw new Error(parsed.reason);
    const ev = JSON.parse(parsed.record.event.toString()) as { details?: Record<string, unknown> };
    return {
      sequence: parsed.record.integrity.sequence_number,
      signature: parsed.record.integrity.signature,
      ...(ev.details === undefined ? {} : { details: ev.details }),
    };
  });
}

const sequences = (events: OutputLogEvent[]) => storedOf(events).map((r) => r.sequence);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

destinationContract("cloudwatch", () => ({
  create: async ({ name, delivery }) => {
    const config = cloudwatch({ name, log_stream: name });
    config.delivery = { ...config.delivery, ...delivery };
    return {
      destination: new CloudWatchDestination(config, context),
      read: async () => storedOf(await eventsOf(name)),
    };
  },
  interrupt: () => moto.pause(),
  resume: () => moto.resume(),
  // Over CloudWatch's 1,048,576 bytes per event; the journal takes records up to 4 MiB.
  oversizeBytes: 1_100_000,
}));

const key = keyFromSecret(Buffer.alloc(32, 5), "cw");

/** Sealed records of `events` (one chain), as the journal hands them to a destination. */
function sealAll(events: Record<string, unknown>[]): Buffer[] {
  const sealer = new Sealer(key, { sequence: 0, signature: "" });
  return events.map((e) => Buffer.from(sealer.seal(canonicalize(e)).line));
}

function records(n: number, detailBytes = 40): Buffer[] {
  return sealAll(
    Array.from({ length: n }, (_, i) => ({
      event_type: "a.b",
      details: { i, pad: "p".repeat(detailBytes) },
    })),
  );
}

/** A journal holding `lines`, for a real consumer. */
async function journalOf(lines: Buffer[]) {
  const dataDir = await mkdtemp(join(tmpdir(), "vigil-cw-"));
  const { writer } = await JournalWriter.open({ dir: join(dataDir, "journal"), segmentBytes: 1 << 22 });
  await writer.append(
    lines.map((l) => l.toString()),
    1,
  );
  const consumer = (destination: CloudWatchDestination) =>
    new JournalConsumer(destination, {
      journalDir: join(dataDir, "journal"),
      writer,
      cursors: new CursorStore(dataDir),
      log: () => {},
      delivery: { backoff: { initialMs: 10, maxMs: 50 }, requestTimeoutMs: 5000 },
    });
  return {
    consumer,
    close: async () => {
      await writer.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function started(config: CloudWatchDestinationConfig, now?: () => number) {
  const d = new CloudWatchDestination(config, context, now);
  const { last } = await d.start();
  return { d, last };
}

describe("cloudwatch destination", () => {
  it("splits a delivery over 10,000 events or 1 MiB into several requests, in order, all stored", async () => {
    const config = cloudwatch();
    const { d } = await started(config);
    // Sealed records are over 200 bytes each: 12,000 of them are past both the count and the byte limit.
    const many = records(12_000);
    await d.deliver({ firstSequence: 1, lines: many }, never);
    const fewest = Math.ceil(many.reduce((n, l) => n + eventBytes(l.toString()), 0) / MAX_REQUEST_BYTES);
    expect(fewest).toBeGreaterThan(2);
    const { requests } = d.status();
    expect(requests).toBeGreaterThanOrEqual(fewest);
    expect(requests).toBeLessThanOrEqual(fewest + 1);
    expect(d.status().events).toBe(12_000);
    const big = records(5, 300_000);
    await d.deliver({ firstSequence: 12_001, lines: big }, never);
    // Three records of 300 KB fit one request of 1,048,576 bytes; the other two go in a second.
    expect(d.status()).toMatchObject({ requests: requests + 2, events: 12_005 });
    const stored = await eventsOf(config.logStream);
    expect(stored).toHaveLength(12_005);
    expect(stored.map((e) => e.message)).toEqual([...many, ...big].map((l) => l.toString()));
    await d.stop();
  });

  it("stores a record received 20 days ago at the oldest time CloudWatch keeps, timestamps never going back", async () => {
    const config = cloudwatch();
    const { d } = await started(config);
    const now = Date.now();
    const at = (ms: number) => new Date(now - ms).toISOString();
    const lines = sealAll([
      { event_type: "a.b", received_at: at(HOUR) },
      { event_type: "a.b", received_at: at(20 * DAY) },
      { event_type: "a.b", received_at: at(2 * HOUR) },
      { event_type: "a.b", received_at: at(-5 * HOUR) },
    ]);
    await d.deliver({ firstSequence: 1, lines: lines.slice(0, 2) }, never);
    await d.deliver({ firstSequence: 3, lines: lines.slice(2) }, never);
    const stored = await eventsOf(config.logStream);
    expect(sequences(stored)).toEqual([1, 2, 3, 4]);
    const times = stored.map((e) => e.timestamp as number);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(times[0]).toBeGreaterThanOrEqual(now - HOUR);
    expect(times[1]).toBe(times[0]); // 20 days ago, clamped, and never before the record sent before it
    expect(times[3]).toBeLessThanOrEqual(Date.now()); // not ahead of this clock
    // The real time stays in the message.
    expect(stored[1]?.message).toContain(`"received_at":"${at(20 * DAY)}"`);

    // A stream read on its own: the old record first, clamped to the window (14 days, less a margin).
    const alone = cloudwatch();
    const fresh = await started(alone);
    await fresh.d.deliver({ firstSequence: 2, lines: [lines[1] as Buffer] }, never);
    const [old] = await eventsOf(alone.logStream);
    expect(old?.timestamp).toBeGreaterThan(now - MAX_AGE_MS);
    expect(old?.timestamp).toBeLessThan(now - 13 * DAY);
    await Promise.all([d.stop(), fresh.d.stop()]);
  });

  it("reports events CloudWatch did not store as a failure, never as delivered", async () => {
    // A clock 20 days behind AWS's: the events it stamps are too old for CloudWatch, which drops them.
    const config = cloudwatch();
    const { d } = await started(config, () => Date.now() - 20 * DAY);
    await expect(d.deliver({ firstSequence: 1, lines: records(3) }, never)).rejects.toMatchObject({
      retryable: true,
      message: expect.stringMatching(
        /^CloudWatch did not store some events of records 1-3 in log stream .* \(too old\); check this host's clock/,
      ),
    });
    expect(await eventsOf(config.logStream)).toEqual([]);
    await d.stop();
  });

  it("creates a missing log group and stream, with the retention, and again if the stream is deleted", async () => {
    const group = `/vigil/created-${Date.now()}`;
    const logged: string[] = [];
    const config = cloudwatch({ log_group: group, retention_in_days: 7 });
    const d = new CloudWatchDestination(config, { ...context, log: (m) => logged.push(m) });
    expect(await d.start()).toEqual({});
    const described = await reader.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: group }));
    expect(described.logGroups?.map((g) => [g.logGroupName, g.retentionInDays])).toEqual([[group, 7]]);
    const lines = records(3);
    await d.deliver({ firstSequence: 1, lines: lines.slice(0, 2) }, never);
    await reader.send(new DeleteLogStreamCommand({ logGroupName: group, logStreamName: config.logStream }));
    await d.deliver({ firstSequence: 3, lines: lines.slice(2) }, never);
    expect(sequences(await eventsOf(config.logStream, group))).toEqual([3]);
    expect(logged.join("\n")).toMatch(
      new RegExp(
        `created log group ${group}\n.*retention of log group ${group} to 7 days\n.*created log stream`,
      ),
    );
    expect(logged.join("\n")).toMatch(/is missing; creating it again/);
    // A second start finds everything in place and creates nothing.
    logged.length = 0;
    const again = new CloudWatchDestination(config, { ...context, log: (m) => logged.push(m) });
    await again.start();
    expect(logged).toEqual([]);
    await Promise.all([d.stop(), again.stop()]);
  });

  it("parks, saying what to create, when the group is missing and Vigil may not create it", async () => {
    const group = `/vigil/absent-${Date.now()}`;
    const config = cloudwatch({ log_group: group, create_log_group: false, create_log_stream: false });
    const j = await journalOf(records(3));
    const c = j.consumer(new CloudWatchDestination(config, context));
    try {
      await c.start();
      await waitUntil("the destination to park", async () =>
        c.status().state === "parked" ? true : undefined,
      );
      expect(c.status().lastError).toBe(
        `GetLogEvents on log stream ${config.logStream} of log group ${group} (${moto.endpoint}): ` +
          "The specified log group does not exist; " +
          `create log group ${group} and log stream ${config.logStream} if missing, ` +
          "or set create_log_group and create_log_stream to true",
      );
      expect(c.status().lastError).not.toContain(moto.credentials.secretAccessKey);
    } finally {
      await c.stop();
      await j.close();
    }
  });

  it("parks when the stream is deleted under it and Vigil may not create streams", async () => {
    const config = cloudwatch({ create_log_stream: false });
    await reader.send(new CreateLogStreamCommand({ logGroupName: GROUP, logStreamName: config.logStream }));
    const { d } = await started(config);
    await d.deliver({ firstSequence: 1, lines: records(1) }, never);
    await reader.send(new DeleteLogStreamCommand({ logGroupName: GROUP, logStreamName: config.logStream }));
    await expect(d.deliver({ firstSequence: 2, lines: records(2).slice(1) }, never)).rejects.toMatchObject({
      retryable: false,
      message: expect.stringMatching(/create log stream .* if missing, or set create_log_stream to true$/),
    });
    await d.stop();
  });

  it("resumes after the newest record the stream holds, without repeating any", async () => {
    const config = cloudwatch();
    const lines = records(8);
    const { d: first } = await started(config);
    await first.deliver({ firstSequence: 1, lines: lines.slice(0, 5) }, never);
    await first.stop();
    // A restart: the consumer's cursor was not committed (a crash), so it hands the destination records 1-8 again.
    const { d: second, last } = await started(config);
    expect(last).toEqual({ sequence: 5, signature: parseSignature(lines[4] as Buffer) });
    await second.deliver({ firstSequence: 1, lines }, never);
    expect(second.status()).toMatchObject({ requests: 1, events: 3 });
    expect(sequences(await eventsOf(config.logStream))).toEqual(range(1, 8));
    await second.stop();

    // And through a consumer whose cursor knows nothing: it starts after what the stream holds.
    const more = records(12);
    const j = await journalOf(more);
    const c = j.consumer(new CloudWatchDestination(config, context));
    try {
      await c.start();
      await waitUntil("12 delivered", async () => (c.status().deliveredSequence === 12 ? true : undefined));
      expect(sequences(await eventsOf(config.logStream))).toEqual(range(1, 12));
      expect(c.status().deliveredRecords).toBe(4);
    } finally {
      await c.stop();
      await j.close();
    }
  });

  it("writes the configured format, reads its integrity block back at start, and counts what it cannot represent", async () => {
    const config = cloudwatch({ format: "cloudevents" });
    const lines = records(3);
    const { d } = await started(config);
    await d.deliver({ firstSequence: 1, lines }, never);
    const [first] = await eventsOf(config.logStream);
    expect(JSON.parse(first?.message ?? "")).toMatchObject({ specversion: "1.0", vigilseq: "1" });
    const { d: again, last } = await started(config);
    expect(last).toEqual({ sequence: 3, signature: parseSignature(lines[2] as Buffer) });

    // Kubernetes Events only represent records that came from Kubernetes: these are skipped, counted.
    const kube = await started(cloudwatch({ format: "kubernetes" }));
    await kube.d.deliver({ firstSequence: 1, lines }, never);
    expect(kube.d.status()).toEqual({ skippedRecords: 3, requests: 0, events: 0 });
    await Promise.all([d.stop(), again.stop(), kube.d.stop()]);
  });

  it("settles promptly when its delivery is abandoned while CloudWatch hangs", async () => {
    const config = cloudwatch();
    const { d } = await started(config);
    const lines = records(4);
    await moto.pause("hang");
    try {
      const begun = Date.now();
      await expect(d.deliver({ firstSequence: 1, lines }, AbortSignal.timeout(300))).rejects.toMatchObject({
        retryable: true,
        message: expect.stringMatching(/^PutLogEvents on log stream .* abandoned$/),
      });
      expect(Date.now() - begun).toBeLessThan(3000);
    } finally {
      await moto.resume();
    }
    await d.deliver({ firstSequence: 1, lines }, never);
    // The abandoned request may have been stored after all once moto woke up: at least once, in order.
    const firsts = [...new Set(sequences(await eventsOf(config.logStream)))];
    expect(firsts).toEqual([1, 2, 3, 4]);
    await d.stop();
  });

  it("sends only what CloudWatch has not confirmed when a batch is tried again", async () => {
    const config = cloudwatch();
    const { d } = await started(config);
    const lines = records(10_500);
    await moto.pause();
    await expect(d.deliver({ firstSequence: 1, lines }, never)).rejects.toMatchObject({
      retryable: true,
      message: expect.stringMatching(/^PutLogEvents on log stream .* failed: ECONNREFUSED/),
    });
    await moto.resume();
    await d.deliver({ firstSequence: 1, lines }, never);
    const sent = d.status();
    expect(sent.events).toBe(10_500);
    // The consumer tries a batch again when it gave up waiting for an answer that came: nothing is repeated.
    await d.deliver({ firstSequence: 1, lines }, never);
    await d.deliver({ firstSequence: 10_001, lines: lines.slice(10_000) }, never);
    expect(d.status()).toEqual(sent);
    expect(sequences(await eventsOf(config.logStream))).toEqual(range(1, 10_500));
    await d.stop();
  });
});

function parseSignature(line: Buffer): string {
  const parsed = parseRecord(line);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.record.integrity.signature;
}

describe("cloudwatch destination through the server", () => {
  it("takes spec/000's block as written, and every event and the checkpoints arrive", async () => {
    const dir = await tempDir("vigil-cw-e2e-");
    const host = `e2e-${Date.now()}`;
    const config = await writeConfig(
      dir,
      `enterprise:
  audit:
    destination:
      type: cloudwatch
      log_group: /kafka-backup/audit
      log_stream: \${HOSTNAME}
      region: us-west-2
      endpoint: ${moto.endpoint}
`,
    );
    const vigil = await startVigil({
      dataDir: dir,
      args: ["--config", config],
      env: { ...moto.env, HOSTNAME: host },
    });
    const west = client("us-west-2");
    try {
      for (let i = 0; i < 3; i++) {
        const res = await post(vigil, ndjson(Array.from({ length: 50 }, (_, k) => event(i * 50 + k))));
        expect(res.status).toBe(200);
      }
      await waitForDelivery(vigil);
      expect(sequences(await eventsOf(host, "/kafka-backup/audit", west))).toEqual(range(1, 150));
      const [status] = await destinationStatuses(vigil);
      expect(status).toMatchObject({ name: `cloudwatch:/kafka-backup/audit/${host}`, state: "running" });
      expect((status as unknown as { destination: { events: number } }).destination.events).toBe(150);
      // The checkpoint covering every record is published beside them, in a stream of its own.
      const note = await waitUntil("the checkpoint of 150 records", async () => {
        const notes = await eventsOf(`${host}.checkpoints`, "/kafka-backup/audit", west).catch(() => []);
        return notes.map((n) => n.message ?? "").find((m) => m.split("\n")[1] === "150");
      });
      expect(note).toMatch(/^\S+\n150\n\S+\n\n— /);
      expect(vigil.stderr()).not.toContain(moto.credentials.secretAccessKey);
    } finally {
      west.destroy();
      await vigil.stop();
    }
  });

  it("loses nothing and never stalls ingest while CloudWatch is away", async () => {
    const stream = newStream();
    await outageScenario({
      config: `audit:
  destination:
    type: cloudwatch
    log_group: ${GROUP}
    log_stream: ${stream}
    region: ${moto.region}
    endpoint: ${moto.endpoint}
    request_timeout_secs: 2
    batch: { max_wait_secs: 0 }
    retry: { initial_backoff_ms: 50, max_backoff_secs: 0.5 }
`,
      env: moto.env,
      interrupt: () => moto.pause(),
      resume: () => moto.resume(),
      read: async () => storedOf(await eventsOf(stream)),
    });
  });
});
