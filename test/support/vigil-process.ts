/**
 * Starts the real `bin/vigil serve` process for integration tests, on a free loopback port, and waits until it
 * says where it listens. Nothing here is a mock: the tests talk HTTP to the real server and read its real files.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dirname, "../..");
export const VIGIL = join(ROOT, "bin/vigil");

export interface VigilProcess {
  url: string;
  dataDir: string;
  token: string;
  child: ChildProcess;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit: a crash. */
  kill(): Promise<void>;
}

export async function tempDir(prefix = "vigil-test-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function startVigil(
  opts: { dataDir?: string; args?: string[]; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<VigilProcess> {
  const dataDir = opts.dataDir ?? (await tempDir());
  const child = spawn(
    VIGIL,
    ["serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", ...(opts.args ?? [])],
    {
      cwd: opts.cwd ?? dataDir,
      env: { ...process.env, ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let err = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (d: string) => {
    err += d;
  });
  child.stdout?.resume();
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const onData = () => {
      const m = /listening on (http:\/\/\S+?);/.exec(err);
      if (m?.[1]) {
        child.stderr?.off("data", onData);
        resolveUrl(m[1]);
      }
    };
    child.stderr?.on("data", onData);
    exited.then((code) => reject(new Error(`vigil serve exited with ${code} before listening:\n${err}`)));
  });
  const token = (await readFile(join(dataDir, "admin.token"), "utf8").catch(() => "")).trim();
  return {
    url,
    dataDir,
    token,
    child,
    stderr: () => err,
    async stop() {
      child.kill("SIGTERM");
      return exited;
    },
    async kill() {
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/** Runs a `vigil` CLI command to completion. */
export function runVigil(
  args: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(VIGIL, args, {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.stdin.end(opts.input ?? "");
    child.once("close", (code) => resolveRun({ code, stdout, stderr }));
  });
}

export interface PostResult {
  status: number;
  contentType: string;
  headers: Headers;
  body: unknown;
}

export async function post(
  vigil: Pick<VigilProcess, "url" | "token">,
  body: string | Uint8Array,
  contentType = "application/x-ndjson",
  extraHeaders: Record<string, string> = {},
): Promise<PostResult> {
  const res = await fetch(`${vigil.url}/v1/events`, {
    method: "POST",
    headers: { authorization: `Bearer ${vigil.token}`, "content-type": contentType, ...extraHeaders },
    body,
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // leave as text
  }
  return {
    status: res.status,
    contentType: res.headers.get("content-type") ?? "",
    headers: res.headers,
    body: parsed,
  };
}

export async function get(vigil: Pick<VigilProcess, "url" | "token">, path: string): Promise<Response> {
  return fetch(`${vigil.url}${path}`, { headers: { authorization: `Bearer ${vigil.token}` } });
}

/** Waits until every destination has confirmed the journal's durable sequence (polling the status API). */
export async function waitForDelivery(
  vigil: Pick<VigilProcess, "url" | "token">,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = (await (await get(vigil, "/v1/destinations")).json()) as {
      destinations: { lagRecords: number; state: string }[];
    };
    if (s.destinations.every((d) => d.lagRecords === 0)) return;
    if (Date.now() > deadline) throw new Error(`destinations did not catch up: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function event(i: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    event_type: "backup.completed",
    actor: { type: "user", id: "alice@company.com", roles: ["backup-operator"], ip_address: "10.0.0.50" },
    resource: { type: "backup", id: `production-backup-${i}`, path: "s3://kafka-backups/production/" },
    action: { operation: "backup", result: "success", duration_ms: 45000 },
    context: { cluster_id: "prod-us-west-2", environment: "production", correlation_id: `req_${i}` },
    details: { records_backed_up: 1500000 + i, topics: ["orders", "payments"] },
    ...extra,
  };
}

export function ndjson(events: unknown[]): string {
  return `${events.map((e) => JSON.stringify(e)).join("\n")}\n`;
}
