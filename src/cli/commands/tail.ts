/**
 * `vigil tail`: prints the newest sealed records of the journal as NDJSON and, with -f, follows new ones. The
 * journal reader is loaded only when the command runs.
 */
import { resolve } from "node:path";
import { Command } from "commander";
import { DEFAULT_DATA_DIR } from "../../config/types.ts";
import { usage } from "../common.ts";

/** Sequence number of the newest complete record in the journal, 0 when it is empty. */
async function lastSequence(dir: string): Promise<number> {
  const { listSegments } = await import("../../journal/segment.ts");
  const { readLastLine } = await import("../../journal/recovery.ts");
  const { parseRecord } = await import("../../integrity/chain.ts");
  const segments = await listSegments(dir);
  for (let i = segments.length - 1; i >= 0; i--) {
    const seg = segments[i];
    if (!seg) continue;
    const line = await readLastLine(seg.path);
    if (line === undefined) continue;
    const parsed = parseRecord(line);
    if (parsed.ok) return parsed.record.integrity.sequence_number;
  }
  return 0;
}

export function tailCommand(): Command {
  return new Command("tail")
    .description("print the newest sealed records from the journal (NDJSON), and follow new ones with -f")
    .option("-d, --data-dir <dir>", "data directory", DEFAULT_DATA_DIR)
    .option("-n, --lines <n>", "how many of the newest records to print first", "10")
    .option("-f, --follow", "keep printing records as they are sealed")
    .option("--poll-ms <ms>", "how often to look for new records when following", "200")
    .action(async (opts: { dataDir: string; lines: string; follow?: boolean; pollMs: string }) => {
      const n = Number(opts.lines);
      const pollMs = Number(opts.pollMs);
      if (!Number.isSafeInteger(n) || n < 0) throw usage(`--lines must be a whole number, not ${opts.lines}`);
      if (!Number.isFinite(pollMs) || pollMs < 10) throw usage("--poll-ms must be at least 10");
      const { journalDir, listSegments } = await import("../../journal/segment.ts");
      const { JournalReader } = await import("../../journal/reader.ts");
      const { sleep } = await import("../../pipeline/retry.ts");
      const dir = journalDir(resolve(opts.dataDir));
      const last = await lastSequence(dir);
      if (last === 0 && !opts.follow) return;
      const reader = new JournalReader(dir, Math.max(1, last - n + 1));
      const stop = new AbortController();
      process.once("SIGINT", () => stop.abort());
      process.once("SIGTERM", () => stop.abort());
      try {
        for (;;) {
          const batch =
            (await listSegments(dir)).length > 0 ? await reader.readAvailable(1000, 4 << 20) : undefined;
          if (batch && batch.lines.length > 0) {
            const out = Buffer.concat(batch.lines.flatMap((l) => [l, Buffer.from("\n")]));
            if (!process.stdout.write(out)) await new Promise((r) => process.stdout.once("drain", r));
            continue;
          }
          if (!opts.follow || !(await sleep(pollMs, stop.signal))) break;
        }
      } finally {
        await reader.close();
      }
    });
}
