/**
 * `npm run bench:search`: search over the index against jq on the same log (issue 6, point 7), in one run per
 * size of BENCH_SEARCH_SIZES (default 1,000,000 and 10,000,000 events):
 *
 * 1. A realistic native event log is generated (seeded by its size: the same events in every run, ending at the
 *    time of the run): events over the 90 days before now in time order, 31 event types and 5,000 actors with
 *    skewed frequencies, environments, resources and `details` with a free-text `message` (or `reason`), in
 *    which a rare word (RARE_WORD) appears in about 0.1 % of events. They are sealed into a real data directory
 *    by the server's own ingest path (`prepareEvents` → `Pipeline.ingest`: policy, canonicalization, sealing with
 *    the data directory's key, journal with group commit), as `vigil serve` does for `POST /v1/events`, minus
 *    HTTP. The journal's segments are then concatenated into `<data-dir>/audit.log`: the native file destination
 *    writes exactly those lines, so this is the file `vigil serve` would have written, and its default file
 *    destination continues it.
 * 2. `vigil reindex` builds the index from the journal (CLI, process start included): events/s and disk size.
 * 3. jq (installed by scripts/deps/jq when missing) answers the three questions on audit.log the way the spec
 *    does (`jq … audit.log | wc -l`, `jq -r .event.event_type | sort | uniq -c`), BENCH_JQ_RUNS times (default 3,
 *    1 from 10M events on). It runs before the server starts, so audit.log holds only the generated events.
 * 4. A real `vigil serve` (audit.index.enabled) on that data directory; once its index, file destination and
 *    checkpointer have caught up, each question is asked over HTTP as `vigil query` asks it (GET /v1/events,
 *    every page, or GET /v1/events/aggregate, with the admin token): one warm-up, then the median of BENCH_RUNS
 *    (default 5). Then `vigil query … --format ndjson` once per question, process start included.
 * 5. Every answer (HTTP, CLI, jq) is checked against the others and against the generator's own tally; any
 *    difference fails the bench (comparing times of different answers would be worthless).
 * 6. The index follows ingest: with the server stopped, the real IndexDestination behind the real
 *    JournalConsumer on that data directory (index and journal as the server left them), while records are
 *    appended to the journal at BENCH_SEARCH_FOLLOW_RATE (50,000) events/s for BENCH_SEARCH_FOLLOW_SECONDS (10);
 *    the records are sealed before timing. Reports the rate achieved and the largest lag, in records and in
 *    seconds (the consumer's own lag figure), as bench/destinations.ts does for destinations (whose sustained
 *    loop is copied here: it does not export it).
 *
 * The questions: count by event_type (no filter), a selective filter (one actor and one event type over the 7
 * days before the newest event, given as `from` so Vigil and jq — which run minutes apart — look at the same
 * window; the pair is the one whose answer is nearest max(20, events / 10,000) in the generator's tally), and
 * `details.message.contains(RARE_WORD)` over everything. Each size prints a Markdown table and whether the
 * issue's targets are met. Everything (temporary directories, the server) is removed, also on failure or ^C.
 *
 * Disk: the journal and audit.log take ~1 KB per event each (about 20 GB together at 10M), the index about
 * 0.45 × audit.log more.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { cpus, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { pipeline as pipe } from "node:stream/promises";
import { DuckDBInstance } from "@duckdb/node-api";
import { DEFAULT_SEGMENT_BYTES } from "../src/config/types.ts";
import type { EventOrigin } from "../src/event/schema.ts";
import { DEFAULT_EVENT_LIMITS, prepareEvents } from "../src/event/validate.ts";
import { INDEX_DELIVERY, IndexDestination } from "../src/index/destination.ts";
import { canonicalize } from "../src/integrity/canonical.ts";
import { Sealer } from "../src/integrity/chain.ts";
import { loadOrCreateLocalKey } from "../src/integrity/keys.ts";
import { CursorStore } from "../src/journal/cursor.ts";
import { journalDir, listSegments } from "../src/journal/segment.ts";
import { JournalWriter } from "../src/journal/writer.ts";
import { JournalConsumer } from "../src/pipeline/consumer.ts";
import { Pipeline } from "../src/pipeline/pipeline.ts";
import { RecentIds } from "../src/pipeline/recent-ids.ts";
import { compileRedaction } from "../src/policy/redact.ts";
import { compilePolicy } from "../src/policy/rules.ts";
import { startServer } from "./server.ts";

const ROOT = resolve(import.meta.dirname, "..");
const VIGIL = join(ROOT, "bin/vigil");
const SIZES = (process.env.BENCH_SEARCH_SIZES ?? "1000000,10000000").split(",").map((s) => Number(s.trim()));
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const FOLLOW_RATE = Number(process.env.BENCH_SEARCH_FOLLOW_RATE ?? 50_000);
const FOLLOW_SECONDS = Number(process.env.BENCH_SEARCH_FOLLOW_SECONDS ?? 10);
const jqRuns = (events: number) => Number(process.env.BENCH_JQ_RUNS ?? (events >= 10_000_000 ? 1 : 3));

/** Appears in `details.message` of about 0.1 % of the events, nowhere else. */
const RARE_WORD = "xylophage";
const DAY = 86_400_000;
/** Events per ingest call while generating, and calls in flight (so the journal's group commit works). */
const BATCH = 1000;
const IN_FLIGHT = 4;

