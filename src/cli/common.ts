/**
 * What the CLI commands share: exit codes, errors that map to them, and how to find the server and token. Every
 * command module imports this one to register itself, so it stays light: anything heavier is imported where used.
 */
import { readFile } from "node:fs/promises";
import { CommanderError } from "commander";
import { VigilError } from "../errors.ts";

/** 0 ok, 1 found a problem, 2 bad usage (DESIGN.md). */
export const EXIT = { ok: 0, problem: 1, usage: 2 } as const;

/** An error that ends the command with a given exit code and message (no stack trace). */
export class CliExit extends Error {
  readonly exitCode: number;

  constructor(exitCode: number, message: string) {
    super(message);
    this.name = "CliExit";
    this.exitCode = exitCode;
  }
}

export function usage(message: string): CliExit {
  return new CliExit(EXIT.usage, message);
}

export const DEFAULT_URL = "http://127.0.0.1:7470";

export function serverUrl(flag: string | undefined, env = process.env): string {
  return (flag ?? env.VIGIL_URL ?? DEFAULT_URL).replace(/\/+$/, "");
}

/** The token from --token, $VIGIL_TOKEN, or the data directory's generated admin token. */
export async function resolveToken(
  flag: string | undefined,
  dataDir: string,
  env = process.env,
): Promise<string> {
  const given = flag ?? env.VIGIL_TOKEN;
  if (given) return given;
  const { adminTokenPath } = await import("../server/auth.ts");
  try {
    return (await readFile(adminTokenPath(dataDir), "utf8")).trim();
  } catch {
    throw usage(
      `no token: pass --token, set VIGIL_TOKEN, or run where ${adminTokenPath(dataDir)} exists (created by vigil serve)`,
    );
  }
}

/** Exit code for an error escaping a command. Commander's own errors (bad flags, --help) are usage or ok. */
export function exitCodeFor(e: unknown): number {
  if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (e instanceof CliExit) return e.exitCode;
  if (
    e instanceof VigilError &&
    (e.code === "usage" || e.code === "invalid_config" || e.code === "key_missing")
  ) {
    return EXIT.usage;
  }
  // A path named on the command line that does not exist is a usage error.
  if ((e as NodeJS.ErrnoException).code === "ENOENT") return EXIT.usage;
  return EXIT.problem;
}
