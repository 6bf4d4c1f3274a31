/**
 * The resolved configuration every other module reads: defaults applied, `${VAR}` interpolated, spec/000's
 * `enterprise.audit` or a top-level `audit` block normalized into one shape. Produced by `loadConfig` (load.ts)
 * from the raw YAML schema (schema.ts), or by `defaultConfig` when there is no file.
 */

import type { DestinationConfig } from "../destinations/registry.ts";
import type { EventLimits } from "../event/validate.ts";
import type { KubernetesPolicy } from "../policy/kubernetes.ts";
import type { RedactionConfig } from "../policy/redact.ts";
import type { RedpandaFilterConfig } from "../policy/redpanda.ts";
import type { AuditTopicSourceConfig } from "../sources/audit-topic/config.ts";
import type { KafkaProxySourceConfig } from "../sources/kafka-proxy/config.ts";

export type TokenScope = "ingest" | "read" | "admin";

export interface TokenConfig {
  /** Name recorded as the event origin's `token`; never the secret itself. */
  name: string;
  token: string;
  scopes: TokenScope[];
}

export interface ListenAddress {
  host: string;
  port: number;
}

/** A resolved destination: one of the types in destinations/registry.ts. */
export type { DestinationConfig } from "../destinations/registry.ts";

export interface AuthorizerLogSourceConfig {
  type: "kafka_authorizer_log";
  /** Unique among sources; names the state file and is recorded as the events' `origin.token`. */
  name: string;
  /** Absolute path of the broker's `kafka-authorizer.log`. */
  path: string;
  /** IANA zone of the log's timestamps that carry no offset. */
  timeZone: string;
}

/** A resolved `type: audit_topic` source: see sources/audit-topic/config.ts. */
export type { AuditTopicSourceConfig } from "../sources/audit-topic/config.ts";

/** A resolved `type: kafka_proxy` source: see sources/kafka-proxy/config.ts. */
export type { KafkaProxySourceConfig } from "../sources/kafka-proxy/config.ts";

/** The sources Vigil reads (or, for the Kafka proxy, sees pass through it) besides HTTP ingest. */
export type SourceConfig = AuthorizerLogSourceConfig | AuditTopicSourceConfig | KafkaProxySourceConfig;

export type FailurePolicy = "reject" | "permit";

export interface PolicyConfig {
  /** Globs of event types to record; undefined records every type. */
  events?: string[];
  /** Globs of event types never recorded, applied after `events`. */
  excludeEvents: string[];
  /** Redpanda's `enabled_event_types`, `excluded_topics`, `excluded_principals`, applied after the globs. */
  redpanda?: RedpandaFilterConfig;
  /** The topics Vigil writes its records to (its kafka destinations'), which `excluded_topics` may not name. */
  auditTopics?: string[];
}

export interface CheckpointConfig {
  /** Sign a checkpoint once this many records were added since the last one. */
  everyRecords: number;
  /** …or once this long has passed since the last one while records keep arriving. */
  everySeconds: number;
  /** …or once no record has arrived for this long. */
  idleSeconds: number;
  /** The log's identity in its checkpoints; undefined: the data directory's (made once from the host name). */
  origin?: string;
}

export interface IntegrityConfig {
  /** Environment variable holding the HMAC key; undefined: a key generated into the data dir. */
  keyEnvVar?: string;
  /**
   * Set: seal with a forward-secure chain from the data directory, whose key evolves every `epochRecords` records
   * (undefined: the chain's own epoch size, 10000 for a new chain).
   */
  forwardSecure?: { epochRecords?: number };
  checkpoints: CheckpointConfig;
}

export interface IndexConfig {
  /** false: no index is kept and the search endpoints answer 503. */
  enabled: boolean;
  /** Absolute path of the DuckDB database file (`path`, relative to data_dir; default index.duckdb). */
  path: string;
}

export const DEFAULT_INDEX_FILE = "index.duckdb";

export interface VigilConfig {
  /** The file this came from, if any (for messages). */
  source?: string;
  dataDir: string;
  server: {
    listen: ListenAddress;
    /** Largest request body accepted, in bytes (413 beyond). */
    maxBodyBytes: number;
    /** Configured tokens; empty means "use the data dir's generated admin token". */
    tokens: TokenConfig[];
  };
  audit: {
    /** false: every event is dropped by policy (and counted); the service still runs. */
    enabled: boolean;
    destinations: DestinationConfig[];
    /** Sources Vigil reads itself, each started by `vigil serve`; empty: HTTP ingest only. */
    sources: SourceConfig[];
    policy: PolicyConfig;
    /**
     * The `policy_file` Kubernetes audit policy, parsed; undefined: Kubernetes events are recorded at level
     * Metadata (no request or response bodies), the safe default.
     */
    kubernetesPolicy?: KubernetesPolicy;
    /** Applied to every kept event before it is sealed; undefined: Kubernetes Secret values only (the default). */
    redaction?: RedactionConfig;
    integrity: IntegrityConfig;
    failurePolicy: FailurePolicy;
    /** Events accepted but not yet durable, beyond which ingest is refused (or dropped, with permit). */
    queueMaxEvents: number;
    /** The search index (audit.index): fed from the journal, queried by `GET /v1/events`. */
    index: IndexConfig;
  };
  journal: {
    /** A new segment file starts once the current one reaches this size. */
    segmentBytes: number;
  };
  limits: EventLimits;
}

export const DEFAULT_LISTEN: ListenAddress = { host: "127.0.0.1", port: 7470 };
export const DEFAULT_DATA_DIR = "./vigil-data";
export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;
export const DEFAULT_QUEUE_MAX_EVENTS = 100_000;
export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_CHECKPOINTS: CheckpointConfig = { everyRecords: 1000, everySeconds: 10, idleSeconds: 1 };
