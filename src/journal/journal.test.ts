import { appendFile, mkdtemp, open, readdir, readFile, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { canonicalize } from "../integrity/canonical.ts";
import { type ChainHead, EMPTY_CHAIN, parseRecord, Sealer } from "../integrity/chain.ts";
import { keyFromSecret } from "../integrity/keys.ts";
import { CursorStore } from "./cursor.ts";
import { JournalReader } from "./reader.ts";
import { listSegments, segmentName } from "./segment.ts";
import { JournalWriter } from "./writer.ts";

const key = keyFromSecret(Buffer.alloc(32, 7), "test");

function seal(sealer: Sealer, n: number): { lines: string[]; first: number } {
  const lines: string[] = [];
  const first = sealer.head.sequence + 1;
  for (let i = 0; i < n; i++) {
    const seq = first + i;
    lines.push(
      sealer.seal(canonicalize({ event_type: "backup.completed", event_id: `evt_${seq}`, n: seq })).line,
    );
  }
  return { lines, first };
}

async function readAll(dir: string, from = 1, durable = Number.MAX_SAFE_INTEGER): Promise<string[]> {
  const reader = new JournalReader(dir, from);
  const out: string[] = [];
  for (;;) {
    const batch = await reader.readAvailable(7, 1 << 20);
    if (batch.lines.length === 0) break;
    for (const l of batch.lines) out.push(l.toString());
  }
  await reader.close();
  return out.filter((_, i) => from + i <= durable);
}

describe("journal", () => {
  let dir: string;
  beforeEach(async () => {
    dir = join(await mkdtemp(join(tmpdir(), "vigil-journal-")), "journal");
  });
  afterEach(() => {});

  it("appends durably, in order, across segments, and reads back exactly", async () => {
    const { writer, recovery } = await JournalWriter.open({ dir, segmentBytes: 4096 });
    expect(recovery.head).toEqual(EMPTY_CHAIN);
    const sealer = new Sealer(key, recovery.head);
    const all: string[] = [];
    for (let i = 0; i < 10; i++) {
      const { lines, first } = seal(sealer, 5);
      all.push(...lines);
      await writer.append(lines, first);
    }
    expect(writer.groupCommits).toBe(10);
    const appends: Promise<void>[] = [];
    for (let i = 0; i < 10; i++) {
      const { lines, first } = seal(sealer, 5);
      all.push(...lines);
      appends.push(writer.append(lines, first));
    }
    expect(writer.pendingEvents).toBe(50);
    await Promise.all(appends);
    expect(writer.durableSequence).toBe(100);
    expect(writer.pendingEvents).toBe(0);
    // Appends made while a commit was in flight were grouped: fewer fsyncs than appends.
    expect(writer.groupCommits).toBeLessThan(20);
    const segments = await listSegments(dir);
    expect(segments.length).toBeGreaterThan(2);
    expect(segments[0]?.firstSequence).toBe(1);
    for (const s of segments) expect((await stat(s.path)).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    await writer.close();
    expect(await readAll(dir)).toEqual(all);
    expect(await readAll(dir, 57)).toEqual(all.slice(56));
  });

  it("continues the chain after a clean restart", async () => {
    let { writer, recovery } = await JournalWriter.open({ dir, segmentBytes: 1 << 20 });
    let sealer = new Sealer(key, recovery.head);
    let batch = seal(sealer, 10);
    await writer.append(batch.lines, batch.first);
    await writer.close();
    ({ writer, recovery } = await JournalWriter.open({ dir, segmentBytes: 1 << 20 }));
    expect(recovery.head).toEqual(sealer.head);
    expect(recovery.truncatedBytes).toBe(0);
    sealer = new Sealer(key, recovery.head);
    batch = seal(sealer, 3);
    expect(batch.first).toBe(11);
    await writer.append(batch.lines, batch.first);
    await writer.close();
    const lines = await readAll(dir);
    expect(lines).toHaveLength(13);
    const p11 = parseRecord(Buffer.from(lines[10] as string));
    const p10 = parseRecord(Buffer.from(lines[9] as string));
    if (!p11.ok || !p10.ok) throw new Error("unparsable");
    expect(p11.record.integrity.previous_signature).toBe(p10.record.integrity.signature);
  });

  it("cuts a torn last write and never reuses a durable sequence number", async () => {
    const { writer, recovery } = await JournalWriter.open({ dir, segmentBytes: 1 << 20 });
    const sealer = new Sealer(key, recovery.head);
    const batch = seal(sealer, 10);
    await writer.append(batch.lines, batch.first);
    await writer.close();
    const [segment] = await listSegments(dir);
    const path = segment?.path as string;
    const durableSize = (await stat(path)).size;
    // A torn write: one complete unacknowledged record and half of another.
    const extra = seal(sealer, 2).lines;
    await appendFile(path, `${extra[0]}\n${(extra[1] as string).slice(0, 40)}`);
    const again = await JournalWriter.open({ dir, segmentBytes: 1 << 20 });
    // The complete unacknowledged record is valid and chained, so it is kept; only the torn half is cut.
    expect(again.recovery.head.sequence).toBe(11);
    expect(again.recovery.truncatedBytes).toBe(40);
    expect((await stat(path)).size).toBe(durableSize + Buffer.byteLength(`${extra[0]}\n`));
    await again.writer.close();
  });

  it("cuts garbage after the last valid record", async () => {
    const { writer, recovery } = await JournalWriter.open({ dir, segmentBytes: 1 << 20 });
    const sealer = new Sealer(key, recovery.head);
    const batch = seal(sealer, 5);
    await writer.append(batch.lines, batch.first);
    await writer.close();
    const [segment] = await listSegments(dir);
    await appendFile(segment?.path as string, Buffer.alloc(300, 0));
    const again = await JournalWriter.open({ dir, segmentBytes: 1 << 20 });
    expect(again.recovery.head).toEqual(sealer.head);
    expect(again.recovery.truncatedBytes).toBe(300);
    await again.writer.close();
  });

  it("refuses to discard acknowledged records when damage is older than one group", async () => {
    const { writer, recovery } = await JournalWriter.open({
      dir,
      segmentBytes: 1 << 20,
      maxGroupBytes: 1024,
    });
    const sealer = new Sealer(key, recovery.head);
    const batch = seal(sealer, 40);
    await writer.append(batch.lines.slice(0, 20), 1);
    await writer.append(batch.lines.slice(20), 21);
    await writer.close();
    const [segment] = await listSegments(dir);
    const path = segment?.path as string;
    const text = await readFile(path, "utf8");
    const lines = text.split("\n");
    lines[2] = `#${(lines[2] as string).slice(1)}`;
    await writeFile(path, lines.join("\n"));
    await expect(JournalWriter.open({ dir, segmentBytes: 1 << 20, maxGroupBytes: 1024 })).rejects.toThrow(
      /damaged at byte \d+ \(expected sequence 3\)/,
    );
  });

  it("starts a new segment when the last one is empty after recovery", async () => {
    const { writer, recovery } = await JournalWriter.open({ dir, segmentBytes: 600 });
    const sealer = new Sealer(key, recovery.head);
    for (let i = 0; i < 4; i++) {
      const b = seal(sealer, 2);
      await writer.append(b.lines, b.first);
    }
    await writer.close();
    const segments = await listSegments(dir);
    const last = segments.at(-1) as { path: string; firstSequence: number };
    await truncate(last.path, 10);
    const again = await JournalWriter.open({ dir, segmentBytes: 600 });
    const head: ChainHead = again.recovery.head;
    expect(head.sequence).toBe(last.firstSequence - 1);
    const s2 = new Sealer(key, head);
    const b = seal(s2, 1);
    await again.writer.append(b.lines, b.first);
    await again.writer.close();
    expect(await readdir(dir)).toContain(segmentName(last.firstSequence));
    expect((await readAll(dir)).length).toBe(last.firstSequence);
  });

  it("reads only up to the durable sequence and resumes from a saved position", async () => {
    const { writer, recovery } = await JournalWriter.open({ dir, segmentBytes: 2048 });
    const sealer = new Sealer(key, recovery.head);
    const b = seal(sealer, 30);
    await writer.append(b.lines, b.first);
    const reader = new JournalReader(dir, 1);
    const first = await reader.read(12, 100, 1 << 20);
    expect(first?.lines).toHaveLength(12);
    expect(await reader.read(12, 100, 1 << 20)).toBeUndefined();
    const pos = reader.position;
    await reader.close();
    const resumed = new JournalReader(dir, 13, pos);
    const rest = await resumed.read(30, 100, 1 << 20);
    expect(rest?.firstSequence).toBe(13);
    expect(rest?.lines.map(String)).toEqual(b.lines.slice(12, 12 + (rest?.lines.length ?? 0)));
    await resumed.close();
    await writer.close();
  });

  it("waits for durability and refuses appends once closed", async () => {
    const { writer, recovery } = await JournalWriter.open({ dir, segmentBytes: 1 << 20 });
    const sealer = new Sealer(key, recovery.head);
    const waiting = writer.waitForDurable(0);
    const b = seal(sealer, 3);
    await writer.append(b.lines, b.first);
    await waiting;
    expect(writer.durableSequence).toBe(3);
    await writer.close();
    await expect(writer.append(seal(sealer, 1).lines, 4)).rejects.toThrow(/closed/);
  });

  it("fails every pending append after an fsync error, and for good", async () => {
    const { writer, recovery } = await JournalWriter.open({ dir, segmentBytes: 1 << 20 });
    const sealer = new Sealer(key, recovery.head);
    const first = seal(sealer, 2);
    await writer.append(first.lines, first.first);
    const probe = await open(join(dir, "probe"), "w");
    const proto = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
    await probe.close();
    const eio = Object.assign(new Error("i/o error"), { code: "EIO" });
    const spy = vi.spyOn(proto, "datasync").mockRejectedValueOnce(eio);
    try {
      const a = seal(sealer, 2);
      const b = seal(sealer, 2);
      const pa = writer.append(a.lines, a.first);
      const pb = writer.append(b.lines, b.first);
      const waiter = writer.waitForDurable(2);
      await expect(pa).rejects.toMatchObject({ code: "journal_failed" });
      await expect(pb).rejects.toMatchObject({ code: "journal_failed" });
      await waiter;
      expect(writer.durableSequence).toBe(2);
      expect(writer.failure?.message).toMatch(/EIO/);
      expect(writer.pendingEvents).toBe(0);
      await expect(writer.append(seal(sealer, 1).lines, 7)).rejects.toMatchObject({ code: "journal_failed" });
    } finally {
      spy.mockRestore();
      await writer.close();
    }
  });

  it("splits an append larger than one group write at line boundaries", async () => {
    const { writer, recovery } = await JournalWriter.open({
      dir,
      segmentBytes: 1 << 20,
      maxGroupBytes: 1024,
    });
    const sealer = new Sealer(key, recovery.head);
    const b = seal(sealer, 40);
    await writer.append(b.lines, b.first);
    expect(writer.durableSequence).toBe(40);
    // Each group write was at most 1 KiB, so it took several.
    expect(writer.groupCommits).toBeGreaterThan(4);
    await writer.close();
    expect(await readAll(dir)).toEqual(b.lines);
    const again = await JournalWriter.open({ dir, segmentBytes: 1 << 20, maxGroupBytes: 1024 });
    expect(again.recovery.head).toEqual(sealer.head);
    await again.writer.close();
  });

  it("stores cursors atomically", async () => {
    const store = new CursorStore(join(dir, ".."));
    expect(await store.load("file:/var/log/audit.log")).toBeUndefined();
    await store.save({ name: "file:/var/log/audit.log", sequence: 42 });
    const c = await store.load("file:/var/log/audit.log");
    expect(c?.sequence).toBe(42);
    expect(await store.load("file:/other")).toBeUndefined();
  });
});
