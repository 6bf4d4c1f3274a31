/**
 * Search over the index (issue 6, points 4–6): the service between the HTTP API and the index (src/index/).
 *
 * - `parseSearchParams` checks the query string of `GET /v1/events` and `GET /v1/events/aggregate`: `q` (CEL,
 *   compiled with compileQuery; a bad expression is a ValidationError on field `q` with its `column`), `since`
 *   (`30s`, `30m`, `24h`, `7d` back from now) or `from` (inclusive) / `to` (exclusive) as RFC 3339 times on the
 *   event's `timestamp`, `limit` (1..10000, default 100), `cursor` (opaque, from a previous page's
 *   `next_cursor`) and, for aggregates, exactly one of `by` (a field with a column, fields.ts QUERY_COLUMNS)
 *   or `interval` (a duration as `since` takes it: buckets of the event's `timestamp`, aligned to the epoch, UTC).
 * - `SearchService.search` answers in sequence order, at most `limit` events after the cursor, up to the newest
 *   record indexed when the first page was asked for (`indexed_through`), so the pages of one search are stable
 *   while ingest continues. The cursor carries that bound, the last sequence returned and the resolved time
 *   window (a `since` does not move between pages).
 * - A query in the SQL-translatable subset runs in DuckDB; any other is evaluated in process with `matches`
 *   over the rows read in sequence order, CHUNK rows at a time.
 * - The index holds where each record lies in the journal, not the record: the events answered (and, in
 *   process, the events evaluated) are read from the journal (src/journal/fetch.ts), each checked to be the
 *   record of its sequence.
 * - `SearchService.aggregate` counts by `by` (most frequent first) or by `interval` (buckets in time order, each
 *   keyed by the RFC 3339 start of the bucket; events whose `timestamp` is not a date count under key null,
 *   last). A bucket starts at the event's epoch milliseconds minus their remainder modulo the interval, the
 *   same arithmetic in DuckDB and in process. At most MAX_BUCKETS buckets (the earliest for `interval`),
 *   with `truncated: true` when more were left out.
 */
import { ValidationError } from "../errors.ts";
import { parseMillis, type SearchableIndex } from "../index/store.ts";
import type { ParsedRecord } from "../integrity/chain.ts";
import { fetchRecords, type RecordAt } from "../journal/fetch.ts";
import { type CompiledQuery, compileQuery, QueryError } from "../query/cel.ts";
import { type Column, type ColumnType, QUERY_COLUMNS } from "../query/fields.ts";

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 10_000;
/** Rows read per step when a query is evaluated in process. */
const CHUNK = 5_000;
/** Most buckets an aggregate answers. */
const MAX_BUCKETS = 1_000;

/** The index is off (audit.index.enabled: false), not open yet, or parked: answered 503. */
export class SearchUnavailable extends Error {
  override readonly name = "SearchUnavailable";
}

export interface SearchParams {
  query: CompiledQuery | undefined;
  /** The expression as written ("" when absent). */
  expression: string;
  since?: string;
  /** Inclusive lower bound on `timestamp` (RFC 3339, resolved from since or from). */
  from?: string;
  /** Exclusive upper bound on `timestamp`. */
  to?: string;
  limit: number;
  /** Return events after this sequence. */
  after: number;
  /** Upper bound on sequence (from the cursor), undefined on a first page. */
  through?: number;
  /** Aggregates: the CEL field path grouped by. */
  by?: string;
  /** Aggregates: the time bucket as written (`1h`). */
  interval?: string;
  /** Aggregates: the time bucket in milliseconds. */
  intervalMs?: number;
}

export interface SearchHit {
  sequence: number;
  event: unknown;
  integrity: { signature: string; key_id: string };
}

export interface SearchResult {
  events: SearchHit[];
  next_cursor?: string;
  indexed_through: number;
}

export interface Bucket {
  key: string | null;
  count: number;
}

export interface AggregateResult {
  buckets: Bucket[];
  /** Present (true) when there were more than MAX_BUCKETS buckets and the rest were left out. */
  truncated?: true;
  indexed_through: number;
}

/** The first MAX_BUCKETS buckets of those found (asked for one more, to tell whether any were left out). */
function capped(buckets: Bucket[], through: number): AggregateResult {
  return buckets.length > MAX_BUCKETS
    ? { buckets: buckets.slice(0, MAX_BUCKETS), truncated: true, indexed_through: through }
    : { buckets, indexed_through: through };
}

