/**
 * `npm run bench`: sealed + durable ingest over HTTP (NDJSON batches, concurrent clients) with acknowledgement
 * latency, on embedded defaults (search index on) and with `audit.index.enabled: false` in alternate runs, and
 * how long after the last acknowledgement the index held every event; in-process ingest; and `vigil verify`
 * throughput — all in one run, each measured RUNS times, medians reported. Results go to stdout as a Markdown
 * table for docs/benchmarks.md.
 *
 * Environment knobs: BENCH_EVENTS (events per HTTP run, default 300000), BENCH_CLIENTS (default 8),
 * BENCH_BATCH (events per request, default 500), BENCH_RUNS (default 3), BENCH_VERIFY_RECORDS (records in the
 * log verified, default 1000000).
 */
import { spawn } from "node:child_process";
import { mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import { cpus, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { DEFAULT_EVENT_LIMITS, prepareEvents } from "../src/event/validate.ts";
import { canonicalize } from "../src/integrity/canonical.ts";
import { EMPTY_CHAIN, parseRecord, Sealer } from "../src/integrity/chain.ts";
import { signCheckpoint } from "../src/integrity/checkpoint.ts";
import { keyFromFile, keyFromSecret } from "../src/integrity/keys.ts";
import { recordLeafHash } from "../src/integrity/leaf.ts";
import { publishedCheckpointsDir, writeCheckpointNote } from "../src/integrity/log-layout.ts";
import { MerkleFrontier } from "../src/integrity/merkle.ts";
import { generateNoteKey, type NoteVerifier } from "../src/integrity/note.ts";
import { verifyPaths } from "../src/integrity/verify.ts";
import { journalDir } from "../src/journal/segment.ts";
import { JournalWriter } from "../src/journal/writer.ts";
import { Pipeline } from "../src/pipeline/pipeline.ts";
import { RecentIds } from "../src/pipeline/recent-ids.ts";
import { compileRedaction } from "../src/policy/redact.ts";
import { compilePolicy } from "../src/policy/rules.ts";
import { sampleEvent } from "./sample.ts";
import { startServer } from "./server.ts";

const ROOT = resolve(import.meta.dirname, "..");
const VIGIL = join(ROOT, "bin/vigil");
const EVENTS = Number(process.env.BENCH_EVENTS ?? 300_000);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 8);
const BATCH = Number(process.env.BENCH_BATCH ?? 500);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const VERIFY_RECORDS = Number(process.env.BENCH_VERIFY_RECORDS ?? 1_000_000);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? (s[(s.length - 1) / 2] as number)
    : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};
const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
};

interface HttpRun {
  eventsPerSec: number;
  p50: number;
  p99: number;
  /** With the index on: ms from the last acknowledgement until the index held every event. */
  indexCatchUpMs?: number;
  dataDir: string;
}

async function httpIngest(index: boolean): Promise<HttpRun> {
  const dataDir = await mkdtemp(join(tmpdir(), "vigil-bench-"));
  const config = join(dataDir, "vigil.yaml");
  await writeFile(config, `audit:\n  index:\n    enabled: ${index}\n`);
  const server = await startServer(dataDir, ["--config", config]);
  const { url } = server;
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  // Every event has its own id (as the SDK assigns them), so none is answered as a retry of another.
  const requests = Math.ceil(EVENTS / BATCH);
  const bodies: Buffer[] = [];
  for (let b = 0; b < requests; b++) {
    const lines: string[] = [];
    for (let i = 0; i < BATCH; i++) lines.push(JSON.stringify(sampleEvent(b * BATCH + i)));
    bodies.push(Buffer.from(`${lines.join("\n")}\n`));
  }
  const post = (body: Buffer) =>
    new Promise<number>((ok, fail) => {
      const req = request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          path: "/v1/events",
          method: "POST",
          headers: {
            authorization: `Bearer ${server.token}`,
            "content-type": "application/x-ndjson",
            "content-length": body.length,
          },
        },
        (res) => {
          res.resume();
          res.on("end", () => ok(res.statusCode ?? 0));
        },
      );
      req.on("error", fail);
      req.end(body);
    });
  let next = 0;
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < requests) {
        const body = bodies[next++] as Buffer;
        const t0 = performance.now();
        const status = await post(body);
        if (status !== 200) throw new Error(`ingest answered ${status}`);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const acked = performance.now();
  const seconds = (acked - started) / 1000;
  let indexCatchUpMs: number | undefined;
  if (index) {
    for (;;) {
      const status = (await (
        await fetch(new URL("/v1/status", url), { headers: { authorization: `Bearer ${server.token}` } })
      ).json()) as { index: { deliveredSequence: number; state: string } };
      if (status.index.deliveredSequence >= requests * BATCH) break;
      if (status.index.state === "parked") throw new Error("the index parked");
      await new Promise((r) => setTimeout(r, 10));
    }
    indexCatchUpMs = performance.now() - acked;
  }
  agent.destroy();
  await server.stop();
  return {
    eventsPerSec: (requests * BATCH) / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    ...(indexCatchUpMs === undefined ? {} : { indexCatchUpMs }),
    dataDir,
  };
}

