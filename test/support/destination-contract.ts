/**
 * The contract every destination passes against its real server (issue 5, point 2). A destination's test file
 * calls `destinationContract` with a `ContractTarget` that builds the destination against a running server,
 * reads back what the server holds, and takes the server away and back. The suite drives the destination with
 * the real JournalConsumer over a real journal of sealed records, as `vigil serve` does:
 * - everything arrives, in order, across many batches;
 * - an outage during sustained appends: the journal never stalls, the cursor never passes what the server
 *   confirmed, and once the server is back every record is there, in order (at-least-once: a record may repeat,
 *   never go missing or come out of order for the first time);
 * - a stop in the middle of a backlog returns promptly, and a new consumer delivers the rest;
 * - a record larger than the server's limit: `on_oversize: truncate` delivers it without its details (marked),
 *   `park` parks the destination before it.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type DeliveryPolicy, TRUNCATED_MARKER } from "../../src/destinations/delivery.ts";
import type { Destination } from "../../src/destinations/destination.ts";
import { canonicalize } from "../../src/integrity/canonical.ts";
import { parseRecord, Sealer } from "../../src/integrity/chain.ts";
import { keyFromSecret } from "../../src/integrity/keys.ts";
import { CursorStore } from "../../src/journal/cursor.ts";
import { JournalWriter } from "../../src/journal/writer.ts";
import { JournalConsumer } from "../../src/pipeline/consumer.ts";

/** One record as the server holds it, decoded back to the native record line (or what the format carries). */
export interface StoredRecord {
  sequence: number;
  /** The record's integrity signature as stored. */
  signature: string;
  /** The stored event's `details`, when it has any (to see truncation). */
  details?: Record<string, unknown>;
}

export interface ContractDestination {
  destination: Destination;
  /** Everything the server holds for this destination, in the server's order. */
  read(): Promise<StoredRecord[]>;
}

export interface ContractTarget {
  /**
   * A destination writing to a place on the server derived from `name` (a topic, prefix, log stream, …): each
   * test uses a new name, and the same name again gives the same place (a restart). Delivery settings are the
   * suite's (short timeouts and backoff); the target may add its own.
   */
  create(opts: { name: string; delivery: Partial<DeliveryPolicy> }): Promise<ContractDestination>;
  /** Takes the server away: connections are refused (or hang) until `resume`. */
  interrupt(): Promise<void>;
  /** Brings the server back, with what it held before. */
  resume(): Promise<void>;
  /**
   * Size in bytes of a record the server refuses as too large; undefined skips the oversize tests (a server
   * without a practical limit, e.g. S3).
   */
  oversizeBytes?: number;
  /** How long the suite waits for a condition; servers that batch by time need more. Default 30 s. */
  waitMs?: number;
}

const key = keyFromSecret(Buffer.alloc(32, 7), "contract");

/** A journal of sealed records the suite appends to while consumers read it. */
class TestJournal {
  readonly dir: string;
  readonly cursors: CursorStore;
  readonly writer: JournalWriter;
  readonly #sealer: Sealer;
  readonly signatures: string[] = [];

  private constructor(dataDir: string, writer: JournalWriter, sealer: Sealer) {
    this.dir = join(dataDir, "journal");
    this.cursors = new CursorStore(dataDir);
    this.writer = writer;
    this.#sealer = sealer;
  }

  static async open(dataDir: string): Promise<TestJournal> {
    const { writer, recovery } = await JournalWriter.open({
      dir: join(dataDir, "journal"),
      segmentBytes: 1 << 22,
    });
    return new TestJournal(dataDir, writer, new Sealer(key, recovery.head));
  }

  /** Seals and appends `count` events (each `detailBytes` of details), durable when this resolves. */
  async append(count: number, detailBytes = 64): Promise<void> {
    const lines: string[] = [];
    for (let i = 0; i < count; i++) {
      const n = this.signatures.length + 1;
      const sealed = this.#sealer.seal(
        canonicalize({
          event_id: `contract-${n}`,
          event_type: "contract.test",
          timestamp: new Date().toISOString(),
          version: "1.0",
          actor: { type: "user", id: "alice" },
          details: { n, body: "x".repeat(detailBytes) },
        }),
      );
      const parsed = parseRecord(Buffer.from(sealed.line));
      if (!parsed.ok) throw new Error(parsed.reason);
      this.signatures.push(parsed.record.integrity.signature);
      lines.push(sealed.line);
    }
    await this.writer.append(lines, this.signatures.length - count + 1);
  }

  get size(): number {
    return this.signatures.length;
  }
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Checks that `stored` holds records 1..n of `journal`, in order of first appearance, each with its signature;
 * repeats (at-least-once) are allowed only of records already seen.
 */
function expectComplete(stored: StoredRecord[], journal: TestJournal, n = journal.size): void {
  const firsts: number[] = [];
  const seen = new Set<number>();
  for (const r of stored) {
    expect(r.signature, `signature of record ${r.sequence}`).toBe(journal.signatures[r.sequence - 1]);
    if (seen.has(r.sequence)) continue;
    seen.add(r.sequence);
    firsts.push(r.sequence);
  }
  expect(firsts).toEqual(Array.from({ length: n }, (_, i) => i + 1));
}

