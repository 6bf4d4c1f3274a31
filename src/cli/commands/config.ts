/**
 * `vigil config validate <file>`: checks a vigil.yaml. The configuration loader (and with it every destination and
 * source it can configure) is loaded only when the command runs, so registering the command costs nothing.
 */
import { Command } from "commander";
import { formatProblem, ValidationError } from "../../errors.ts";
import { CliExit, EXIT } from "../common.ts";

export function configCommand(): Command {
  const config = new Command("config").description("work with vigil.yaml configuration files");
  config
    .command("validate")
    .description(
      "check a configuration file; exit 0 when valid, 2 with every problem (key path and line) when not",
    )
    .argument("<file>", "the vigil.yaml to check")
    .action(async (file: string) => {
      const { loadConfig } = await import("../../config/load.ts");
      try {
        const c = await loadConfig(file, process.env);
        const dests = c.audit.destinations.map((d) => d.name).join(", ");
        process.stdout.write(
          `${file}: valid. data_dir ${c.dataDir}, listen ${c.server.listen.host}:${c.server.listen.port}, ` +
            `destinations ${dests}\n`,
        );
      } catch (e) {
        if (e instanceof ValidationError) {
          throw new CliExit(EXIT.usage, e.problems.map((p) => `${file}: ${formatProblem(p)}`).join("\n"));
        }
        throw e;
      }
    });
  return config;
}
