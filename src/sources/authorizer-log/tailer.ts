/**
 * Follows `kafka-authorizer.log` like `tail -F` and delivers its lines as events (issue 4, point 9), remembering
 * its position across restarts.
 *
 * Reading: complete lines only (a partial last line waits for its newline), at most `maxBatchLines` per batch,
 * polled with `stat` every `pollMs` while idle and read back to back while there is a backlog.
 *
 * Rotation:
 * - the path names another inode (rename rotation, `mv log log.1` then a new `log`; or delete and recreate),
 *   checked once the tailer has caught up: the open descriptor still reads the old file, so it is drained to its
 *   end first (lines the broker wrote after the rename are kept), then closed, and the new file is read from its
 *   start;
 * - the open file became shorter than the position, or its first line changed (copytruncate, or a truncation
 *   followed by more bytes than were read), checked before every read: the file is read again from its start.
 *   Lines written between the last read and the copy exist only in the copy — the window copytruncate itself
 *   has; and a rewrite that starts with the very same first line cannot be told from an append.
 * - a missing path (moved away, not yet recreated) keeps the old descriptor, which the broker may still write.
 *
 * Position: `stateFile` holds `{inode, fingerprint, offset}`, replaced atomically only after `deliver` resolved for
 * every line before `offset`, so delivery is at-least-once and never skips a line. The fingerprint identifies the
 * file's content (a hash of its first line, at most 1 KiB), since an inode number is reused once a file is
 * deleted. At start: the file at `path` with the same inode and fingerprint resumes at the offset; otherwise a
 * sibling with that inode and fingerprint (`kafka-authorizer.log.1`, rotated while Vigil was down) is drained from
 * the offset first; every other file is read from its start — a file the state does not describe is new to the
 * tailer, and reading it whole loses nothing (a file read before is de-duplicated by its event ids, below).
 *
 * Event ids: `kafkalog_<inode>_<fingerprint>_<offset of the line>`, the same on every read of the same line, so
 * the server answers a re-delivery after a crash with the original sequence number instead of sealing it twice.
 * Unparsed lines become `kafka.log_unparsed` events; ignored lines are only counted.
 */