/** Registers the contract tests for one destination type. */
export function destinationContract(name: string, target: () => ContractTarget): void {
  describe(`${name} destination contract`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    let count = 0;

    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function setup(delivery: Partial<DeliveryPolicy> = {}) {
      const t = target();
      const dataDir = await mkdtemp(join(tmpdir(), "vigil-contract-"));
      const journal = await TestJournal.open(dataDir);
      const destName = `contract-${name}-${++count}-${Date.now()}`;
      const settings: Partial<DeliveryPolicy> = {
        requestTimeoutMs: 5_000,
        backoff: { initialMs: 50, maxMs: 500 },
        ...delivery,
      };
      const made = await t.create({ name: destName, delivery: settings });
      const logs: string[] = [];
      const consumer = (destination: Destination) =>
        new JournalConsumer(destination, {
          journalDir: journal.dir,
          writer: journal.writer,
          cursors: journal.cursors,
          log: (m) => logs.push(m),
          delivery: settings,
          cursorCommitMs: 0,
        });
      const first = consumer(made.destination);
      cleanups.push(async () => {
        await first.stop();
        await journal.writer.close();
        await rm(dataDir, { recursive: true, force: true });
      });
      return { t, journal, made, first, consumer, destName, logs, waitMs: t.waitMs ?? 30_000 };
    }

    it("delivers everything in order across many batches", async () => {
      const { journal, made, first, waitMs } = await setup({ maxRecords: 37 });
      await journal.append(500);
      await first.start();
      await waitFor("500 records delivered", () => first.status().deliveredSequence === 500, waitMs);
      await journal.append(20);
      await waitFor("520 records delivered", () => first.status().deliveredSequence === 520, waitMs);
      expectComplete(await made.read(), journal);
      expect(first.status()).toMatchObject({ state: "running", lagRecords: 0, failures: 0 });
    });

    it("survives an outage during sustained appends with nothing lost and the cursor never ahead", async () => {
      const { t, journal, made, first, destName, waitMs } = await setup({ maxRecords: 50 });
      await first.start();
      await journal.append(100);
      await waitFor("the first 100 records", () => first.status().deliveredSequence === 100, waitMs);

      let appending = true;
      let appended = 0;
      const appender = (async () => {
        while (appending) {
          await journal.append(10);
          appended += 10;
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      await t.interrupt();
      const atInterrupt = appended;
      await waitFor("the destination to notice the outage", () => first.status().failures > 0, waitMs);
      // While the server is away nothing can be confirmed: the cursor must not move, however often delivery fails.
      const cursorAtFailure = (await journal.cursors.load(destName))?.sequence ?? 0;
      const failures = first.status().failures;
      await waitFor("two more failed attempts", () => first.status().failures >= failures + 2, waitMs);
      expect((await journal.cursors.load(destName))?.sequence ?? 0).toBe(cursorAtFailure);
      // Ingest goes on while the destination is away: the journal is the buffer.
      await waitFor("appends during the outage", () => appended >= atInterrupt + 100, waitMs);
      expect(first.status().state).toBe("retrying");
      await t.resume();
      appending = false;
      await appender;
      const total = journal.size;
      await waitFor(
        `all ${total} records after the outage`,
        () => first.status().deliveredSequence === total,
        waitMs,
      );
      expectComplete(await made.read(), journal);
      expect(first.status()).toMatchObject({ state: "running", lagRecords: 0 });
    });

    it("stops promptly with a delivery in flight, and a new consumer delivers the rest", async () => {
      const { t, journal, made, first, consumer, waitMs } = await setup({ maxRecords: 20 });
      await journal.append(2000);
      // Stop while the third request is on its way to the server.
      const deliver = made.destination.deliver.bind(made.destination);
      let calls = 0;
      let stopping: Promise<void> | undefined;
      let stopAsked = 0;
      made.destination.deliver = (batch, signal) => {
        const delivery = deliver(batch, signal);
        if (++calls === 3) {
          stopAsked = Date.now();
          stopping = first.stop();
        }
        return delivery;
      };
      await first.start();
      await waitFor("the stop", () => stopping !== undefined, waitMs);
      await stopping;
      expect(Date.now() - stopAsked).toBeLessThan(10_000);
      expect(first.status().deliveredSequence).toBeLessThanOrEqual(60);
      const again = await t.create({ name: first.name, delivery: { maxRecords: 20 } });
      const second = consumer(again.destination);
      await second.start();
      await waitFor("the rest delivered", () => second.status().deliveredSequence === 2000, waitMs);
      await second.stop();
      expectComplete(await made.read(), journal);
    });

    it("truncates a record larger than the server's limit, as chosen, and goes on", async (ctx) => {
      const t0 = target();
      if (t0.oversizeBytes === undefined) return ctx.skip();
      const { journal, made, first, waitMs } = await setup({ onOversize: "truncate" });
      await journal.append(3);
      await journal.append(1, t0.oversizeBytes);
      await journal.append(3);
      await first.start();
      await waitFor("7 records delivered", () => first.status().deliveredSequence === 7, waitMs);
      const stored = await made.read();
      expectComplete(stored, journal);
      const big = stored.find((r) => r.sequence === 4);
      expect(big?.details).toMatchObject({ [TRUNCATED_MARKER]: { fields: ["body", "n"] } });
      expect(first.status()).toMatchObject({ truncatedRecords: 1, state: "running" });
    });

    it("parks before a record larger than the server's limit when on_oversize is park", async (ctx) => {
      const t0 = target();
      if (t0.oversizeBytes === undefined) return ctx.skip();
      const { journal, made, first, destName, waitMs } = await setup({ onOversize: "park" });
      await journal.append(3);
      await journal.append(1, t0.oversizeBytes);
      await first.start();
      await waitFor("the destination parked", () => first.status().state === "parked", waitMs);
      expect(first.status()).toMatchObject({ deliveredSequence: 3, lagRecords: 1 });
      expect(first.status().lastError).toMatch(/record 4 is too large/);
      expectComplete(await made.read(), journal, 3);
      await first.stop();
      expect((await journal.cursors.load(destName))?.sequence).toBe(3);
    });
  });
}
