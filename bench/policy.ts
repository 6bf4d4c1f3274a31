/**
 * `node bench/policy.ts`: Kubernetes audit policy evaluation (src/policy/kubernetes.ts) with a realistic 20-rule
 * policy (src/policy/testdata/policy-20-rules.yaml) over the real audit events of ../shared/fixtures/k8s, in a
 * loop. Measures `evaluate` on prepared attributes, and `attributesFromK8sEvent` + `evaluate` on parsed events
 * (what a Kubernetes source does per event). Each measured RUNS times; medians reported, with the share of the
 * time per ingested event the policy would take at INGEST_RATE events/s (the HTTP ingest median of
 * docs/benchmarks.md).
 *
 * Environment knobs: BENCH_EVALUATIONS (per run, default 5000000), BENCH_RUNS (default 5), BENCH_INGEST_RATE
 * (events/s, default 55335).
 */
import { readdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import {
  attributesFromK8sEvent,
  type KubernetesLevel,
  parseKubernetesPolicy,
  type RequestAttributes,
} from "../src/policy/kubernetes.ts";

const ROOT = resolve(import.meta.dirname, "..");
const FIXTURES = resolve(ROOT, "../shared/fixtures/k8s");
const POLICY = join(ROOT, "src/policy/testdata/policy-20-rules.yaml");
const EVALUATIONS = Number(process.env.BENCH_EVALUATIONS ?? 5_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const INGEST_RATE = Number(process.env.BENCH_INGEST_RATE ?? 55_335);

function isEvent(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === "Event";
}

/** The Events of a fixture file: one JSON value (an Event or an EventList) or NDJSON; other records skipped. */
function eventsIn(text: string): Record<string, unknown>[] {
  let values: unknown[];
  try {
    values = [JSON.parse(text)];
  } catch {
    values = text
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => JSON.parse(line));
  }
  return values.flatMap((v) => {
    const items =
      (v as { kind?: unknown; items?: unknown }).kind === "EventList"
        ? (v as { items: unknown[] }).items
        : [v];
    return items.filter(isEvent);
  });
}

async function loadEvents(): Promise<Record<string, unknown>[]> {
  const falco = join(FIXTURES, "falco-k8s_audit");
  const files = [
    ...(await readdir(falco)).filter((f) => f.endsWith(".json")).map((f) => join(falco, f)),
    join(FIXTURES, "audit2rbac-demo.log"),
    join(FIXTURES, "elastic-integrations-test-audit.log"),
  ];
  const events: Record<string, unknown>[] = [];
  for (const file of files) events.push(...eventsIn(await readFile(file, "utf8")));
  return events;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** Evaluations per second of `step`, called `count` times; `sink` keeps the work from being optimized away. */
function measure(count: number, step: (i: number) => KubernetesLevel): { rate: number; sink: number } {
  let sink = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) sink += step(i).length;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { rate: count / seconds, sink };
}

const policy = parseKubernetesPolicy(await readFile(POLICY, "utf8"), POLICY);
const events = await loadEvents();
const attributes: RequestAttributes[] = events.map(attributesFromK8sEvent);
const levels = new Map<string, number>();
for (const attrs of attributes) {
  const { level, ruleIndex } = policy.evaluate(attrs);
  const key = `${level} (rule ${ruleIndex ?? "none"})`;
  levels.set(key, (levels.get(key) ?? 0) + 1);
}

const n = attributes.length;
const evaluateOnly = (i: number): KubernetesLevel =>
  policy.evaluate(attributes[i % n] as RequestAttributes).level;
const withAttributes = (i: number): KubernetesLevel =>
  policy.evaluate(attributesFromK8sEvent(events[i % n])).level;

// Warm up so the JIT has compiled both paths before timing.
measure(EVALUATIONS / 10, evaluateOnly);
measure(EVALUATIONS / 10, withAttributes);
const rows: [string, number[]][] = [
  ["evaluate (prepared attributes)", []],
  ["attributesFromK8sEvent + evaluate", []],
];
let sink = 0;
for (let run = 0; run < RUNS; run++) {
  for (const [index, step] of [evaluateOnly, withAttributes].entries()) {
    const result = measure(EVALUATIONS, step);
    sink += result.sink;
    rows[index]?.[1].push(result.rate);
  }
}

console.log(`policy: ${policy.ruleCount} rules (${POLICY}); events: ${n} from ${FIXTURES}`);
console.log(`decisions: ${[...levels].map(([k, v]) => `${k}: ${v}`).join(", ")}`);
console.log(`(checksum ${sink})\n`);
console.log(
  `| measurement | median | runs | share of ingest time at ${INGEST_RATE.toLocaleString("en-US")} events/s |`,
);
console.log("| --- | --- | --- | --- |");
for (const [label, rates] of rows) {
  const m = median(rates);
  const runs = rates.map((r) => Math.round(r).toLocaleString("en-US")).join(", ");
  const share = ((INGEST_RATE / m) * 100).toFixed(2);
  console.log(`| ${label} | ${Math.round(m).toLocaleString("en-US")} events/s | ${runs} | ${share} % |`);
}
