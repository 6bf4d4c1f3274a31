/**
 * `npm run bench:proxy`: the Kafka audit proxy (issue 7, point 7) side by side with direct access, in one run
 * against the same broker (Apache Kafka 4.4, one KRaft node, PLAINTEXT, started by test/support/kafka.ts).
 * Each measurement runs direct (bootstrap at the broker) and proxied (bootstrap at the proxy) in turn, the order
 * alternating from run to run, BENCH_RUNS times (default 5); medians are reported.
 *
 * - produce throughput: Kafka's own ProducerPerformance, BENCH_PROXY_RECORDS records of 1 KiB (default
 *   1,000,000, so the JVM's start is a few per cent of the run), unthrottled, acks=all, linger.ms=5, into a new
 *   topic of BENCH_PROXY_PARTITIONS partitions (default 3);
 * - consume throughput: Kafka's ConsumerPerformance reading all of the round's direct topic (the same records
 *   both ways), a new group each time; its fetch MB/s (group join left out);
 * - produce latency at a fixed moderate rate, so it is the per-request cost and not queueing: ProducerPerformance
 *   at BENCH_PROXY_LATENCY_RATE records/s (default 2,000, linger.ms=0, acks=all) for BENCH_PROXY_LATENCY_SECONDS
 *   (default 20), as the tool reports it (whole milliseconds); and a request probe with microsecond resolution:
 *   one connection sending a Produce request (one 1 KiB record, acks=all) at BENCH_PROXY_PROBE_RATE requests/s
 *   (default 1,000), never catching up in bursts, each round trip timed in this process.
 *
 * The proxy runs in its own process: a real `bin/vigil serve` with a `type: kafka_proxy` source (default), so
 * every request's audit event is validated, sealed and made durable in the journal (and indexed); or, with
 * BENCH_PROXY_VIA=process, a bare KafkaProxy (`node bench/proxy.ts --serve-proxy <broker>`) whose emit serialises
 * each event to JSON and counts it. Its CPU time (user + system, all threads, from /proc/<pid>/stat) over each
 * proxied measurement, up to the moment its events are sealed, gives CPU per MiB moved and per 1,000 requests
 * (one audit event per request); events the source dropped (fail open) are reported. The Java tools come from
 * .tools/kafka/tools (scripts/test-deps): kafka-tools in the version test/servers/kafka/pom.xml pins, 4.3.1, the
 * newest Maven Central has (no 4.4.0 there), on its own kafka-clients of that version.
 *
 * Before the measured runs, BENCH_PROXY_WARMUP_RECORDS (default 200,000) records are produced and consumed each
 * way, unmeasured: the test broker runs with the quick JIT compiler only and would otherwise favour whichever mode
 * runs later.
 *
 * With BENCH_PROXY_VIA=relay, the proxied side is a TCP relay that reads nothing (`--relay`), in front of a
 * broker listener advertising it: the floor any proxy pays on this machine for the extra hop.
 *
 * Other knobs: BENCH_PROXY_WINDOW_MS (the source's aggregate.window_ms: unset, its default fold of identical
 * high-rate requests per 500 ms; 0, one event per request), BENCH_PROXY_MEASURE (comma-separated subset of
 * produce,consume,latency,probe), BENCH_PROXY_PROFILE=
 * produce (or 1) or probe (after the measured runs, a fresh proxy process under V8's CPU profiler (--cpu-prof)
 * gets a warm-up and then one unthrottled produce run, or the request probe's run; its .cpuprofile files, one per thread, are kept in bench/.work/ and the top functions
 * by self time printed). Results go to stdout as a
 * Markdown table for docs/benchmarks.md; progress to stderr. The broker, the proxy process, the Java tools and
 * the temp dirs are cleaned up on failure and on ^C.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { Admin } from "@platformatic/kafka";
import { FrameReader } from "../src/sources/kafka-proxy/frames.ts";
import { decodeResponse, encodeRequest } from "../src/sources/kafka-proxy/protocol/index.ts";
import { type HostPort, KafkaProxy } from "../src/sources/kafka-proxy/proxy.ts";
import { type KafkaBroker, startKafka } from "../test/support/kafka.ts";
import { recordBatch } from "../test/support/kafka-codec.ts";
import { startServer } from "./server.ts";

const ROOT = resolve(import.meta.dirname, "..");
const TOOLS_LIBS = join(ROOT, ".tools/kafka/tools");

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const RECORDS = Number(process.env.BENCH_PROXY_RECORDS ?? 1_000_000);
const PARTITIONS = Number(process.env.BENCH_PROXY_PARTITIONS ?? 3);
const LATENCY_RATE = Number(process.env.BENCH_PROXY_LATENCY_RATE ?? 2000);
const LATENCY_SECONDS = Number(process.env.BENCH_PROXY_LATENCY_SECONDS ?? 20);
const PROBE_RATE = Number(process.env.BENCH_PROXY_PROBE_RATE ?? 1000);
/** "produce" (or "1"): profile an unthrottled produce run; "probe": the request probe's fixed rate. */
const PROFILE = { "1": "produce", produce: "produce", probe: "probe" }[process.env.BENCH_PROXY_PROFILE ?? ""];
const VIA: Via =
  process.env.BENCH_PROXY_VIA === "process" || process.env.BENCH_PROXY_VIA === "relay"
    ? process.env.BENCH_PROXY_VIA
    : "serve";
/**
 * The kafka_proxy source's `aggregate.window_ms` under `vigil serve`: unset, the source's default (identical
 * produce, consume, describe and heartbeat requests folded per 500 ms window); 0, one event per request.
 */
