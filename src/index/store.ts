/**
 * The search index (issue 6, point 1): an embedded DuckDB database holding one row per sealed record of the
 * journal. It is derived data only: fed from the journal by its own consumer (IndexDestination, destination.ts)
 * and rebuilt from the journal by `reindex` (reindex.ts) whenever in doubt.
 *
 * Table `events`, one row per record (columns in EVENT_COLUMNS, in this order; the query engine writes SQL
 * against these names):
 *
 * | column                   | type         | from the sealed record                                  |
 * |--------------------------|--------------|---------------------------------------------------------|
 * | `sequence`               | BIGINT       | integrity.sequence_number                               |
 * | `event_id`               | VARCHAR      | event.event_id                                          |
 * | `event_type`             | VARCHAR      | event.event_type                                        |
 * | `timestamp`              | TIMESTAMPTZ  | event.timestamp, to the millisecond (NULL: not a date)  |
 * | `received_at`            | TIMESTAMPTZ  | event.received_at, to the millisecond (NULL: not a date) |
 * | `version`                | VARCHAR      | event.version                                           |
 * | `origin_source`          | VARCHAR      | event.origin.source                                     |
 * | `origin_address`         | VARCHAR      | event.origin.address                                    |
 * | `origin_token`           | VARCHAR      | event.origin.token                                      |
 * | `actor_type`             | VARCHAR      | event.actor.type                                        |
 * | `actor_id`               | VARCHAR      | event.actor.id                                          |
 * | `actor_roles`            | VARCHAR[]    | event.actor.roles (non-strings dropped)                 |
 * | `actor_ip_address`       | VARCHAR      | event.actor.ip_address                                  |
 * | `actor_user_agent`       | VARCHAR      | event.actor.user_agent                                  |
 * | `resource_type`          | VARCHAR      | event.resource.type                                     |
 * | `resource_id`            | VARCHAR      | event.resource.id                                       |
 * | `resource_path`          | VARCHAR      | event.resource.path                                     |
 * | `action_operation`       | VARCHAR      | event.action.operation                                  |
 * | `action_result`          | VARCHAR      | event.action.result                                     |
 * | `action_duration_ms`     | DOUBLE       | event.action.duration_ms                                |
 * | `context_cluster_id`     | VARCHAR      | event.context.cluster_id                                |
 * | `context_environment`    | VARCHAR      | event.context.environment                               |
 * | `context_correlation_id` | VARCHAR      | event.context.correlation_id                            |
 * | `details`                | JSON         | event.details                                           |
 * | `journal_segment`        | BIGINT       | the journal segment holding the record (its first sequence) |
 * | `journal_offset`         | BIGINT       | byte offset of the record's line in that segment        |
 * | `journal_length`         | INTEGER      | length of the line in bytes, without the newline        |
 *
 * The sealed records themselves stay in the journal: a search reads the rows it answers with from there
 * (src/journal/fetch.ts) and checks each is the record the row names. Keeping a copy of every event in the index
 * doubled its size and its share of ingest work, and DuckDB decompressed a whole compressed block of that
 * column for each scattered hit it returned (25–40 ms for 100 hits over a million rows).
 *
 * An absent field is NULL. A standard field holding a number or boolean (the native schema admits only
 * strings) is stored as its text; one holding an object or array is NULL (still in `event`).
 *
 * `timestamp` and `received_at` are stored truncated to the millisecond: the instant `new Date(text)` gives
 * (Date.parse, so also what it accepts as a date), which is what the in-process query evaluator compares
 * (src/query/fields.ts). A time given to the microsecond keeps its full text in `event`; the columns drop the
 * digits past the millisecond so that a query answers the same in SQL and in process at sub-millisecond
 * boundaries (`timestamp > '…T10:00:00.1234Z'`).
 *
 * Table `index_meta`, one row: `schema_version INTEGER` (INDEX_SCHEMA_VERSION), `last_sequence BIGINT` and
 * `last_signature VARCHAR` of the newest record indexed (0 / NULL: none), updated in the transaction that
 * appends the rows, so after a crash the index knows exactly what it holds.
 *
 * Rows are bulk loaded a batch per transaction. DuckDB's Appender costs one native call per value, which at 27
 * values a row capped indexing near 20k records/s; so each record is staged through the Appender as three values
 * into a TEMP table (sequence, the other derived columns packed as one JSON array of strings, `details`), then
 * `INSERT INTO events SELECT …` unpacks the array (one JSON parse per row, in DuckDB) and the
 * staging table is emptied, in the same transaction. Every value is still derived in JS (stageRow): DuckDB's
 * own JSON and time parsing (number text, objects, time formats) differ from JSON.parse / Date.parse, so SQL
 * only turns strings back into their types. Queries run on a second connection, so they only ever see
 * committed batches.
 */

