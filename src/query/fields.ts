/**
 * The fields a query may name, and the index's column for each.
 *
 * Column layout of the search index (one row per sealed record), for `src/index/` to adopt:
 *
 * | CEL field               | column                   | DuckDB type  |
 * |-------------------------|--------------------------|--------------|
 * | event_id                | event_id                 | VARCHAR      |
 * | event_type              | event_type               | VARCHAR      |
 * | version                 | version                  | VARCHAR      |
 * | timestamp               | timestamp                | TIMESTAMPTZ  |
 * | received_at             | received_at              | TIMESTAMPTZ  |
 * | origin.source/address/token | origin_source, …     | VARCHAR      |
 * | actor.type/id/ip_address/user_agent | actor_type, … | VARCHAR     |
 * | actor.roles             | actor_roles              | VARCHAR[]    |
 * | resource.type/id/path   | resource_type, …         | VARCHAR      |
 * | action.operation/result | action_operation, …      | VARCHAR      |
 * | action.duration_ms      | action_duration_ms       | DOUBLE       |
 * | context.cluster_id/environment/correlation_id | context_cluster_id, … | VARCHAR |
 * | details.*               | details                  | JSON         |
 * | (journal position)      | sequence                 | BIGINT       |
 *
 * A field absent from the event is SQL NULL. `details` holds exactly the text `JSON.stringify(event.details)`
 * (src/index/store.ts stageRow): sql.ts looks for strings in that text before it extracts a path (detailsText),
 * so storing it any other way (DuckDB's `json()` rewrites the text) must change sql.ts too. `timestamp` and `received_at` hold the instant the in-process
 * evaluator sees, `new Date(event.timestamp)`: millisecond precision. Store them truncated to the millisecond,
 * or a comparison at a sub-millisecond boundary would answer differently on the two paths.
 */

export type ColumnType = "VARCHAR" | "VARCHAR[]" | "DOUBLE" | "TIMESTAMPTZ" | "JSON" | "BIGINT";

export interface Column {
  /** Column name in the index. */
  readonly name: string;
  readonly type: ColumnType;
}

/** CEL field path (as written in a query) → index column. `details` holds any sub-path as JSON. */
export const QUERY_COLUMNS: Readonly<Record<string, Column>> = {
  event_id: { name: "event_id", type: "VARCHAR" },
  event_type: { name: "event_type", type: "VARCHAR" },
  version: { name: "version", type: "VARCHAR" },
  timestamp: { name: "timestamp", type: "TIMESTAMPTZ" },
  received_at: { name: "received_at", type: "TIMESTAMPTZ" },
  "origin.source": { name: "origin_source", type: "VARCHAR" },
  "origin.address": { name: "origin_address", type: "VARCHAR" },
  "origin.token": { name: "origin_token", type: "VARCHAR" },
  "actor.type": { name: "actor_type", type: "VARCHAR" },
  "actor.id": { name: "actor_id", type: "VARCHAR" },
  "actor.roles": { name: "actor_roles", type: "VARCHAR[]" },
  "actor.ip_address": { name: "actor_ip_address", type: "VARCHAR" },
  "actor.user_agent": { name: "actor_user_agent", type: "VARCHAR" },
  "resource.type": { name: "resource_type", type: "VARCHAR" },
  "resource.id": { name: "resource_id", type: "VARCHAR" },
  "resource.path": { name: "resource_path", type: "VARCHAR" },
  "action.operation": { name: "action_operation", type: "VARCHAR" },
  "action.result": { name: "action_result", type: "VARCHAR" },
  "action.duration_ms": { name: "action_duration_ms", type: "DOUBLE" },
  "context.cluster_id": { name: "context_cluster_id", type: "VARCHAR" },
  "context.environment": { name: "context_environment", type: "VARCHAR" },
  "context.correlation_id": { name: "context_correlation_id", type: "VARCHAR" },
  details: { name: "details", type: "JSON" },
};

/** Object-valued fields: may be named on their own (`has(actor.id)`, `actor == …`) but hold no column. */
export const OBJECT_FIELDS: readonly string[] = ["origin", "actor", "resource", "action", "context"];

/** Every path a query may name (besides `details.<anything>`). */
export const KNOWN_PATHS: readonly string[] = [...OBJECT_FIELDS, ...Object.keys(QUERY_COLUMNS)];
