/**
 * Durable per-consumer cursors: `<data-dir>/cursors/<name>.json` holds the last sequence the consumer's
 * destination confirmed, and where the next record starts in the journal. Written atomically (tmp + fsync +
 * rename), so a crash leaves the old or the new cursor, never a torn one. A stale cursor only means some records
 * are delivered again (at-least-once); it never skips one.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ensureDir, writeFileAtomic } from "../util/fs.ts";
import type { JournalPosition } from "./reader.ts";

export interface Cursor {
  name: string;
  /** Last sequence delivered and confirmed by the destination (0: none). */
  sequence: number;
  position?: JournalPosition;
  updatedAt: string;
}

export class CursorStore {
  readonly #dir: string;

  constructor(dataDir: string) {
    this.#dir = join(dataDir, "cursors");
  }

  #path(name: string): string {
    const safe = name.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 64);
    const digest = createHash("sha256").update(name).digest("hex").slice(0, 12);
    return join(this.#dir, `${safe}-${digest}.json`);
  }

  async load(name: string): Promise<Cursor | undefined> {
    try {
      const c = JSON.parse(await readFile(this.#path(name), "utf8")) as Cursor;
      return c.name === name && Number.isSafeInteger(c.sequence) ? c : undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  async save(cursor: Omit<Cursor, "updatedAt">): Promise<void> {
    await ensureDir(this.#dir);
    const body: Cursor = { ...cursor, updatedAt: new Date().toISOString() };
    await writeFileAtomic(this.#path(cursor.name), `${JSON.stringify(body)}\n`);
  }
}