import { type DuckDBAppender, type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import type { JournalLocation, RecordBatch, RecordRef } from "../destinations/destination.ts";
import { VigilError } from "../errors.ts";
import { parseRecord } from "../integrity/chain.ts";

/** Bumped whenever the tables change; an index of another version is rebuilt (`vigil reindex`). */
export const INDEX_SCHEMA_VERSION = 2;

/** The columns of table `events`, in table order, with their SQL types (see the module header). */
export const EVENT_COLUMNS = [
  { name: "sequence", type: "BIGINT" },
  { name: "event_id", type: "VARCHAR" },
  { name: "event_type", type: "VARCHAR" },
  { name: "timestamp", type: "TIMESTAMPTZ" },
  { name: "received_at", type: "TIMESTAMPTZ" },
  { name: "version", type: "VARCHAR" },
  { name: "origin_source", type: "VARCHAR" },
  { name: "origin_address", type: "VARCHAR" },
  { name: "origin_token", type: "VARCHAR" },
  { name: "actor_type", type: "VARCHAR" },
  { name: "actor_id", type: "VARCHAR" },
  { name: "actor_roles", type: "VARCHAR[]" },
  { name: "actor_ip_address", type: "VARCHAR" },
  { name: "actor_user_agent", type: "VARCHAR" },
  { name: "resource_type", type: "VARCHAR" },
  { name: "resource_id", type: "VARCHAR" },
  { name: "resource_path", type: "VARCHAR" },
  { name: "action_operation", type: "VARCHAR" },
  { name: "action_result", type: "VARCHAR" },
  { name: "action_duration_ms", type: "DOUBLE" },
  { name: "context_cluster_id", type: "VARCHAR" },
  { name: "context_environment", type: "VARCHAR" },
  { name: "context_correlation_id", type: "VARCHAR" },
  { name: "details", type: "JSON" },
  { name: "journal_segment", type: "BIGINT" },
  { name: "journal_offset", type: "BIGINT" },
  { name: "journal_length", type: "INTEGER" },
] as const;

export type EventColumn = (typeof EVENT_COLUMNS)[number]["name"];

const COLUMN_NAMES: ReadonlySet<string> = new Set(EVENT_COLUMNS.map((c) => c.name));

export function isEventColumn(name: string): name is EventColumn {
  return COLUMN_NAMES.has(name);
}

const quote = (name: string) => `"${name}"`;

/**
 * No PRIMARY KEY on `sequence`: `append` already refuses a gap or a repeat, rows arrive in sequence order so
 * DuckDB's zone maps (min/max per row group) serve the range scans of pagination, and maintaining the key's ART
 * index cost about a tenth of indexing time and grew every checkpoint.
 */
const CREATE_EVENTS = `CREATE TABLE IF NOT EXISTS events (${EVENT_COLUMNS.map(
  (c) => `${quote(c.name)} ${c.type}`,
).join(", ")})`;

const CREATE_META =
  "CREATE TABLE IF NOT EXISTS index_meta (schema_version INTEGER NOT NULL, last_sequence BIGINT NOT NULL, " +
  "last_signature VARCHAR)";

/**
 * The staging table of the bulk load (see the module header): per row the sequence, the other derived columns
 * packed as one JSON array of strings (STAGED_FIELDS, in this order), `details` and the event text.
 */
const STAGING = "index_staging";

/** The columns carried in the staging row's `fields` array, in array order. */
const STAGED_FIELDS = [
  "event_id",
  "event_type",
  "timestamp",
  "received_at",
  "version",
  "origin_source",
  "origin_address",
  "origin_token",
  "actor_type",
  "actor_id",
  "actor_roles",
  "actor_ip_address",
  "actor_user_agent",
  "resource_type",
  "resource_id",
  "resource_path",
  "action_operation",
  "action_result",
  "action_duration_ms",
  "context_cluster_id",
  "context_environment",
  "context_correlation_id",
  "journal_segment",
  "journal_offset",
  "journal_length",
] as const satisfies readonly EventColumn[];

/**
 * WAL size that triggers DuckDB's automatic checkpoint (its default: 16 MB). A checkpoint rewrites the table's
 * open row group (and did the primary-key index this table used to have), so with the default it ran every
 * ~15k rows and took most of the indexing time; at 256 MB it runs every ~250k rows. The price: a crash leaves up to that much WAL to replay
 * on the next open (a few seconds). `checkpoint()` (reindex) still writes everything out.
 */
const CHECKPOINT_THRESHOLD = "256MB";

const CREATE_STAGING = `CREATE TEMP TABLE IF NOT EXISTS ${STAGING} (sequence BIGINT, fields VARCHAR, details JSON)`;

/** Moves the staged rows into `events`, turning each packed text back into its column's type. */
const INSERT_STAGED = (() => {
  const paths = STAGED_FIELDS.map((_, i) => `'$[${i}]'`).join(", ");
  const field = (name: EventColumn): string => `f[${STAGED_FIELDS.indexOf(name as never) + 1}]`;
  const value = (c: (typeof EVENT_COLUMNS)[number]): string => {
    switch (c.name) {
      case "sequence":
      case "details":
        return quote(c.name);
      case "timestamp":
      case "received_at":
        return `make_timestamptz(CAST(${field(c.name)} AS BIGINT) * 1000)`;
      case "actor_roles":
        return `CAST(CAST(${field(c.name)} AS JSON) AS VARCHAR[])`;
      case "action_duration_ms":
        return `CAST(${field(c.name)} AS DOUBLE)`;
      case "journal_segment":
      case "journal_offset":
        return `CAST(${field(c.name)} AS BIGINT)`;
      case "journal_length":
        return `CAST(${field(c.name)} AS INTEGER)`;
      default:
        return field(c.name);
    }
  };
  return (
    `INSERT INTO events (${EVENT_COLUMNS.map((c) => quote(c.name)).join(", ")}) ` +
    `SELECT ${EVENT_COLUMNS.map(value).join(", ")} ` +
    `FROM (SELECT sequence, details, json_extract_string(fields, [${paths}]) AS f FROM ${STAGING})`
  );
})();

type Json = Record<string, unknown>;

/** Named parameters of a query (`$name` in the SQL). */
export type QueryParams = Record<string, string | number | boolean | null>;

/** What searching needs of an index: the newest record it holds, and read-only queries over committed rows. */
export interface SearchableIndex {
  readonly last: RecordRef | undefined;
  query(sql: string, params?: QueryParams): Promise<Json[]>;
}

/** Counts of one column's values, most frequent first (ties by value); `value` null for NULL. */
export interface ValueCount {
  value: string | null;
  count: number;
}

export class EventIndex implements SearchableIndex {
  readonly path: string;
  readonly #db: DuckDBInstance;
  readonly #write: DuckDBConnection;
  readonly #read: DuckDBConnection;
  #last: RecordRef | undefined;
  #closed = false;

  private constructor(
    path: string,
    db: DuckDBInstance,
    write: DuckDBConnection,
    read: DuckDBConnection,
    last: RecordRef | undefined,
  ) {
    this.path = path;
    this.#db = db;
    this.#write = write;
    this.#read = read;
    this.#last = last;
  }

  /**
   * Opens the index at `path` (a DuckDB database file), creating it when absent. Throws `invalid_config` for an
   * index of another schema version: it is derived data, rebuild it with `vigil reindex`.
   */
  static async open(path: string): Promise<EventIndex> {
    const db = await DuckDBInstance.create(path);
    const conns: DuckDBConnection[] = [];
    try {
      const write = await db.connect();
      conns.push(write);
      await write.run(CREATE_EVENTS);
      await write.run(CREATE_META);
      await write.run(CREATE_STAGING);
      await write.run(`SET checkpoint_threshold = '${CHECKPOINT_THRESHOLD}'`);
      const rows = (
        await write.runAndReadAll("SELECT schema_version, last_sequence, last_signature FROM index_meta")
      ).getRowObjectsJS();
      let last: RecordRef | undefined;
      const meta = rows[0];
      if (!meta) {
        await write.run(
          `INSERT INTO index_meta (schema_version, last_sequence, last_signature) VALUES (${INDEX_SCHEMA_VERSION}, 0, NULL)`,
        );
      } else if (meta.schema_version !== INDEX_SCHEMA_VERSION) {
        throw new VigilError(
          "invalid_config",
          `index ${path} has schema version ${String(meta.schema_version)}, not ${INDEX_SCHEMA_VERSION}: ` +
            "rebuild it with vigil reindex",
        );
      } else if (Number(meta.last_sequence) > 0 && typeof meta.last_signature === "string") {
        last = { sequence: Number(meta.last_sequence), signature: meta.last_signature };
      }
      const read = await db.connect();
      conns.push(read);
      return new EventIndex(path, db, write, read, last);
    } catch (e) {
      for (const c of conns) c.closeSync();
      db.closeSync();
      throw e;
    }
  }

  /** The newest record indexed, or undefined for an empty index. */
  get last(): RecordRef | undefined {
    return this.#last;
  }

  /**
   * Appends the batch's records in one transaction together with the meta update, and resolves once it is
   * committed. Records at or below the last indexed sequence are skipped (a batch delivered again after a
   * crash); the rest must follow it without a gap. Returns the number of rows appended.
   */
  async append(batch: RecordBatch): Promise<number> {
    this.#checkOpen();
    const after = this.#last?.sequence ?? 0;
    const skip = Math.max(0, after + 1 - batch.firstSequence);
    if (skip >= batch.lines.length) return 0;
    const positions = batch.positions;
    if (positions?.length !== batch.lines.length) {
      throw new VigilError(
        "internal",
        "the index is fed records read from the journal, with their positions",
      );
    }
    if (batch.firstSequence + skip !== after + 1 && after !== 0) {
      throw new VigilError(
        "internal",
        `index holds records up to ${after}; a batch starting at ${batch.firstSequence + skip} would leave a gap`,
      );
    }
    await this.#write.run("BEGIN TRANSACTION");
    let appender: DuckDBAppender | undefined;
    try {
      appender = await this.#write.createAppender(STAGING, "main", "temp");
      let last: RecordRef | undefined;
      for (let i = skip; i < batch.lines.length; i++) {
        last = stageRow(
          appender,
          batch.lines[i] as Buffer,
          batch.firstSequence + i,
          positions[i] as JournalLocation,
        );
      }
      appender.closeSync();
      appender = undefined;
      await this.#write.run(INSERT_STAGED);
      await this.#write.run(`DELETE FROM ${STAGING}`);
      const ref = last as RecordRef;
      await this.#write.run("UPDATE index_meta SET last_sequence = $seq, last_signature = $sig", {
        seq: BigInt(ref.sequence),
        sig: ref.signature,
      });
      await this.#write.run("COMMIT");
      this.#last = ref;
      return batch.lines.length - skip;
    } catch (e) {
      try {
        appender?.closeSync();
      } catch {
        // The appender's rows are discarded with the transaction.
      }
      await this.#write.run("ROLLBACK").catch(() => {});
      throw e;
    }
  }

  /** Number of rows. */
  async count(): Promise<number> {
    const rows = await this.#query("SELECT count(*) AS n FROM events");
    return Number(rows[0]?.n ?? 0);
  }

  /** Counts by the values of one column (`actor_roles`: by the whole list, as its JSON text). */
  async countBy(column: EventColumn): Promise<ValueCount[]> {
    if (!isEventColumn(column))
      throw new VigilError("usage", `no column ${JSON.stringify(column)} in the index`);
    const rows = await this.#query(
      `SELECT CAST(${quote(column)} AS VARCHAR) AS v, count(*) AS n FROM events GROUP BY v ORDER BY n DESC, v NULLS LAST`,
    );
    return rows.map((r) => ({ value: r.v === null ? null : String(r.v), count: Number(r.n) }));
  }

  /** Sequence of the newest row committed (0: none), read from the table. */
  async lastSequence(): Promise<number> {
    const rows = await this.#query("SELECT coalesce(max(sequence), 0) AS s FROM events");
    return Number(rows[0]?.s ?? 0);
  }

  /** Runs a read-only query on the reading connection (committed data only); values as plain JS. */
  async query(sql: string, params?: QueryParams): Promise<Json[]> {
    return this.#query(sql, params);
  }

  /** Writes everything to the database file (no WAL left behind). */
  async checkpoint(): Promise<void> {
    this.#checkOpen();
    await this.#write.run("CHECKPOINT");
  }

  /** Closes the database; safe twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#read.closeSync();
    this.#write.closeSync();
    this.#db.closeSync();
  }

  async #query(sql: string, params?: QueryParams): Promise<Json[]> {
    this.#checkOpen();
    const reader = await this.#read.runAndReadAll(sql, params);
    return reader.getRowObjectsJS() as Json[];
  }

  #checkOpen(): void {
    if (this.#closed) throw new VigilError("internal", `index ${this.path} is closed`);
  }
}

/**
 * Stages one record's row (three values: see STAGING); returns its ref. The event JSON is parsed once, the
 * integrity block not at all. Every derived value is computed here, in JS, so its meaning does not depend on
 * DuckDB's JSON functions: the SQL side only unpacks strings.
 */
