/**
 * `vigil query '<expr>'`: searches a running server's index (issue 6, point 3) through its API, so the server
 * records the query as `audit.read`. `GET /v1/events` is followed page by page (`next_cursor`) until `--limit`
 * events (default 100) or the end; `--count-by <field>` or `--interval <duration>` (time buckets: start of each
 * bucket, RFC 3339 UTC, in time order) asks `GET /v1/events/aggregate` instead, and `--limit` then keeps the
 * first buckets (spec/002's `sort | uniq -c | sort -rn | head -20` is `--count-by … --limit 20`; without
 * `--limit`, every bucket the server answers, with a note on stderr when it left some out). Output: an aligned
 * table, a JSON array, NDJSON or CSV (RFC 4180). Exit 2 when the server refuses the request (400: a bad expression,
 * time or field), 1 when the server cannot answer (unreachable, index off, other errors).
 */
import { resolve } from "node:path";
import { Command } from "commander";
import { DEFAULT_DATA_DIR } from "../../config/types.ts";
import { CliExit, EXIT, resolveToken, serverUrl, usage } from "../common.ts";

const TIMEOUT_MS = 60_000;
/** Events printed when no --limit is given. */
const DEFAULT_LIMIT = 100;
/** Most events the server answers per page (src/search/service.ts MAX_LIMIT). */
const PAGE_MAX = 10_000;
const DEFAULT_FIELDS = ["sequence", "timestamp", "event_type", "actor.id", "action.result"];
const FORMATS = ["table", "json", "ndjson", "csv"] as const;
type Format = (typeof FORMATS)[number];

interface Hit {
  sequence: number;
  event: Record<string, unknown>;
  integrity: { signature: string; key_id: string };
}

interface Page {
  events: Hit[];
  next_cursor?: string;
  indexed_through: number;
}

interface Bucket {
  key: string | null;
  count: number;
}

interface Problem {
  detail?: string;
  errors?: { field: string; message: string; column?: number }[];
}

interface QueryOptions {
  since?: string;
  from?: string;
  to?: string;
  countBy?: string;
  interval?: string;
  limit?: string;
  pageSize: string;
  fields?: string;
  format: string;
  url?: string;
  token?: string;
  dataDir: string;
}

/** Text from the server without control characters that could drive the terminal. */
function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, " ");
}

/** The problem a server answered, as one message: `q: column 14: unknown field …` for a bad expression. */
function describeProblem(status: number, text: string): string {
  let body: Problem = {};
  try {
    body = JSON.parse(text) as Problem;
  } catch {
    // not problem+json
  }
  if (body.errors && body.errors.length > 0) {
    return body.errors
      .map((e) => `${e.field}: ${e.column === undefined ? "" : `column ${e.column}: `}${e.message}`)
      .map(printable)
      .join("\n");
  }
  return printable(body.detail ?? (text.trim() || `answered ${status}`));
}

