/**
 * The syslog destination against a real rsyslog (test/support/rsyslog.ts): the destination contract over TCP and
 * over TLS, plain delivery over UDP (which confirms nothing, so the contract's outage test cannot apply), the
 * RFC 5424 fields as rsyslog parsed them, the replay window (rsyslog stopped right after a batch, and in the
 * middle of one), and spec/000's block through the real server with the outage scenario.
 *
 * Each destination sends under its own APP-NAME, so what one test's destination holds is rsyslog's messages with
 * that APP-NAME, MSG parsed back as the record. rsyslog writes what it received a little after it read it, and
 * syslog confirms nothing, so reading back waits until every record the destination reported delivered is there
 * (a record that never arrives fails the check that follows, after the wait).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DeliveryPolicy } from "../src/destinations/delivery.ts";
import { DeliveryError, type Destination, type RecordBatch } from "../src/destinations/destination.ts";
import {
  type RawSyslogDestination,
  resolveSyslogDestination,
  type SyslogProtocol,
} from "../src/destinations/syslog/config.ts";
import { SyslogDestination } from "../src/destinations/syslog/destination.ts";
import { headerField } from "../src/destinations/syslog/format.ts";
import { createEncoder, readSealedRecord } from "../src/formats/encoder.ts";
import { canonicalize } from "../src/integrity/canonical.ts";
import { formatRecord, parseRecord, Sealer } from "../src/integrity/chain.ts";
import { keyFromSecret } from "../src/integrity/keys.ts";
import { CursorStore } from "../src/journal/cursor.ts";
import { JournalWriter } from "../src/journal/writer.ts";
import { JournalConsumer } from "../src/pipeline/consumer.ts";
import { destinationContract, type StoredRecord } from "./support/destination-contract.ts";
import { destinationStatuses, waitUntil, writeConfig } from "./support/files.ts";
import { outageScenario } from "./support/outage.ts";
import { type ReceivedSyslog, type Rsyslog, startRsyslog } from "./support/rsyslog.ts";
import { event, ndjson, post, startVigil, tempDir, waitForDelivery } from "./support/vigil-process.ts";

const BOM = "\uFEFF";
const key = keyFromSecret(Buffer.alloc(32, 5), "syslog-test");

let rsyslog: Rsyslog;
let dir: string;
let caFile: string;
beforeAll(async () => {
  rsyslog = await startRsyslog({ maxMessageSize: 65536 });
  dir = await mkdtemp(join(tmpdir(), "vigil-syslog-test-"));
  caFile = join(dir, "ca.pem");
  await writeFile(caFile, rsyslog.caPem);
});
afterAll(async () => {
  await rsyslog?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Log lines of the destinations built by `destination`, to wait for what they noticed. */
const logs: string[] = [];
const context = { log: (m: string) => logs.push(m), productVersion: "test", logOrigin: "vigil.test/log" };

function config(protocol: SyslogProtocol, appName: string, extra: Partial<RawSyslogDestination> = {}) {
  const server = rsyslog[protocol];
  return resolveSyslogDestination(
    {
      type: "syslog",
      name: appName,
      server: `${server.host}:${server.port}`,
      protocol,
      app_name: appName,
      ...(protocol === "tls" ? { tls: { ca_file: caFile } } : {}),
      ...extra,
    },
    "/",
  );
}

function destination(protocol: SyslogProtocol, appName: string, extra: Partial<RawSyslogDestination> = {}) {
  return new SyslogDestination(config(protocol, appName, extra), context);
}

/** The record in a message's MSG, as the contract reads records back. */
function stored(message: ReceivedSyslog): StoredRecord {
  expect(message.msg.startsWith(BOM)).toBe(true);
  const parsed = parseRecord(Buffer.from(message.msg.slice(BOM.length)));
  if (!parsed.ok) throw new Error(`${parsed.reason}: ${message.msg.slice(0, 200)}`);
  const ev = JSON.parse(parsed.record.event.toString()) as { details?: Record<string, unknown> };
  return {
    sequence: parsed.record.integrity.sequence_number,
    signature: parsed.record.integrity.signature,
    ...(ev.details === undefined ? {} : { details: ev.details }),
  };
}

async function messagesOf(appName: string): Promise<ReceivedSyslog[]> {
  return (await rsyslog.received()).filter((m) => m.appName === appName);
}

/**
 * The records rsyslog holds from `appName`, once it holds `count` distinct sequences (or after 10 s, so that the
 * caller's check shows what is missing).
 */