import { createHash } from "node:crypto";
import { type FileHandle, open, readdir, readFile, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { InputEvent } from "../../event/schema.ts";
import { type BackoffOptions, backoffDelay, sleep } from "../../pipeline/retry.ts";
import { unlessAborted } from "../../util/abort.ts";
import { writeFileAtomic } from "../../util/fs.ts";
import { MAX_LINE_CHARS, parseLine, unparsedEvent } from "./parse.ts";

export interface TailerOptions {
  path: string;
  stateFile: string;
  /** Resolves once the events are durable; a rejection is retried with backoff, the position held. */
  deliver: (events: InputEvent[]) => Promise<void>;
  pollMs?: number;
  maxBatchLines?: number;
  /** IANA zone of the broker's log timestamps (see ParseOptions). */
  timeZone?: string;
  log: (msg: string) => void;
  backoff?: BackoffOptions;
}

export interface TailerStatus {
  path: string;
  /** Inode of the file being read (decimal), absent until one is open. */
  inode?: string;
  /** Byte offset after the last delivered line of that file. */
  position: number;
  linesRead: number;
  events: number;
  unparsed: number;
  ignored: number;
  rotations: number;
  deliveryFailures: number;
  lastError?: string;
}

interface SavedState {
  inode: string;
  fingerprint: string;
  offset: number;
}

interface TailedFile {
  fh: FileHandle;
  ino: bigint;
  /** Hash of the first line (≤ 1 KiB); undefined while the file holds neither a newline nor 1 KiB. */
  fingerprint: string | undefined;
  offset: number;
}

interface Line {
  offset: number;
  text: string;
}

/** Real lines are far below 1 KiB, so the fingerprint is the whole first line, timestamp and all. */
const FINGERPRINT_BYTES = 1024;
const CHUNK_BYTES = 64 * 1024;
/**
 * Bytes of one line kept in memory. Decoded, they are always more than MAX_LINE_CHARS characters, so the parser
 * classifies the cut line as it would the whole one, and a line without an end cannot exhaust memory.
 */
const LINE_BYTES_KEPT = 4 * MAX_LINE_CHARS;

export class AuthorizerLogTailer {
  readonly #opts: Required<Omit<TailerOptions, "timeZone">> & Pick<TailerOptions, "timeZone">;
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #file: TailedFile | undefined;
  #linesRead = 0;
  #events = 0;
  #unparsed = 0;
  #ignored = 0;
  #rotations = 0;
  #failures = 0;
  #lastError: string | undefined;

  constructor(opts: TailerOptions) {
    this.#opts = { pollMs: 250, maxBatchLines: 1000, backoff: { initialMs: 100, maxMs: 30_000 }, ...opts };
    // An unknown zone is a configuration error: refuse it here rather than on the first line.
    parseLine("", this.#opts.timeZone === undefined ? undefined : { timeZone: this.#opts.timeZone });
  }

  /** Reads the saved position and starts following in the background. */
  async start(): Promise<void> {
    if (this.#loop || this.#stopping) return;
    const saved = await this.#loadState();
    this.#loop = this.#run(saved);
  }

  /** Stops after the read in flight; a delivery in flight is abandoned (re-delivered at the next start). */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#abort.abort();
      await this.#loop;
      await this.#file?.fh.close();
      this.#file = undefined;
    })();
    return this.#stopping;
  }

  status(): TailerStatus {
    return {
      path: this.#opts.path,
      ...(this.#file ? { inode: this.#file.ino.toString() } : {}),
      position: this.#file?.offset ?? 0,
      linesRead: this.#linesRead,
      events: this.#events,
      unparsed: this.#unparsed,
      ignored: this.#ignored,
      rotations: this.#rotations,
      deliveryFailures: this.#failures,
      ...(this.#lastError === undefined ? {} : { lastError: this.#lastError }),
    };
  }

  async #run(saved: SavedState | undefined): Promise<void> {
    const signal = this.#abort.signal;
    let errors = 0;
    while (!signal.aborted) {
      let wait: number;
      try {
        if (saved) {
          await this.#resume(saved);
          saved = undefined;
        }
        wait = (await this.#step()) ? 0 : this.#opts.pollMs;
        errors = 0;
      } catch (e) {
        // An I/O error (the state file cannot be written, the log cannot be read): the position in memory only
        // moves after the state was written, so trying again later re-reads from a right place.
        this.#error((e as Error).message);
        wait = backoffDelay(errors++, this.#opts.backoff);
      }
      if (wait > 0) await sleep(wait, signal);
    }
  }

  /** One unit of work; false when there was nothing to do, so the loop waits a poll interval. */
  async #step(): Promise<boolean> {
    const file = this.#file ?? (await this.#openPath());
    if (!file) return false;
    // Checked before every read: reading a rewritten file at the old position would start mid-line.
    if (await this.#truncated(file)) {
      this.#rotations++;
      this.#opts.log(`${this.#opts.path}: truncated at ${file.offset} bytes, reading again from the start`);
      file.offset = 0;
      file.fingerprint = undefined;
      return true;
    }
    if (await this.#readBatch(file)) return true;
    if (this.#abort.signal.aborted) return false;
    // Caught up: only now look for a rotation, so the old file is always read to its end first.
    let current: { ino: bigint };
    try {
      current = await stat(this.#opts.path, { bigint: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw e;
    }
    if (current.ino === file.ino) return false;
    // The broker may have written to the old file between the read above and the rename.
    while (!this.#abort.signal.aborted && (await this.#readBatch(file))) {}
    if (this.#abort.signal.aborted) return false;
    this.#rotations++;
    this.#opts.log(`${this.#opts.path}: rotated (inode ${file.ino} → ${current.ino}), reading the new file`);
    await file.fh.close();
    this.#file = undefined;
    return true;
  }

  /** Whether the file became shorter than the position, or its first line is no longer the fingerprinted one. */
  async #truncated(file: TailedFile): Promise<boolean> {
    const { size } = await file.fh.stat();
    if (size < file.offset) return true;
    return file.fingerprint !== undefined && (await fingerprintOf(file.fh)) !== file.fingerprint;
  }

  async #openPath(): Promise<TailedFile | undefined> {
    let fh: FileHandle;
    try {
      fh = await open(this.#opts.path, "r");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return undefined;
      // Permissions may be fixed while Vigil runs: report once, keep polling.
      this.#error(`cannot open ${this.#opts.path}: ${(e as Error).message}`);
      return undefined;
    }
    const { ino } = await fh.stat({ bigint: true });
    this.#file = { fh, ino, fingerprint: await fingerprintOf(fh), offset: 0 };
    this.#lastError = undefined;
    return this.#file;
  }

  /** Positions the tailer where the saved state says, if that file is still there (see the header). */
  async #resume(saved: SavedState): Promise<void> {
    const dir = dirname(this.#opts.path);
    const base = basename(this.#opts.path);
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith(base));
    // The path itself first; a sibling only when the path holds another file.
    names.sort((a, b) => (a === base ? -1 : b === base ? 1 : a.localeCompare(b)));
    for (const name of names) {
      const path = join(dir, name);
      const st = await stat(path, { bigint: true }).catch(() => undefined);
      if (!st?.isFile() || st.ino.toString() !== saved.inode || st.size < BigInt(saved.offset)) continue;
      const fh = await open(path, "r").catch(() => undefined);
      if (!fh) continue;
      const fingerprint = await fingerprintOf(fh);
      if (fingerprint === saved.fingerprint) {
        this.#file = { fh, ino: st.ino, fingerprint, offset: saved.offset };
        if (name !== base) this.#opts.log(`${this.#opts.path}: finishing ${path}, rotated while stopped`);
        return;
      }
      await fh.close();
    }
  }

  /** Reads, delivers and commits one batch; false when no complete line was waiting (or when stopped). */
  async #readBatch(file: TailedFile): Promise<boolean> {
    const { lines, end } = await this.#readLines(file);
    if (lines.length === 0) return false;
    file.fingerprint ??= await fingerprintOf(file.fh);
    const id = `kafkalog_${file.ino}_${file.fingerprint}`;
    const events: InputEvent[] = [];
    let unparsed = 0;
    let ignored = 0;
    const options = this.#opts.timeZone === undefined ? undefined : { timeZone: this.#opts.timeZone };
    for (const line of lines) {
      const parsed = parseLine(line.text, options);
      if (parsed.kind === "ignored") {
        ignored++;
        continue;
      }
      let event: InputEvent;
      if (parsed.kind === "event") event = parsed.event;
      else {
        unparsed++;
        const { raw, reason, timestamp } = parsed;
        event = unparsedEvent(timestamp === undefined ? { raw, reason } : { raw, reason, timestamp });
      }
      events.push({ ...event, event_id: `${id}_${line.offset}` });
    }
    if (events.length > 0 && !(await this.#deliver(events))) return false;
    await writeFileAtomic(
      this.#opts.stateFile,
      `${JSON.stringify({ inode: file.ino.toString(), fingerprint: file.fingerprint, offset: end })}\n`,
    );
    file.offset = end;
    this.#linesRead += lines.length;
    this.#events += events.length;
    this.#unparsed += unparsed;
    this.#ignored += ignored;
    return true;
  }

  /** Complete lines from the file's offset, and the offset after the last of them. */
  async #readLines(file: TailedFile): Promise<{ lines: Line[]; end: number }> {
    const lines: Line[] = [];
    const buf = Buffer.allocUnsafe(CHUNK_BYTES);
    let lineStart = file.offset;
    let parts: Buffer[] = [];
    let kept = 0;
    let pos = file.offset;
    while (lines.length < this.#opts.maxBatchLines) {
      const { bytesRead } = await file.fh.read(buf, 0, CHUNK_BYTES, pos);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      let from = 0;
      while (from < bytesRead && lines.length < this.#opts.maxBatchLines) {
        const nl = chunk.indexOf(10, from);
        const stop = nl === -1 ? bytesRead : nl;
        const take = Math.min(stop - from, LINE_BYTES_KEPT - kept);
        if (take > 0) {
          parts.push(Buffer.from(chunk.subarray(from, from + take)));
          kept += take;
        }
        if (nl === -1) {
          from = bytesRead;
          break;
        }
        lines.push({ offset: lineStart, text: Buffer.concat(parts).toString("utf8") });
        parts = [];
        kept = 0;
        from = nl + 1;
        lineStart = pos + from;
      }
      pos += from;
    }
    return { lines, end: lineStart };
  }

  /** Delivers with retries, never advancing meanwhile; false when stopped first. */
  async #deliver(events: InputEvent[]): Promise<boolean> {
    const signal = this.#abort.signal;
    for (let attempt = 0; ; attempt++) {
      try {
        // Tagged: `deliver` resolves with nothing, as the wait does once stopped.
        const delivery = this.#opts.deliver(events).then(() => "delivered" as const);
        // Once stopped, the abandoned delivery's outcome is of no interest. Nothing of this wait outlives it.
        if ((await unlessAborted(delivery, signal)) === undefined) return false;
        if (this.#lastError !== undefined) this.#opts.log(`${this.#opts.path}: delivering again`);
        this.#lastError = undefined;
        return true;
      } catch (e) {
        this.#failures++;
        this.#error(`delivery failed, retrying: ${(e as Error).message}`);
        if (!(await sleep(backoffDelay(attempt, this.#opts.backoff), signal))) return false;
      }
    }
  }

  async #loadState(): Promise<SavedState | undefined> {
    let text: string;
    try {
      text = await readFile(this.#opts.stateFile, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
    try {
      const s = JSON.parse(text) as Partial<SavedState>;
      if (
        typeof s.inode === "string" &&
        typeof s.fingerprint === "string" &&
        Number.isSafeInteger(s.offset) &&
        (s.offset as number) >= 0
      )
        return s as SavedState;
    } catch {
      // Reported below like any other unreadable content.
    }
    // Reading from the start re-delivers lines the server de-duplicates by event id; nothing is skipped.
    this.#opts.log(`${this.#opts.stateFile}: not a tailer state, reading ${this.#opts.path} from its start`);
    return undefined;
  }

  /** Logs an error once, not on every poll that meets it again. */
  #error(message: string): void {
    if (message !== this.#lastError) this.#opts.log(`${this.#opts.path}: ${message}`);
    this.#lastError = message;
  }
}

/**
 * 16 hex digits of SHA-256 over the first line (with its newline, at most FINGERPRINT_BYTES): stable once written,
 * since the file only grows. Undefined while the file holds neither a newline nor FINGERPRINT_BYTES.
 */
async function fingerprintOf(fh: FileHandle): Promise<string | undefined> {
  const buf = Buffer.alloc(FINGERPRINT_BYTES);
  const { bytesRead } = await fh.read(buf, 0, FINGERPRINT_BYTES, 0);
  const nl = buf.subarray(0, bytesRead).indexOf(10);
  const length = nl === -1 ? bytesRead : nl + 1;
  if (nl === -1 && bytesRead < FINGERPRINT_BYTES) return undefined;
  return createHash("sha256").update(buf.subarray(0, length)).digest("hex").slice(0, 16);
}