for (const n of SIZES) {
  if (!Number.isSafeInteger(n) || n < 1000) throw new Error(`BENCH_SEARCH_SIZES: ${n} is not a size ≥ 1000`);
}

const note = (msg: string) => process.stderr.write(`bench:search: ${msg}\n`);
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (x: number) => (x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? (s[(s.length - 1) / 2] as number)
    : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

// ---------------------------------------------------------------------------------------------------------------
// Cleanup, also on ^C: the temporary directories and the server of the size being measured.

const cleanups = new Set<() => Promise<void>>();
async function cleanupAll(): Promise<void> {
  for (const c of [...cleanups].reverse()) await c().catch(() => {});
  cleanups.clear();
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    note(`${signal}: cleaning up`);
    void cleanupAll().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The event log.

/** mulberry32: a small seeded generator, so every run generates the same log. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Picks index i with probability weights[i] / sum, by binary search in the cumulative weights. */
function picker(weights: number[]): (r: number) => number {
  const cumulative: number[] = [];
  let sum = 0;
  for (const w of weights) {
    sum += w;
    cumulative.push(sum);
  }
  return (r) => {
    const target = r * sum;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cumulative[mid] as number) > target) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
}

/** Event types with their relative frequency, resource type and operation. */
const TYPES: [type: string, weight: number, resource: string, operation: string][] = [
  ["k8s.get", 180, "pods", "get"],
  ["k8s.list", 140, "pods", "list"],
  ["k8s.watch", 110, "configmaps", "watch"],
  ["auth.login", 80, "session", "login"],
  ["access.granted", 70, "topic", "read"],
  ["k8s.update", 45, "deployments", "update"],
  ["k8s.patch", 40, "deployments", "patch"],
  ["backup.completed", 40, "backup", "backup"],
  ["backup.started", 40, "backup", "backup"],
  ["auth.logout", 35, "session", "logout"],
  ["k8s.create", 30, "pods", "create"],
  ["access.denied", 25, "topic", "read"],
  ["topic.config_changed", 18, "topic", "alter_config"],
  ["k8s.delete", 15, "pods", "delete"],
  ["auth.failed", 15, "session", "login"],
  ["secret.accessed", 12, "secrets", "get"],
  ["auth.token_refresh", 12, "token", "refresh"],
  ["config.changed", 10, "config", "update"],
  ["backup.failed", 6, "backup", "backup"],
  ["k8s.exec", 6, "pods/exec", "create"],
  ["acl.created", 5, "acl", "create"],
  ["topic.created", 5, "topic", "create"],
  ["restore.started", 4, "backup", "restore"],
  ["restore.completed", 4, "backup", "restore"],
  ["acl.deleted", 3, "acl", "delete"],
  ["role.assigned", 3, "rolebinding", "create"],
  ["user.created", 2, "user", "create"],
  ["topic.deleted", 2, "topic", "delete"],
  ["role.revoked", 2, "rolebinding", "delete"],
  ["restore.failed", 1, "backup", "restore"],
  ["user.deleted", 1, "user", "delete"],
];
const ACTORS = 5000;
const NAMESPACES = ["default", "kafka", "payments", "orders", "monitoring", "kube-system", "ingress", "data"];
const TOPICS = ["orders", "payments", "users", "inventory", "clickstream", "audit", "billing", "shipments"];
const ROLES = [["admin"], ["developer"], ["backup-operator"], ["sre", "developer"], ["analyst"], ["auditor"]];
const AGENTS = ["kubectl/v1.31.2 (linux/amd64)", "vigil-sdk-python/1.4.0", "Mozilla/5.0 (X11; Linux x86_64)"];
const ENVIRONMENTS: [env: string, cluster: string][] = [
  ["production", "prod-us-west-2"],
  ["production", "prod-eu-central-1"],
  ["staging", "staging-us-east-1"],
  ["development", "dev-local"],
];
const REASONS = ["insufficient_permissions", "token_expired", "invalid_credentials", "ip_not_allowed"];
const WORDS = ["scheduled", "manual", "retry", "nightly", "policy", "operator", "rollout", "canary", "quota"];

const pickType = picker(TYPES.map((t) => t[1]));
const pickActor = picker(Array.from({ length: ACTORS }, (_, k) => 1 / (k + 1) ** 0.9));
const pickEnvironment = picker([35, 20, 30, 15]);

function actorOf(k: number): Record<string, unknown> {
  const service = k % 5 === 0;
  return {
    type: service ? "service_account" : "user",
    id: service
      ? `system:serviceaccount:${NAMESPACES[k % NAMESPACES.length]}:worker-${k}`
      : `user${String(k).padStart(4, "0")}@company.com`,
    roles: service ? ["system:serviceaccounts"] : (ROLES[k % ROLES.length] as string[]),
    ip_address: `10.${(k >> 8) & 255}.${k & 255}.${(k * 7) % 250}`,
    user_agent: AGENTS[k % AGENTS.length],
  };
}

/** What the generator knows the answers are. */
interface Truth {
  byType: Map<string, number>;
  /** Events per `actor.id \0 event_type` at or after `from`. */
  pairs: Map<string, number>;
  rare: number;
}

/** The events of one log: `count` events from `start`, `spanMs` apart in total, in time order. */
class EventLog {
  readonly #rand: () => number;
  readonly #count: number;
  readonly #start: number;
  readonly #span: number;
  readonly #from: number;
  readonly #actors = Array.from({ length: ACTORS }, (_, k) => actorOf(k));
  readonly truth: Truth = { byType: new Map(), pairs: new Map(), rare: 0 };

  constructor(seed: number, count: number, start: number, spanMs: number, from: number) {
    this.#rand = random(seed);
    this.#count = count;
    this.#start = start;
    this.#span = spanMs;
    this.#from = from;
  }

  timestampOf(i: number): number {
    return this.#start + Math.floor((i * this.#span) / this.#count);
  }

  event(i: number): Record<string, unknown> {
    const r = this.#rand;
    const [type, , resourceType, operation] = TYPES[pickType(r())] as (typeof TYPES)[number];
    const k = pickActor(r());
    const actor = this.#actors[k] as Record<string, unknown>;
    const [environment, cluster] = ENVIRONMENTS[pickEnvironment(r())] as [string, string];
    const ns = NAMESPACES[Math.floor(r() * NAMESPACES.length)] as string;
    const topic = TOPICS[Math.floor(r() * TOPICS.length)] as string;
    const word = WORDS[Math.floor(r() * WORDS.length)] as string;
    const family = type.slice(0, type.indexOf("."));
    const failed = type.endsWith(".failed") || (family === "k8s" && r() < 0.02);
    const name = `${resourceType.split("/")[0]}-${Math.floor(r() * 2000)}`;
    const path =
      family === "k8s" || resourceType === "secrets"
        ? `/api/v1/namespaces/${ns}/${resourceType}/${name}`
        : family === "backup" || family === "restore"
          ? `s3://kafka-backups/${environment}/${topic}/`
          : `kafka://${cluster}/${resourceType}/${topic}`;
    const timestamp = this.timestampOf(i);
    const details: Record<string, unknown> = {};
    let message: string;
    switch (family) {
      case "backup":
      case "restore": {
        const records = Math.floor(r() * 5_000_000);
        details.records = records;
        details.bytes = records * 350;
        details.topics = [topic];
        message = `${word} ${family} of topic ${topic} ${failed ? "failed after" : "ran"} ${records} records`;
        break;
      }
      case "k8s":
        details.namespace = ns;
        details.response_code = failed ? 403 : 200;
        message = `${operation} ${resourceType} ${name} in namespace ${ns} (${word})`;
        break;
      case "auth":
      case "access":
        details.method = r() < 0.7 ? "sso" : "password";
        if (failed || type === "access.denied") details.reason = REASONS[Math.floor(r() * REASONS.length)];
        message = `${type} for ${String(actor.id)} on ${topic} via ${String(details.method)}`;
        break;
      default:
        details.change_id = `chg-${Math.floor(r() * 1e6)}`;
        message = `${word} ${operation} of ${resourceType} ${topic} by ${String(actor.id)}`;
    }
    // Half the events with a reason (denials, failed logins) carry no message: a filter on it must skip them.
    if (details.reason === undefined || r() < 0.5) {
      if (r() < 0.001) {
        message += `; scanner flagged ${RARE_WORD} signature`;
        this.truth.rare++;
      }
      details.message = message;
    }
    this.truth.byType.set(type, (this.truth.byType.get(type) ?? 0) + 1);
    if (timestamp >= this.#from) {
      const key = `${String(actor.id)}\u0000${type}`;
      this.truth.pairs.set(key, (this.truth.pairs.get(key) ?? 0) + 1);
    }
    return {
      event_type: type,
      timestamp: new Date(timestamp).toISOString(),
      actor,
      resource: { type: resourceType, id: name, path },
      action: {
        operation,
        result: failed ? "failure" : type === "access.denied" ? "denied" : "success",
        duration_ms: Math.floor(r() ** 3 * 60_000),
      },
      context: {
        cluster_id: cluster,
        environment,
        correlation_id: `req_${((i * 2654435761) >>> 0).toString(16)}`,
      },
      details,
    };
  }

  get count(): number {
    return this.#count;
  }
}

/** A pipeline over the data directory's journal and key, as `vigil serve` builds it (no HTTP). */
async function openIngest(dataDir: string) {
  const { key } = await loadOrCreateLocalKey(dataDir);
  const { writer, recovery } = await JournalWriter.open({
    dir: journalDir(dataDir),
    segmentBytes: DEFAULT_SEGMENT_BYTES,
  });
  const pipeline = new Pipeline({
    sealer: new Sealer(key, recovery.head),
    writer,
    policy: compilePolicy({ excludeEvents: [] }),
    redaction: compileRedaction({}),
    limits: DEFAULT_EVENT_LIMITS,
    failurePolicy: "reject",
    queueMaxEvents: 1_000_000,
    counters: { sealed() {}, excluded() {}, dropped() {}, duplicates() {} },
    recentIds: new RecentIds(),
    log: note,
  });
  return { key, writer, recovery, pipeline };
}

const ORIGIN: EventOrigin = { source: "http", address: "10.0.0.10", token: "ingest" };

/** Seals the log into dataDir's journal; each batch is received (received_at) just after its last event. */
async function generate(dataDir: string, log: EventLog): Promise<void> {
  const { writer, pipeline } = await openIngest(dataDir);
  const started = performance.now();
  const inFlight: Promise<unknown>[] = [];
  try {
    for (let first = 0; first < log.count; first += BATCH) {
      const last = Math.min(log.count, first + BATCH);
      const items = [];
      for (let i = first; i < last; i++) items.push({ value: log.event(i) });
      const receivedAt = new Date(log.timestampOf(last - 1) + 200);
      inFlight.push(pipeline.ingest(prepareEvents(items, ORIGIN, DEFAULT_EVENT_LIMITS, receivedAt)));
      if (inFlight.length >= IN_FLIGHT) await inFlight.shift();
      if (last % 1_000_000 === 0 && last < log.count) {
        note(`  sealed ${fmt(last)} events (${fmt(last / ((performance.now() - started) / 1000))}/s)`);
      }
    }
    await Promise.all(inFlight);
  } catch (e) {
    await Promise.allSettled(inFlight); // none left to reject unhandled
    throw e;
  } finally {
    await writer.close();
  }
  note(`  sealed ${fmt(log.count)} events in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/** audit.log as the native file destination writes it: every journal segment's lines, in order. */
async function writeAuditLog(dataDir: string, path: string): Promise<void> {
  let flags = "w";
  for (const segment of await listSegments(journalDir(dataDir))) {
    await pipe(createReadStream(segment.path), createWriteStream(path, { flags, mode: 0o600 }));
    flags = "a";
  }
}

async function sizeOf(path: string): Promise<number> {
  const s = await stat(path).catch(() => undefined);
  if (!s) return 0;
  if (!s.isDirectory()) return s.size;
  let total = 0;
  for (const name of await readdir(path)) total += await sizeOf(join(path, name));
  return total;
}

// ---------------------------------------------------------------------------------------------------------------
// Child processes: vigil CLI and jq pipelines.

function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ stdout: string; seconds: number }> {
  const started = performance.now();
  return new Promise((ok, fail) => {
    const child: ChildProcess = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const stop = async () => {
      child.kill("SIGTERM");
    };
    cleanups.add(stop);
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.once("error", fail);
    child.once("exit", (code) => {
      cleanups.delete(stop);
      if (code === 0) ok({ stdout, seconds: (performance.now() - started) / 1000 });
      else fail(new Error(`${command} ${args.join(" ")} exited ${code}: ${stderr.trim()}`));
    });
  });
}

/** A shell pipeline (pipefail) with the given environment, for jq; its output and wall time. */
const shell = (script: string, env: NodeJS.ProcessEnv) =>
  run("bash", ["-c", `set -euo pipefail; ${script}`], { LC_ALL: "C", ...env });

async function ensureJq(): Promise<string> {
  const installed = await run(join(ROOT, "scripts/deps/jq"), []);
  note(installed.stdout.trim());
  return (await run("jq", ["--version"])).stdout.trim();
}

// ---------------------------------------------------------------------------------------------------------------
// The questions.

/** The answer to compare: a count per key (count-by) or the number of events found. */
type Answer = Map<string, number> | number;

interface Question {
  name: string;
  /** GET /v1/events/aggregate (by) or GET /v1/events (every page). */
  http: { aggregate: boolean; params: Record<string, string> };
  /** `vigil query` arguments besides --url/--token/--format. */
  cli: string[];
  /** The jq pipeline (env: LOG, plus these) and how to read its output. */
  jq: { script: string; env: Record<string, string>; parse: (stdout: string) => Answer };
  truth: Answer;
}

function questions(log: EventLog, from: string): Question[] {
  const target = Math.max(20, Math.round(log.count / 10_000));
  let best: [string, number] | undefined;
  for (const [key, n] of [...log.truth.pairs].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (!best || Math.abs(n - target) < Math.abs(best[1] - target)) best = [key, n];
  }
  const [pair, pairCount] = best ?? ["\u0000", 0];
  const [actor, type] = pair.split("\u0000") as [string, string];
  const selective = `actor.id == '${actor}' and event_type == '${type}'`;
  const rare = `details.message.contains('${RARE_WORD}')`;
  return [
    {
      name: "count by event_type",
      http: { aggregate: true, params: { by: "event_type" } },
      cli: ["--count-by", "event_type"],
      jq: {
        script: `jq -r '.event.event_type' "$LOG" | sort | uniq -c`,
        env: {},
        parse: (stdout) =>
          new Map(
            stdout
              .split("\n")
              .filter((l) => l.trim() !== "")
              .map((l) => {
                const [, n, key] = /^\s*(\d+) (.*)$/.exec(l) ?? [];
                return [String(key), Number(n)];
              }),
          ),
      },
      truth: log.truth.byType,
    },
    {
      name: `selective: \`${selective}\` over the last 7 days`,
      http: { aggregate: false, params: { q: selective, from } },
      cli: [selective, "--from", from],
      jq: {
        script:
          `jq -c --arg a "$ACTOR" --arg t "$TYPE" --arg f "$FROM" ` +
          `'.event | select(.actor.id == $a and .event_type == $t and .timestamp >= $f)' "$LOG" | wc -l`,
        env: { ACTOR: actor, TYPE: type, FROM: from },
        parse: (stdout) => Number(stdout.trim()),
      },
      truth: pairCount,
    },
    {
      name: `full text: \`${rare}\``,
      http: { aggregate: false, params: { q: rare } },
      cli: [rare],
      jq: {
        script: `jq -c --arg w "$WORD" '.event | select(.details.message | strings | contains($w))' "$LOG" | wc -l`,
        env: { WORD: RARE_WORD },
        parse: (stdout) => Number(stdout.trim()),
      },
      truth: log.truth.rare,
    },
  ];
}

