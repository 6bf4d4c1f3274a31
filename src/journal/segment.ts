/**
 * Journal segments: append-only files of sealed record lines in `<data-dir>/journal/`, each named by the
 * sequence number of its first record (20 zero-padded digits, so name order is sequence order).
 */
import { join } from "node:path";
import { readdirIfExists } from "../util/fs.ts";

export const SEGMENT_SUFFIX = ".log";
const SEGMENT_NAME = /^(\d{20})\.log$/;

export interface SegmentInfo {
  firstSequence: number;
  path: string;
}

export function journalDir(dataDir: string): string {
  return join(dataDir, "journal");
}

export function segmentName(firstSequence: number): string {
  return `${String(firstSequence).padStart(20, "0")}${SEGMENT_SUFFIX}`;
}

/** The journal's segments in sequence order; an absent directory has none. */
export async function listSegments(dir: string): Promise<SegmentInfo[]> {
  const names = await readdirIfExists(dir);
  const out: SegmentInfo[] = [];
  for (const name of names) {
    const m = SEGMENT_NAME.exec(name);
    if (m?.[1]) out.push({ firstSequence: Number(m[1]), path: join(dir, name) });
  }
  return out.sort((a, b) => a.firstSequence - b.firstSequence);
}
