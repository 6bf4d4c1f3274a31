/**
 * Helpers for integration tests that look at the real files and processes: sealed records read back from disk,
 * config files, status polling with a deadline, and long-running CLI children (`tail -f`, a server expected to
 * refuse to start).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { get, ROOT, VIGIL, type VigilProcess } from "./vigil-process.ts";

export interface SealedRecord {
  event: Record<string, unknown> & { event_id: string; event_type: string };
  integrity: { sequence_number: number; previous_signature: string; signature: string; key_id: string };
}

export function parseRecords(text: string): SealedRecord[] {
  return text
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as SealedRecord);
}

export async function readRecords(path: string): Promise<SealedRecord[]> {
  return parseRecords(await readFile(path, "utf8"));
}

/** Writes `yaml` as `vigil.yaml` in `dir` and returns its path. */
export async function writeConfig(dir: string, yaml: string): Promise<string> {
  const path = join(dir, "vigil.yaml");
  await writeFile(path, yaml);
  return path;
}

/** Polls `probe` until it returns something other than undefined; fails with `what` after the deadline. */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface DestinationStatus {
  name: string;
  state: string;
  deliveredSequence: number;
  lagRecords: number;
  failures: number;
  lastError?: string;
}

export async function destinationStatuses(
  vigil: Pick<VigilProcess, "url" | "token">,
): Promise<DestinationStatus[]> {
  const res = await get(vigil, "/v1/destinations");
  return ((await res.json()) as { destinations: DestinationStatus[] }).destinations;
}

/** The sequence number of the chain head, from `GET /v1/status`. */
export async function chainSequence(vigil: Pick<VigilProcess, "url" | "token">): Promise<number> {
  const res = await get(vigil, "/v1/status");
  return ((await res.json()) as { chain: { sequence: number } }).chain.sequence;
}

export interface CliChild {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Waits for the exit code; kills the process and fails if it has not exited by the deadline. */
  exit(timeoutMs?: number): Promise<number | null>;
}

/** Starts a `vigil` command that is expected to keep running (or whose exit is awaited with a deadline). */
export function spawnVigil(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): CliChild {
  const child = spawn(VIGIL, args, {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    err += d;
  });
  const closed = new Promise<number | null>((r) => child.once("close", (code) => r(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    async exit(timeoutMs = 30_000) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<"timeout">((r) => {
        timer = setTimeout(() => r("timeout"), timeoutMs);
      });
      const result = await Promise.race([closed, deadline]);
      clearTimeout(timer);
      if (result === "timeout") {
        child.kill("SIGKILL");
        await closed;
        throw new Error(`vigil ${args.join(" ")} did not exit within ${timeoutMs} ms:\n${err}`);
      }
      return result;
    },
  };
}

/** Waits until the search index (`audit.index`) holds the chain head as it is now; returns that head. */
export async function waitIndexed(vigil: Pick<VigilProcess, "url" | "token">): Promise<number> {
  const head = await chainSequence(vigil);
  await waitUntil("the index to catch up", async () => {
    const res = await get(vigil, "/v1/status");
    const s = (await res.json()) as { index: { deliveredSequence: number; state: string } };
    return s.index.state === "running" && s.index.deliveredSequence >= head ? true : undefined;
  });
  return head;
}
