/**
 * The `type: file` destination of spec/000: sealed record lines appended to one file, each batch durable
 * (fdatasync) before `deliver` resolves, optionally rotated and gzipped (rotate.ts).
 *
 * Exactly once across crashes: the file itself says what it holds. `start` reads the sequence number of its last
 * complete line (or of the newest rotated file's, when the active file is empty), after cutting off a torn line a
 * crash left mid-write, and `deliver` skips every line at or below that sequence. After a failed write the file
 * is cut back to the last size known to end on a complete line before anything else is appended, so a torn line
 * never ends up in the middle of the file.
 *
 * `format:` other than native writes each record's encoding (formats/encoder.ts) as one line instead. Every
 * encoding carries the integrity block, so `start` reads the sequence and signature back from it just the same.
 * A record the format cannot represent (Kubernetes, for an event not from Kubernetes) is skipped: counted in
 * `skippedRecords` and logged, never written as a stand-in.
 */
import { type FileHandle, open, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { type EncoderOptions, integrityOfEncodedLine } from "../../formats/encoder.ts";
import { publishedCheckpointsDir, writeCheckpointNote } from "../../integrity/log-layout.ts";
import { ensureDir, fsyncDir } from "../../util/fs.ts";
import { VIGIL_VERSION } from "../../version.ts";
import {
  DeliveryError,
  type Destination,
  type DestinationStatus,
  type RecordBatch,
  type RecordRef,
} from "../destination.ts";
import { RecordEncoding } from "../encoding.ts";
import type { FileDestinationConfig } from "./config.ts";
import { compressRotated, lastLineOfGzip, type RotatedFile, recoverRotated, rotateFiles } from "./rotate.ts";

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
/** How much of a file's end is read at a time while looking for its last line. */
const TAIL_CHUNK = 1024 * 1024;
const NEWLINE = 0x0a;
/** errno codes that trying again cannot fix. Anything else (ENOSPC, EIO, EDQUOT, EMFILE, …) may clear up. */
const PERMANENT_CODES = new Set(["EACCES", "EPERM", "EROFS", "ENOTDIR", "EISDIR", "ENAMETOOLONG", "ELOOP"]);

function errorCode(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

export class FileDestination implements Destination {
  readonly name: string;
  readonly #config: FileDestinationConfig;
  readonly #log: (msg: string) => void;
  /** For formats other than native (whose sealed record lines are written as they are, unparsed). */
  readonly #encoding: RecordEncoding;
  #started = false;
  /** The active file, opened for append; undefined before start, after stop, and while a rotation is under way. */
  #fh: FileHandle | undefined;
  /** Size of the active file up to the end of its last complete line: what a failed write is cut back to. */
  #goodSize = 0;
  /** A write or sync failed: the file may hold part of a batch beyond `#goodSize`. */
  #dirty = false;
  /** Highest sequence number the files hold; undefined while unknown (nothing written yet, or unreadable). */
  #lastSequence: number | undefined;
  /** The newest record found at start, reported to the consumer. */
  #lastAtStart: RecordRef | undefined;
  /** Background gzip of `path.1`. Never rejects; a rotation waits for it so its renames never race it. */
  #compression: Promise<void> | undefined;

  /**
   * `log` receives warnings, repairs (torn line cut, stray temporary removed) and skipped records; stderr by
   * default. `encoderOptions` name the product version and log origin the encodings carry.
   */
  constructor(
    config: FileDestinationConfig,
    log: (msg: string) => void = (msg) => process.stderr.write(`${msg}\n`),
    encoderOptions: EncoderOptions = { productVersion: VIGIL_VERSION },
  ) {
    this.name = config.name;
    this.#config = config;
    this.#log = log;
    this.#encoding = new RecordEncoding(config.format, encoderOptions, (msg) => this.#note(msg));
  }

  /** Records skipped since this destination was created because its format cannot represent them. */
  get skippedRecords(): number {
    return this.#encoding.skipped;
  }

  status(): DestinationStatus {
    return { skippedRecords: this.#encoding.skipped };
  }

  async start(): Promise<{ last?: RecordRef }> {
    const { path, rotation } = this.#config;
    await this.#prepareDirectory();
    const rotated = await this.#io("recover rotated files of", path, () =>
      recoverRotated(path, (msg) => this.#note(msg)),
    );
    const { line } = await this.#openActive();
    this.#started = true;
    const newest = rotated[0];
    if (line !== undefined) {
      this.#lastAtStart = this.#recordOf(line, path);
    } else if (newest !== undefined) {
      this.#lastAtStart = this.#recordOf(await this.#lastLineOfRotated(newest), newest.path);
    }
    this.#lastSequence = this.#lastAtStart?.sequence;
    // A plain path.1 under compress: true is a compression a crash (or a failure) interrupted: redo it.
    if (rotation?.compress && newest?.index === 1 && !newest.compressed)
      this.#compressInBackground(newest.path);
    return this.#lastAtStart === undefined ? {} : { last: this.#lastAtStart };
  }

  async deliver(batch: RecordBatch): Promise<void> {
    if (!this.#started) throw new DeliveryError(`file destination "${this.name}" is not started`, false);
    const path = this.#config.path;
    const fh = await this.#rotateIfFull(await this.#handle());
    const last = this.#lastSequence;
    const skip = last === undefined ? 0 : Math.max(0, last - batch.firstSequence + 1);
    if (skip < batch.lines.length) {
      const lines = this.#encoded(
        skip === 0 ? batch.lines : batch.lines.slice(skip),
        batch.firstSequence + skip,
      );
      if (lines.length > 0) {
        const data = joinLines(lines);
        this.#dirty = true;
        await this.#io("write", path, async () => {
          await writeAll(fh, data);
          await fh.datasync();
        });
        this.#dirty = false;
        this.#goodSize += data.length;
      }
      this.#lastSequence = batch.firstSequence + batch.lines.length - 1;
    }
    await this.#rotateIfFull(fh);
  }

  /** Writes the checkpoint to `<path>.checkpoints/<size>.note` (atomically, 0600), where `vigil verify` looks. */
  async publishCheckpoint(checkpoint: { size: number; note: string }): Promise<void> {
    const dir = publishedCheckpointsDir(this.#config.path);
    await this.#io("write checkpoint into", dir, () =>
      writeCheckpointNote(dir, checkpoint.size, checkpoint.note),
    );
  }

  async stop(): Promise<void> {
    await this.#compression;
    this.#compression = undefined;
    this.#started = false;
    const fh = this.#fh;
    this.#fh = undefined;
    if (fh !== undefined) await this.#io("close", this.#config.path, () => fh.close());
  }

  /** Creates a missing parent directory 0700; an existing one is left alone but a loose mode is reported. */
  async #prepareDirectory(): Promise<void> {
    const dir = dirname(this.#config.path);
    const st = await stat(dir).catch((e: unknown) => {
      if (errorCode(e) !== "ENOENT") throw this.#error("inspect directory", dir, e);
      return undefined;
    });
    if (st === undefined) {
      await this.#io("create directory", dir, async () => {
        await ensureDir(dir, DIR_MODE);
        await fsyncDir(dirname(dir));
      });
      return;
    }
    if (!st.isDirectory()) {
      throw new DeliveryError(`file destination "${this.name}": ${dir} is not a directory (ENOTDIR)`, false);
    }
    if ((st.mode & 0o022) !== 0) {
      this.#note(
        `warning: ${dir} is group- or world-writable (mode ${(st.mode & 0o7777).toString(8)}); ` +
          "other users could delete or replace the audit files",
      );
    }
  }

  /**
   * Opens (creating 0600) the active file for append, cuts a torn last line off it, and returns its last
   * complete line. Sets `#fh` and `#goodSize`.
   */
  async #openActive(): Promise<{ fh: FileHandle; line: Buffer | undefined }> {
    const path = this.#config.path;
    const fh = await this.#io("open", path, () => open(path, "a+", FILE_MODE));
    try {
      const st = await fh.stat();
      if ((st.mode & 0o077) !== 0) {
        await fh.chmod(FILE_MODE);
        this.#note(`tightened ${path} from mode ${(st.mode & 0o777).toString(8)} to 600`);
      }
      // The file's name must survive a crash before records are acknowledged as written into it.
      await fsyncDir(dirname(path));
      const { end, line } = await lastCompleteLine(fh, st.size);
      if (end < st.size) {
        await fh.truncate(end);
        await fh.datasync();
        this.#note(
          `cut a torn last line (${st.size - end} bytes, a write interrupted by a crash) off ${path}`,
        );
      }
      this.#fh = fh;
      this.#goodSize = end;
      this.#dirty = false;
      return { fh, line };
    } catch (e) {
      await fh.close().catch(() => {});
      throw this.#error("open", path, e);
    }
  }

  /** The active file's handle, reopened if a failed rotation closed it, and cut back after a failed write. */
  async #handle(): Promise<FileHandle> {
    const fh = this.#fh ?? (await this.#openActive()).fh;
    if (this.#dirty) {
      await this.#io("truncate", this.#config.path, async () => {
        await fh.truncate(this.#goodSize);
        await fh.datasync();
      });
      this.#dirty = false;
    }
    return fh;
  }

  /**
   * Rotates once the active file has reached `maxSizeBytes`; returns the handle to append to. If a step fails,
   * the active file is left closed; the next delivery reopens whichever file is then at `path` and, if it is
   * still full, rotates again (rotateFiles copes with the gap a half-done shift leaves).
   */
  async #rotateIfFull(fh: FileHandle): Promise<FileHandle> {
    const rotation = this.#config.rotation;
    if (rotation === undefined || this.#goodSize < rotation.maxSizeBytes) return fh;
    const path = this.#config.path;
    await this.#compression;
    this.#fh = undefined;
    await this.#io("close", path, () => fh.close());
    const newest = await this.#io("rotate", path, () => rotateFiles(path, rotation.maxFiles));
    if (rotation.compress) this.#compressInBackground(newest);
    return (await this.#openActive()).fh;
  }

  #compressInBackground(plain: string): void {
    this.#compression = compressRotated(plain).catch((e: unknown) => {
      this.#note(
        `warning: could not compress ${plain} (${errorCode(e) ?? String(e)}); it stays uncompressed`,
      );
    });
  }

  async #lastLineOfRotated(file: RotatedFile): Promise<Buffer | undefined> {
    if (!file.compressed) {
      return this.#io("read", file.path, async () => {
        const fh = await open(file.path, "r");
        try {
          return (await lastCompleteLine(fh, (await fh.stat()).size)).line;
        } finally {
          await fh.close();
        }
      });
    }
    try {
      return await lastLineOfGzip(file.path);
    } catch (e) {
      // zlib's codes (Z_DATA_ERROR, Z_BUF_ERROR) mean damaged content: retrying would not help, and refusing to
      // start would stop the audit trail, so only the duplicate protection is lost.
      if (!errorCode(e)?.startsWith("Z_")) throw this.#error("read", file.path, e);
      this.#note(`warning: ${file.path} is not valid gzip (${errorCode(e)})`);
      return undefined;
    }
  }

  /** The lines to write for `lines` (sequences from `first`): encoded, minus those the format cannot represent. */
  #encoded(lines: readonly Buffer[], first: number): readonly Buffer[] {
    if (this.#config.format === "native") return lines;
    return this.#encoding
      .encode({ firstSequence: first, lines: lines as Buffer[] })
      .map((r) => Buffer.from(r.text, "utf8"));
  }

  #recordOf(line: Buffer | undefined, source: string): RecordRef | undefined {
    if (line === undefined) return undefined;
    const integrity = integrityOfEncodedLine(this.#config.format, line);
    if (integrity !== undefined)
      return { sequence: integrity.sequence_number, signature: integrity.signature };
    this.#note(
      `warning: the last line of ${source} is not a sealed record in the ${this.#config.format} format; ` +
        "resuming from the consumer's cursor, which may repeat records already in the file",
    );
    return undefined;
  }

  async #io<T>(what: string, path: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw this.#error(what, path, e);
    }
  }

  #error(what: string, path: string, e: unknown): DeliveryError {
    if (e instanceof DeliveryError) return e;
    const code = errorCode(e) ?? "unknown error";
    return new DeliveryError(
      `file destination "${this.name}": ${what} ${path} failed: ${code}`,
      !PERMANENT_CODES.has(code),
      { cause: e },
    );
  }

  #note(msg: string): void {
    this.#log(`file destination "${this.name}": ${msg}`);
  }
}