async function recordsOf(appName: string, count: () => number): Promise<StoredRecord[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const records = (await messagesOf(appName)).map(stored);
    if (new Set(records.map((r) => r.sequence)).size >= count() || Date.now() > deadline) return records;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** First appearances of each sequence, in order: 1..n when nothing is missing or out of order. */
function firstAppearances(records: StoredRecord[]): number[] {
  const firsts: number[] = [];
  const seen = new Set<number>();
  for (const { sequence } of records) {
    if (!seen.has(sequence)) firsts.push(sequence);
    seen.add(sequence);
  }
  return firsts;
}

const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

/** Highest sequence each destination name confirmed, across its instances (a restart is a new instance). */
const confirmed = new Map<string, number>();

function tracked(inner: SyslogDestination): Destination {
  return {
    name: inner.name,
    start: () => inner.start(),
    async deliver(batch, signal) {
      await inner.deliver(batch, signal);
      const last = batch.firstSequence + batch.lines.length - 1;
      confirmed.set(inner.name, Math.max(confirmed.get(inner.name) ?? 0, last));
    },
    status: () => inner.status(),
    stop: () => inner.stop(),
  };
}

for (const protocol of ["tcp", "tls"] as const) {
  destinationContract(`syslog-${protocol}`, () => ({
    create: async ({ name, delivery }: { name: string; delivery: Partial<DeliveryPolicy> }) => {
      const appName = name.slice(0, 48);
      const c = config(protocol, appName, { max_message_bytes: 16384 });
      c.delivery = { ...c.delivery, ...delivery };
      return {
        destination: tracked(new SyslogDestination(c, context)),
        read: () => recordsOf(appName, () => confirmed.get(appName) ?? 0),
      };
    },
    interrupt: () => rsyslog.stop(),
    resume: () => rsyslog.restart(),
    oversizeBytes: 20_000,
  }));
}

/** Sealed records of the given events, as a journal would hand them to a destination. */
function sealed(events: Record<string, unknown>[], first = 1): RecordBatch {
  const sealer = new Sealer(key, { sequence: first - 1, signature: `sha256:${"0".repeat(64)}` });
  return { firstSequence: first, lines: events.map((e) => Buffer.from(sealer.seal(canonicalize(e)).line)) };
}

function events(n: number, from = 1, pad = 100): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => ({
    event_type: "backup.completed",
    event_id: `evt_${from + i}`,
    timestamp: "2024-12-01T10:15:30.123Z",
    version: "1.0",
    received_at: "2024-12-01T10:15:30.200Z",
    origin: { source: "http" },
    details: { n: from + i, pad: "p".repeat(pad) },
  }));
}

const signal = () => new AbortController().signal;