interface Cursor {
  a: number;
  t: number;
  f?: string;
  u?: string;
}

const DURATION = /^(\d{1,9})(s|m|h|d)$/;
const UNIT_MS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** Longest `interval` of an aggregate (3650 days), keeping bucket arithmetic in safe integers. */
const MAX_INTERVAL_MS = 3650 * 86_400_000;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

function bad(field: string, message: string, column?: number): ValidationError {
  // `column` rides along in the problem+json `errors` entry for `q`.
  const problem = { field, message, ...(column === undefined ? {} : { column }) };
  return new ValidationError("invalid_request", [problem]);
}

function single(query: Record<string, unknown>, field: string): string | undefined {
  const value = query[field];
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw bad(field, "must be given once");
  return value;
}

function time(value: string, field: string): string {
  if (!RFC3339.test(value) || Number.isNaN(Date.parse(value))) {
    throw bad(field, "must be an RFC 3339 time, e.g. 2026-01-31T12:00:00Z");
  }
  return new Date(Date.parse(value)).toISOString();
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c), "utf8").toString("base64url");
}

function decodeCursor(text: string): Cursor {
  let c: unknown;
  try {
    c = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    c = undefined;
  }
  const ok =
    c !== null &&
    typeof c === "object" &&
    Number.isSafeInteger((c as Cursor).a) &&
    (c as Cursor).a >= 0 &&
    Number.isSafeInteger((c as Cursor).t) &&
    (c as Cursor).t >= (c as Cursor).a &&
    ((c as Cursor).f === undefined || typeof (c as Cursor).f === "string") &&
    ((c as Cursor).u === undefined || typeof (c as Cursor).u === "string");
  if (!ok) throw bad("cursor", "is not a cursor this server gave out (pass next_cursor as received)");
  const cursor = c as Cursor;
  return {
    a: cursor.a,
    t: cursor.t,
    ...(cursor.f === undefined ? {} : { f: time(cursor.f, "cursor") }),
    ...(cursor.u === undefined ? {} : { u: time(cursor.u, "cursor") }),
  };
}

/** Milliseconds of a duration (`30s`, `5m`, `1h`, `7d`), undefined when it is not one. */
function durationMs(text: string): number | undefined {
  const m = DURATION.exec(text);
  return m ? Number(m[1]) * (UNIT_MS[m[2] as string] as number) : undefined;
}

/** Checks the query string of a search (`aggregate`: also `by` or `interval`, no limit or cursor). */
export function parseSearchParams(
  raw: Record<string, unknown>,
  aggregate = false,
  now: Date = new Date(),
): SearchParams {
  const known = aggregate
    ? ["q", "since", "from", "to", "by", "interval"]
    : ["q", "since", "from", "to", "limit", "cursor"];
  for (const key of Object.keys(raw)) {
    if (!known.includes(key)) throw bad(key, `unknown parameter (known: ${known.join(", ")})`);
  }
  const expression = single(raw, "q") ?? "";
  let query: CompiledQuery | undefined;
  if (expression.trim() !== "") {
    try {
      query = compileQuery(expression);
    } catch (e) {
      if (e instanceof QueryError) {
        throw bad("q", e.message.replace(/^column \d+: /, ""), e.column);
      }
      throw e;
    }
  }
  const since = single(raw, "since");
  let from = single(raw, "from");
  let to = single(raw, "to");
  if (since !== undefined && from !== undefined) throw bad("since", "give since or from, not both");
  if (from !== undefined) from = time(from, "from");
  if (to !== undefined) to = time(to, "to");
  if (since !== undefined) {
    const ms = durationMs(since);
    if (ms === undefined) throw bad("since", "must be a duration such as 30m, 24h or 7d");
    from = new Date(now.getTime() - ms).toISOString();
  }
  const params: SearchParams = { query, expression, limit: DEFAULT_LIMIT, after: 0 };
  if (since !== undefined) params.since = since;
  if (aggregate) {
    const by = single(raw, "by");
    const interval = single(raw, "interval");
    if (by !== undefined && interval !== undefined) {
      throw bad("interval", "give by or interval, not both");
    }
    if (interval !== undefined) {
      const ms = durationMs(interval);
      if (ms === undefined || ms < 1_000 || ms > MAX_INTERVAL_MS) {
        throw bad("interval", "must be a duration from 1s to 3650d such as 30s, 5m, 1h or 1d");
      }
      params.interval = interval;
      params.intervalMs = ms;
    } else {
      if (by === undefined || QUERY_COLUMNS[by] === undefined || by === "details") {
        const fields = Object.keys(QUERY_COLUMNS).filter((f) => f !== "details");
        throw bad(
          "by",
          `give by (a field with a column in the index: ${fields.join(", ")}) or interval (a duration such as 1h)`,
        );
      }
      params.by = by;
    }
  } else {
    const limit = single(raw, "limit");
    if (limit !== undefined) {
      const n = Number(limit);
      if (!/^\d{1,5}$/.test(limit) || n < 1 || n > MAX_LIMIT) throw bad("limit", `must be 1 to ${MAX_LIMIT}`);
      params.limit = n;
    }
    const cursor = single(raw, "cursor");
    if (cursor !== undefined) {
      const c = decodeCursor(cursor);
      params.after = c.a;
      params.through = c.t;
      // The window of the first page holds for every page (a `since` does not slide).
      from = c.f;
      to = c.u;
    }
  }
  if (from !== undefined) params.from = from;
  if (to !== undefined) params.to = to;
  if (from !== undefined && to !== undefined && from >= to) throw bad("to", "must be after from");
  return params;
}