async function inProcessIngest(): Promise<number> {
  const dataDir = await mkdtemp(join(tmpdir(), "vigil-bench-"));
  const { writer, recovery } = await JournalWriter.open({ dir: journalDir(dataDir), segmentBytes: 64 << 20 });
  const pipeline = new Pipeline({
    sealer: new Sealer(keyFromSecret(Buffer.alloc(32, 1), "bench"), recovery.head),
    writer,
    policy: compilePolicy({ excludeEvents: [] }),
    redaction: compileRedaction({}),
    limits: DEFAULT_EVENT_LIMITS,
    failurePolicy: "reject",
    queueMaxEvents: 1_000_000,
    counters: { sealed() {}, excluded() {}, dropped() {}, duplicates() {} },
    recentIds: new RecentIds(),
    log: () => {},
  });
  const batches = Math.ceil(EVENTS / BATCH);
  const raws = Array.from({ length: batches }, (_, b) =>
    Array.from({ length: BATCH }, (_, i) => ({ value: sampleEvent(b * BATCH + i) })),
  );
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < batches) {
        await pipeline.ingest(prepareEvents(raws[next++] as { value: unknown }[], { source: "bench" }));
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await writer.close();
  await rm(dataDir, { recursive: true, force: true });
  return (batches * BATCH) / seconds;
}

/** Seals VERIFY_RECORDS events (as the server would) into a log file; not timed. */
async function verifyCorpus(): Promise<{
  path: string;
  keyFile: string;
  dir: string;
  checkpointKey: NoteVerifier;
}> {
  const dir = await mkdtemp(join(tmpdir(), "vigil-bench-verify-"));
  const secret = "b".repeat(64);
  const keyFile = join(dir, "bench.key");
  await writeFile(keyFile, `${secret}\n`, { mode: 0o600 });
  const sealer = new Sealer(keyFromSecret(Buffer.from(secret), "bench"), EMPTY_CHAIN);
  const path = join(dir, "audit.log");
  const fh = await open(path, "w");
  const origin = { source: "http", address: "127.0.0.1", token: "admin" };
  // A checkpoint every 1000 records beside the log, as the server publishes them to a file destination.
  const noteKey = generateNoteKey("vigil.bench/log");
  const tree = new MerkleFrontier();
  for (let b = 0; b < VERIFY_RECORDS / 1000; b++) {
    const lines: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const event = {
        ...sampleEvent(b * 1000 + i),
        version: "1.0",
        received_at: "2024-12-01T10:15:30.456Z",
        origin,
      };
      const { line } = sealer.seal(canonicalize(event));
      const parsed = parseRecord(Buffer.from(line));
      if (!parsed.ok) throw new Error(parsed.reason);
      tree.append(recordLeafHash(parsed.record));
      lines.push(line);
    }
    await fh.write(`${lines.join("\n")}\n`);
    const note = signCheckpoint({ origin: "vigil.bench/log", size: tree.size, rootHash: tree.root() }, [
      noteKey.signer,
    ]);
    await writeCheckpointNote(publishedCheckpointsDir(path), tree.size, note);
  }
  await fh.close();
  return { path, keyFile, dir, checkpointKey: noteKey.verifier };
}

/** `vigil verify` end to end (process start included), in records/s. */
async function verifyCli(path: string, keyFile: string): Promise<number> {
  const started = performance.now();
  const out = await new Promise<string>((ok, fail) => {
    const child = spawn(VIGIL, ["verify", "--json", "--key-file", keyFile, path], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let text = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      text += d;
    });
    child.once("exit", (code) => (code === 0 ? ok(text) : fail(new Error(`verify exited ${code}`))));
  });
  const seconds = (performance.now() - started) / 1000;
  const report = JSON.parse(out) as { records: number };
  return report.records / seconds;
}

/** verifyPaths in this process, in records/s: with the HMAC key, or with only the checkpoint public key. */
async function verifyInProcess(
  path: string,
  keys: { keyFile: string } | { publicKey: NoteVerifier },
): Promise<number> {
  const key = "keyFile" in keys ? await keyFromFile(keys.keyFile) : undefined;
  const started = performance.now();
  const report = await verifyPaths({
    paths: [path],
    ...(key ? { keyring: new Map([[key.id, key.secret]]) } : {}),
    ...("publicKey" in keys ? { publicKeys: [keys.publicKey] } : {}),
  });
  if (!report.intact) throw new Error("the benchmark log did not verify");
  return report.records / ((performance.now() - started) / 1000);
}