describe("syslog destination", () => {
  it("writes RFC 5424 fields rsyslog parses: PRI, timestamp, host, app, pid, msgid, structured data, MSG", async () => {
    const d = destination("tcp", "rfc-fields", { facility: "local3", hostname: "node-7.example.com" });
    const batch = sealed([
      {
        event_type: "backup.completed",
        event_id: "e1",
        timestamp: "2024-12-01t10:15:30.123456789z",
        received_at: "2024-12-01T10:15:31Z",
        action: { result: "success" },
      },
      { event_type: "auth.failed", event_id: "e2", timestamp: "2024-12-01T10:15:30+02:00", received_at: "x" },
      {
        event_type: "access.check",
        event_id: "e3",
        timestamp: "2024-12-01T10:15:30Z",
        received_at: "x",
        action: { result: "denied" },
      },
      {
        event_type: "kafka.produce.very_long_category_name.done",
        event_id: "e4",
        timestamp: "2024-12-01T10:15:30Z",
        received_at: "x",
        details: { text: 'quote " backslash \\ bracket ] newline \n tab \t café' },
      },
    ]);
    await d.deliver(batch, signal());
    const received = await waitUntil("4 messages", async () => {
      const m = await messagesOf("rfc-fields");
      return m.length >= 4 ? m : undefined;
    });
    expect(received.map((m) => [m.facility, m.severity, m.msgId, m.timestamp])).toEqual([
      [19, 6, "backup.completed", "2024-12-01T10:15:30.123456Z"],
      [19, 4, "auth.failed", "2024-12-01T10:15:30+02:00"],
      [19, 4, "access.check", "2024-12-01T10:15:30Z"],
      [19, 6, "kafka.produce.very_long_category", "2024-12-01T10:15:30Z"],
    ]);
    received.forEach((m, i) => {
      const line = (batch.lines[i] as Buffer).toString("utf8");
      const { integrity } = readSealedRecord(batch.lines[i] as Buffer);
      expect(m).toMatchObject({
        protocol: "tcp",
        hostname: "node-7.example.com",
        appName: "rfc-fields",
        procId: String(process.pid),
        structuredData: `[vigil@32473 seq="${i + 1}" key="${integrity.key_id}" sig="${integrity.signature}"]`,
        msg: `${BOM}${line}`,
      });
      // rsyslog escapes raw control characters: the record's JSON has none, so MSG is the exact record line.
      expect(m.raw.endsWith(`] ${BOM}${line}`)).toBe(true);
    });
    expect(d.status()).toMatchObject({
      messagesSent: 4,
      replayedMessages: 0,
      reconnects: 0,
      skippedRecords: 0,
    });
    await d.stop();
  });

  it("escapes SD-PARAM values as rsyslog expects, and sends OCSF as MSG with format: ocsf", async () => {
    const odd = destination("tcp", "sd-escapes");
    const canonical = canonicalize({ event_type: "a.b", event_id: "x", timestamp: "2024-12-01T10:15:30Z" });
    const line = formatRecord(canonical, {
      sequence_number: 7,
      previous_signature: "sha256:00",
      signature: "sha256:ab",
      key_id: 'k"]\\1',
    });
    await odd.deliver({ firstSequence: 7, lines: [Buffer.from(line)] }, signal());
    const [escaped] = await waitUntil("the message", async () => {
      const m = await messagesOf("sd-escapes");
      return m.length > 0 ? m : undefined;
    });
    expect(escaped?.structuredData).toBe('[vigil@32473 seq="7" key="k\\"\\]\\\\1" sig="sha256:ab"]');
    expect(escaped?.msg).toBe(`${BOM}${line}`);
    await odd.stop();

    const ocsf = destination("tls", "ocsf-msg", { format: "ocsf" });
    const batch = sealed(events(2));
    await ocsf.deliver(batch, signal());
    const received = await waitUntil("2 messages", async () => {
      const m = await messagesOf("ocsf-msg");
      return m.length >= 2 ? m : undefined;
    });
    const encoder = createEncoder("ocsf", { productVersion: "test" });
    received.forEach((m, i) => {
      const record = readSealedRecord(batch.lines[i] as Buffer);
      expect(m.msg).toBe(`${BOM}${encoder.encode(record)}`);
      expect(m.protocol).toBe("tls");
      expect(m.structuredData).toContain(`seq="${i + 1}"`);
      const msg = JSON.parse(m.msg.slice(1)) as { unmapped: { vigil_integrity: { signature: string } } };
      expect(msg.unmapped.vigil_integrity.signature).toBe(record.integrity.signature);
    });
    await ocsf.stop();
  });

  it("frames with a trailing LF when framing is non_transparent", async () => {
    const d = destination("tcp", "non-transparent", { framing: "non_transparent" });
    await d.deliver(sealed(events(3)), signal());
    const records = await recordsOf("non-transparent", () => 3);
    expect(records.map((r) => r.sequence)).toEqual([1, 2, 3]);
    await d.stop();
  });

  it("refuses a TLS certificate it cannot verify as a permanent error", async () => {
    const untrusted = new SyslogDestination(
      { ...config("tls", "untrusted"), tls: { insecureSkipVerify: false } },
      context,
    );
    const error = await untrusted.deliver(sealed(events(1)), signal()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeliveryError);
    expect(error).toMatchObject({ retryable: false, message: expect.stringMatching(/certificate/) });
    await untrusted.stop();
  });

  it("delivers over UDP, a record larger than max_message_bytes truncated", async () => {
    const data = await tempDir("vigil-syslog-udp-");
    const { writer } = await JournalWriter.open({ dir: join(data, "journal"), segmentBytes: 1 << 20 });
    const lines = sealed([...events(20), ...events(1, 21, 20_000), ...events(9, 22)]).lines;
    await writer.append(
      lines.map((l) => l.toString()),
      1,
    );
    const c = config("udp", "udp-delivery");
    expect(c.maxMessageBytes).toBe(8192);
    const consumer = new JournalConsumer(new SyslogDestination(c, context), {
      journalDir: join(data, "journal"),
      writer,
      cursors: new CursorStore(data),
      log: () => {},
      delivery: { maxRecords: 10 },
    });
    try {
      await consumer.start();
      await waitUntil("30 records sent", async () =>
        consumer.status().deliveredSequence === 30 ? true : undefined,
      );
      const records = await recordsOf("udp-delivery", () => 30);
      expect(firstAppearances(records)).toEqual(upTo(30));
      expect(records.find((r) => r.sequence === 21)?.details).toMatchObject({
        vigil_truncated: { fields: ["n", "pad"] },
      });
      expect((await messagesOf("udp-delivery")).every((m) => m.protocol === "udp")).toBe(true);
      expect(consumer.status()).toMatchObject({ truncatedRecords: 1, destination: { messagesSent: 30 } });
    } finally {
      await consumer.stop();
      await writer.close();
      await rm(data, { recursive: true, force: true });
    }
  });

  it("re-sends the replay window when rsyslog stopped right after a batch, and never writes to a closed connection", async () => {
    const d = destination("tcp", "replay-between");
    await d.deliver(sealed(events(1500)), signal());
    await rsyslog.stop();
    await waitUntil("the destination to notice", async () =>
      logs.some((l) => l.startsWith("destination replay-between: connection to") && /lost/.test(l))
        ? true
        : undefined,
    );
    const next = sealed(events(200, 1501), 1501);
    await expect(d.deliver(next, signal())).rejects.toMatchObject({
      retryable: true,
      message: expect.stringMatching(/ECONNREFUSED/),
    });
    await rsyslog.restart();
    await d.deliver(next, signal());
    const records = await recordsOf("replay-between", () => 1700);
    expect(firstAppearances(records)).toEqual(upTo(1700));
    expect(d.status()).toMatchObject({
      replayedMessages: 1500,
      reconnects: 1,
      messagesSent: 1500 + 1500 + 200,
    });
    await d.stop();
  });

  it("loses nothing when rsyslog stops in the middle of a batch write", async () => {
    const d = destination("tls", "replay-mid-write");
    await d.deliver(sealed(events(10)), signal());
    // About 9 MB: more than loopback buffers hold, so rsyslog is still reading when it is stopped.
    const big = sealed(events(12_000, 11, 600), 11);
    const first = d.deliver(big, signal()).then(
      () => "delivered",
      (e: DeliveryError) => e,
    );
    await rsyslog.stop();
    const outcome = await first;
    await rsyslog.restart();
    if (outcome !== "delivered") {
      expect(outcome).toMatchObject({ retryable: true });
      await d.deliver(big, signal()); // as the consumer would, once rsyslog is back
    }
    await d.deliver(sealed(events(5, 12_011), 12_011), signal());
    const records = await recordsOf("replay-mid-write", () => 12_015);
    expect(firstAppearances(records)).toEqual(upTo(12_015));
    await d.stop();
  });
});