type Param = string | number | boolean | null;

/** The WHERE clause on sequence and time, with `$n` numbered after the query's own parameters. */
function bounds(p: SearchParams, through: number, params: Param[]): string {
  const add = (v: Param) => {
    params.push(v);
    return `$${params.length}`;
  };
  const parts = [`sequence > ${add(p.after)}`, `sequence <= ${add(through)}`];
  if (p.from !== undefined) parts.push(`"timestamp" >= CAST(${add(p.from)} AS TIMESTAMPTZ)`);
  if (p.to !== undefined) parts.push(`"timestamp" < CAST(${add(p.to)} AS TIMESTAMPTZ)`);
  return parts.join(" AND ");
}

/** Positional parameters as DuckDB's named binding takes them: `$1` is named "1". */
function named(params: Param[]): Record<string, Param> {
  return Object.fromEntries(params.map((v, i) => [String(i + 1), v]));
}

function queryParams(q: CompiledQuery | undefined): Param[] {
  return (q?.sql?.params ?? []).map((v) => {
    if (v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean") return v;
    return String(v);
  });
}

/** The columns a search reads to find a row's record in the journal. */
const LOCATION = "sequence, journal_segment, journal_offset, journal_length";

function locations(rows: Record<string, unknown>[]): RecordAt[] {
  return rows.map((r) => ({
    sequence: Number(r.sequence),
    segment: Number(r.journal_segment),
    offset: Number(r.journal_offset),
    length: Number(r.journal_length),
  }));
}

function parseEvent(record: ParsedRecord): Record<string, unknown> {
  const bytes = record.event;
  return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8")) as Record<
    string,
    unknown
  >;
}

function hit(record: ParsedRecord, event: unknown): SearchHit {
  return {
    sequence: record.integrity.sequence_number,
    event,
    integrity: { signature: record.integrity.signature, key_id: record.integrity.key_id },
  };
}

/** A count-by bucket's value as the field's column holds it: what keys are made of and ties are ordered by. */
type ColumnValue = string | number | string[] | null;

/**
 * The column value of a count-by, the same on both paths: from what the SQL path reads from the field's column
 * (`epoch_ms` for times), or, in process, from the event's value turned into what the index stores for it
 * (src/index/store.ts stageRow): strings as they are, numbers and booleans as their JS text in a VARCHAR
 * column, numbers in the DOUBLE column, times as epoch milliseconds, lists as their strings, `details` as its
 * JSON text; anything the column holds as NULL is null.
 */
function columnValue(type: ColumnType, v: unknown, fromSql: boolean): ColumnValue {
  if (v === null || v === undefined) return null;
  switch (type) {
    case "TIMESTAMPTZ": {
      const ms = fromSql ? Number(v) : typeof v === "string" ? parseMillis(v) : undefined;
      return ms === undefined || Number.isNaN(ms) ? null : ms;
    }
    case "DOUBLE":
      return typeof v === "number" ? v : null;
    case "VARCHAR[]":
      return Array.isArray(v) ? v.filter((r): r is string => typeof r === "string") : null;
    case "JSON":
      return fromSql ? String(v) : JSON.stringify(v);
    default:
      if (typeof v === "string") return v;
      return typeof v === "number" || typeof v === "boolean" ? String(v) : null;
  }
}

/** A bucket's key: numbers as JS writes them, times as RFC 3339 UTC to the millisecond, lists as JSON. */
function keyText(type: ColumnType, value: ColumnValue): string | null {
  if (value === null) return null;
  if (type === "TIMESTAMPTZ") return new Date(value as number).toISOString();
  return Array.isArray(value) ? JSON.stringify(value) : String(value);
}

/**
 * The order DuckDB gives the column's values (so the two paths cut a long answer at the same bucket): numbers
 * and times numerically, strings by code point (UTF-8 bytes), lists element by element, a prefix first.
 */
function compareValues(a: ColumnValue, b: ColumnValue): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "string" && typeof b === "string") return Buffer.compare(Buffer.from(a), Buffer.from(b));
  const x = a as string[];
  const y = b as string[];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const c = Buffer.compare(Buffer.from(x[i] as string), Buffer.from(y[i] as string));
    if (c !== 0) return c;
  }
  return x.length - y.length;
}

