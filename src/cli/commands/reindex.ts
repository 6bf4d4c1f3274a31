/**
 * `vigil reindex`: rebuilds the search index (audit.index.path, default <data-dir>/index.duckdb) from the journal.
 * The index is derived data; rebuild it when the server reports it parked (corrupt, another schema version) or
 * whenever in doubt. Refused (exit 1) while a server holds the data directory: stop it first. The data
 * directory is locked for the rebuild, so a server cannot start meanwhile. The configuration loader, the journal
 * and DuckDB are loaded only when the command runs.
 */
import { stat } from "node:fs/promises";
import { Command } from "commander";
import { VigilError } from "../../errors.ts";
import { CliExit, EXIT, usage } from "../common.ts";

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

export function reindexCommand(): Command {
  return new Command("reindex")
    .description("rebuild the search index from the journal (with the server stopped)")
    .option("-c, --config <file>", "vigil.yaml configuration file (or $VIGIL_CONFIG), for audit.index.path")
    .option("-d, --data-dir <dir>", "data directory (default ./vigil-data)")
    .action(async (opts: { config?: string; dataDir?: string }) => {
      const overrides = opts.dataDir === undefined ? {} : { dataDir: opts.dataDir };
      const { defaultConfig, loadConfig } = await import("../../config/load.ts");
      const { journalDir } = await import("../../journal/segment.ts");
      const { lockDataDir } = await import("../../util/lock.ts");
      const file = opts.config ?? process.env.VIGIL_CONFIG;
      const config = file ? await loadConfig(file, process.env, overrides) : defaultConfig(overrides);
      const dataDir = config.dataDir;
      if (!(await isDirectory(journalDir(dataDir)))) {
        throw usage(`${dataDir} holds no journal: give the data directory with --data-dir`);
      }
      let lock: { release: () => Promise<void> };
      try {
        lock = await lockDataDir(dataDir);
      } catch (e) {
        if (e instanceof VigilError) {
          throw new CliExit(EXIT.problem, `${e.message}: stop the server before vigil reindex`);
        }
        throw e;
      }
      try {
        const { reindex } = await import("../../index/reindex.ts");
        const started = Date.now();
        const result = await reindex(journalDir(dataDir), config.audit.index.path);
        process.stderr.write(
          `vigil: indexed ${result.records} records (through sequence ${result.lastSequence}) into ` +
            `${config.audit.index.path} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
        );
      } finally {
        await lock.release();
      }
    });
}