async function call<T>(url: string, path: string, params: URLSearchParams, token: string): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${url}${path}?${params}`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (e) {
    throw new CliExit(EXIT.problem, `cannot reach ${url}: ${(e as Error).message}`);
  }
  const text = await res.text();
  if (res.ok) return JSON.parse(text) as T;
  const message = describeProblem(res.status, text);
  throw new CliExit(res.status === 400 ? EXIT.usage : EXIT.problem, message);
}

/** The value at a dotted path of the event; `sequence` is the record's. */
export function pick(hit: Hit, path: string): unknown {
  if (path === "sequence") return hit.sequence;
  let v: unknown = hit.event;
  for (const segment of path.split(".")) {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[segment];
  }
  return v;
}

function cell(v: unknown): string {
  if (v === undefined || v === null) return "";
  return typeof v === "string" ? v : typeof v === "object" ? JSON.stringify(v) : String(v);
}

export function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

export function renderHits(hits: Hit[], fields: string[] | undefined, format: Format): string {
  const project = (h: Hit): unknown =>
    fields ? Object.fromEntries(fields.map((f) => [f, pick(h, f) ?? null])) : h;
  switch (format) {
    case "json":
      return `${JSON.stringify(hits.map(project), null, 2)}\n`;
    case "ndjson":
      return hits.map((h) => `${JSON.stringify(project(h))}\n`).join("");
    case "csv": {
      const cols = fields ?? DEFAULT_FIELDS;
      const rows = [cols, ...hits.map((h) => cols.map((f) => cell(pick(h, f))))];
      return rows.map((r) => `${r.map(csvField).join(",")}\r\n`).join("");
    }
    case "table": {
      const cols = fields ?? DEFAULT_FIELDS;
      const rows = [
        cols.map((c) => c.toUpperCase()),
        ...hits.map((h) => cols.map((f) => printable(cell(pick(h, f))))),
      ];
      return `${table(rows)}\n`;
    }
  }
}

function renderBuckets(buckets: Bucket[], by: string, format: Format): string {
  switch (format) {
    case "json":
      return `${JSON.stringify(buckets, null, 2)}\n`;
    case "ndjson":
      return buckets.map((b) => `${JSON.stringify(b)}\n`).join("");
    case "csv":
      return [["key", "count"], ...buckets.map((b) => [cell(b.key), String(b.count)])]
        .map((r) => `${r.map(csvField).join(",")}\r\n`)
        .join("");
    case "table":
      return `${table([
        [by.toUpperCase(), "COUNT"],
        ...buckets.map((b) => [b.key === null ? "(none)" : printable(b.key), String(b.count)]),
      ])}\n`;
  }
}

export function queryCommand(): Command {
  return new Command("query")
    .description(
      "search a running server's index with a CEL expression (recorded by the server as audit.read)",
    )
    .argument("[expr]", "CEL expression, e.g. \"event_type == 'backup.failed'\" (empty: every event)", "")
    .option("--since <duration>", "only events newer than this, e.g. 30m, 24h, 7d")
    .option("--from <time>", "only events at or after this RFC 3339 time")
    .option("--to <time>", "only events before this RFC 3339 time")
    .option("--count-by <field>", "count matching events by a field instead of listing them")
    .option("--interval <duration>", "count matching events by time bucket instead, e.g. 30s, 5m, 1h, 1d")
    .option(
      "--limit <n>",
      `most events to print (default ${DEFAULT_LIMIT}); with --count-by or --interval, most buckets (default all)`,
    )
    .option("--page-size <n>", `events asked for per request (1 to ${PAGE_MAX})`, String(PAGE_MAX))
    .option("--fields <paths>", "comma-separated dotted paths of the event to print (and sequence)")
    .option("--format <format>", `output: ${FORMATS.join(", ")}`, "table")
    .option("--url <url>", "server URL (or $VIGIL_URL)", undefined)
    .option(
      "--token <token>",
      "bearer token with the read scope (or $VIGIL_TOKEN, or <data-dir>/admin.token)",
    )
    .option("-d, --data-dir <dir>", "data directory holding admin.token", DEFAULT_DATA_DIR)
    .action(async (expr: string, opts: QueryOptions) => {
      if (!(FORMATS as readonly string[]).includes(opts.format)) {
        throw usage(`--format must be one of ${FORMATS.join(", ")}`);
      }
      const format = opts.format as Format;
      if (opts.limit !== undefined && (!/^\d{1,9}$/.test(opts.limit) || Number(opts.limit) < 1)) {
        throw usage("--limit must be a whole number of at least 1");
      }
      const given = opts.limit === undefined ? undefined : Number(opts.limit);
      const pageSize = Number(opts.pageSize);
      if (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > PAGE_MAX) {
        throw usage(`--page-size must be a whole number from 1 to ${PAGE_MAX}`);
      }
      if (opts.countBy !== undefined && opts.interval !== undefined) {
        throw usage("give --count-by or --interval, not both");
      }
      if (opts.since !== undefined && opts.from !== undefined)
        throw usage("give --since or --from, not both");
      const fields = opts.fields
        ?.split(",")
        .map((f) => f.trim())
        .filter((f) => f !== "");
      if (opts.fields !== undefined && fields?.length === 0) throw usage("--fields names no field");

      const url = serverUrl(opts.url);
      const token = await resolveToken(opts.token, resolve(opts.dataDir));
      const base = new URLSearchParams();
      if (expr.trim() !== "") base.set("q", expr);
      if (opts.since !== undefined) base.set("since", opts.since);
      if (opts.from !== undefined) base.set("from", opts.from);
      if (opts.to !== undefined) base.set("to", opts.to);

      if (opts.countBy !== undefined || opts.interval !== undefined) {
        if (opts.countBy !== undefined) base.set("by", opts.countBy);
        if (opts.interval !== undefined) base.set("interval", opts.interval);
        const { buckets, truncated } = await call<{ buckets: Bucket[]; truncated?: boolean }>(
          url,
          "/v1/events/aggregate",
          base,
          token,
        );
        const shown = given === undefined ? buckets : buckets.slice(0, given);
        process.stdout.write(renderBuckets(shown, opts.countBy ?? "time", format));
        if (truncated === true && shown.length === buckets.length) {
          const which = opts.countBy !== undefined ? "most frequent" : "earliest";
          process.stderr.write(
            `vigil: the server answered the ${buckets.length} ${which} buckets and left out the rest\n`,
          );
        }
        return;
      }

      const limit = given ?? DEFAULT_LIMIT;
      const hits: Hit[] = [];
      let cursor: string | undefined;
      do {
        const params = new URLSearchParams(base);
        params.set("limit", String(Math.min(limit - hits.length, pageSize)));
        if (cursor !== undefined) params.set("cursor", cursor);
        const page = await call<Page>(url, "/v1/events", params, token);
        hits.push(...page.events);
        cursor = page.next_cursor;
      } while (cursor !== undefined && hits.length < limit);
      process.stdout.write(renderHits(hits.slice(0, limit), fields, format));
    });
}
