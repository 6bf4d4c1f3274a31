/**
 * `vigil serve`: runs the server until SIGTERM or SIGINT. The configuration loader and the server (Kafka client,
 * HTTP framework, destinations) are loaded only when the command runs, so the rest of the CLI starts fast.
 */
import { Command } from "commander";

export function log(msg: string): void {
  process.stderr.write(`${new Date().toISOString()} vigil: ${msg}\n`);
}

export function serveCommand(): Command {
  return new Command("serve")
    .description("run the Vigil server (embedded defaults when no --config is given)")
    .option("-c, --config <file>", "vigil.yaml configuration file (or $VIGIL_CONFIG)")
    .option("-d, --data-dir <dir>", "data directory (default ./vigil-data)")
    .option("-l, --listen <host:port>", "HTTP listen address (default 127.0.0.1:7470)")
    .action(async (opts: { config?: string; dataDir?: string; listen?: string }) => {
      const overrides = {
        ...(opts.dataDir === undefined ? {} : { dataDir: opts.dataDir }),
        ...(opts.listen === undefined ? {} : { listen: opts.listen }),
      };
      const { defaultConfig, loadConfig } = await import("../../config/load.ts");
      const file = opts.config ?? process.env.VIGIL_CONFIG;
      const config = file ? await loadConfig(file, process.env, overrides) : defaultConfig(overrides);
      const { startVigil } = await import("../../server/app.ts");
      const vigil = await startVigil(config, log);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          log(`${signal}: shutting down`);
          vigil.close().then(resolve, (e: unknown) => {
            log(`shutdown error: ${(e as Error).message}`);
            resolve();
          });
        };
        process.once("SIGTERM", () => stop("SIGTERM"));
        process.once("SIGINT", () => stop("SIGINT"));
      });
    });
}
