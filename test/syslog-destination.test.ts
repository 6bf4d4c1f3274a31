/**
 * The syslog destination against a real rsyslog (test/support/rsyslog.ts): the destination contract over TCP and
 * over TLS, plain delivery over UDP (which confirms nothing, so the contract's outage test cannot apply), the
 * RFC 5424 fields as rsyslog parsed them, the replay window (rsyslog stopped right after a batch, and in the
 * middle of one), and spec/000's block through the real server with the outage scenario.
 *
 * The replay window's guarantee (at-least-once over TCP and TLS, no gap across breaks and restarts) is tested
 * through a relay in front of rsyslog that plays a server in trouble, which rsyslog cannot be made to do: one
 * that stops reading (a hung server), then resets its connections, losing what it had not read (a crash), or
 * refuses new ones (down). A journal and the real JournalConsumer drive the destination there, as `vigil serve`
 * does, so the cursor and a restart are part of it.
 *
 * Each destination sends under its own APP-NAME, so what one test's destination holds is rsyslog's messages with
 * that APP-NAME, MSG parsed back as the record. rsyslog writes what it received a little after it read it, and
 * syslog confirms nothing, so reading back waits until every record the destination reported delivered is there
 * (a record that never arrives fails the check that follows, after the wait).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { type AddressInfo, connect as connectTcp, createServer, type Socket } from "node:net";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { DeliveryPolicy } from "../src/destinations/delivery.ts";
import { DeliveryError, type Destination, type RecordBatch } from "../src/destinations/destination.ts";
import {
  type RawSyslogDestination,
  resolveSyslogDestination,
  type SyslogProtocol,
} from "../src/destinations/syslog/config.ts";
import { SyslogDestination, type SyslogStatus } from "../src/destinations/syslog/destination.ts";
import { headerField, SyslogFormatter } from "../src/destinations/syslog/format.ts";
import { type OutgoingMessage, StreamTransport } from "../src/destinations/syslog/stream.ts";
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

/**
 * The UDP transport's name lookups, held while `hold` is pending (a DNS server that does not answer); every other
 * lookup of this file is the real one.
 */
const dns = vi.hoisted(() => ({ hold: undefined as Promise<void> | undefined, lookups: 0 }));
vi.mock("node:dns/promises", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:dns/promises")>();
  return {
    ...real,
    lookup: async (host: string) => {
      dns.lookups++;
      await dns.hold;
      return real.lookup(host);
    },
  };
});

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