describe("syslog destination through the server", () => {
  it("takes spec/000's block as written (server aside) and delivers what is ingested over HTTP", async () => {
    const data = await tempDir("vigil-syslog-e2e-");
    const path = await writeConfig(
      data,
      `enterprise:
  audit:
    destination:
      type: syslog
      server: ${rsyslog.tcp.host}:${rsyslog.tcp.port}
      protocol: tcp  # or udp
      facility: local0
`,
    );
    const vigil = await startVigil({ dataDir: data, args: ["--config", path] });
    try {
      const sent = [
        ...Array.from({ length: 10 }, (_, i) => event(i + 1)),
        event(11, { event_type: "access.denied" }),
      ];
      expect((await post(vigil, ndjson(sent))).status).toBe(200);
      await waitForDelivery(vigil);
      const [status] = await destinationStatuses(vigil);
      expect(status).toMatchObject({
        name: `syslog:${rsyslog.tcp.host}:${rsyslog.tcp.port}`,
        state: "running",
        deliveredSequence: 11,
      });
      const pid = String(vigil.child.pid);
      const messages = await waitUntil("11 messages from the server", async () => {
        const m = (await messagesOf("vigil")).filter((x) => x.procId === pid);
        return m.length >= 11 ? m : undefined;
      });
      expect(messages.map(stored).map((r) => r.sequence)).toEqual(upTo(11));
      expect(messages.map((m) => m.severity)).toEqual([...Array(10).fill(6), 4]);
      for (const m of messages) {
        expect(m).toMatchObject({ facility: 16, hostname: headerField(hostname(), 255), protocol: "tcp" });
      }
      expect(messages[10]?.msgId).toBe("access.denied");
    } finally {
      await vigil.stop();
    }
  });

  it("loses nothing and never stalls ingest while rsyslog is stopped", async () => {
    const requests = 30;
    await outageScenario({
      config: `audit:
  destination:
    type: syslog
    server: ${rsyslog.tcp.host}:${rsyslog.tcp.port}
    app_name: outage-scenario
    retry: { initial_backoff_ms: 50, max_backoff_secs: 0.5 }
`,
      interrupt: () => rsyslog.stop(),
      resume: () => rsyslog.restart(),
      // The scenario sends 5 requests of 20 events, `requests` during the outage and 5 after.
      read: () => recordsOf("outage-scenario", () => (5 + requests + 5) * 20),
      requestsDuringOutage: requests,
    });
  });
});
