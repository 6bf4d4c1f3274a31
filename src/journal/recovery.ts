/**
 * Start-up recovery of the journal. After a crash the newest segment may end in a torn write: the last group
 * commit was written but not (or not completely) fsynced, so its bytes may be partial or missing. Those records
 * were never acknowledged (acknowledgement waits for fsync) and never read by a consumer (consumers read only
 * up to the durable sequence), so cutting them off loses nothing that anyone was promised.
 *
 * Anything acknowledged was fsynced before the last group was written, and a group is at most `maxGroupBytes`,
 * so damage further than that from the end of the file is not a torn write: recovery refuses to "repair" it and
 * stops with journal_corrupt, rather than silently discard acknowledged records. `vigil verify` then says what
 * and where.
 */
import { open, readFile, truncate } from "node:fs/promises";
import { VigilError } from "../errors.ts";
import { type ChainHead, EMPTY_CHAIN, parseRecord } from "../integrity/chain.ts";
import { listSegments, type SegmentInfo } from "./segment.ts";

export interface RecoveryResult {
  /** The chain head to continue from. */
  head: ChainHead;
  /** The segment new records are appended to, with its size after recovery; undefined for an empty journal. */
  active?: SegmentInfo & { size: number };
  /** Bytes cut from the end of the active segment (a torn write), and how many complete lines they held. */
  truncatedBytes: number;
  droppedLines: number;
}

const TAIL_CHUNK = 1024 * 1024;

/** Reads the last complete line of a file (a sealed record is far smaller than the window it grows to). */
export async function readLastLine(path: string): Promise<Buffer | undefined> {
  const fh = await open(path, "r");
  try {
    const { size } = await fh.stat();
    let window = TAIL_CHUNK;
    for (;;) {
      const start = Math.max(0, size - window);
      const buf = Buffer.alloc(size - start);
      await fh.read(buf, 0, buf.length, start);
      const end = buf.lastIndexOf(0x0a);
      if (end === -1) {
        if (start === 0) return undefined;
      } else {
        const begin = buf.lastIndexOf(0x0a, end - 1);
        if (begin !== -1 || start === 0) return buf.subarray(begin + 1, end);
      }
      window *= 4;
    }
  } finally {
    await fh.close();
  }
}

async function headOf(segment: SegmentInfo): Promise<ChainHead> {
  const line = await readLastLine(segment.path);
  const parsed = line === undefined ? undefined : parseRecord(line);
  if (!parsed?.ok) {
    throw new VigilError("journal_corrupt", `the last record of ${segment.path} is not a sealed record`);
  }
  return { sequence: parsed.record.integrity.sequence_number, signature: parsed.record.integrity.signature };
}

export async function recoverJournal(dir: string, maxGroupBytes: number): Promise<RecoveryResult> {
  const segments = await listSegments(dir);
  const last = segments.at(-1);
  if (!last) return { head: { ...EMPTY_CHAIN }, truncatedBytes: 0, droppedLines: 0 };
  const previous = segments.at(-2);

  let head: ChainHead;
  if (last.firstSequence === 1) head = { ...EMPTY_CHAIN };
  else if (previous) head = await headOf(previous);
  else {
    throw new VigilError(
      "journal_corrupt",
      `${last.path} starts at sequence ${last.firstSequence} but no earlier segment holds sequence ${last.firstSequence - 1}`,
    );
  }
  if (head.sequence !== last.firstSequence - 1) {
    throw new VigilError(
      "journal_corrupt",
      `${last.path} starts at sequence ${last.firstSequence} but the segment before it ends at ${head.sequence}`,
    );
  }

  const data = await readFile(last.path);
  let validEnd = 0;
  let pos = 0;
  while (pos < data.length) {
    const nl = data.indexOf(0x0a, pos);
    if (nl === -1) break;
    const parsed = parseRecord(data.subarray(pos, nl));
    if (
      !parsed.ok ||
      parsed.record.integrity.sequence_number !== head.sequence + 1 ||
      parsed.record.integrity.previous_signature !== head.signature
    ) {
      break;
    }
    head = {
      sequence: parsed.record.integrity.sequence_number,
      signature: parsed.record.integrity.signature,
    };
    pos = nl + 1;
    validEnd = pos;
  }

  const torn = data.length - validEnd;
  let droppedLines = 0;
  if (torn > 0) {
    if (torn > maxGroupBytes) {
      throw new VigilError(
        "journal_corrupt",
        `${last.path} is damaged at byte ${validEnd} (expected sequence ${head.sequence + 1}), ` +
          `${torn} bytes before its end: more than one unsynced write could explain. ` +
          "Refusing to discard acknowledged records; run `vigil verify` on the journal to see what changed.",
      );
    }
    for (let i = validEnd; i < data.length; i++) if (data[i] === 0x0a) droppedLines++;
    await truncate(last.path, validEnd);
    const fh = await open(last.path, "r+");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
  return { head, active: { ...last, size: validEnd }, truncatedBytes: torn, droppedLines };
}
