import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  DeliveryError,
  type Destination,
  type RecordBatch,
  type RecordRef,
} from "../destinations/destination.ts";
import { canonicalize } from "../integrity/canonical.ts";
import { parseRecord, Sealer } from "../integrity/chain.ts";
import { keyFromSecret } from "../integrity/keys.ts";
import { CursorStore } from "../journal/cursor.ts";
import { JournalWriter } from "../journal/writer.ts";
import { JournalConsumer } from "./consumer.ts";

const key = keyFromSecret(Buffer.alloc(32, 9), "test");

/** A destination that keeps lines in memory and fails as scripted: it exercises the consumer, not a sink. */
class ScriptedDestination implements Destination {
  readonly name: string;
  readonly received: number[] = [];
  failures: DeliveryError[] = [];
  last: RecordRef | undefined;
  stopped = 0;

  constructor(name = "scripted") {
    this.name = name;
  }

  async start(): Promise<{ last?: RecordRef }> {
    return this.last ? { last: this.last } : {};
  }

  async deliver(batch: RecordBatch, _signal?: AbortSignal): Promise<void> {
    const failure = this.failures.shift();
    if (failure) throw failure;
    batch.lines.forEach((_, i) => {
      this.received.push(batch.firstSequence + i);
    });
  }

  async stop(): Promise<void> {
    this.stopped++;
  }
}

async function journal(records: number) {
  const dataDir = await mkdtemp(join(tmpdir(), "vigil-consumer-"));
  const dir = join(dataDir, "journal");
  const { writer, recovery } = await JournalWriter.open({ dir, segmentBytes: 1 << 20 });
  const sealer = new Sealer(key, recovery.head);
  const lines = Array.from(
    { length: records },
    (_, i) => sealer.seal(canonicalize({ event_type: "a.b", n: i })).line,
  );
  await writer.append(lines, 1);
  const signatureOf = (seq: number) => {
    const p = parseRecord(Buffer.from(lines[seq - 1] as string));
    if (!p.ok) throw new Error(p.reason);
    return p.record.integrity.signature;
  };
  return { dataDir, dir, writer, sealer, signatureOf, cursors: new CursorStore(dataDir) };
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setImmediate(r));
}