const results = {
  http: [] as number[],
  p50: [] as number[],
  p99: [] as number[],
  catchUp: [] as number[],
  httpNoIndex: [] as number[],
  p99NoIndex: [] as number[],
  inproc: [] as number[],
  verify: [] as number[],
  verifyInProc: [] as number[],
  verifyPublic: [] as number[],
};
const corpus = await verifyCorpus();
for (let run = 1; run <= RUNS; run++) {
  // Alternate which configuration goes first, so neither always runs on a warmer machine.
  const order = run % 2 === 1 ? [true, false] : [false, true];
  for (const index of order) {
    const h = await httpIngest(index);
    await rm(h.dataDir, { recursive: true, force: true });
    if (index) {
      results.http.push(h.eventsPerSec);
      results.p50.push(h.p50);
      results.p99.push(h.p99);
      results.catchUp.push(h.indexCatchUpMs ?? 0);
    } else {
      results.httpNoIndex.push(h.eventsPerSec);
      results.p99NoIndex.push(h.p99);
    }
  }
  results.verify.push(await verifyCli(corpus.path, corpus.keyFile));
  results.verifyInProc.push(await verifyInProcess(corpus.path, { keyFile: corpus.keyFile }));
  results.verifyPublic.push(await verifyInProcess(corpus.path, { publicKey: corpus.checkpointKey }));
  results.inproc.push(await inProcessIngest());
  process.stderr.write(
    `run ${run}: http ${results.http.at(-1)?.toFixed(0)} ev/s (p99 ${results.p99.at(-1)?.toFixed(1)} ms, ` +
      `index caught up ${results.catchUp.at(-1)?.toFixed(0)} ms after), ` +
      `index off ${results.httpNoIndex.at(-1)?.toFixed(0)} ev/s, ` +
      `verify ${results.verify.at(-1)?.toFixed(0)} rec/s (in process ${results.verifyInProc.at(-1)?.toFixed(0)}), ` +
      `in-process ingest ${results.inproc.at(-1)?.toFixed(0)} ev/s\n`,
  );
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
await rm(corpus.dir, { recursive: true, force: true });
process.stdout.write(
  [
    `Date: ${new Date().toISOString().slice(0, 10)} · Node ${process.version} · ${cpus().length} × ${cpus()[0]?.model ?? "cpu"} · ${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
    `Command: BENCH_EVENTS=${EVENTS} BENCH_CLIENTS=${CLIENTS} BENCH_BATCH=${BATCH} BENCH_RUNS=${RUNS} npm run bench`,
    "",
    "| measurement | median | runs |",
    "|---|---|---|",
    `| HTTP ingest, sealed + durable (${CLIENTS} clients, NDJSON × ${BATCH}), embedded defaults (index on) | ${fmt(median(results.http))} events/s | ${results.http.map(fmt).join(", ")} |`,
    `| HTTP ack latency p50 per request | ${median(results.p50).toFixed(1)} ms | ${results.p50.map((x) => x.toFixed(1)).join(", ")} |`,
    `| HTTP ack latency p99 per request | ${median(results.p99).toFixed(1)} ms | ${results.p99.map((x) => x.toFixed(1)).join(", ")} |`,
    `| index holds every event, after the last acknowledgement | ${fmt(median(results.catchUp))} ms | ${results.catchUp.map(fmt).join(", ")} |`,
    `| HTTP ingest with \`audit.index.enabled: false\` | ${fmt(median(results.httpNoIndex))} events/s | ${results.httpNoIndex.map(fmt).join(", ")} |`,
    `| HTTP ack latency p99, index off | ${median(results.p99NoIndex).toFixed(1)} ms | ${results.p99NoIndex.map((x) => x.toFixed(1)).join(", ")} |`,
    `| ratio index on / off (medians) | ${(median(results.http) / median(results.httpNoIndex)).toFixed(3)} | |`,
    `| in-process ingest (validate + seal + journal) | ${fmt(median(results.inproc))} events/s | ${results.inproc.map(fmt).join(", ")} |`,
    `| vigil verify, ${fmt(VERIFY_RECORDS)} records (CLI, process start included) | ${fmt(median(results.verify))} records/s | ${results.verify.map(fmt).join(", ")} |`,
    `| verify in process (verifyPaths) | ${fmt(median(results.verifyInProc))} records/s | ${results.verifyInProc.map(fmt).join(", ")} |`,
    `| verify in process with only the public key (Merkle tree + checkpoints every 1000) | ${fmt(median(results.verifyPublic))} records/s | ${results.verifyPublic.map(fmt).join(", ")} |`,
    "",
  ].join("\n"),
);
