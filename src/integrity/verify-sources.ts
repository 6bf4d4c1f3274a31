/**
 * What `vigil verify` reads: turning the paths a user names into an ordered list of files (journal segments,
 * a file destination's rotated set, single files, stdin) and streaming each as lines of bytes.
 *
 * Lines stay Buffers end to end: a multi-GB log is never held in memory and never decoded as a whole.
 */
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream";
import { createGunzip } from "node:zlib";
import { VigilError } from "../errors.ts";
import { journalDir, listSegments } from "../journal/segment.ts";
import { keysDir } from "./keys.ts";
import { checkpointsDir, publishedCheckpointsDir } from "./log-layout.ts";

/** The path that stands for standard input. */
export const STDIN_PATH = "-";

export interface InputFile {
  /** As shown in findings: the path as found on disk, or `-` for stdin. */
  path: string;
  /** Decompressed while read (gzip is recognised by the `.gz` suffix). */
  gzip: boolean;
  /** Bytes on disk (compressed size for gzip), when known; drives the progress display. */
  size: number | undefined;
}

export interface ResolvedInputs {
  files: InputFile[];
  /** Data directories met on the way (a data dir or a journal's parent) whose `keys/` hold usable keys. */
  dataDirs: string[];
  /**
   * Where the signed checkpoints of what is read are kept: `<data-dir>/checkpoints` for a data or journal
   * directory, `<path>.checkpoints` beside a file destination. Some may not exist.
   */
  checkpointDirs: string[];
}

