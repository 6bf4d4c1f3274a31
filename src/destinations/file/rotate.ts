/**
 * logrotate-style rotation of the file destination's output: the active file `path`, rotated files `path.1`
 * (newest) … `path.N` (oldest), each optionally gzipped as `path.K.gz`.
 *
 * Crash safety rests on two rules. (1) Every rename moves a file onto a name that is free, and the directory is
 * fsynced after each step, so whatever prefix of a rotation survives a crash, no record is overwritten: at worst
 * an index is skipped (a gap), which the next rotation shifts around. (2) Compression never replaces its input
 * until its output is complete and durable: `path.1.gz.tmp` is written and fsynced, renamed to `path.1.gz`, and
 * only then is `path.1` unlinked. `recoverRotated` repairs the two states a crash can leave behind.
 */
import { createReadStream } from "node:fs";
import { open, readdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip, createGzip } from "node:zlib";
import { fsyncDir } from "../../util/fs.ts";

const GZ = ".gz";
const TMP = ".tmp";

export interface RotatedFile {
  /** 1 for the newest rotated file. */
  index: number;
  path: string;
  compressed: boolean;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Rotated siblings of `path` (and stray compression temporaries), by index, then plain before gzipped. */
async function scan(path: string): Promise<{ rotated: RotatedFile[]; temporaries: string[] }> {
  const dir = dirname(path);
  const pattern = new RegExp(`^${escapeRegExp(basename(path))}\\.([1-9]\\d*)(\\.gz)?(\\.tmp)?$`);
  const rotated: RotatedFile[] = [];
  const temporaries: string[] = [];
  for (const name of await readdir(dir)) {
    const m = pattern.exec(name);
    if (!m?.[1]) continue;
    if (m[3]) temporaries.push(join(dir, name));
    else rotated.push({ index: Number(m[1]), path: join(dir, name), compressed: m[2] !== undefined });
  }
  rotated.sort((a, b) => a.index - b.index || Number(a.compressed) - Number(b.compressed));
  return { rotated, temporaries };
}

/** The rotated files of `path`, newest first. */
async function listRotated(path: string): Promise<RotatedFile[]> {
  return (await scan(path)).rotated;
}

/**
 * Repairs what a crash during compression leaves: stray `.gz.tmp` files are deleted (their input is intact),
 * and where both `path.K` and `path.K.gz` exist the plain one is deleted (the `.gz` was complete and fsynced
 * before it got its name). Returns the rotated files afterwards, newest first.
 */
export async function recoverRotated(path: string, log: (msg: string) => void): Promise<RotatedFile[]> {
  const { rotated, temporaries } = await scan(path);
  for (const tmp of temporaries) {
    await rm(tmp, { force: true });
    log(`removed ${tmp}, left by an interrupted compression`);
  }
  const kept: RotatedFile[] = [];
  for (const file of rotated) {
    const twin = kept.at(-1);
    if (file.compressed && twin?.index === file.index && !twin.compressed) {
      await rm(twin.path, { force: true });
      log(`removed ${twin.path}: ${file.path} already holds it compressed`);
      kept[kept.length - 1] = file;
    } else {
      kept.push(file);
    }
  }
  if (temporaries.length > 0 || kept.length < rotated.length) await fsyncDir(dirname(path));
  return kept;
}

async function renameDurably(from: string, to: string): Promise<void> {
  await rename(from, to);
  await fsyncDir(dirname(to));
}

/**
 * Moves the active file out of the way: deletes rotated files that would end up beyond `maxFiles`, shifts
 * `path.K[.gz]` to `path.(K+1)[.gz]` from the oldest down, then renames `path` to `path.1`, which it returns.
 * `maxFiles` is at least 1 (the config schema's minimum). The caller must have closed `path` and must not run
 * this concurrently with a compression of `path.1`.
 */
export async function rotateFiles(path: string, maxFiles: number): Promise<string> {
  const dir = dirname(path);
  const rotated = await listRotated(path);
  const beyond = rotated.filter((f) => f.index >= maxFiles);
  for (const file of beyond) await rm(file.path, { force: true });
  if (beyond.length > 0) await fsyncDir(dir);
  const shifting = rotated.filter((f) => f.index < maxFiles).reverse();
  for (const file of shifting) {
    await renameDurably(
      file.path,
      join(dir, `${basename(path)}.${file.index + 1}${file.compressed ? GZ : ""}`),
    );
  }
  const newest = `${path}.1`;
  await renameDurably(path, newest);
  return newest;
}

/** gzips `plain` into `plain.gz` (mode 0600) and then deletes `plain`; see the module comment for the order. */
export async function compressRotated(plain: string): Promise<void> {
  const target = plain + GZ;
  const tmp = target + TMP;
  await rm(tmp, { force: true });
  const out = await open(tmp, "wx", 0o600);
  try {
    await pipeline(createReadStream(plain), createGzip(), async (gzipped: AsyncIterable<Buffer>) => {
      for await (const chunk of gzipped) await out.writeFile(chunk);
    });
    await out.sync();
  } catch (e) {
    await out.close().catch(() => {});
    await rm(tmp, { force: true });
    throw e;
  }
  await out.close();
  await renameDurably(tmp, target);
  await rm(plain);
  await fsyncDir(dirname(plain));
}

/**
 * The last `\n`-terminated line of a gzipped file, streamed so that only one line is held in memory. Bytes
 * after the last newline are ignored (rotated files end on a complete line).
 */
export async function lastLineOfGzip(path: string): Promise<Buffer | undefined> {
  let last: Buffer | undefined;
  let partial: Buffer[] = [];
  await pipeline(createReadStream(path), createGunzip(), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) {
      const end = chunk.lastIndexOf(0x0a);
      if (end < 0) {
        partial.push(chunk);
        continue;
      }
      const start = end === 0 ? -1 : chunk.lastIndexOf(0x0a, end - 1);
      last = start < 0 ? Buffer.concat([...partial, chunk.subarray(0, end)]) : chunk.subarray(start + 1, end);
      partial = [chunk.subarray(end + 1)];
    }
  });
  return last;
}
