import {
  appendFile,
  mkdtemp,
  open,
  readdir,
  readFile,
  rm,
  stat,
  truncate,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { JournalLocation, RecordBatch } from "../destinations/destination.ts";
import { VigilError } from "../errors.ts";
import { canonicalize } from "../integrity/canonical.ts";
import { type ChainHead, EMPTY_CHAIN, type ParsedRecord, parseRecord, Sealer } from "../integrity/chain.ts";
import { keyFromSecret } from "../integrity/keys.ts";
import { CursorStore } from "./cursor.ts";
import { fetchRecords, type RecordAt } from "./fetch.ts";
import { type JournalPosition, JournalReader } from "./reader.ts";
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

describe("journal positions", () => {
  /** The reader's read size (reader.ts): lines are cut across it. */
  const CHUNK = 1024 * 1024;
  const TOTAL = 420;
  /** Records of about 300 KB: every 31st. */
  const big = (sequence: number) => sequence % 31 === 5;
  let dir: string;
  /** Each record's line as written, at `sequence - 1`. */
  const lines: Buffer[] = [];
  /** Each segment's bytes, by its first sequence. */
  const files = new Map<number, Buffer>();
  /** Each record's place, from a first read, at `sequence - 1`. */
  const where: JournalLocation[] = [];

  beforeAll(async () => {
    dir = join(await mkdtemp(join(tmpdir(), "vigil-positions-")), "journal");
    const { writer, recovery } = await JournalWriter.open({ dir, segmentBytes: 1_300_000 });
    const sealer = new Sealer(key, recovery.head);
    // Appends of varied sizes (a segment rolls between appends); multi-byte characters so that byte offsets
    // and character offsets differ.
    const appendSizes = [1, 2, 5, 11, 23, 3, 17];
    for (let k = 0; lines.length < TOTAL; k++) {
      const first = sealer.head.sequence + 1;
      const n = Math.min(appendSizes[k % appendSizes.length] as number, TOTAL - lines.length);
      const group: string[] = [];
      for (let sequence = first; sequence < first + n; sequence++) {
        const pad = big(sequence)
          ? `${"x".repeat(300_000)}é😀`
          : `${"ü".repeat(sequence % 50)}${"a".repeat((sequence * 37) % 400)}`;
        const { line } = sealer.seal(canonicalize({ event_type: "t", event_id: `evt_${sequence}`, pad }));
        group.push(line);
        lines.push(Buffer.from(line));
      }
      await writer.append(group, first);
    }
    await writer.close();
    for (const segment of await listSegments(dir))
      files.set(segment.firstSequence, await readFile(segment.path));
    const reader = new JournalReader(dir, 1);
    for (;;) {
      const batch = await reader.readAvailable(50, 1 << 30);
      if (batch.lines.length === 0) break;
      where.push(...(batch.positions ?? []));
    }
    await reader.close();
  });

  afterAll(async () => {
    await rm(dirname(dir), { recursive: true, force: true });
  });

  /** The segment (first sequence) holding `sequence`. */
  const segmentOf = (sequence: number) => (where[sequence - 1] as JournalLocation).segment;
  const segmentStarts = () => [...files.keys()];

  /** Checks that every line of `batch` is the record of its sequence, at `positions[i]`, followed by "\n". */
  function check(batch: RecordBatch): void {
    expect(batch.positions).toHaveLength(batch.lines.length);
    for (const [i, line] of batch.lines.entries()) {
      const sequence = batch.firstSequence + i;
      expect(line.equals(lines[sequence - 1] as Buffer), `line ${sequence}`).toBe(true);
      const at = batch.positions?.[i] as JournalLocation;
      const file = files.get(at.segment) as Buffer;
      expect(file, `segment ${at.segment} of ${sequence}`).toBeDefined();
      expect(at.offset === 0 || file[at.offset - 1] === 0x0a, `${sequence} starts a line`).toBe(true);
      expect(
        file.subarray(at.offset, at.offset + line.length).equals(line),
        `${sequence} at ${at.offset}`,
      ).toBe(true);
      expect(file[at.offset + line.length], `newline after ${sequence}`).toBe(0x0a);
      expect(at, `${sequence} as on the first read`).toEqual(where[sequence - 1]);
    }
  }

  /** Reads from `reader` to the end with readAvailable, `sizes` records at a time in turn; checks each batch. */
  async function readToEnd(
    reader: JournalReader,
    from: number,
    sizes: readonly number[],
    maxBytes = 1 << 30,
  ) {
    let next = from;
    for (let k = 0; ; k++) {
      const batch = await reader.readAvailable(sizes[k % sizes.length] as number, maxBytes);
      if (batch.lines.length === 0) break;
      expect(batch.firstSequence).toBe(next);
      check(batch);
      next += batch.lines.length;
    }
    await reader.close();
    expect(next).toBe(TOTAL + 1);
  }

  it("is a journal whose segments are over the reader's chunk and whose lines cross it", () => {
    expect(where).toHaveLength(TOTAL);
    expect(files.size).toBeGreaterThanOrEqual(3);
    const crossing = (sequence: number) => {
      const at = where[sequence - 1] as JournalLocation;
      const end = at.offset + (lines[sequence - 1] as Buffer).length + 1;
      return Math.floor(at.offset / CHUNK) !== Math.floor((end - 1) / CHUNK);
    };
    const crossers = Array.from({ length: TOTAL }, (_, i) => i + 1).filter(crossing);
    expect(crossers.length).toBeGreaterThanOrEqual(2);
    expect(new Set(crossers.map(segmentOf)).size).toBeGreaterThanOrEqual(2);
    // Every segment but the last (the journal's tail) is over one chunk.
    for (const segment of segmentStarts().slice(0, -1)) {
      expect((files.get(segment) as Buffer).length).toBeGreaterThan(CHUNK);
    }
  });

  it("gives the place of every line read with readAvailable, in batches of odd sizes", async () => {
    await readToEnd(new JournalReader(dir, 1), 1, [1]);
    await readToEnd(new JournalReader(dir, 1), 1, [7]);
    await readToEnd(new JournalReader(dir, 1), 1, [3, 1, 13, 101, 5]);
    // A byte budget cuts batches too: one record each, then about 400 KB each.
    await readToEnd(new JournalReader(dir, 1), 1, [1000], 1);
    await readToEnd(new JournalReader(dir, 1), 1, [1000], 400_000);
  });

  it("gives the place of every line read with read(durable), in batches of odd sizes", async () => {
    const reader = new JournalReader(dir, 1);
    const sizes = [5, 11, 1, 29];
    let next = 1;
    // The durable end moves in steps that stop mid-segment and mid-batch.
    for (const durable of [1, 2, 37, 38, 200, 333, TOTAL]) {
      for (let k = 0; ; k++) {
        const batch = await reader.read(durable, sizes[k % sizes.length] as number, 1 << 30);
        if (batch === undefined) break;
        expect(batch.firstSequence).toBe(next);
        expect(batch.firstSequence + batch.lines.length - 1).toBeLessThanOrEqual(durable);
        check(batch);
        next += batch.lines.length;
      }
      expect(next).toBe(durable + 1);
    }
    await reader.close();
  });

  it("gives the places from the middle of a segment, its first record and its last", async () => {
    const [, second, third] = segmentStarts() as [number, number, number];
    const starts = [second + 3, second, second - 1, third + 1, 5 + 31 * 4, TOTAL];
    for (const start of starts) await readToEnd(new JournalReader(dir, start), start, [9, 2]);
  });

  it("resumes from a saved position, mid-segment and at a segment's end", async () => {
    const [, second] = segmentStarts() as [number, number];
    for (const stop of [1, second + 4, second - 1, 5 + 31 * 5, 5 + 31 * 5 - 1, TOTAL - 1]) {
      const reader = new JournalReader(dir, 1);
      let next = 1;
      while (next <= stop) {
        const batch = (await reader.read(stop, 23, 1 << 30)) as RecordBatch;
        check(batch);
        next += batch.lines.length;
      }
      const position = reader.position as JournalPosition;
      await reader.close();
      expect(position.nextSequence).toBe(stop + 1);
      if (segmentOf(stop) === segmentOf(stop + 1)) {
        expect(position).toEqual({ nextSequence: stop + 1, ...where[stop] });
      } else {
        // At the end of a segment the position is its end; the reader goes on to the next one.
        expect(position.segment).toBe(segmentOf(stop));
        expect(position.offset).toBe((files.get(segmentOf(stop)) as Buffer).length);
      }
      await readToEnd(new JournalReader(dir, stop + 1, position), stop + 1, [3, 17]);
    }
  });

  /** Where `sequence` lies, as the search index holds it. */
  const at = (sequence: number): RecordAt => ({
    sequence,
    ...(where[sequence - 1] as JournalLocation),
    length: (lines[sequence - 1] as Buffer).length,
  });
  const expected = (sequence: number): ParsedRecord => {
    const parsed = parseRecord(lines[sequence - 1] as Buffer);
    if (!parsed.ok) throw new Error(parsed.reason);
    return parsed.record;
  };
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  it("fetches records by their places: scattered, consecutive, across segments", async () => {
    const [, second, third] = segmentStarts() as [number, number, number];
    const sets = [
      // Scattered, out of order, across every segment, big ones among them.
      [TOTAL, 1, 5, 200, 36, 133, TOTAL - 1, 2, second, third - 1, 98],
      // Consecutive across a segment boundary.
      range(second - 4, second + 4),
      // Consecutive with the big records, well over 1 MiB in one run.
      range(1, second - 1),
      // Consecutive and scattered mixed, and the same record twice.
      [...range(60, 70), 300, 301, 302, 5, 5, ...range(third - 2, third + 2)],
      range(1, TOTAL),
      [],
    ];
    for (const sequences of sets) {
      const records = await fetchRecords(dir, sequences.map(at));
      expect(records.map((r) => r.integrity.sequence_number)).toEqual(sequences);
      for (const [i, record] of records.entries()) {
        const want = expected(sequences[i] as number);
        expect(record.integrity).toEqual(want.integrity);
        expect(record.verbatim).toBe(want.verbatim);
        expect(Buffer.from(record.event).equals(want.event), `event ${sequences[i]}`).toBe(true);
      }
    }
  });

  it("refuses a place that does not hold its record, saying to rebuild the index", async () => {
    const refusal = async (wanted: RecordAt[]): Promise<VigilError> => {
      try {
        await fetchRecords(dir, wanted);
      } catch (error) {
        expect(error).toBeInstanceOf(VigilError);
        expect((error as VigilError).code).toBe("journal_corrupt");
        expect((error as Error).message).toMatch(/rebuild it with vigil reindex$/);
        return error as VigilError;
      }
      throw new Error("fetchRecords did not refuse");
    };
    const last = (files.get(segmentOf(TOTAL)) as Buffer).length;
    // Another record's place (a neighbour; a big one in another segment).
    expect((await refusal([{ ...at(11), sequence: 10 }])).message).toMatch(
      /at sequence 10 \(the record there is 11\)/,
    );
    expect((await refusal([at(1), { ...at(5 + 31 * 6), sequence: 3 }])).message).toMatch(
      /at sequence 3 \(the record there is 191\)/,
    );
    // Inside a line rather than at its start.
    expect((await refusal([{ ...at(10), offset: at(10).offset + 5 }])).message).toMatch(
      /at sequence 10 \(no sealed record there\)/,
    );
    // A segment that does not exist.
    expect((await refusal([at(3), { ...at(4), segment: TOTAL + 1000 }])).message).toMatch(
      new RegExp(
        `at sequence 4 \\(journal segment ${segmentName(TOTAL + 1000).replace(".", "\\.")} is gone\\)`,
      ),
    );
    // Past the end of the file: a line longer than the rest of it, and a place beyond it.
    expect((await refusal([{ ...at(TOTAL), length: at(TOTAL).length + 2 }])).message).toMatch(
      /at sequence 420 \(the segment is shorter than the index says\)/,
    );
    expect((await refusal([{ ...at(TOTAL), offset: last + 10 }])).message).toMatch(
      /at sequence 420 \(the segment is shorter than the index says\)/,
    );
  });
});
