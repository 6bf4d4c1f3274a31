/** Starts a real `bin/vigil serve` for a benchmark on a free loopback port; resolves once it listens. */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";

const VIGIL = join(resolve(import.meta.dirname, ".."), "bin/vigil");

export async function startServer(
  dataDir: string,
  extraArgs: string[] = [],
): Promise<{ url: URL; token: string; cpuSeconds: () => Promise<number>; stop: () => Promise<void> }> {
  const child = spawn(VIGIL, ["serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", ...extraArgs], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr.setEncoding("utf8");
  const url = await new Promise<string>((ok, fail) => {
    child.stderr.on("data", (d: string) => {
      err += d;
      const m = /listening on (http:\/\/\S+?);/.exec(err);
      if (m?.[1]) ok(m[1]);
    });
    child.once("exit", (c) => fail(new Error(`server exited ${c}: ${err}`)));
  });
  const token = (await readFile(join(dataDir, "admin.token"), "utf8")).trim();
  return {
    url: new URL(url),
    token,
    cpuSeconds: () => processCpuSeconds(child.pid),
    stop: () =>
      new Promise((ok) => {
        child.once("exit", () => ok());
        child.kill("SIGTERM");
      }),
  };
}

/**
 * CPU time (user + system, all threads) a process has used so far, from /proc/<pid>/stat. Compared before and
 * after a run, it is the server's own cost of the work, whatever else shares the cores (the load generator).
 */
async function processCpuSeconds(pid: number | undefined): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces, so split after its closing parenthesis).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of the full line)
  return ticks / 100; // USER_HZ is 100 on Linux
}