function describe(a: Answer): string {
  return typeof a === "number"
    ? `${fmt(a)} events`
    : `${a.size} keys, ${fmt([...a.values()].reduce((x, y) => x + y, 0))} events`;
}

/** Fails loudly unless `got` is `want` (count-by: the same count for every key). */
function expectSame(what: string, got: Answer, want: Answer): void {
  const same =
    typeof got === "number" || typeof want === "number"
      ? got === want
      : got.size === want.size && [...want].every(([k, n]) => got.get(k) === n);
  if (!same) {
    const show = (a: Answer) => (typeof a === "number" ? String(a) : JSON.stringify([...a].sort()));
    throw new Error(`ANSWERS DIFFER: ${what}\n  got:      ${show(got)}\n  expected: ${show(want)}`);
  }
}

interface ServerHandle {
  url: URL;
  token: string;
}

async function getJson<T>(server: ServerHandle, path: string, params: Record<string, string>): Promise<T> {
  const res = await fetch(`${server.url.origin}${path}?${new URLSearchParams(params)}`, {
    headers: { authorization: `Bearer ${server.token}` },
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${path} answered ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** Asks one question over HTTP as `vigil query` does; count-by without the bench's own audit.read events. */
async function askHttp(server: ServerHandle, q: Question): Promise<Answer> {
  if (q.http.aggregate) {
    const { buckets } = await getJson<{ buckets: { key: string | null; count: number }[] }>(
      server,
      "/v1/events/aggregate",
      q.http.params,
    );
    return new Map(buckets.filter((b) => b.key !== "audit.read").map((b) => [String(b.key), b.count]));
  }
  let found = 0;
  let cursor: string | undefined;
  do {
    const page: { events: unknown[]; next_cursor?: string } = await getJson(server, "/v1/events", {
      ...q.http.params,
      limit: "10000",
      ...(cursor === undefined ? {} : { cursor }),
    });
    found += page.events.length;
    cursor = page.next_cursor;
  } while (cursor !== undefined);
  return found;
}

async function askCli(server: ServerHandle, q: Question): Promise<{ answer: Answer; seconds: number }> {
  const args = ["query", ...q.cli, "--format", "ndjson", "--limit", "999999999"];
  const out = await run(VIGIL, [...args, "--url", server.url.origin, "--token", server.token]);
  if (!q.http.aggregate)
    return { answer: out.stdout.split("\n").filter((l) => l !== "").length, seconds: out.seconds };
  const buckets = out.stdout
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as { key: string | null; count: number });
  return {
    answer: new Map(buckets.filter((b) => b.key !== "audit.read").map((b) => [String(b.key), b.count])),
    seconds: out.seconds,
  };
}

interface Status {
  checkpoints: { size: number };
  destinations: { name: string; deliveredSequence: number }[];
  index: { deliveredSequence?: number; state?: string; lastError?: string };
}

/** Waits until the server's index, destinations and checkpointer hold every record up to `head`. */
async function waitCaughtUp(server: ServerHandle, head: number): Promise<number> {
  const started = performance.now();
  let reported = started;
  for (;;) {
    if (performance.now() - started > 1_800_000) throw new Error("the server did not catch up in 30 minutes");
    const s = await getJson<Status>(server, "/v1/status", {});
    const positions: [string, number][] = [
      ["index", s.index.deliveredSequence ?? 0],
      ["checkpoints", s.checkpoints.size],
      ...s.destinations.map((d): [string, number] => [d.name, d.deliveredSequence]),
    ];
    const behind = positions.filter(([, at]) => at < head);
    if (s.index.state === "parked") throw new Error(`the index is parked: ${s.index.lastError}`);
    if (behind.length === 0) return (performance.now() - started) / 1000;
    if (performance.now() - reported > 10_000) {
      reported = performance.now();
      note(`  server catching up: ${behind.map(([name, at]) => `${name} at ${fmt(at)}`).join(", ")}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The index following ingest (the sustained loop of bench/destinations.ts).

/** Polls `done` until it holds; fails after `timeoutMs` rather than hang an unattended run. */
async function until(what: string, done: () => boolean, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Follow {
  appendedRate: number;
  indexedRate: number;
  maxLagRecords: number;
  maxLagSeconds: number;
  cores: number;
}

async function follow(dataDir: string, indexPath: string): Promise<Follow> {
  const { key, writer, recovery } = await openIngest(dataDir);
  const total = FOLLOW_RATE * FOLLOW_SECONDS;
  const consumer = new JournalConsumer(new IndexDestination(indexPath, "index"), {
    journalDir: journalDir(dataDir),
    writer,
    cursors: new CursorStore(dataDir),
    log: note,
    delivery: INDEX_DELIVERY,
  });
  try {
    // Sealed before timing, continuing the chain: the same kind of events, happening now.
    const sealer = new Sealer(key, recovery.head);
    const fresh = new EventLog(2, total, Date.now(), FOLLOW_SECONDS * 1000, Number.POSITIVE_INFINITY);
    const lines: string[] = [];
    for (let first = 0; first < total; first += BATCH) {
      const items = [];
      for (let i = first; i < Math.min(total, first + BATCH); i++) items.push({ value: fresh.event(i) });
      for (const e of prepareEvents(items, ORIGIN)) lines.push(sealer.seal(canonicalize(e)).line);
    }
    const head = recovery.head.sequence;
    await consumer.start();
    await until("the index consumer to start", () => {
      const s = consumer.status();
      if (s.state === "parked") throw new Error(`index parked: ${s.lastError}`);
      return s.state === "running" && s.deliveredSequence >= head;
    });
    const tickMs = 10;
    const perTick = Math.max(1, Math.round((FOLLOW_RATE * tickMs) / 1000));
    const cpu = process.cpuUsage();
    const started = performance.now();
    let maxLagRecords = 0;
    let maxLagSeconds = 0;
    let appended = 0;
    const sample = () => {
      const s = consumer.status();
      maxLagRecords = Math.max(maxLagRecords, head + appended - s.deliveredSequence);
      maxLagSeconds = Math.max(maxLagSeconds, s.lagSeconds);
      if (s.state === "parked") throw new Error(`index parked: ${s.lastError}`);
      return s.deliveredSequence;
    };
    while (appended < total) {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * FOLLOW_RATE) + perTick);
      if (due > appended) {
        await writer.append(lines.slice(appended, due), head + appended + 1);
        appended = due;
      }
      sample();
      await new Promise((r) => setTimeout(r, tickMs));
    }
    const appendSeconds = (performance.now() - started) / 1000;
    await until("the index to catch up", () => sample() >= head + total);
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    return {
      appendedRate: total / appendSeconds,
      indexedRate: total / seconds,
      maxLagRecords,
      maxLagSeconds,
      cores: (used.user + used.system) / 1e6 / seconds,
    };
  } finally {
    await consumer.stop();
    await writer.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// One size.

interface Row {
  question: Question;
  answer: Answer;
  vigil: number[];
  cliSeconds: number;
  jq: number[];
}

interface SizeResult {
  events: number;
  generateSeconds: number;
  reindexSeconds: number;
  indexBytes: number;
  auditLogBytes: number;
  journalBytes: number;
  catchUpSeconds: number;
  rows: Row[];
  follow: Follow;
}

async function measureSize(events: number): Promise<SizeResult> {
  const root = await mkdtemp(join(tmpdir(), "vigil-bench-search-"));
  const removeRoot = () => rm(root, { recursive: true, force: true });
  cleanups.add(removeRoot);
  try {
    const dataDir = join(root, "data");
    await mkdir(dataDir, { mode: 0o700 });
    const config = join(root, "vigil.yaml");
    await writeFile(config, "audit:\n  index:\n    enabled: true\n");
    const indexPath = join(dataDir, "index.duckdb");
    const auditLog = join(dataDir, "audit.log");

    // The newest event a minute ago, so none is in the future; the 7-day window is fixed from it.
    const end = Date.now() - 60_000;
    const from = new Date(end - 7 * DAY).toISOString();
    const log = new EventLog(events, events, end - 90 * DAY, 90 * DAY, Date.parse(from));
    note(`${fmt(events)} events: generating and sealing into ${dataDir}`);
    const genStarted = performance.now();
    await generate(dataDir, log);
    const generateSeconds = (performance.now() - genStarted) / 1000;
    await writeAuditLog(dataDir, auditLog);

    note("  vigil reindex");
    const reindex = await run(VIGIL, ["reindex", "--config", config, "--data-dir", dataDir]);
    // Before the server appends its audit.read records and the follow its own.
    const indexBytes = (await sizeOf(indexPath)) + (await sizeOf(`${indexPath}.wal`));
    const auditLogBytes = await sizeOf(auditLog);
    const journalBytes = await sizeOf(journalDir(dataDir));
    const qs = questions(log, from);

    const rows: Row[] = qs.map((question) => ({ question, answer: 0, vigil: [], cliSeconds: 0, jq: [] }));
    for (const row of rows) {
      for (let r = 0; r < jqRuns(events); r++) {
        note(`  jq ${r + 1}/${jqRuns(events)}: ${row.question.name}`);
        const { stdout, seconds } = await shell(row.question.jq.script, {
          LOG: auditLog,
          ...row.question.jq.env,
        });
        expectSame(
          `jq, ${row.question.name}, against the generator's tally`,
          row.question.jq.parse(stdout),
          row.question.truth,
        );
        row.jq.push(seconds);
      }
    }

    note("  vigil serve");
    const server = await startServer(dataDir, ["--config", config]);
    let stopped = false;
    // Bounded: after a ^C the server has its own SIGINT and may be gone already (stop() then never returns).
    const stopServer = async () => {
      if (stopped) return;
      stopped = true;
      await Promise.race([server.stop(), new Promise((r) => setTimeout(r, 15_000))]);
    };
    cleanups.add(stopServer);
    let catchUpSeconds: number;
    try {
      catchUpSeconds = await waitCaughtUp(server, events);
      for (const row of rows) {
        const q = row.question;
        note(`  vigil: ${q.name}`);
        expectSame(
          `Vigil (HTTP), ${q.name}, against the generator's tally`,
          await askHttp(server, q),
          q.truth,
        );
        for (let r = 0; r < RUNS; r++) {
          const started = performance.now();
          const answer = await askHttp(server, q);
          row.vigil.push(performance.now() - started);
          expectSame(`Vigil (HTTP), ${q.name}`, answer, q.truth);
          row.answer = answer;
        }
        const cli = await askCli(server, q);
        expectSame(`vigil query (CLI), ${q.name}`, cli.answer, q.truth);
        row.cliSeconds = cli.seconds;
      }
    } finally {
      await stopServer();
      cleanups.delete(stopServer);
    }

    note(`  index following ${fmt(FOLLOW_RATE)} events/s for ${FOLLOW_SECONDS} s`);
    const followed = await follow(dataDir, indexPath);
    return {
      events,
      generateSeconds,
      reindexSeconds: reindex.seconds,
      indexBytes,
      auditLogBytes,
      journalBytes,
      catchUpSeconds,
      rows,
      follow: followed,
    };
  } finally {
    await removeRoot();
    cleanups.delete(removeRoot);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Report.

const GB = 2 ** 30;
const size = (bytes: number) =>
  bytes >= GB ? `${(bytes / GB).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const met = (ok: boolean) => (ok ? "met" : "**NOT met**");

function report(r: SizeResult): string {
  const lines = [
    `### ${fmt(r.events)} events`,
    "",
    `Generated and sealed in ${r.generateSeconds.toFixed(1)} s; audit.log ${size(r.auditLogBytes)}, journal ${size(r.journalBytes)}, ` +
      `index ${size(r.indexBytes)} (${(r.indexBytes / r.auditLogBytes).toFixed(2)} × audit.log). The server caught up ` +
      `(index, file destination, checkpoints) ${r.catchUpSeconds.toFixed(1)} s after it started listening.`,
    "",
    "| question | answer | Vigil HTTP median | Vigil runs (ms) | `vigil query` CLI | jq median | jq runs (s) | jq / Vigil |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const row of r.rows) {
    const v = median(row.vigil);
    const j = median(row.jq) * 1000;
    lines.push(
      `| ${row.question.name} | ${describe(row.answer)} | ${ms(v)} ms | ${row.vigil.map(ms).join(", ")} | ` +
        `${ms(row.cliSeconds * 1000)} ms | ${(j / 1000).toFixed(2)} s | ${row.jq.map((s) => s.toFixed(2)).join(", ")} | ` +
        `${fmt(j / v)}× |`,
    );
  }
  const f = r.follow;
  const reindexRate = r.events / r.reindexSeconds;
  // The appender shares the bench's main thread: below 98 % of the rate, the run did not offer what it says.
  const follows =
    f.maxLagSeconds > 3
      ? "**NOT met**"
      : f.appendedRate >= 0.98 * FOLLOW_RATE
        ? "met"
        : `not measured (the appender reached only ${fmt(f.appendedRate)} events/s)`;
  const [count, selective] = r.rows;
  lines.push(
    "",
    `- Index build, \`vigil reindex\` (CLI, process start included): ${fmt(r.events)} events in ${r.reindexSeconds.toFixed(1)} s = ` +
      `**${fmt(reindexRate)} events/s**.`,
    `- Index following ingest (IndexDestination behind the JournalConsumer, on this index): ${fmt(FOLLOW_RATE)} events/s ` +
      `offered for ${FOLLOW_SECONDS} s (appended at ${fmt(f.appendedRate)}/s): indexed at **${fmt(f.indexedRate)} events/s** ` +
      `including the final drain, max lag **${fmt(f.maxLagRecords)} records / ${f.maxLagSeconds.toFixed(2)} s**, ` +
      `${f.cores.toFixed(2)} cores (bench process: journal, consumer, DuckDB).`,
    "",
    "Targets (issue 6, point 7):",
    "",
    `- count-by < 300 ms (stated for 10M events): ${ms(median(count?.vigil ?? []))} ms, ${met(median(count?.vigil ?? []) < 300)}`,
    `- selective filter < 100 ms: ${ms(median(selective?.vigil ?? []))} ms, ${met(median(selective?.vigil ?? []) < 100)}`,
    ...r.rows.map(
      (row) =>
        `- ≥ 100× faster than jq, ${row.question.name.replace(/:.*/, "")}: ${fmt((median(row.jq) * 1000) / median(row.vigil))}×, ` +
        met((median(row.jq) * 1000) / median(row.vigil) >= 100),
    ),
    `- index keeps up with ${fmt(FOLLOW_RATE)} events/s (lag ≤ 3 s): ${follows}`,
    "",
  );
  return lines.join("\n");
}

async function main(): Promise<void> {
  const jq = await ensureJq();
  const results: SizeResult[] = [];
  try {
    for (const events of SIZES) {
      const r = await measureSize(events);
      process.stderr.write(`\n${report(r)}\n`);
      results.push(r);
    }
  } finally {
    await cleanupAll();
  }
  const duck = await DuckDBInstance.create(":memory:");
  const conn = await duck.connect();
  const version = String((await conn.runAndReadAll("SELECT version() AS v")).getRowObjectsJS()[0]?.v);
  conn.closeSync();
  duck.closeSync();
  process.stdout.write(
    [
      "",
      `Date: ${new Date().toISOString().slice(0, 10)} · Node ${process.version} · ${cpus().length} × ${cpus()[0]?.model ?? "cpu"} · ` +
        `${(totalmem() / GB).toFixed(0)} GiB · DuckDB ${version} · ${jq}`,
      `Command: BENCH_SEARCH_SIZES=${SIZES.join(",")} BENCH_RUNS=${RUNS} BENCH_JQ_RUNS=${process.env.BENCH_JQ_RUNS ?? "3 (1 from 10M)"} ` +
        `BENCH_SEARCH_FOLLOW_RATE=${FOLLOW_RATE} BENCH_SEARCH_FOLLOW_SECONDS=${FOLLOW_SECONDS} npm run bench:search`,
      "",
      ...results.map(report),
    ].join("\n"),
  );
}

await main();
