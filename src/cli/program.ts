/**
 * The `vigil` command line. Exit codes: 0 ok, 1 a problem was found (verify) or an operation failed,
 * 2 bad usage (unknown flag, bad config, missing key). Every command is registered on each start, so a command
 * module imports only what its names, options and help need (commander, common.ts, constants); its action
 * imports the rest (`await import`), so `vigil --version` or `vigil query` never loads DuckDB, the Kafka client
 * or the AWS SDK.
 */
import { Command, CommanderError } from "commander";
import { formatProblem, ValidationError, VigilError } from "../errors.ts";
import { VIGIL_VERSION } from "../version.ts";
import { configCommand } from "./commands/config.ts";
import { importCommand } from "./commands/import.ts";
import { keysCommand } from "./commands/keys.ts";
import { policyCommand } from "./commands/policy.ts";
import { proveCommand } from "./commands/prove.ts";
import { queryCommand } from "./commands/query.ts";
import { reindexCommand } from "./commands/reindex.ts";
import { sendCommand } from "./commands/send.ts";
import { serveCommand } from "./commands/serve.ts";
import { statusCommand } from "./commands/status.ts";
import { tailCommand } from "./commands/tail.ts";
import { verifyCommand } from "./commands/verify.ts";
import { CliExit, EXIT, exitCodeFor } from "./common.ts";

export function buildProgram(): Command {
  const program = new Command("vigil")
    .description("Vigil: a tamper-evident audit trail for Kafka, Kubernetes and the tools around them")
    .version(VIGIL_VERSION)
    .showHelpAfterError("(run with --help for usage)")
    .addCommand(serveCommand())
    .addCommand(sendCommand())
    .addCommand(importCommand())
    .addCommand(tailCommand())
    .addCommand(verifyCommand())
    .addCommand(proveCommand())
    .addCommand(keysCommand())
    .addCommand(policyCommand())
    .addCommand(statusCommand())
    .addCommand(queryCommand())
    .addCommand(reindexCommand())
    .addCommand(configCommand());
  const exitOverride = (cmd: Command) => {
    cmd.exitOverride();
    for (const sub of cmd.commands) exitOverride(sub);
  };
  exitOverride(program);
  return program;
}

function describe(e: unknown): string {
  if (e instanceof ValidationError) return e.problems.map(formatProblem).join("\n");
  if (e instanceof VigilError || e instanceof CliExit) return e.message;
  const err = e as NodeJS.ErrnoException;
  if (err.code && err.path) return `${err.code}: ${err.path}: ${err.message}`;
  return err.message ?? String(e);
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return EXIT.ok;
  } catch (e) {
    // Commander has already printed its own errors and the help text.
    if (e instanceof CommanderError) return exitCodeFor(e);
    const code = exitCodeFor(e);
    const msg = describe(e);
    if (msg) process.stderr.write(`vigil: ${msg}\n`);
    return code;
  }
}
