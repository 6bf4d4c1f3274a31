/**
 * `vigil status`: what a running server reports about itself (GET /v1/status): the chain head, the journal, the
 * checkpointer, each destination's state, lag and errors, and each source. A table for people, `--json` for
 * scripts. Exits 1 when a destination is parked, the checkpointer halted, a source failed or a Kafka proxy's audit
 * path is full (its clients refused or unaudited), so it can gate a health check.
 */
import { resolve } from "node:path";
import { Command } from "commander";
import { DEFAULT_DATA_DIR } from "../../config/types.ts";
import type { ConsumerStatus } from "../../pipeline/consumer.ts";
import { CliExit, EXIT, resolveToken, serverUrl } from "../common.ts";

/** A health check must not hang on a server that accepts connections but does not answer. */
const STATUS_TIMEOUT_MS = 10_000;

interface ServerStatus {
  chain: { sequence: number; key_id: string };
  journal: { durable_sequence: number; pending_events: number };
  ready: boolean;
  checkpoints: { state: string; size: number; error?: string };
  destinations: ConsumerStatus[];
  sources: { name: string; type: string; [key: string]: unknown }[];
}

/** "1.2 s", "3 min", "2 h": a lag people read at a glance. */
function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** Text from the server (a receiver's error message) without control characters that could drive the terminal. */
function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, " ");
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** What a kafka_proxy source's status says of its failure policy (source.ts KafkaProxyStatus). */
interface ProxyFailure {
  policy: string;
  auditPathFull: boolean;
  refused: Record<string, number>;
  forwardedUnaudited: Record<string, number>;
}

const total = (counts: Record<string, number> | undefined) =>
  Object.values(counts ?? {}).reduce((a, b) => a + b, 0);

/**
 * A source's line: for a Kafka proxy its address, the requests it audited, its queue, and, loudly, a full audit
 * path (clients refused or forwarded unaudited); for others the last error, if any.
 */
function sourceDetail(x: ServerStatus["sources"][number]): string {
  if (x.type !== "kafka_proxy") return typeof x.lastError === "string" ? x.lastError : "";
  const failure = x.failure as ProxyFailure | undefined;
  const parts = [
    `listening on ${x.listen}`,
    `${x.auditedRequests} requests audited`,
    `queue ${x.queueLength}/${x.queueMaxEvents}`,
  ];
  if (failure?.auditPathFull) {
    parts.push(
      failure.policy === "reject"
        ? `AUDIT PATH FULL: refusing requests (${total(failure.refused)} so far)`
        : `AUDIT PATH FULL: forwarding requests unaudited (${total(failure.forwardedUnaudited)} so far)`,
    );
  }
  if (typeof x.lastError === "string") parts.push(x.lastError);
  return parts.join(", ");
}

export function render(s: ServerStatus): string {
  const lines = [
    `chain     sequence ${s.chain.sequence}, key ${s.chain.key_id}`,
    `journal   durable to ${s.journal.durable_sequence}, ${s.journal.pending_events} pending${s.ready ? "" : " (not ready)"}`,
    `checkpoints ${s.checkpoints.state}, size ${s.checkpoints.size}${s.checkpoints.error ? `: ${printable(s.checkpoints.error)}` : ""}`,
    "",
  ];
  const rows = [["DESTINATION", "STATE", "DELIVERED", "LAG", "LAG TIME", "FAILURES", "LAST ERROR"]];
  for (const d of s.destinations) {
    rows.push([
      printable(d.name),
      d.state,
      String(d.deliveredSequence),
      String(d.lagRecords),
      d.lagRecords > 0 ? duration(d.lagSeconds) : "-",
      String(d.failures),
      // A running destination's last error is history: shown by --json, not as a current problem.
      d.state === "running" ? "" : printable(d.lastError ?? ""),
    ]);
  }
  lines.push(table(rows));
  if (s.sources.length > 0) {
    const sourceRows = s.sources.map((x) => [
      printable(x.name),
      x.type,
      typeof x.state === "string" ? x.state : "",
      printable(sourceDetail(x)),
    ]);
    lines.push("", table([["SOURCE", "TYPE", "STATE", "DETAIL"], ...sourceRows]));
  }
  return `${lines.join("\n")}\n`;
}

export function statusCommand(): Command {
  return new Command("status")
    .description(
      "show a running server's chain, journal, checkpoints, destinations (state, lag, errors) and sources",
    )
    .option("--url <url>", "server URL (or $VIGIL_URL)", undefined)
    .option(
      "--token <token>",
      "bearer token with the read scope (or $VIGIL_TOKEN, or <data-dir>/admin.token)",
    )
    .option("-d, --data-dir <dir>", "data directory holding admin.token", DEFAULT_DATA_DIR)
    .option("--json", "print the server's status document as JSON")
    .action(async (opts: { url?: string; token?: string; dataDir: string; json?: boolean }) => {
      const url = serverUrl(opts.url);
      const token = await resolveToken(opts.token, resolve(opts.dataDir));
      let res: Response;
      try {
        res = await fetch(`${url}/v1/status`, {
          headers: { authorization: `Bearer ${token}` },
          signal: AbortSignal.timeout(STATUS_TIMEOUT_MS),
        });
      } catch (e) {
        throw new CliExit(EXIT.problem, `cannot reach ${url}: ${(e as Error).message}`);
      }
      if (!res.ok) throw new CliExit(EXIT.problem, `${url}/v1/status answered ${res.status}`);
      const status = (await res.json()) as ServerStatus;
      process.stdout.write(opts.json ? `${JSON.stringify(status, null, 2)}\n` : render(status));
      const problems = [
        ...status.destinations
          .filter((d) => d.state === "parked")
          .map((d) => `destination ${d.name} is parked`),
        ...(status.checkpoints.state === "halted" ? ["the checkpointer halted"] : []),
        ...status.sources
          .filter((x) => (x.failure as ProxyFailure | undefined)?.auditPathFull)
          .map((x) => `source ${x.name}'s audit path is full`),
        ...status.sources.filter((x) => x.state === "failed").map((x) => `source ${x.name} failed`),
      ];
      if (problems.length > 0) throw new CliExit(EXIT.problem, problems.join("; "));
    });
}