async function statOrUndefined(path: string) {
  try {
    return await stat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * `path` and its logrotate-style siblings, oldest first: `path.N[.gz]` … `path.1[.gz]`, then `path`.
 * Indices may have holes (a crash mid-rotation skips one); `*.tmp` compression leftovers are ignored. When a
 * crash left both `path.K` and `path.K.gz`, both are complete copies, and the plain one is read.
 */
async function rotatedSet(path: string): Promise<InputFile[]> {
  const dir = dirname(path);
  const pattern = new RegExp(`^${escapeRegExp(basename(path))}\\.([1-9]\\d*)(\\.gz)?$`);
  const byIndex = new Map<number, string>();
  for (const name of await readdir(dir)) {
    const m = pattern.exec(name);
    if (!m?.[1]) continue;
    const index = Number(m[1]);
    if (!m[2] || !byIndex.has(index)) byIndex.set(index, name);
  }
  const files: InputFile[] = [];
  for (const index of [...byIndex.keys()].sort((a, b) => b - a)) {
    const file = join(dir, byIndex.get(index) as string);
    const st = await stat(file);
    files.push({ path: file, gzip: file.endsWith(".gz"), size: st.size });
  }
  const active = await statOrUndefined(path);
  if (active?.isFile()) files.push({ path, gzip: path.endsWith(".gz"), size: active.size });
  return files;
}

async function segmentFiles(dir: string): Promise<InputFile[]> {
  const files: InputFile[] = [];
  for (const seg of await listSegments(dir)) {
    files.push({ path: seg.path, gzip: false, size: (await stat(seg.path)).size });
  }
  return files;
}

/**
 * Resolves each named path, in the order given; everything found is read as one chain.
 * - `-`: standard input.
 * - A data directory (it has `journal/`): its journal segments, its `keys/` and its `checkpoints/`.
 * - A journal directory (it has segment files): its segments, and the parent's `keys/` if there is one and
 *   `checkpoints/`.
 * - Any other path: the file with its rotated siblings, and the checkpoints published beside it. The active file
 *   may be absent (just rotated away) as long as some rotated sibling exists.
 * Throws a `usage` VigilError for a path that resolves to nothing.
 */
export async function resolveInputs(paths: readonly string[]): Promise<ResolvedInputs> {
  const files: InputFile[] = [];
  const dataDirs: string[] = [];
  const checkpointDirs: string[] = [];
  for (const path of paths) {
    if (path === STDIN_PATH) {
      files.push({ path: STDIN_PATH, gzip: false, size: undefined });
      continue;
    }
    const st = await statOrUndefined(path);
    if (st?.isDirectory()) {
      const journal = journalDir(path);
      if ((await statOrUndefined(journal))?.isDirectory()) {
        dataDirs.push(path);
        checkpointDirs.push(checkpointsDir(path));
        files.push(...(await segmentFiles(journal)));
        continue;
      }
      const segments = await segmentFiles(path);
      // A journal with no segments yet is valid; any other directory without segments is a wrong path.
      if (segments.length === 0 && basename(path) !== "journal") {
        throw new VigilError(
          "usage",
          `${path} is neither a data directory (no journal/) nor a journal directory`,
        );
      }
      const parent = dirname(path);
      if ((await statOrUndefined(keysDir(parent)))?.isDirectory()) dataDirs.push(parent);
      checkpointDirs.push(checkpointsDir(parent));
      files.push(...segments);
      continue;
    }
    if (!(await statOrUndefined(dirname(path)))?.isDirectory()) {
      throw new VigilError("usage", `${path} does not exist`);
    }
    const set = await rotatedSet(path);
    if (set.length === 0)
      throw new VigilError("usage", `${path} does not exist (nor does any rotated ${path}.N)`);
    files.push(...set);
    checkpointDirs.push(publishedCheckpointsDir(path));
  }
  return { files, dataDirs, checkpointDirs };
}

async function* counted(stream: AsyncIterable<Buffer>, onBytes: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of stream) {
    onBytes(chunk.length);
    yield chunk;
  }
}

/**
 * Opens one input as a stream of Buffers. `onBytes` sees the bytes as stored (before decompression) so progress
 * can be measured against file sizes.
 */
export function openInput(
  file: InputFile,
  stdin: Readable,
  onBytes: (n: number) => void,
): AsyncIterable<Buffer> {
  if (file.path === STDIN_PATH) return counted(stdin, onBytes);
  const raw = createReadStream(file.path, { highWaterMark: 1 << 20 });
  if (!file.gzip) return counted(raw, onBytes);
  // Counting on the raw side: pipeline already consumes it through 'data' events, so a second listener only
  // observes. pipeline forwards a read error of the raw file to the gunzip stream, where the reader sees it.
  const out = pipeline(raw, createGunzip({ chunkSize: 1 << 18 }), () => {});
  raw.on("data", (chunk) => onBytes(chunk.length));
  return out;
}

/** Receives the lines of one input. Lines exclude the `\n`; they are views into read buffers, valid until return. */
export interface LineSink {
  /** `terminated` is false only for a last line that ends without `\n` (a possibly torn write). */
  line(line: Buffer, lineNumber: number, terminated: boolean): void;
  /** A line longer than the limit, skipped without being held in memory. */
  overlong(lineNumber: number, bytes: number, terminated: boolean): void;
}

/** No sealed record comes near this; a longer "line" is garbage (e.g. a binary file) and is not buffered. */
export const MAX_LINE_BYTES = 64 << 20;

/** Splits a stream of Buffers on `\n` and feeds the sink synchronously, one line at a time. */
export async function forEachLine(chunks: AsyncIterable<Buffer>, sink: LineSink): Promise<void> {
  // A line that spans chunks is collected in `carry` and joined once its end is seen.
  let carry: Buffer[] = [];
  let carryBytes = 0;
  let skipping = false;
  let lineNumber = 0;
  for await (const chunk of chunks) {
    let start = 0;
    let nl = chunk.indexOf(10);
    while (nl !== -1) {
      lineNumber++;
      if (skipping) {
        sink.overlong(lineNumber, carryBytes + nl, true);
        skipping = false;
      } else if (carryBytes > 0) {
        carry.push(chunk.subarray(0, nl));
        sink.line(Buffer.concat(carry, carryBytes + nl), lineNumber, true);
      } else {
        sink.line(chunk.subarray(start, nl), lineNumber, true);
      }
      carry = [];
      carryBytes = 0;
      start = nl + 1;
      nl = chunk.indexOf(10, start);
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      carryBytes += rest.length;
      if (skipping || carryBytes > MAX_LINE_BYTES) {
        skipping = true;
        carry = [];
      } else {
        carry.push(rest);
      }
    }
  }
  if (carryBytes > 0) {
    lineNumber++;
    if (skipping) sink.overlong(lineNumber, carryBytes, false);
    else sink.line(Buffer.concat(carry, carryBytes), lineNumber, false);
  }
}