function stageRow(a: DuckDBAppender, line: Buffer, sequence: number, at: JournalLocation): RecordRef {
  const parsed = parseRecord(line);
  if (!parsed.ok)
    throw new VigilError("journal_corrupt", `record ${sequence} is not a sealed record: ${parsed.reason}`);
  const { integrity, event: bytes } = parsed.record;
  if (integrity.sequence_number !== sequence) {
    throw new VigilError(
      "journal_corrupt",
      `record ${sequence} carries sequence ${integrity.sequence_number}`,
    );
  }
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
  const ev = JSON.parse(text) as Json;
  const origin = asObject(ev.origin);
  const actor = asObject(ev.actor);
  const resource = asObject(ev.resource);
  const action = asObject(ev.action);
  const context = asObject(ev.context);
  const roles = actor?.roles;
  const duration = action?.duration_ms;
  // In STAGED_FIELDS order.
  const fields: (string | null)[] = [
    str(ev.event_id),
    str(ev.event_type),
    millis(ev.timestamp),
    millis(ev.received_at),
    str(ev.version),
    str(origin?.source),
    str(origin?.address),
    str(origin?.token),
    str(actor?.type),
    str(actor?.id),
    Array.isArray(roles) ? JSON.stringify(roles.filter((r): r is string => typeof r === "string")) : null,
    str(actor?.ip_address),
    str(actor?.user_agent),
    str(resource?.type),
    str(resource?.id),
    str(resource?.path),
    str(action?.operation),
    str(action?.result),
    // String(-0) is "0": keep the sign, as a DOUBLE column would.
    typeof duration === "number" ? (Object.is(duration, -0) ? "-0" : String(duration)) : null,
    str(context?.cluster_id),
    str(context?.environment),
    str(context?.correlation_id),
    String(at.segment),
    String(at.offset),
    String(line.length),
  ];
  a.appendBigInt(BigInt(sequence));
  a.appendVarchar(JSON.stringify(fields));
  if (ev.details === undefined) a.appendNull();
  else a.appendVarchar(JSON.stringify(ev.details));
  a.endRow();
  return { sequence, signature: integrity.signature };
}

function asObject(v: unknown): Json | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Json) : undefined;
}

/** A standard string field's text: a number or boolean as its JS text, anything else but a string NULL. */
function str(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return null;
}

/** A time field as the decimal text of its epoch milliseconds (see parseMillis), or NULL. */
function millis(v: unknown): string | null {
  const ms = typeof v === "string" ? parseMillis(v) : undefined;
  return ms === undefined ? null : String(ms);
}

/**
 * A time as epoch milliseconds exactly as the in-process query evaluator sees it (`new Date(text)`, see
 * src/query/fields.ts): digits beyond the millisecond are dropped. Undefined when it is not a date.
 */
export function parseMillis(text: string): number | undefined {
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}
