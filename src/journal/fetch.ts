/**
 * Reads sealed records from the journal by position: the search index keeps, for each record, its segment, byte
 * offset and length (src/index/store.ts), and a search reads the records it answers with from here rather than
 * from a copy in the index.
 *
 * Records that lie one after the other in a segment are read with one read (a page of consecutive hits, or a
 * chunk the in-process evaluator scans), scattered ones one read each. Every line read is checked to be the
 * sealed record of the sequence asked for; anything else (a segment gone, a journal rebuilt under an old index)
 * is a VigilError saying to rebuild the index.
 */
import { type FileHandle, open } from "node:fs/promises";
import { join } from "node:path";
import { VigilError } from "../errors.ts";
import { type ParsedRecord, parseRecord } from "../integrity/chain.ts";
import { segmentName } from "./segment.ts";

/** Where one record's line lies, as the index holds it. */
export interface RecordAt {
  sequence: number;
  segment: number;
  offset: number;
  length: number;
}

/** Longest single read: consecutive records beyond it are read in several. */
const MAX_READ = 16 * 1024 * 1024;

const mismatch = (sequence: number, why: string) =>
  new VigilError(
    "journal_corrupt",
    `the search index does not match the journal at sequence ${sequence} (${why}): rebuild it with vigil reindex`,
  );

/** The records at `wanted`, in the same order, each parsed (integrity block and event bytes). */
export async function fetchRecords(dir: string, wanted: readonly RecordAt[]): Promise<ParsedRecord[]> {
  const out: ParsedRecord[] = [];
  const files = new Map<number, FileHandle>();
  try {
    let i = 0;
    while (i < wanted.length) {
      // The run of records from i that follow each other in one segment.
      const first = wanted[i] as RecordAt;
      let end = i + 1;
      let bytes = first.length;
      for (; end < wanted.length; end++) {
        const prev = wanted[end - 1] as RecordAt;
        const next = wanted[end] as RecordAt;
        if (next.segment !== first.segment || next.offset !== prev.offset + prev.length + 1) break;
        if (bytes + 1 + next.length > MAX_READ) break;
        bytes += 1 + next.length;
      }
      const fh = await segmentFile(dir, first, files);
      const buf = Buffer.allocUnsafe(bytes);
      const { bytesRead } = await fh.read(buf, 0, bytes, first.offset);
      if (bytesRead < bytes) throw mismatch(first.sequence, "the segment is shorter than the index says");
      for (let k = i; k < end; k++) {
        const at = wanted[k] as RecordAt;
        const start = at.offset - first.offset;
        const parsed = parseRecord(buf.subarray(start, start + at.length));
        if (!parsed.ok) throw mismatch(at.sequence, "no sealed record there");
        if (parsed.record.integrity.sequence_number !== at.sequence) {
          throw mismatch(at.sequence, `the record there is ${parsed.record.integrity.sequence_number}`);
        }
        out.push(parsed.record);
      }
      i = end;
    }
    return out;
  } finally {
    await Promise.all([...files.values()].map((fh) => fh.close()));
  }
}

async function segmentFile(dir: string, at: RecordAt, files: Map<number, FileHandle>): Promise<FileHandle> {
  let fh = files.get(at.segment);
  if (!fh) {
    try {
      fh = await open(join(dir, segmentName(at.segment)), "r");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") {
        throw mismatch(at.sequence, `journal segment ${segmentName(at.segment)} is gone`);
      }
      throw e;
    }
    files.set(at.segment, fh);
  }
  return fh;
}