/** The lines, each followed by a newline, in one buffer so a batch is one write. */
function joinLines(lines: readonly Buffer[]): Buffer {
  let size = 0;
  for (const line of lines) size += line.length + 1;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const line of lines) {
    at += line.copy(out, at);
    out[at++] = NEWLINE;
  }
  return out;
}

/** Appends all of `data`: a regular-file write may be short (e.g. just before ENOSPC). */
async function writeAll(fh: FileHandle, data: Buffer): Promise<void> {
  let at = 0;
  while (at < data.length) {
    const { bytesWritten } = await fh.write(data, at, data.length - at, null);
    at += bytesWritten;
  }
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

/**
 * Finds the last `\n`-terminated line of a file by reading backwards from its end, chunk by chunk, so only the
 * tail (the torn remainder, if any, and the last line) is read. `end` is the offset just past that line's
 * newline (0 when the file has no complete line); `line` excludes the newline.
 */
async function lastCompleteLine(fh: FileHandle, size: number): Promise<{ end: number; line?: Buffer }> {
  let end: number | undefined;
  const parts: Buffer[] = [];
  let pos = size;
  while (pos > 0) {
    const from = Math.max(0, pos - TAIL_CHUNK);
    const chunk = await readAt(fh, from, pos - from);
    pos = from;
    let upto = chunk.length;
    if (end === undefined) {
      const nl = chunk.lastIndexOf(NEWLINE);
      if (nl < 0) continue;
      end = from + nl + 1;
      upto = nl;
    }
    // lastIndexOf with a negative offset would count from the end, hence the guard.
    const start = upto === 0 ? -1 : chunk.lastIndexOf(NEWLINE, upto - 1);
    parts.unshift(chunk.subarray(start + 1, upto));
    if (start >= 0) break;
  }
  return end === undefined ? { end: 0 } : { end, line: Buffer.concat(parts) };
}
