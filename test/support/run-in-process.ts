/**
 * Test support: runs a CLI command in this process, capturing what it writes through commander's output, and
 * maps whatever it throws to the exit code `vigil` would give (as main() does).
 */
import type { Command } from "commander";
import { exitCodeFor } from "../../src/cli/common.ts";

export async function runInProcess(
  command: Command,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const configure = (cmd: Command) => {
    cmd.exitOverride().configureOutput({
      writeOut: (s) => {
        out += s;
      },
      writeErr: (s) => {
        err += s;
      },
    });
    for (const sub of cmd.commands) configure(sub);
  };
  configure(command);
  try {
    await command.parseAsync(args, { from: "user" });
    return { code: 0, out, err };
  } catch (e) {
    return { code: exitCodeFor(e), out, err: err + (e as Error).message };
  }
}