/** Most frequent first; ties in the column's order, null last (the SQL path's ORDER BY). */
function byField(type: ColumnType, counted: { value: ColumnValue; count: number }[]): Bucket[] {
  return counted
    .sort((a, b) => b.count - a.count || compareValues(a.value, b.value))
    .map(({ value, count }) => ({ key: keyText(type, value), count }));
}

function valueAt(event: Record<string, unknown>, path: string): unknown {
  let v: unknown = event;
  for (const segment of path.split(".")) {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[segment];
  }
  return v;
}

/** The start of the `interval`-millisecond bucket holding epoch milliseconds `ms` (aligned to the epoch). */
function bucketStart(ms: number, interval: number): number {
  return ms - (((ms % interval) + interval) % interval);
}

/** The time-bucket key of an event as the index's `timestamp` column holds it (store.ts parseMillis). */
function timeKey(event: Record<string, unknown>, interval: number): string | null {
  const v = event.timestamp;
  const ms = typeof v === "string" ? Date.parse(v) : Number.NaN;
  return Number.isNaN(ms) ? null : new Date(bucketStart(ms, interval)).toISOString();
}

/** Time buckets in time order, the null key (no date) last. */
function byTime(a: Bucket, b: Bucket): number {
  if (a.key === b.key) return 0;
  if (a.key === null) return 1;
  if (b.key === null) return -1;
  return a.key < b.key ? -1 : 1;
}

export class SearchService {
  readonly #index: () => SearchableIndex | undefined;
  readonly #unavailable: () => string;
  readonly #journal: string;

  /**
   * @param index the open index, undefined while it is off, not open yet, or parked
   * @param unavailable why it is not open (for the 503)
   * @param journal the journal directory the index was built from (the records are read from there)
   */
  constructor(index: () => SearchableIndex | undefined, unavailable: () => string, journal: string) {
    this.#index = index;
    this.#unavailable = unavailable;
    this.#journal = journal;
  }

  #open(): SearchableIndex {
    const index = this.#index();
    if (!index) throw new SearchUnavailable(this.#unavailable());
    return index;
  }