const WINDOW_MS = process.env.BENCH_PROXY_WINDOW_MS;
const MEASURE = new Set(
  (process.env.BENCH_PROXY_MEASURE ?? "produce,consume,latency,probe").split(",").map((s) => s.trim()),
);
const WARMUP_RECORDS = Number(process.env.BENCH_PROXY_WARMUP_RECORDS ?? 200_000);
const RECORD_SIZE = 1024;
const MIB = 1024 * 1024;
/** Requests sent by the probe before it starts timing (JIT, connection, the broker's first appends). */
const PROBE_WARMUP = 500;

const note = (msg: string) => process.stderr.write(`bench:proxy: ${msg}\n`);
const n0 = (x: number) => Math.round(x).toLocaleString("en-US");
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? (s[(s.length - 1) / 2] as number)
    : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
const hostPort = (text: string): HostPort => {
  const i = text.lastIndexOf(":");
  return { host: text.slice(0, i), port: Number(text.slice(i + 1)) };
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------------
// The proxy under test, in its own process: `bin/vigil serve` with a kafka_proxy source (every event validated,
// sealed and made durable in the journal, the search index on, as configured by default), or, with
// BENCH_PROXY_VIA=process, `node bench/proxy.ts --serve-proxy host:port`: a bare KafkaProxy whose emit
// serialises every event to JSON and counts it.

type Via = "serve" | "process" | "relay";
const VIA_NAMES: Record<Via, string> = {
  serve: "vigil serve",
  process: "bare KafkaProxy process",
  relay: "TCP relay",
};

interface FromChild {
  type: "ready" | "stats";
  address?: string;
  events?: number;
  jsonBytes?: number;
}

/**
 * BENCH_PROXY_VIA=relay, `node bench/proxy.ts --relay <listen> <broker>`: the floor a proxy cannot go below on
 * this machine, a TCP relay that copies bytes both ways (stream.pipe, backpressure included) and reads none of
 * them, in front of a broker listener that advertises the relay (test/support/kafka.ts `relay`), so clients stay
 * behind it without any rewriting. Not a Kafka proxy: it sees nothing and audits nothing.
 */
async function relay(listen: string, upstream: string): Promise<void> {
  const server = createServer({ noDelay: true }, (client) => {
    const broker = connect({ ...hostPort(upstream), noDelay: true });
    const close = () => {
      client.destroy();
      broker.destroy();
    };
    client.on("error", close).on("close", close);
    broker.on("error", close).on("close", close);
    client.pipe(broker);
    broker.pipe(client);
  });
  const at = hostPort(listen);
  await new Promise<void>((ok) => server.listen(at.port, at.host, ok));
  process.on("message", () => process.send?.({ type: "stats", events: 0 } satisfies FromChild));
  const stop = () => {
    server.close();
    process.exit(0);
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  process.once("disconnect", stop);
  process.send?.({ type: "ready", address: listen } satisfies FromChild);
}

async function serveProxy(upstream: string): Promise<void> {
  let events = 0;
  let jsonBytes = 0;
  const proxy = new KafkaProxy({
    listen: { host: "127.0.0.1", port: 0 },
    bootstrap: [hostPort(upstream)],
    brokerPorts: { first: 0, count: 0 },
    // Auditing on: every event is serialised, as the pipeline does before sealing, and counted.
    emit: (event) => {
      jsonBytes += JSON.stringify(event).length;
      events++;
    },
    log: (m) => process.stderr.write(`proxy: ${m}\n`),
  });
  await proxy.start();
  process.on("message", () => process.send?.({ type: "stats", events, jsonBytes } satisfies FromChild));
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    // A normal exit, so that --cpu-prof writes its profile.
    void proxy.stop().finally(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  // The bench went away without stopping us (killed): go too.
  process.once("disconnect", stop);
  process.send?.({
    type: "ready",
    address: `${proxy.address.host}:${proxy.address.port}`,
  } satisfies FromChild);
}

/** What this bench reads of a kafka_proxy source's entry in `GET /v1/status` (source.ts KafkaProxyStatus). */
interface SourceStatus {
  name: string;
  listen: string;
  emittedEvents: number;
  auditedRequests: number;
  foldingEvents: number;
  ingestedEvents: number;
  sealedEvents: number;
  droppedEvents: number;
  queueLength: number;
}

interface ProxyStats {
  /** Requests (and logins) the proxy audited: with vigil serve, identical ones may share an event. */
  requests: number;
  /** With vigil serve: events sealed into the trail, and dropped because the queue was full (fail open). */
  sealed?: number;
  dropped?: number;
}

interface ProxyUnderTest {
  via: Via;
  address: string;
  cpuSeconds(): Promise<number>;
  /** Once every event emitted so far is sealed (vigil serve, at most 60 s), the counts. */
  settle(): Promise<ProxyStats>;
  stop(): Promise<void>;
}

/**
 * Starts the proxy in front of `kafka`; with `profileDir`, under V8's CPU profiler (written at exit). The relay
 * forwards to the broker's relay listener, which advertises the relay's own address.
 */
async function startProxy(via: Via, kafka: KafkaBroker, profileDir?: string): Promise<ProxyUnderTest> {
  const profile = profileDir ? ["--cpu-prof", "--cpu-prof-interval=250", `--cpu-prof-dir=${profileDir}`] : [];
  const proxy = await (via === "serve"
    ? startVigilProxy(kafka.plaintext, profile)
    : via === "relay"
      ? startProxyProcess(
          ["--relay", kafka.relay?.advertised ?? "", kafka.relay?.listener ?? ""],
          profile,
          "relay",
        )
      : startProxyProcess(["--serve-proxy", kafka.plaintext], profile, "process"));
  // Stopped once, whoever asks first (the bench, or the cleanup on failure).
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= proxy.stop();
    return stopping;
  };
  return { ...proxy, stop };
}

async function startVigilProxy(upstream: string, nodeOptions: string[]): Promise<ProxyUnderTest> {
  const dataDir = await mkdtemp(join(tmpdir(), "vigil-bench-proxy-serve-"));
  const config = join(dataDir, "vigil.yaml");
  await writeFile(
    config,
    [
      "audit:",
      "  sources:",
      "    - type: kafka_proxy",
      "      name: bench",
      "      listen: 127.0.0.1:0",
      `      bootstrap_servers: [${upstream}]`,
      ...(WINDOW_MS === undefined ? [] : ["      aggregate:", `        window_ms: ${Number(WINDOW_MS)}`]),
      "",
    ].join("\n"),
  );
  const saved = process.env.NODE_OPTIONS;
  if (nodeOptions.length) process.env.NODE_OPTIONS = [saved ?? "", ...nodeOptions].join(" ").trim();
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(dataDir, ["--config", config]);
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  } finally {
    if (saved === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = saved;
  }
  const status = async () => {
    const res = await fetch(new URL("/v1/status", server.url), {
      headers: { authorization: `Bearer ${server.token}` },
    });
    const body = (await res.json()) as { sources?: SourceStatus[] };
    const source = body.sources?.find((s) => s.name === "bench");
    if (!source) throw new Error(`vigil serve has no kafka_proxy source bench: ${JSON.stringify(body)}`);
    return source;
  };
  const { listen } = await status();
  return {
    via: "serve",
    address: listen,
    cpuSeconds: server.cpuSeconds,
    settle: async () => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const s = await status();
        if (
          (s.foldingEvents === 0 &&
            s.queueLength === 0 &&
            s.ingestedEvents + s.droppedEvents >= s.emittedEvents) ||
          Date.now() > deadline
        )
          return { requests: s.auditedRequests, sealed: s.sealedEvents, dropped: s.droppedEvents };
        await sleep(20);
      }
    },
    stop: async () => {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function startProxyProcess(args: string[], execArgv: string[], via: Via): Promise<ProxyUnderTest> {
  const child = spawn(process.execPath, [...execArgv, import.meta.filename, ...args], {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  const exited = once(child, "exit");
  const next = (type: FromChild["type"]) =>
    new Promise<FromChild>((ok, fail) => {
      const onMessage = (m: FromChild) => {
        if (m.type !== type) return;
        child.off("message", onMessage);
        child.off("exit", onExit);
        ok(m);
      };
      const onExit = (code: number | null) => {
        child.off("message", onMessage);
        fail(new Error(`the proxy process exited (${code}) while the bench waited for ${type}`));
      };
      child.on("message", onMessage);
      child.once("exit", onExit);
    });
  const { address = "" } = await next("ready");
  return {
    via,
    address,
    cpuSeconds: () => processCpuSeconds(child.pid),
    settle: async () => {
      const answer = next("stats");
      child.send("stats");
      return { requests: (await answer).events ?? 0 };
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** CPU time (user + system, all threads) a process has used so far, from /proc/<pid>/stat (as bench/server.ts). */
async function processCpuSeconds(pid: number | undefined): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, USER_HZ 100
}

// ---------------------------------------------------------------------------------------------------------------
// Cleanup, also on ^C: Java tools under way, the proxy process, the broker, the temp dir.

const cleanups = new Set<() => Promise<void>>();
const javaRunning = new Set<ChildProcess>();
let cleaning: Promise<void> | undefined;
/** Once, whoever asks first: the end of main, a failure, or ^C. */
function cleanupAll(): Promise<void> {
  cleaning ??= (async () => {
    for (const child of javaRunning) child.kill("SIGKILL");
    for (const c of [...cleanups].reverse()) await c().catch(() => {});
    cleanups.clear();
  })();
  return cleaning;
}
let interrupted = false;

// ---------------------------------------------------------------------------------------------------------------
// Kafka's perf tools.

const run = promisify(execFile);

/** The installed kafka-tools' version (the tools and their kafka-clients), read from its jar's name. */
let toolsVersion = "";

/** Finds the kafka-tools jar (ProducerPerformance, ConsumerPerformance) that scripts/test-deps installs. */
async function ensurePerfTools(): Promise<void> {
  const jars = await readdir(TOOLS_LIBS).catch(() => []);
  const version = jars.map((f) => /^kafka-tools-(\d[\w.-]*)\.jar$/.exec(f)?.[1]).find((v) => v !== undefined);
  if (version === undefined) {
    throw new Error(`Kafka's tools are not installed in ${TOOLS_LIBS}: run scripts/test-deps`);
  }
  toolsVersion = version;
}

let log4jConfig = "";

/** Runs one of Kafka's tools to the end (bounded); returns its output and how long it took, start included. */
async function java(
  mainClass: string,
  args: string[],
  timeoutMs: number,
): Promise<{ out: string; ms: number }> {
  const started = performance.now();
  const child = spawn(
    "java",
    [
      "-Xms256m",
      "-Xmx1g",
      `-Dlog4j2.configurationFile=${log4jConfig}`,
      "-cp",
      `${TOOLS_LIBS}/*`,
      mainClass,
      ...args,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  javaRunning.add(child);
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const [code, signal] = (await once(child, "exit")) as [number | null, string | null];
  clearTimeout(timer);
  javaRunning.delete(child);
  if (code !== 0) {
    throw new Error(`${mainClass} ${args.join(" ")} ended with ${code ?? signal}:\n${out.slice(-4000)}`);
  }
  return { out, ms: performance.now() - started };
}

interface ProduceResult {
  recordsPerSec: number;
  mbPerSec: number;
  avgMs: number;
  p50Ms: number;
  p99Ms: number;
  /** Share of the tool's wall time that was not sending (JVM start, connecting, closing). */
  overhead: number;
}

async function producePerf(
  bootstrap: string,
  topic: string,
  records: number,
  throughput: number,
  props: string[],
): Promise<ProduceResult> {
  const { out, ms } = await java(
    "org.apache.kafka.tools.ProducerPerformance",
    [
      "--bootstrap-server",
      bootstrap,
      "--topic",
      topic,
      "--num-records",
      String(records),
      "--record-size",
      String(RECORD_SIZE),
      "--throughput",
      String(throughput),
      "--reporting-interval",
      "600000",
      "--command-property",
      "acks=all",
      "client.id=vigil-bench-producer",
      ...props,
    ],
    15 * 60_000,
  );
  // "100000 records sent, 51948.1 records/sec (50.73 MB/sec), 12.34 ms avg latency, 200.00 ms max latency,
  //  10 ms 50th, 30 ms 95th, 40 ms 99th, 50 ms 99.9th."
  const m =
    /(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency, [\d.]+ ms max latency, (\d+) ms 50th, \d+ ms 95th, (\d+) ms 99th/.exec(
      out,
    );
  if (!m) throw new Error(`no summary line in ProducerPerformance's output:\n${out.slice(-4000)}`);
  const recordsPerSec = Number(m[2]);
  return {
    recordsPerSec,
    mbPerSec: Number(m[3]),
    avgMs: Number(m[4]),
    p50Ms: Number(m[5]),
    p99Ms: Number(m[6]),
    overhead: 1 - records / recordsPerSec / (ms / 1000),
  };
}

async function consumePerf(
  bootstrap: string,
  topic: string,
  records: number,
  group: string,
): Promise<{ mbPerSec: number; fetchMbPerSec: number; recordsPerSec: number; overhead: number }> {
  const { out, ms } = await java(
    "org.apache.kafka.tools.ConsumerPerformance",
    [
      "--bootstrap-server",
      bootstrap,
      "--topic",
      topic,
      "--num-records",
      String(records),
      "--group",
      group,
      "--timeout",
      "60000",
      "--reporting-interval",
      "600000",
      "--command-property",
      "client.id=vigil-bench-consumer",
    ],
    15 * 60_000,
  );
  // A header line, then one line of values.
  const lines = out.split("\n");
  const at = lines.findIndex((l) => l.startsWith("start.time,"));
  const names = (lines[at] ?? "").split(",").map((s) => s.trim());
  const values = (lines[at + 1] ?? "").split(",").map((s) => s.trim());
  const get = (name: string) => {
    const v = Number(values[names.indexOf(name)]);
    if (at < 0 || !Number.isFinite(v))
      throw new Error(`no ${name} in ConsumerPerformance's output:\n${out.slice(-4000)}`);
    return v;
  };
  const consumed = get("data.consumed.in.nMsg");
  if (consumed < records) throw new Error(`ConsumerPerformance read ${consumed} of ${records} records`);
  const fetchMs = get("fetch.time.ms");
  return {
    mbPerSec: get("MB.sec"),
    fetchMbPerSec: get("fetch.MB.sec"),
    recordsPerSec: get("fetch.nMsg.sec"),
    overhead: 1 - fetchMs / ms,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The request probe: Produce round trips timed to the microsecond.

async function probe(target: string, topic: string, rate: number, count: number): Promise<number[]> {
  const { host, port } = hostPort(target);
  const socket = connect({ host, port, noDelay: true });
  await once(socket, "connect");
  try {
    const batch = recordBatch([Buffer.alloc(RECORD_SIZE, 0x61)], BigInt(Date.now()));
    const version = 11;
    const template = encodeRequest(
      { apiKey: 0, apiVersion: version, correlationId: 0, clientId: "vigil-bench-probe" },
      {
        transactionalId: null,
        acks: -1,
        timeoutMs: 30_000,
        topicData: [{ name: topic, partitionData: [{ index: 0, records: batch }] }],
      },
    );
    const total = PROBE_WARMUP + count;
    const sentAt = new Map<number, number>();
    const rtts: number[] = [];
    const responses = new FrameReader(100 * MIB);
    let answered = 0;
    let failure: Error | undefined;
    let done: () => void = () => {};
    const finished = new Promise<void>((r) => {
      done = r;
    });
    socket.on("data", (chunk: Buffer) => {
      const now = performance.now();
      for (const frame of responses.push(chunk)) {
        const id = frame.readInt32BE(4);
        const t0 = sentAt.get(id);
        sentAt.delete(id);
        if (t0 !== undefined && id >= PROBE_WARMUP) rtts.push(now - t0);
        const { body } = decodeResponse(0, version, frame.subarray(4));
        const partition = (body.responses as { partitionResponses: { errorCode: number }[] }[])[0]
          ?.partitionResponses[0];
        if (partition?.errorCode !== 0)
          failure ??= new Error(`Produce answered error ${partition?.errorCode}`);
        if (++answered === total) done();
      }
    });
    socket.once("close", () => {
      failure ??= new Error("the connection closed under the probe");
      done();
    });
    const interval = 1000 / rate;
    let due = performance.now();
    for (let id = 0; id < total && failure === undefined; id++) {
      const wait = due - performance.now();
      if (wait > 0.5) await sleep(wait);
      const frame = Buffer.from(template);
      frame.writeInt32BE(id, 8);
      sentAt.set(id, performance.now());
      socket.write(frame);
      // The next send is due an interval after this one, never earlier: a late timer does not cause a burst.
      due = Math.max(due + interval, performance.now());
    }
    await finished;
    if (failure) throw failure;
    return rtts;
  } finally {
    socket.destroy();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The CPU profile's summary.

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/** Each thread's profile in `dir` (V8 names them CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile). */
async function profileSummary(dir: string): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".cpuprofile")).sort();
  const out: string[] = [];
  for (const file of files) {
    const thread = file.split(".")[4] === "0" ? "main thread" : `worker thread ${file.split(".")[4]}`;
    out.push(
      "",
      `${thread} (${file}):`,
      "",
      ...(await topFunctions(join(dir, file), thread === "main thread" ? 20 : 8)),
    );
  }
  return out;
}

/** The functions, and the files, that took most of a profile's busy (non-idle) samples. */
async function topFunctions(path: string, n: number): Promise<string[]> {
  const profile = JSON.parse(await readFile(path, "utf8")) as {
    nodes: ProfileNode[];
    samples: number[];
    timeDeltas: number[];
    startTime: number;
    endTime: number;
  };
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, number>();
  const byFile = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id)?.callFrame;
    if (!frame || frame.functionName === "(idle)") return;
    // A sample stands for the time until the next one.
    const us = profile.timeDeltas[i + 1] ?? 0;
    busy += us;
    const file = frame.url.replace(`file://${ROOT}/`, "").replace(/^file:\/\//, "") || "(native)";
    const key = `${frame.functionName || "(anonymous)"} ${file}${frame.url ? `:${frame.lineNumber + 1}` : ""}`;
    self.set(key, (self.get(key) ?? 0) + us);
    byFile.set(file, (byFile.get(file) ?? 0) + us);
  });
  const pct = (us: number) => `${((100 * us) / busy).toFixed(1)} %`;
  const top = (m: Map<string, number>, k: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k);
  return [
    `busy ${(busy / 1e6).toFixed(2)} s of ${((profile.endTime - profile.startTime) / 1e6).toFixed(2)} s profiled`,
    "",
    "| self time | function |",
    "|---|---|",
    ...top(self, n).map(([k, us]) => `| ${pct(us)} | \`${k}\` |`),
    "",
    "| self time | file |",
    "|---|---|",
    ...top(byFile, Math.min(n, 10)).map(([k, us]) => `| ${pct(us)} | \`${k}\` |`),
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// The benchmark.

type Mode = "direct" | "proxied";

interface Cost {
  cpu: number;
  requests: number;
  sealed: number;
  dropped: number;
  seconds: number;
}

async function main(): Promise<void> {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      interrupted = true;
      note(`${signal}: cleaning up`);
      void cleanupAll().finally(() => process.exit(130));
    });
  }
  await ensurePerfTools();
  const loadAtStart = loadavg()[0] ?? 0;
  const work = await mkdtemp(join(tmpdir(), "vigil-bench-proxy-"));
  cleanups.add(() => rm(work, { recursive: true, force: true }));
  log4jConfig = join(work, "log4j2.xml");
  await writeFile(
    log4jConfig,
    '<Configuration status="warn"><Appenders><Console name="e" target="SYSTEM_ERR"><PatternLayout pattern="%p %m%n"/></Console></Appenders><Loggers><Root level="warn"><AppenderRef ref="e"/></Root></Loggers></Configuration>\n',
  );

  note("starting the broker");
  const kafka = await startKafka({ sasl: false, relay: VIA === "relay" });
  cleanups.add(() => kafka.close());
  const proxy = await startProxy(VIA, kafka);
  cleanups.add(proxy.stop);
  const target: Record<Mode, string> = { direct: kafka.plaintext, proxied: proxy.address };
  note(`broker at ${kafka.plaintext}, proxy (${VIA_NAMES[VIA]}) at ${proxy.address}`);
  const admin = new Admin({ clientId: "vigil-bench-admin", bootstrapBrokers: [kafka.plaintext], retries: 5 });
  cleanups.add(() => admin.close());
  const createTopic = (name: string, partitions: number) =>
    admin.createTopics({ topics: [name], partitions, replicas: 1 });

  /** Runs `fn` and, when proxied, the proxy's CPU seconds and requests (audit events) over it. */
  const costed = async <T>(mode: Mode, fn: () => Promise<T>): Promise<{ result: T; cost?: Cost }> => {
    if (mode === "direct") return { result: await fn() };
    const stats0 = await proxy.settle();
    const cpu0 = await proxy.cpuSeconds();
    const started = performance.now();
    const result = await fn();
    const seconds = (performance.now() - started) / 1000;
    // The events of the run sealed (vigil serve) before the CPU is read, so their cost is in it.
    const stats1 = await proxy.settle();
    const cpu1 = await proxy.cpuSeconds();
    return {
      result,
      cost: {
        cpu: cpu1 - cpu0,
        requests: stats1.requests - stats0.requests,
        sealed: (stats1.sealed ?? 0) - (stats0.sealed ?? 0),
        dropped: (stats1.dropped ?? 0) - (stats0.dropped ?? 0),
        seconds,
      },
    };
  };

  const latencyRecords = LATENCY_RATE * LATENCY_SECONDS;
  const probeCount = PROBE_RATE * LATENCY_SECONDS;
  const r = {
    produce: { direct: [] as ProduceResult[], proxied: [] as ProduceResult[], cost: [] as Cost[] },
    consume: {
      direct: [] as Awaited<ReturnType<typeof consumePerf>>[],
      proxied: [] as Awaited<ReturnType<typeof consumePerf>>[],
      cost: [] as Cost[],
    },
    latency: { direct: [] as ProduceResult[], proxied: [] as ProduceResult[], cost: [] as Cost[] },
    probe: {
      direct: [] as { p50: number; p99: number; p999: number; mean: number }[],
      proxied: [] as { p50: number; p99: number; p999: number; mean: number }[],
      cost: [] as Cost[],
    },
  };
  const probeTopic = "bench-probe";
  if (MEASURE.has("probe")) await createTopic(probeTopic, 1);

  // Not measured: the broker (C1 only) and the proxy compile their hot paths, and both tools' first runs go.
  const warmup = Math.min(RECORDS, WARMUP_RECORDS);
  if (warmup > 0) {
    note(`warming up: ${warmup.toLocaleString("en-US")} records produced and consumed each way`);
    for (const mode of ["direct", "proxied"] as const) {
      const topic = `bench-warmup-${mode}`;
      await createTopic(topic, PARTITIONS);
      await producePerf(target[mode], topic, warmup, -1, ["linger.ms=5"]);
      await consumePerf(target[mode], topic, warmup, `bench-warmup-${mode}`);
      await admin.deleteTopics({ topics: [topic] });
    }
  }

  for (let round = 1; round <= RUNS; round++) {
    // Alternate which goes first, so neither always runs on a warmer broker (or a busier machine).
    const order: Mode[] = round % 2 === 1 ? ["direct", "proxied"] : ["proxied", "direct"];
    const topics: string[] = [];
    const line: string[] = [];
    if (MEASURE.has("produce") || MEASURE.has("consume")) {
      for (const mode of order) {
        const topic = `bench-tput-${round}-${mode}`;
        await createTopic(topic, PARTITIONS);
        topics.push(topic);
        if (!MEASURE.has("produce") && mode === "proxied") continue;
        // Without the produce measurement, the direct topic is still filled for the consumers.
        const { result, cost } = await costed(mode, () =>
          producePerf(target[MEASURE.has("produce") ? mode : "direct"], topic, RECORDS, -1, ["linger.ms=5"]),
        );
        if (!MEASURE.has("produce")) continue;
        r.produce[mode].push(result);
        if (cost) r.produce.cost.push(cost);
        line.push(
          `produce ${mode} ${result.mbPerSec.toFixed(1)} MB/s (start ${(100 * result.overhead).toFixed(1)} %)`,
        );
      }
    }
    if (MEASURE.has("consume")) {
      for (const mode of order) {
        const { result, cost } = await costed(mode, () =>
          consumePerf(target[mode], `bench-tput-${round}-direct`, RECORDS, `bench-${round}-${mode}`),
        );
        r.consume[mode].push(result);
        if (cost) r.consume.cost.push(cost);
        line.push(`consume ${mode} ${result.fetchMbPerSec.toFixed(1)} MB/s`);
      }
    }
    for (const topic of topics) await admin.deleteTopics({ topics: [topic] });
    if (MEASURE.has("latency")) {
      for (const mode of order) {
        const topic = `bench-latency-${round}-${mode}`;
        await createTopic(topic, PARTITIONS);
        const { result, cost } = await costed(mode, () =>
          producePerf(target[mode], topic, latencyRecords, LATENCY_RATE, ["linger.ms=0"]),
        );
        r.latency[mode].push(result);
        if (cost) r.latency.cost.push(cost);
        line.push(`${LATENCY_RATE}/s ${mode} p50 ${result.p50Ms} p99 ${result.p99Ms} ms`);
        await admin.deleteTopics({ topics: [topic] });
      }
    }
    if (MEASURE.has("probe")) {
      for (const mode of order) {
        const { result, cost } = await costed(mode, () =>
          probe(target[mode], probeTopic, PROBE_RATE, probeCount),
        );
        const sorted = result.sort((a, b) => a - b);
        const summary = {
          p50: percentile(sorted, 50),
          p99: percentile(sorted, 99),
          p999: percentile(sorted, 99.9),
          mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
        };
        r.probe[mode].push(summary);
        if (cost) r.probe.cost.push(cost);
        line.push(`probe ${mode} p50 ${summary.p50.toFixed(3)} p99 ${summary.p99.toFixed(3)} ms`);
      }
    }
    note(`run ${round}/${RUNS}: ${line.join(", ")}`);
  }

  let profileLines: string[] = [];
  if (PROFILE) {
    // A fresh proxy under the profiler (the measured one is stopped first, so only one shares the cores).
    await proxy.stop();
    cleanups.delete(proxy.stop);
    const dir = join(ROOT, "bench/.work", `proxy-profile-${new Date().toISOString().replace(/[:.]/g, "-")}`);
    await mkdir(dir, { recursive: true });
    const profiled = await startProxy(VIA, kafka, dir);
    cleanups.add(profiled.stop);
    const topic = "bench-profile";
    await createTopic(topic, PARTITIONS);
    // Its own warm-up, then the run the profile is about.
    const warm = Math.min(RECORDS, WARMUP_RECORDS);
    await producePerf(profiled.address, topic, warm, -1, ["linger.ms=5"]);
    let what: string;
    if (PROFILE === "probe") {
      const rtts = (await probe(profiled.address, topic, PROBE_RATE, probeCount)).sort((a, b) => a - b);
      what = `the request probe, ${n0(PROBE_WARMUP + probeCount)} Produce requests at ${n0(PROBE_RATE)}/s (p50 ${percentile(rtts, 50).toFixed(3)} ms, p99 ${percentile(rtts, 99).toFixed(3)} ms with the profiler on)`;
    } else {
      const result = await producePerf(profiled.address, topic, RECORDS, -1, ["linger.ms=5"]);
      what = `${n0(RECORDS)} × 1 KiB produced unthrottled (${result.mbPerSec} MB/s with the profiler on)`;
    }
    await profiled.settle();
    await profiled.stop();
    await admin.deleteTopics({ topics: [topic] });
    note(`profiled: ${what}; profiles in ${dir}`);
    profileLines = [
      "",
      `CPU profile of a fresh proxy (${VIA_NAMES[VIA]}) over its whole life: a warm-up of ${n0(warm)} records produced, then ${what}; ${dir.replace(`${ROOT}/`, "")}`,
      ...(await profileSummary(dir)),
    ];
  }

  const javaVersion = (await run("java", ["-version"])).stderr.split("\n")[0] ?? "java";
  const rows: string[] = [];
  const fmt = (x: number, d = 1) =>
    x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
  const runsOf = (d: number[], p: number[], f: (x: number) => string) =>
    `${d.map(f).join(" / ")} → ${p.map(f).join(" / ")}`;
  const verdicts: string[] = [];
  const row = (
    what: string,
    d: number[],
    p: number[],
    unit: string,
    f: (x: number) => string,
    compare: "ratio" | "delta",
    target?: { limit: number; text: string },
  ) => {
    if (d.length === 0 || p.length === 0) return;
    const [md, mp] = [median(d), median(p)];
    const diff = compare === "ratio" ? mp / md : mp - md;
    const shown =
      compare === "ratio" ? `${fmt(100 * diff, 1)} %` : `${diff >= 0 ? "+" : ""}${f(diff)} ${unit}`;
    let verdict = "";
    if (target) {
      const met = compare === "ratio" ? diff >= target.limit : diff <= target.limit;
      verdict = `${target.text}: ${met ? "met" : "NOT met"}`;
      verdicts.push(`- ${what}: ${shown} (${verdict})`);
    }
    rows.push(
      `| ${what} | ${f(md)} ${unit} | ${f(mp)} ${unit} | ${shown} | ${verdict} | ${runsOf(d, p, f)} |`,
    );
  };
  const pick = <T>(xs: T[], f: (x: T) => number) => xs.map(f);
  const ms1 = (x: number) => fmt(x, 1);
  const ms3 = (x: number) => fmt(x, 3);

  const P = r.produce;
  row(
    `produce throughput, ${n0(RECORDS)} × 1 KiB, acks=all, linger.ms=5`,
    pick(P.direct, (x) => x.mbPerSec),
    pick(P.proxied, (x) => x.mbPerSec),
    "MB/s",
    ms1,
    "ratio",
    { limit: 0.9, text: "≥ 90 %" },
  );
  row(
    "produce records/s",
    pick(P.direct, (x) => x.recordsPerSec),
    pick(P.proxied, (x) => x.recordsPerSec),
    "",
    n0,
    "ratio",
  );
  row(
    "produce latency p50 at full throughput",
    pick(P.direct, (x) => x.p50Ms),
    pick(P.proxied, (x) => x.p50Ms),
    "ms",
    n0,
    "delta",
  );
  row(
    "produce latency p99 at full throughput",
    pick(P.direct, (x) => x.p99Ms),
    pick(P.proxied, (x) => x.p99Ms),
    "ms",
    n0,
    "delta",
  );
  const C = r.consume;
  row(
    `consume throughput (fetch MB/s, group join left out), ${n0(RECORDS)} × 1 KiB`,
    pick(C.direct, (x) => x.fetchMbPerSec),
    pick(C.proxied, (x) => x.fetchMbPerSec),
    "MB/s",
    ms1,
    "ratio",
    { limit: 0.9, text: "≥ 90 %" },
  );
  row(
    "consume MB/s including the group join",
    pick(C.direct, (x) => x.mbPerSec),
    pick(C.proxied, (x) => x.mbPerSec),
    "MB/s",
    ms1,
    "ratio",
  );
  const L = r.latency;
  const at = `at ${n0(LATENCY_RATE)} records/s (ProducerPerformance, linger.ms=0, acks=all, ${LATENCY_SECONDS} s)`;
  row(
    `produce latency avg ${at}`,
    pick(L.direct, (x) => x.avgMs),
    pick(L.proxied, (x) => x.avgMs),
    "ms",
    (x) => fmt(x, 2),
    "delta",
  );
  row(
    `produce latency p50 ${at}`,
    pick(L.direct, (x) => x.p50Ms),
    pick(L.proxied, (x) => x.p50Ms),
    "ms",
    n0,
    "delta",
  );
  row(
    `produce latency p99 ${at}`,
    pick(L.direct, (x) => x.p99Ms),
    pick(L.proxied, (x) => x.p99Ms),
    "ms",
    n0,
    "delta",
    {
      limit: 1,
      text: "added ≤ 1 ms",
    },
  );
  const Q = r.probe;
  const rt = `Produce round trip at ${n0(PROBE_RATE)} requests/s (1 record of 1 KiB, acks=all, ${n0(probeCount)} timed)`;
  row(
    `${rt}, mean`,
    pick(Q.direct, (x) => x.mean),
    pick(Q.proxied, (x) => x.mean),
    "ms",
    ms3,
    "delta",
  );
  row(
    `${rt}, p50`,
    pick(Q.direct, (x) => x.p50),
    pick(Q.proxied, (x) => x.p50),
    "ms",
    ms3,
    "delta",
  );
  row(
    `${rt}, p99`,
    pick(Q.direct, (x) => x.p99),
    pick(Q.proxied, (x) => x.p99),
    "ms",
    ms3,
    "delta",
    {
      limit: 1,
      text: "added ≤ 1 ms",
    },
  );
  row(
    `${rt}, p99.9`,
    pick(Q.direct, (x) => x.p999),
    pick(Q.proxied, (x) => x.p999),
    "ms",
    ms3,
    "delta",
  );

  // The proxy's CPU: per MiB moved, per 1,000 requests, and the cores it kept busy.
  const costRows: string[] = [];
  const costRow = (what: string, costs: Cost[], mib: number, mbPerSec: number | undefined) => {
    if (costs.length === 0) return;
    const perMib = median(costs.map((c) => (1000 * c.cpu) / mib));
    // ms of CPU per 1,000 requests = µs per request.
    const perK = median(costs.map((c) => (1e6 * c.cpu) / Math.max(1, c.requests)));
    const cores = median(costs.map((c) => c.cpu / c.seconds));
    const requests = median(costs.map((c) => c.requests));
    const sealed = costs.reduce((a, c) => a + c.sealed, 0);
    const dropped = costs.reduce((a, c) => a + c.dropped, 0);
    const trail = VIA === "serve" ? ` ${n0(sealed)} / ${n0(dropped)} |` : "";
    costRows.push(
      `| ${what} | ${mbPerSec === undefined ? "" : `${fmt(mbPerSec, 1)} MB/s`} | ${VIA === "relay" ? "—" : n0(requests)} | ${fmt(perMib, 2)} ms | ${VIA === "relay" ? "—" : `${fmt(perK, 1)} ms`} | ${fmt(cores, 2)} |${trail}`,
    );
  };
  const payload = (RECORDS * RECORD_SIZE) / MIB;
  costRow(
    "produce, unthrottled",
    P.cost,
    payload,
    P.proxied.length ? median(pick(P.proxied, (x) => x.mbPerSec)) : undefined,
  );
  costRow(
    "consume, unthrottled",
    C.cost,
    payload,
    C.proxied.length ? median(pick(C.proxied, (x) => x.fetchMbPerSec)) : undefined,
  );
  costRow(
    `produce at ${n0(LATENCY_RATE)} records/s`,
    L.cost,
    (latencyRecords * RECORD_SIZE) / MIB,
    (LATENCY_RATE * RECORD_SIZE) / MIB,
  );
  costRow(
    `probe, ${n0(PROBE_RATE)} Produce requests/s`,
    Q.cost,
    ((PROBE_WARMUP + probeCount) * RECORD_SIZE) / MIB,
    (PROBE_RATE * RECORD_SIZE) / MIB,
  );

  const overheads = [...P.direct, ...P.proxied].map((x) => x.overhead);
  if (overheads.length && median(overheads) > 0.05)
    note(
      `the producer's JVM start and connect took ${(100 * median(overheads)).toFixed(1)} % of a throughput run: raise BENCH_PROXY_RECORDS`,
    );
  process.stdout.write(
    [
      "",
      `Date: ${new Date().toISOString().slice(0, 10)} · Node ${process.version} · ${cpus().length} × ${cpus()[0]?.model ?? "cpu"} · ${(totalmem() / 2 ** 30).toFixed(0)} GiB · ${javaVersion}`,
      `Load average (1 min) at start ${loadAtStart.toFixed(2)}, at end ${(loadavg()[0] ?? 0).toFixed(2)} (the cores are shared: above ~1 other work competed with the run)`,
      `Broker: Apache Kafka 4.4.0, one KRaft node, PLAINTEXT, as test/support/kafka.ts starts it (-Xmx512m, serial GC, C1 only); ` +
        `tools: kafka-tools ${toolsVersion} ProducerPerformance / ConsumerPerformance with kafka-clients ${toolsVersion}; ${PARTITIONS} partitions; ` +
        (VIA === "serve"
          ? "proxy: `vigil serve` with a kafka_proxy source (every event sealed into the journal, search index on; " +
            (WINDOW_MS === undefined
              ? "identical produce, consume, describe and heartbeat requests folded per 500 ms window, the default)"
              : Number(WINDOW_MS) === 0
                ? "aggregate.window_ms 0: one event per request)"
                : `identical requests folded per ${Number(WINDOW_MS)} ms window)`)
          : VIA === "relay"
            ? "proxied: a TCP relay reading nothing (BENCH_PROXY_VIA=relay), the floor for any proxy on this machine"
            : "proxy: a bare KafkaProxy in its own Node process (BENCH_PROXY_VIA=process), every event JSON-serialised and counted"),
      `Command: BENCH_RUNS=${RUNS} BENCH_PROXY_RECORDS=${RECORDS} BENCH_PROXY_PARTITIONS=${PARTITIONS} BENCH_PROXY_LATENCY_RATE=${LATENCY_RATE} ` +
        `BENCH_PROXY_LATENCY_SECONDS=${LATENCY_SECONDS} BENCH_PROXY_PROBE_RATE=${PROBE_RATE} BENCH_PROXY_WARMUP_RECORDS=${WARMUP_RECORDS}` +
        `${WINDOW_MS === undefined ? "" : ` BENCH_PROXY_WINDOW_MS=${Number(WINDOW_MS)}`} npm run bench:proxy` +
        (overheads.length
          ? ` (producer JVM start and connect: median ${fmt(100 * median(overheads), 1)} % of a throughput run's wall time)`
          : ""),
      "",
      "| measurement | direct (median) | through the proxy (median) | proxied / direct, or added | target | runs (direct → proxied) |",
      "|---|---|---|---|---|---|",
      ...rows,
      "",
      `The ${VIA === "serve" ? "vigil serve" : "proxy"} process's CPU (user + system, all threads) over each proxied measurement${VIA === "serve" ? " until its events were sealed" : ""}, medians; MiB of record payload; requests audited (with vigil serve, identical ones folded into one event per window count each):`,
      "",
      `| proxied workload | rate | requests | proxy CPU per MiB | proxy CPU per 1,000 requests | proxy cores busy |${VIA === "serve" ? " events sealed / dropped (all runs) |" : ""}`,
      `|---|---|---|---|---|---|${VIA === "serve" ? "---|" : ""}`,
      ...costRows,
      "",
      "Targets:",
      ...verdicts,
      ...profileLines,
      "",
    ].join("\n"),
  );
}

if (process.argv[2] === "--relay") {
  const [listen, upstream] = process.argv.slice(3);
  if (!listen || !upstream)
    throw new Error("usage: node bench/proxy.ts --relay <host:port> <broker host:port>");
  await relay(listen, upstream);
} else if (process.argv[2] === "--serve-proxy") {
  const upstream = process.argv[3];
  if (!upstream) throw new Error("usage: node bench/proxy.ts --serve-proxy <broker host:port>");
  await serveProxy(upstream);
} else {
  try {
    await main();
  } catch (err) {
    // What ^C killed fails too: the signal's handler cleans up and exits.
    if (interrupted) await new Promise(() => {});
    throw err;
  } finally {
    await cleanupAll();
  }
}