/** The destination as the contract drives it, recording what it confirmed (read() waits for rsyslog to hold it). */
function tracked(inner: SyslogDestination): Destination {
  return {
    name: inner.name,
    start: () => inner.start(),
    async deliver(batch, signal) {
      await inner.deliver(batch, signal);
      const last = batch.firstSequence + batch.lines.length - 1;
      confirmed.set(inner.name, Math.max(confirmed.get(inner.name) ?? 0, last));
    },
    settledSequence: () => inner.settledSequence(),
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

/**
 * A TCP relay in front of one of rsyslog's inputs, playing a server in trouble: `hang()` stops reading what the
 * destination sends, so it piles up unread in the kernel's buffers (a hung server); `drop()` then resets every
 * connection, losing what was not read (a crash); `refuse()` resets new connections at once (a server that is
 * down); `heal()` relays again, what was left unread included. Bytes pass as they are (TLS too).
 */
interface Relay {
  server: string;
  hang(): void;
  drop(): void;
  refuse(): void;
  heal(): void;
  close(): Promise<void>;
}

async function startRelay(target: { host: string; port: number }): Promise<Relay> {
  let mode: "relay" | "hang" | "refuse" = "relay";
  const clients = new Set<Socket>();
  const relay = createServer((client) => {
    if (mode === "refuse") {
      client.resetAndDestroy();
      return;
    }
    clients.add(client);
    const upstream = connectTcp(target.port, target.host);
    client.on("data", (d) => upstream.write(d));
    client.on("end", () => upstream.end());
    client.on("error", () => {});
    client.on("close", () => {
      clients.delete(client);
      upstream.end();
    });
    upstream.on("data", (d) => client.write(d)); // TLS handshakes
    // rsyslog closes its side once it read our end: passed on, it tells the destination everything arrived.
    upstream.on("end", () => client.end());
    upstream.on("error", () => client.destroy());
    if (mode === "hang") client.pause();
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  return {
    server: `127.0.0.1:${(relay.address() as AddressInfo).port}`,
    hang() {
      mode = "hang";
      for (const c of clients) c.pause();
    },
    drop() {
      for (const c of clients) c.resetAndDestroy();
    },
    refuse() {
      mode = "refuse";
    },
    heal() {
      mode = "relay";
      for (const c of clients) c.resume();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of clients) c.destroy();
        relay.close(() => resolve());
      }),
  };
}

/** A journal of sealed records (events(n) in order), and consumers reading it as `vigil serve` runs them. */
async function openJournal() {
  const data = await tempDir("vigil-syslog-journal-");
  const dir = join(data, "journal");
  const { writer } = await JournalWriter.open({ dir, segmentBytes: 1 << 24 });
  const cursors = new CursorStore(data);
  const sealer = new Sealer(key, { sequence: 0, signature: `sha256:${"0".repeat(64)}` });
  let size = 0;
  return {
    cursors,
    get size() {
      return size;
    },
    /** Appends `n` records, durable when this resolves. */
    async append(n: number, pad = 100) {
      const lines = events(n, size + 1, pad).map((e) => sealer.seal(canonicalize(e)).line);
      await writer.append(lines, size + 1);
      size += n;
    },
    consumer(destination: Destination, delivery: Partial<DeliveryPolicy>) {
      return new JournalConsumer(destination, {
        journalDir: dir,
        writer,
        cursors,
        log: (m) => logs.push(m),
        delivery,
        cursorCommitMs: 0,
      });
    },
    async close() {
      await writer.close();
      await rm(data, { recursive: true, force: true });
    },
  };
}

/** Delivery settings for the consumers of the replay tests: prompt retries. */
function quick(c: { delivery: DeliveryPolicy }, extra: Partial<DeliveryPolicy> = {}): DeliveryPolicy {
  return { ...c.delivery, backoff: { initialMs: 50, maxMs: 500 }, ...extra };
}

const loggedBy = (name: string, pattern: RegExp) => async () =>
  logs.some((l) => l.startsWith(`destination ${name}: `) && pattern.test(l)) ? true : undefined;

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

describe("syslog destination: nothing lost across breaks and restarts", () => {
  it("re-sends what a hung server never read once the delivery blocked on it is given up, however long it hung", async () => {
    const relay = await startRelay(rsyslog.tcp);
    const journal = await openJournal();
    const c = config("tcp", "hung-server", { server: relay.server, replay_window_secs: 1 });
    const consumer = journal.consumer(
      new SyslogDestination(c, context),
      quick(c, { requestTimeoutMs: 2_000 }),
    );
    try {
      relay.hang();
      await consumer.start();
      await journal.append(10);
      await waitUntil("10 records written", async () =>
        consumer.status().deliveredSequence === 10 ? true : undefined,
      );
      // About 8 MB: more than the kernel holds unread, so a delivery blocks until the consumer gives it up, by
      // then longer than replay_window_secs after the records written before it.
      await journal.append(6000, 1000);
      await waitUntil("a delivery given up", async () => (consumer.status().timeouts > 0 ? true : undefined));
      relay.drop(); // the server crashes: what it had not read is gone
      relay.heal();
      await waitUntil("every record delivered", async () =>
        consumer.status().deliveredSequence === journal.size ? true : undefined,
      );
      const records = await recordsOf("hung-server", () => journal.size);
      expect(firstAppearances(records)).toEqual(upTo(journal.size));
      expect((consumer.status().destination as SyslogStatus).replayedMessages).toBeGreaterThanOrEqual(10);
    } finally {
      await consumer.stop();
      await relay.close();
      await journal.close();
    }
  });

  it("keeps the cursor before what a dropped connection may have lost, so a restart sends it again", async () => {
    const relay = await startRelay(rsyslog.tls);
    const journal = await openJournal();
    const c = config("tls", "restart-resend", { server: relay.server });
    const consumer = () => journal.consumer(new SyslogDestination(c, context), quick(c));
    const first = consumer();
    let second: JournalConsumer | undefined;
    try {
      await first.start();
      await journal.append(5);
      expect(firstAppearances(await recordsOf("restart-resend", () => 5))).toEqual(upTo(5));
      relay.hang();
      await journal.append(100);
      await waitUntil("105 records written", async () =>
        first.status().deliveredSequence === 105 ? true : undefined,
      );
      // The server crashes with the 100 unread, and is still down when Vigil stops before the next record.
      relay.refuse();
      relay.drop();
      await waitUntil("the break noticed", loggedBy("restart-resend", /lost \(/));
      await first.stop();
      const cursorAtStop = (await journal.cursors.load("restart-resend"))?.sequence ?? 0;
      relay.heal();
      second = consumer();
      await second.start();
      await waitUntil("105 records after the restart", async () =>
        second?.status().deliveredSequence === 105 ? true : undefined,
      );
      await second.stop();
      const records = await recordsOf("restart-resend", () => 105);
      expect(firstAppearances(records)).toEqual(upTo(105));
      // The 100 (and the 5 before, written less than replay_window_secs before them) were never settled.
      expect(cursorAtStop).toBeLessThan(6);
      expect(logs).toContainEqual(
        expect.stringMatching(
          /^destination restart-resend: stopped without knowing .* sent again after a restart/,
        ),
      );
    } finally {
      await first.stop();
      await second?.stop();
      await relay.close();
      await journal.close();
    }
  });

  it("re-sends at stop, on a fresh connection, what a dropped connection may have lost", async () => {
    const relay = await startRelay(rsyslog.tcp);
    const journal = await openJournal();
    const c = config("tcp", "stop-resend", { server: relay.server });
    const consumer = journal.consumer(new SyslogDestination(c, context), quick(c));
    try {
      await consumer.start();
      await journal.append(5);
      expect(firstAppearances(await recordsOf("stop-resend", () => 5))).toEqual(upTo(5));
      relay.hang();
      await journal.append(100);
      await waitUntil("105 records written", async () =>
        consumer.status().deliveredSequence === 105 ? true : undefined,
      );
      relay.drop();
      relay.heal();
      await waitUntil("the break noticed", loggedBy("stop-resend", /lost \(/));
      await consumer.stop();
      const records = await recordsOf("stop-resend", () => 105);
      expect(firstAppearances(records)).toEqual(upTo(105));
      expect(logs).toContainEqual(expect.stringMatching(/^destination stop-resend: re-sent \d+ messages/));
      expect(logs.filter((l) => l.startsWith("destination stop-resend: stopped without knowing"))).toEqual(
        [],
      );
    } finally {
      await consumer.stop();
      await relay.close();
      await journal.close();
    }
  });

  it("makes a delivery wait rather than let a full replay window drop what a hung server has not read", async () => {
    const relay = await startRelay(rsyslog.tcp);
    const formatter = new SyslogFormatter({
      facility: 16,
      hostname: "h",
      appName: "window-cap",
      procId: "1",
    });
    const messages = (batch: RecordBatch): OutgoingMessage[] =>
      batch.lines.map((line) => {
        const { event, integrity } = readSealedRecord(line);
        return {
          sequence: integrity.sequence_number,
          message: formatter.format(event, integrity, line.toString()),
        };
      });
    // A window of 64 KiB and a minute: the second 50 KB batch does not fit before the first ages out.
    const transport = new StreamTransport({
      host: "127.0.0.1",
      port: Number(relay.server.split(":")[1]),
      tls: undefined,
      framing: "octet_counting",
      replayWindowMs: 60_000,
      replayWindowBytes: 64 * 1024,
      socketBufferBytes: 0,
      shown: "relay",
      log: (m) => logs.push(`destination window-cap: ${m}`),
    });
    try {
      relay.hang();
      await transport.send(messages(sealed(events(20, 1, 2000))), signal());
      let second: "pending" | "sent" = "pending";
      const sending = transport.send(messages(sealed(events(20, 21, 2000), 21)), signal()).then(() => {
        second = "sent";
      });
      await waitUntil("the second batch to wait for room (or be sent)", async () =>
        transport.counters().replayWindowWaits > 0 || second === "sent" ? true : undefined,
      );
      const waitedForRoom = second === "pending";
      const unsettledWhileWaiting = transport.oldestUnsettled();
      relay.drop(); // the server crashes with both batches unread
      relay.heal();
      await waitUntil("the break noticed", loggedBy("window-cap", /lost \(/));
      await sending; // the break emptied the window: both go out on the next connection
      await transport.close(); // what is still to be re-sent goes first, then everything is known received
      const records = await recordsOf("window-cap", () => 40);
      expect(firstAppearances(records)).toEqual(upTo(40));
      expect(waitedForRoom).toBe(true);
      expect(unsettledWhileWaiting).toBe(1);
      expect(transport.counters()).toMatchObject({ replayWindowWaits: 1, replayedMessages: 20 });
      expect(transport.oldestUnsettled()).toBeUndefined();
    } finally {
      await transport.close();
      await relay.close();
    }
  });

  it("over UDP, gives a delivery up at once while the server's name is looked up, and sends it only once", async () => {
    const udpSockets = () => process.getActiveResourcesInfo().filter((r) => r === "UDPWrap").length;
    const socketsBefore = udpSockets();
    const lookupsBefore = dns.lookups;
    let answer = () => {};
    dns.hold = new Promise((resolve) => {
      answer = resolve;
    });
    const d = destination("udp", "udp-lookup");
    try {
      const abandon = new AbortController();
      const first = d.deliver(sealed(events(3)), abandon.signal).then(
        () => "delivered",
        (e: unknown) => e,
      );
      await waitUntil("the lookup", async () => (dns.lookups > lookupsBefore ? true : undefined));
      abandon.abort(); // the consumer's request timeout
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        first,
        new Promise((resolve) => {
          timer = setTimeout(() => resolve("still waiting for the lookup"), 5_000);
        }),
      ]);
      clearTimeout(timer);
      expect(outcome).toMatchObject({ retryable: true, message: expect.stringMatching(/abandoned/) });
      const retry = d.deliver(sealed(events(3)), signal()); // the consumer's retry, while the lookup hangs on
      answer();
      await retry;
      await d.deliver(sealed(events(2, 4), 4), signal());
      const records = await recordsOf("udp-lookup", () => 5);
      expect(records.map((r) => r.sequence)).toEqual(upTo(5));
      expect(dns.lookups - lookupsBefore).toBe(1);
    } finally {
      dns.hold = undefined;
      answer();
      await d.stop();
    }
    await waitUntil(
      "no UDP socket left open",
      async () => (udpSockets() === socketsBefore ? true : undefined),
      5_000,
    );
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
