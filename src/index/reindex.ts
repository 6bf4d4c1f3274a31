/**
 * `vigil reindex`: builds the index afresh from the journal. The new index is written to a temporary file
 * beside the old one, checkpointed (no WAL left), and renamed over it, so readers see the old index or the new
 * one, never a half-built one. Run it with the server stopped (DuckDB locks the file it has open).
 */
import { rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { JournalReader } from "../journal/reader.ts";
import { listSegments } from "../journal/segment.ts";
import { fsyncDir } from "../util/fs.ts";
import { EventIndex } from "./store.ts";

export interface ReindexOptions {
  /** Records per transaction. */
  batchRecords?: number;
  /** Called after each batch with the newest sequence indexed. */
  progress?: (sequence: number) => void;
}

export interface ReindexResult {
  records: number;
  lastSequence: number;
}

const BATCH_BYTES = 64 * 1024 * 1024;

/** Rebuilds `indexPath` from every complete record of the journal in `journalDir`. */
export async function reindex(
  journalDir: string,
  indexPath: string,
  opts: ReindexOptions = {},
): Promise<ReindexResult> {
  const batchRecords = opts.batchRecords ?? 50_000;
  const tmp = join(dirname(indexPath), `.${basename(indexPath)}.reindex-${process.pid}`);
  await removeDatabase(tmp);
  const first = (await listSegments(journalDir))[0]?.firstSequence ?? 1;
  const reader = new JournalReader(journalDir, first);
  const index = await EventIndex.open(tmp);
  let records = 0;
  try {
    for (;;) {
      const batch = await reader.readAvailable(batchRecords, BATCH_BYTES);
      if (batch.lines.length === 0) break;
      records += await index.append(batch);
      opts.progress?.(batch.firstSequence + batch.lines.length - 1);
    }
    await index.checkpoint();
  } catch (e) {
    index.close();
    await reader.close();
    await removeDatabase(tmp);
    throw e;
  }
  const lastSequence = index.last?.sequence ?? 0;
  index.close();
  await reader.close();
  // The old index's WAL must not be replayed into the new file.
  await rm(`${indexPath}.wal`, { force: true });
  await rm(`${tmp}.wal`, { force: true });
  await rename(tmp, indexPath);
  await fsyncDir(dirname(indexPath));
  return { records, lastSequence };
}

async function removeDatabase(path: string): Promise<void> {
  await rm(path, { force: true });
  await rm(`${path}.wal`, { force: true });
}