  async search(p: SearchParams): Promise<SearchResult> {
    const index = this.#open();
    const through = p.through ?? index.last?.sequence ?? 0;
    const found: SearchHit[] = [];
    let more = false;
    const sql = p.query?.sql;
    if (p.query === undefined || sql !== undefined) {
      const params = queryParams(p.query);
      const where = [bounds(p, through, params), ...(sql ? [`(${sql.where})`] : [])].join(" AND ");
      const rows = await index.query(
        `SELECT ${LOCATION} FROM events WHERE ${where} ORDER BY sequence LIMIT ${p.limit + 1}`,
        named(params),
      );
      more = rows.length > p.limit;
      for (const record of await fetchRecords(this.#journal, locations(rows.slice(0, p.limit)))) {
        found.push(hit(record, parseEvent(record)));
      }
    } else {
      const query = p.query;
      let after = p.after;
      scan: for (;;) {
        const params: Param[] = [];
        const where = bounds({ ...p, after }, through, params);
        const rows = await index.query(
          `SELECT ${LOCATION} FROM events WHERE ${where} ORDER BY sequence LIMIT ${CHUNK}`,
          named(params),
        );
        for (const record of await fetchRecords(this.#journal, locations(rows))) {
          const event = parseEvent(record);
          if (!query.matches(event)) continue;
          if (found.length === p.limit) {
            more = true;
            break scan;
          }
          found.push(hit(record, event));
        }
        if (rows.length < CHUNK) break;
        after = Number(rows[rows.length - 1]?.sequence);
      }
    }
    const last = found[found.length - 1];
    const result: SearchResult = { events: found, indexed_through: through };
    if (more && last) {
      result.next_cursor = encodeCursor({
        a: last.sequence,
        t: through,
        ...(p.from === undefined ? {} : { f: p.from }),
        ...(p.to === undefined ? {} : { u: p.to }),
      });
    }
    return result;
  }

  async aggregate(p: SearchParams): Promise<AggregateResult> {
    const index = this.#open();
    const through = index.last?.sequence ?? 0;
    const by = p.by as string;
    const interval = p.intervalMs;
    const sql = p.query?.sql;
    if (p.query === undefined || sql !== undefined) {
      const params = queryParams(p.query);
      const where = [bounds(p, through, params), ...(sql ? [`(${sql.where})`] : [])].join(" AND ");
      if (interval !== undefined) {
        // Integer arithmetic on epoch milliseconds (`%` keeps the dividend's sign: made non-negative).
        const ms = `epoch_ms("timestamp")`;
        const rows = await index.query(
          `SELECT ${ms} - ((${ms} % ${interval}) + ${interval}) % ${interval} AS k, count(*) AS n ` +
            `FROM events WHERE ${where} GROUP BY k ORDER BY k NULLS LAST LIMIT ${MAX_BUCKETS + 1}`,
          named(params),
        );
        return capped(
          rows.map((r) => ({
            key: r.k === null || r.k === undefined ? null : new Date(Number(r.k)).toISOString(),
            count: Number(r.n),
          })),
          through,
        );
      }
      const column = QUERY_COLUMNS[by] as Column;
      const value = column.type === "TIMESTAMPTZ" ? `epoch_ms("${column.name}")` : `"${column.name}"`;
      const rows = await index.query(
        `SELECT ${value} AS k, count(*) AS n FROM events WHERE ${where} ` +
          `GROUP BY k ORDER BY n DESC, k NULLS LAST LIMIT ${MAX_BUCKETS + 1}`,
        named(params),
      );
      return capped(
        byField(
          column.type,
          rows.map((r) => ({ value: columnValue(column.type, r.k, true), count: Number(r.n) })),
        ),
        through,
      );
    }
    const type = interval === undefined ? (QUERY_COLUMNS[by] as Column).type : undefined;
    const counts = new Map<string | null, { value: ColumnValue; count: number }>();
    let after = p.after;
    for (;;) {
      const params: Param[] = [];
      const rows = await index.query(
        `SELECT ${LOCATION} FROM events WHERE ${bounds({ ...p, after }, through, params)} ORDER BY sequence LIMIT ${CHUNK}`,
        named(params),
      );
      for (const record of await fetchRecords(this.#journal, locations(rows))) {
        const event = parseEvent(record);
        if (!p.query.matches(event)) continue;
        const value =
          type === undefined
            ? timeKey(event, interval as number)
            : columnValue(type, valueAt(event, by), false);
        const key = type === undefined ? (value as string | null) : keyText(type, value);
        const bucket = counts.get(key);
        if (bucket) bucket.count++;
        else counts.set(key, { value, count: 1 });
      }
      if (rows.length < CHUNK) break;
      after = Number(rows[rows.length - 1]?.sequence);
    }
    if (type === undefined) {
      const buckets = [...counts].map(([key, { count }]) => ({ key, count })).sort(byTime);
      return capped(buckets, through);
    }
    return capped(byField(type, [...counts.values()]), through);
  }
}

/** The `audit.read` event recording one query through the API (issue 6, point 5). */
export function auditReadEvent(
  tokenName: string,
  endpoint: string,
  p: SearchParams,
  results: number,
): Record<string, unknown> {
  return {
    event_type: "audit.read",
    actor: { type: "token", id: tokenName },
    action: { operation: "query", result: "success" },
    details: {
      endpoint,
      expression: p.expression,
      ...(p.since === undefined ? {} : { since: p.since }),
      ...(p.from === undefined ? {} : { from: p.from }),
      ...(p.to === undefined ? {} : { to: p.to }),
      ...(p.by !== undefined
        ? { by: p.by }
        : p.interval !== undefined
          ? { interval: p.interval }
          : { limit: p.limit }),
      results,
    },
  };
}
