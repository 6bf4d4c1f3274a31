import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startServer } from "./server.ts";

const ROOT = resolve(import.meta.dirname, "..");
const FIXTURES = resolve(ROOT, "../shared/fixtures/k8s");
const POLICY = join(ROOT, "src/policy/testdata/policy-20-rules.yaml");
const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 8);
const BATCH = Number(process.env.BENCH_BATCH ?? 500);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

/** The Events of the falco fixtures: a file holds one JSON value (an Event or EventList) or one per line. */
async function fixtureEvents(): Promise<Record<string, unknown>[]> {
  const dir = join(FIXTURES, "falco-k8s_audit");
  const out: Record<string, unknown>[] = [];
  for (const name of (await readdir(dir)).filter((n) => n.endsWith(".json"))) {
    const text = await readFile(join(dir, name), "utf8");
    let values: unknown[];
    try {
      values = [JSON.parse(text)];
    } catch {
      values = text
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l));
    }
    for (const v of values) {
      const value = v as { kind?: string; items?: unknown[] };
      const items = value.kind === "EventList" ? (value.items ?? []) : [value];
      for (const item of items) {
        if ((item as { kind?: string }).kind === "Event") out.push(item as Record<string, unknown>);
      }
    }
  }
  return out;
}

/** A server in a new temporary directory, with a config naming `policy` as its policy_file when given. */
async function startIn(
  policy: string | undefined,
): Promise<Awaited<ReturnType<typeof startServer>> & { dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), "vigil-bench-k8s-"));
  const args: string[] = [];
  if (policy) {
    const file = join(dir, "vigil.yaml");
    await writeFile(file, `audit:\n  policy_file: ${policy}\n`);
    args.push("--config", file);
  }
  return { ...(await startServer(join(dir, "data"), args)), dir };
}

/** Events per second end to end, and the server's CPU time per event (µs), of one run. */
async function run(policy: string | undefined, bodies: Buffer[]): Promise<{ rate: number; cpuUs: number }> {
  const server = await startIn(policy);
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  const post = (body: Buffer) =>
    new Promise<void>((ok, fail) => {
      const req = request(
        {
          agent,
          host: server.url.hostname,
          port: server.url.port,
          path: "/v1/k8s/audit",
          method: "POST",
          headers: {
            authorization: `Bearer ${server.token}`,
            "content-type": "application/json",
            "content-length": body.length,
          },
        },
        (res) => {
          res.resume();
          res.on("end", () =>
            res.statusCode === 200 ? ok() : fail(new Error(`answered ${res.statusCode}`)),
          );
        },
      );
      req.on("error", fail);
      req.end(body);
    });
  let next = 0;
  const cpuBefore = await server.cpuSeconds();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < bodies.length) await post(bodies[next++] as Buffer);
    }),
  );
  const events = bodies.length * BATCH;
  const rate = events / ((performance.now() - started) / 1000);
  const cpuUs = (((await server.cpuSeconds()) - cpuBefore) / events) * 1e6;
  agent.destroy();
  await server.stop();
  await rm(server.dir, { recursive: true, force: true });
  return { rate, cpuUs };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const base = await fixtureEvents();
const bodies: Buffer[] = [];
for (let b = 0; b < Math.ceil(EVENTS / BATCH); b++) {
  const items = Array.from({ length: BATCH }, (_, i) => ({
    ...(base[(b * BATCH + i) % base.length] as Record<string, unknown>),
    auditID: `bench-${b}-${i}`,
  }));
  bodies.push(Buffer.from(JSON.stringify({ kind: "EventList", apiVersion: "audit.k8s.io/v1", items })));
}
const metadataOnly = join(await mkdtemp(join(tmpdir(), "vigil-bench-policy-")), "policy-metadata.yaml");
await writeFile(metadataOnly, (await readFile(POLICY, "utf8")).replace(/level: \w+/g, "level: Metadata"));
type Run = { rate: number; cpuUs: number };
const without: Run[] = [];
const withPolicy: Run[] = [];
const asWritten: Run[] = [];
for (let r = 1; r <= RUNS; r++) {
  // Interleaved, so a slow phase of the machine hits every configuration alike.
  without.push(await run(undefined, bodies));
  withPolicy.push(await run(metadataOnly, bodies));
  asWritten.push(await run(POLICY, bodies));
  const show = (x: Run | undefined) => `${x?.rate.toFixed(0)} ev/s, ${x?.cpuUs.toFixed(1)} µs CPU/event`;
  process.stderr.write(
    `run ${r}: no policy ${show(without.at(-1))}; 20 rules at Metadata ${show(withPolicy.at(-1))}; ` +
      `as written ${show(asWritten.at(-1))}\n`,
  );
}
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const rates = (xs: Run[]) => xs.map((x) => x.rate);
const cpus = (xs: Run[]) => xs.map((x) => x.cpuUs);
const row = (label: string, xs: Run[]) =>
  `| ${label} | ${fmt(median(rates(xs)))} events/s | ${median(cpus(xs)).toFixed(1)} µs | ${rates(xs).map(fmt).join(", ")} | ${cpus(
    xs,
  )
    .map((c) => c.toFixed(1))
    .join(", ")} |`;
process.stdout.write(
  [
    `Command: BENCH_EVENTS=${EVENTS} BENCH_CLIENTS=${CLIENTS} BENCH_BATCH=${BATCH} BENCH_RUNS=${RUNS} npm run bench:webhook`,
    "",
    "| POST /v1/k8s/audit, sealed + durable | median rate | median server CPU per event | rates | CPU per event |",
    "|---|---|---|---|---|",
    row("no policy_file (level Metadata)", without),
    row("20-rule policy_file, every rule at Metadata", withPolicy),
    `| policy / none | ${(median(rates(withPolicy)) / median(rates(without))).toFixed(3)} | ${(median(cpus(withPolicy)) / median(cpus(without))).toFixed(3)} | | |`,
    row("20-rule policy_file as written (keeps bodies, drops some events)", asWritten),
    "",
  ].join("\n"),
);