describe("JournalConsumer", () => {
  it("retries a destination that cannot start yet, and parks one that never can", async () => {
    const j = await journal(3);
    const flaky = new ScriptedDestination();
    let refusals = 2;
    flaky.start = async () => {
      if (refusals-- > 0) throw new DeliveryError("connection refused", true);
      return {};
    };
    const c = new JournalConsumer(flaky, {
      journalDir: j.dir,
      writer: j.writer,
      cursors: j.cursors,
      log: () => {},
      delivery: { backoff: { initialMs: 1, maxMs: 2 } },
    });
    await c.start();
    await until(() => flaky.received.length === 3);
    expect(c.status()).toMatchObject({ state: "running", failures: 2 });
    await c.stop();

    const broken = new ScriptedDestination("broken");
    broken.start = async () => {
      throw new DeliveryError("/var/log/x is not a directory (ENOTDIR)", false);
    };
    const p = new JournalConsumer(broken, {
      journalDir: j.dir,
      writer: j.writer,
      cursors: j.cursors,
      log: () => {},
    });
    await p.start();
    await until(() => p.status().state === "parked");
    expect(p.status()).toMatchObject({ lagRecords: 3, lastError: "/var/log/x is not a directory (ENOTDIR)" });
    await p.stop();
    await j.writer.close();
  });

  it("shows what the destination reports about itself, and nothing for one that reports nothing", async () => {
    const j = await journal(2);
    const plain = new ScriptedDestination("plain");
    const counting = new ScriptedDestination("counting");
    const reporting = Object.assign(counting, {
      status: () => ({ skippedRecords: counting.received.length }),
    });
    const consumers = [plain, reporting].map(
      (d) =>
        new JournalConsumer(d, { journalDir: j.dir, writer: j.writer, cursors: j.cursors, log: () => {} }),
    );
    for (const c of consumers) await c.start();
    await until(() => plain.received.length === 2 && counting.received.length === 2);
    const [a, b] = consumers.map((c) => c.status());
    expect(a).not.toHaveProperty("destination");
    expect(b).toMatchObject({ name: "counting", destination: { skippedRecords: 2 } });
    for (const c of consumers) await c.stop();
    await j.writer.close();
  });

  it("delivers everything in order, follows new records, and commits its cursor on stop", async () => {
    const j = await journal(25);
    const dest = new ScriptedDestination();
    const c = new JournalConsumer(dest, {
      journalDir: j.dir,
      writer: j.writer,
      cursors: j.cursors,
      log: () => {},
      delivery: { maxRecords: 10 },
    });
    await c.start();
    await until(() => dest.received.length === 25);
    await j.writer.append([j.sealer.seal(canonicalize({ event_type: "a.b", n: 99 })).line], 26);
    await until(() => dest.received.length === 26);
    expect(dest.received).toEqual(Array.from({ length: 26 }, (_, i) => i + 1));
    await c.stop();
    await c.stop();
    expect(dest.stopped).toBe(1);
    expect((await j.cursors.load("scripted"))?.sequence).toBe(26);
    expect(c.status()).toMatchObject({ state: "stopped", deliveredSequence: 26, lagRecords: 0 });
    await j.writer.close();
  });

  it("retries a retryable failure without skipping or repeating, and parks on a permanent one", async () => {
    const j = await journal(5);
    const dest = new ScriptedDestination();
    dest.failures = [new DeliveryError("server away", true), new DeliveryError("server away", true)];
    const logs: string[] = [];
    const c = new JournalConsumer(dest, {
      journalDir: j.dir,
      writer: j.writer,
      cursors: j.cursors,
      log: (m) => logs.push(m),
      delivery: { backoff: { initialMs: 1, maxMs: 2 } },
    });
    await c.start();
    await until(() => dest.received.length === 5);
    expect(dest.received).toEqual([1, 2, 3, 4, 5]);
    expect(c.status().failures).toBe(2);
    dest.failures = [new DeliveryError("bad credentials", false)];
    await j.writer.append([j.sealer.seal(canonicalize({ event_type: "a.b" })).line], 6);
    await until(() => c.status().state === "parked");
    expect(c.status()).toMatchObject({ deliveredSequence: 5, lagRecords: 1, lastError: "bad credentials" });
    expect(logs.join("\n")).toMatch(/parked after a permanent error: bad credentials/);
    await c.stop();
    expect((await j.cursors.load("scripted"))?.sequence).toBe(5);
    await j.writer.close();
  });

  it("resumes after the newest record the destination already holds", async () => {
    const j = await journal(10);
    const dest = new ScriptedDestination();
    dest.last = { sequence: 7, signature: j.signatureOf(7) };
    const c = new JournalConsumer(dest, {
      journalDir: j.dir,
      writer: j.writer,
      cursors: j.cursors,
      log: () => {},
    });
    await c.start();
    await until(() => dest.received.length === 3);
    expect(dest.received).toEqual([8, 9, 10]);
    await c.stop();
    await j.writer.close();
  });

  it("parks instead of appending to a destination that holds another chain's records", async () => {
    const j = await journal(10);
    for (const last of [
      { sequence: 4, signature: `sha256:${"1".repeat(64)}` },
      { sequence: 11, signature: j.signatureOf(10) },
    ]) {
      const dest = new ScriptedDestination();
      dest.last = last;
      const c = new JournalConsumer(dest, {
        journalDir: j.dir,
        writer: j.writer,
        cursors: j.cursors,
        log: () => {},
      });
      await c.start();
      await until(() => c.status().state === "parked");
      expect(c.status().lastError).toMatch(/another chain's records/);
      expect(dest.received).toEqual([]);
      await c.stop();
    }
    await j.writer.close();
  });

  it("waits up to maxWaitMs for a batch to fill, and delivers a full one at once", async () => {
    const j = await journal(3);
    const dest = new ScriptedDestination();
    const batches: number[] = [];
    const deliver = dest.deliver.bind(dest);
    dest.deliver = async (batch, signal) => {
      batches.push(batch.lines.length);
      return deliver(batch, signal);
    };
    const c = new JournalConsumer(dest, {
      journalDir: j.dir,
      writer: j.writer,
      cursors: j.cursors,
      log: () => {},
      delivery: { maxRecords: 5, maxWaitMs: 60_000 },
    });
    await c.start();
    await new Promise((r) => setTimeout(r, 100));
    expect(dest.received).toEqual([]); // 3 of 5: waiting for the batch to fill
    await j.writer.append(
      [4, 5].map((n) => j.sealer.seal(canonicalize({ event_type: "a.b", n })).line),
      4,
    );
    await until(() => dest.received.length === 5);
    expect(batches).toEqual([5]);
    await c.stop();
    await j.writer.close();

    const k = await journal(2);
    const timed = new ScriptedDestination("timed");
    const t = new JournalConsumer(timed, {
      journalDir: k.dir,
      writer: k.writer,
      cursors: k.cursors,
      log: () => {},
      delivery: { maxRecords: 100, maxWaitMs: 50 },
    });
    await t.start();
    await until(() => timed.received.length === 2); // the wait ran out
    await t.stop();
    await k.writer.close();
  });

  it("abandons a delivery after the request timeout, aborting it, and tries again", async () => {
    const j = await journal(2);
    const dest = new ScriptedDestination();
    const aborted: boolean[] = [];
    let hang = true;
    let inFlight = 0;
    let mostInFlight = 0;
    const deliver = dest.deliver.bind(dest);
    dest.deliver = async (batch: RecordBatch, signal: AbortSignal) => {
      mostInFlight = Math.max(mostInFlight, ++inFlight);
      try {
        if (!hang) return await deliver(batch, signal);
        hang = false;
        await new Promise<void>((resolve) =>
          signal.addEventListener("abort", () => resolve(), { once: true }),
        );
        aborted.push(signal.aborted);
        // Settles well after its abort: the retry must still wait for it (ordered delivery).
        await new Promise((r) => setTimeout(r, 100));
        throw new DeliveryError("aborted", true);
      } finally {
        inFlight--;
      }
    };
    const c = new JournalConsumer(dest, {
      journalDir: j.dir,
      writer: j.writer,
      cursors: j.cursors,
      log: () => {},
      delivery: { requestTimeoutMs: 50, backoff: { initialMs: 1, maxMs: 2 } },
    });
    await c.start();
    await until(() => dest.received.length === 2);
    expect(aborted).toEqual([true]);
    expect(mostInFlight).toBe(1);
    expect(c.status()).toMatchObject({
      timeouts: 1,
      failures: 1,
      lastError: expect.stringMatching(/request timeout/),
    });
    await c.stop();
    await j.writer.close();
  });

  it("waits at least as long as the server's Retry-After", async () => {
    const j = await journal(1);
    const dest = new ScriptedDestination();
    dest.failures = [new DeliveryError("slow down", true, { retryAfterMs: 300 })];
    const c = new JournalConsumer(dest, {
      journalDir: j.dir,
      writer: j.writer,
      cursors: j.cursors,
      log: () => {},
      delivery: { backoff: { initialMs: 1, maxMs: 2 } },
    });
    const started = Date.now();
    await c.start();
    await until(() => dest.received.length === 1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    await c.stop();
    await j.writer.close();
  });

  it("splits a batch the destination finds too large, and truncates or skips a lone record", async () => {
    const j = await journal(0);
    // 3 and 5 are larger than a server limit could sensibly be (a small record refused means a misconfigured server).
    const pad = (n: number) => "p".repeat(n === 3 || n === 5 ? 5000 : 10);
    await j.writer.append(
      [1, 2, 3, 4, 5, 6].map(
        (n) => j.sealer.seal(canonicalize({ event_type: "a.b", details: { n, pad: pad(n) } })).line,
      ),
      1,
    );
    const dest = new ScriptedDestination();
    const tooBig = new Set([3, 5]);
    const deliver = dest.deliver.bind(dest);
    const seen: string[] = [];
    dest.deliver = async (batch, signal) => {
      const seqs = batch.lines.map((_, i) => batch.firstSequence + i);
      const lone = batch.lines.length === 1 ? batch.lines[0]?.toString() : undefined;
      if (seqs.some((q) => tooBig.has(q)) && !(lone?.includes("vigil_truncated") && seqs[0] === 3)) {
        throw new DeliveryError("too large", true, { tooLarge: true });
      }
      if (lone) seen.push(lone);
      return deliver(batch, signal);
    };
    const logs: string[] = [];
    const c = new JournalConsumer(dest, {
      journalDir: j.dir,
      writer: j.writer,
      cursors: j.cursors,
      log: (m) => logs.push(m),
    });
    await c.start();
    await until(() => c.status().deliveredSequence === 6);
    // 3 goes truncated; 5 is too large even so and is skipped here.
    expect(dest.received).toEqual([1, 2, 3, 4, 6]);
    expect(seen.some((l) => l.includes('"vigil_truncated":{"fields":["n","pad"]'))).toBe(true);
    expect(c.status()).toMatchObject({ truncatedRecords: 1, oversizeSkipped: 1, state: "running" });
    expect(logs.join("\n")).toMatch(/record 5 is too large even without its details/);
    await c.stop();
    await j.writer.close();
  });

  it("commits the cursor only up to what a destination without acknowledgements says has settled", async () => {
    const j = await journal(5);
    const dest = Object.assign(new ScriptedDestination(), { settled: 3 as number | undefined });
    const withSettled = Object.assign(dest, { settledSequence: () => dest.settled });
    const c = new JournalConsumer(withSettled, {
      journalDir: j.dir,
      writer: j.writer,
      cursors: j.cursors,
      log: () => {},
      cursorCommitMs: 0,
    });
    await c.start();
    await until(() => dest.received.length === 5);
    await c.stop();
    expect(c.status().deliveredSequence).toBe(5);
    expect((await j.cursors.load("scripted"))?.sequence).toBe(3);
    // After a restart the unsettled records are sent again.
    const again = new ScriptedDestination();
    const d = new JournalConsumer(again, {
      journalDir: j.dir,
      writer: j.writer,
      cursors: j.cursors,
      log: () => {},
    });
    await d.start();
    await until(() => again.received.length === 2);
    expect(again.received).toEqual([4, 5]);
    await d.stop();
    expect((await j.cursors.load("scripted"))?.sequence).toBe(5);
    await j.writer.close();
  });
});
