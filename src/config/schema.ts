/**
 * The raw shape of vigil.yaml as TypeBox schemas: the single source of truth for which keys exist and what type
 * each holds (the `Raw*` types are derived from it). Also turns schema errors into messages for people. load.ts
 * adds the checks a schema cannot express and resolves the raw shape into a VigilConfig (types.ts).
 */
import { isIP } from "node:net";
import Type, { type TSchema } from "typebox";
import { Compile } from "typebox/compile";
import type { TLocalizedValidationError } from "typebox/error";
import { Settings } from "typebox/system";
import { DEFAULT_LISTEN, type ListenAddress } from "./types.ts";

export const ENV_VAR_NAME_PATTERN = "^[A-Za-z_][A-Za-z0-9_]*$";
/** Event type globs: the characters of event types plus the wildcards `*` and `?`. */
export const EVENT_GLOB_PATTERN = "^[a-z0-9_*?.-]+$";
/**
 * A source's name is its state file's name in `<data-dir>/sources/` and its events' `origin.token`, so it is
 * limited to what is safe in a file name and fits that field.
 */
export const SOURCE_NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";

const PATTERN_MESSAGES: Readonly<Record<string, string>> = {
  [ENV_VAR_NAME_PATTERN]:
    "must be an environment variable name: letters, digits and _, not starting with a digit",
  [EVENT_GLOB_PATTERN]:
    "must be an event type or glob: lower-case letters, digits, . _ - and the wildcards * and ?, e.g. backup.*",
  [SOURCE_NAME_PATTERN]:
    "must be at most 64 letters, digits and . _ -, starting with a letter or digit, e.g. broker-1",
};

const strict = { additionalProperties: false };

export const TOKEN_SCOPES = ["ingest", "read", "admin"] as const;
export const FAILURE_POLICIES = ["reject", "permit"] as const;

/** Source types Vigil reads itself (or, for `kafka_proxy`, sees pass through it). */
export const SOURCE_TYPES = ["kafka_authorizer_log", "kafka_proxy", "audit_topic"] as const;

export const TokenSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    token: Type.String({ minLength: 16, maxLength: 4096 }),
    scopes: Type.Optional(Type.Array(Type.Enum(TOKEN_SCOPES), { minItems: 1 })),
  },
  strict,
);

export const ServerSchema = Type.Object(
  {
    listen: Type.Optional(Type.String()),
    max_body_bytes: Type.Optional(Type.Integer({ minimum: 1024 })),
    tokens: Type.Optional(Type.Array(TokenSchema)),
  },
  strict,
);

export const JournalSchema = Type.Object(
  { segment_mb: Type.Optional(Type.Number({ exclusiveMinimum: 0 })) },
  strict,
);

/** max_event_bytes is bounded so one sealed record always fits in one journal group write (8 MiB). */
export const LimitsSchema = Type.Object(
  {
    max_event_bytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 4 * 1024 * 1024 })),
    max_depth: Type.Optional(Type.Integer({ minimum: 1, maximum: 256 })),
  },
  strict,
);

/**
 * Only `type` is checked here (other keys are allowed): each type's keys are checked by that destination's own
 * schema, and the keys of types not built yet are not checked at all.
 */
export const DestinationSchema = Type.Object({ type: Type.String() });

/** As DestinationSchema: each source type's keys are checked by its own schema. */
export const SourceSchema = Type.Object({ type: Type.String() });

export const IntegritySchema = Type.Object(
  {
    signing: Type.Optional(
      Type.Object(
        {
          enabled: Type.Optional(Type.Boolean()),
          algorithm: Type.Optional(Type.String()),
          key_env_var: Type.Optional(Type.String({ pattern: ENV_VAR_NAME_PATTERN })),
          /** Forward-secure sealing: the key evolves every epoch_records records (integrity/forward-secure.ts). */
          forward_secure: Type.Optional(
            Type.Object(
              { epoch_records: Type.Optional(Type.Integer({ minimum: 1, maximum: 2 ** 40 })) },
              strict,
            ),
          ),
        },
        strict,
      ),
    ),
    chain: Type.Optional(Type.Object({ enabled: Type.Optional(Type.Boolean()) }, strict)),
    /** Signed Merkle checkpoints (C2SP tlog-checkpoint, Ed25519). */
    checkpoints: Type.Optional(
      Type.Object(
        {
          every_records: Type.Optional(Type.Integer({ minimum: 1 })),
          every_seconds: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
          idle_seconds: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
          origin: Type.Optional(Type.String({ pattern: "^[^\\s+]+$", minLength: 1, maxLength: 256 })),
        },
        strict,
      ),
    ),
  },
  strict,
);

/** A key whose feature is not built yet: recognised, so never "unknown", and refused by load.ts. */
const Later = Type.Optional(Type.Unknown());

export const AuditSchema = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean()),
    destination: Type.Optional(DestinationSchema),
    destinations: Type.Optional(Type.Array(DestinationSchema, { minItems: 1 })),
    events: Type.Optional(Type.Array(Type.String({ pattern: EVENT_GLOB_PATTERN }), { minItems: 1 })),
    exclude_events: Type.Optional(Type.Array(Type.String({ pattern: EVENT_GLOB_PATTERN }))),
    integrity: Type.Optional(IntegritySchema),
    failure_policy: Type.Optional(Type.Enum(FAILURE_POLICIES)),
    queue: Type.Optional(Type.Object({ max_events: Type.Optional(Type.Integer({ minimum: 1 })) }, strict)),
    retention: Later,
    lifecycle: Later,
    alerts: Later,
    policy_file: Type.Optional(Type.String({ minLength: 1 })),
    /** Redpanda's switches; their values are checked by policy/redpanda.ts (did-you-mean, the audit topic). */
    enabled_event_types: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    excluded_topics: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    excluded_principals: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    /** Field paths are checked by policy/redact.ts. */
    redaction: Type.Optional(
      Type.Object(
        {
          fields: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
          kubernetes_secrets: Type.Optional(Type.Boolean()),
        },
        strict,
      ),
    ),
    sources: Type.Optional(Type.Array(SourceSchema)),
    /**
     * The search index (issue 6): an embedded DuckDB database fed from the journal by its own consumer (cursor
     * "index") on its own thread, derived data only (`vigil reindex` rebuilds it). `enabled` (default true):
     * without it `GET /v1/events` answers 503. `path` (default `index.duckdb`): the database file, relative to
     * data_dir.
     */
    index: Type.Optional(
      Type.Object(
        {
          enabled: Type.Optional(Type.Boolean()),
          path: Type.Optional(Type.String({ minLength: 1 })),
        },
        strict,
      ),
    ),
  },
  strict,
);

/** The audit block is accepted both as spec/000 writes it (`enterprise.audit`) and as a top-level `audit`. */
export const ConfigSchema = Type.Object(
  {
    data_dir: Type.Optional(Type.String({ minLength: 1 })),
    server: Type.Optional(ServerSchema),
    journal: Type.Optional(JournalSchema),
    limits: Type.Optional(LimitsSchema),
    enterprise: Type.Optional(Type.Object({ audit: Type.Optional(AuditSchema) }, strict)),
    audit: Type.Optional(AuditSchema),
  },
  strict,
);

export type RawConfig = Type.Static<typeof ConfigSchema>;
export type RawAudit = Type.Static<typeof AuditSchema>;

/** Why each recognised-but-unbuilt audit key is refused; the text follows "not supported yet: ". */
export const LATER_AUDIT_KEYS = {
  retention: "retention policies arrive in a later release",
  lifecycle: "lifecycle rules arrive with retention policies in a later release",
  alerts: "alerting arrives in a later release",
} as const satisfies Partial<Record<keyof RawAudit, string>>;

const LISTEN_FORMS = "host:port, [ipv6-address]:port or :port, e.g. 127.0.0.1:7470";

/**
 * A listen address as every listener of Vigil accepts it (`server.listen`, `--listen`, a kafka_proxy source's
 * `listen`): `host:port`, `[ipv6]:port`, or `:port` on 127.0.0.1; port 0 asks for any free port. Returns the
 * address, or why `text` is not one.
 */
export function listenAddress(text: string): ListenAddress | string {
  const match = /^(?:\[([^\]]*)\]|([A-Za-z0-9._-]*)):(\d{1,5})$/.exec(text);
  if (!match) {
    const bareIpv6 = !text.startsWith("[") && text.split(":").length > 2;
    return bareIpv6 ? `must be ${LISTEN_FORMS} (put an IPv6 address in brackets)` : `must be ${LISTEN_FORMS}`;
  }
  const [, bracketed, host, portText] = match;
  const port = Number(portText);
  if (port > 65535) return "port must be between 0 and 65535";
  if (bracketed !== undefined) {
    return isIP(bracketed) === 6
      ? { host: bracketed, port }
      : "the address in brackets must be an IPv6 address";
  }
  return { host: host || DEFAULT_LISTEN.host, port };
}

/** A key path as written in the file: `["destinations", 1, "path"]` is `destinations[1].path`. */
export type Path = readonly (string | number)[];

export interface PathProblem {
  path: Path;
  message: string;
}

export function formatPath(path: Path): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else out += out === "" ? segment : `.${segment}`;
  }
  return out;
}

/** Optimal string alignment distance: edits, counting a swap of neighbours as one. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => d[i]?.[j] ?? 0;
  for (let i = 1; i <= a.length; i++) {
    const row = d[i] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, at(i - 2, j - 2) + 1);
      row[j] = best;
    }
  }
  return at(a.length, b.length);
}

/** The candidate closest to `word`, if one is within two edits (and closer than the word is long). */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance && distance < word.length) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

const TYPE_NOUNS: Readonly<Record<string, string>> = {
  integer: "an integer",
  number: "a number",
  string: "a string",
  boolean: "true or false",
  array: "a list",
  object: "a mapping of keys",
};

interface SchemaNode {
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
}

function schemaAt(schema: TSchema, path: Path): SchemaNode | undefined {
  let node: SchemaNode | undefined = schema as SchemaNode;
  for (const segment of path) node = typeof segment === "number" ? node?.items : node?.properties?.[segment];
  return node;
}

/** JSON Pointer to a Path, with array indices as numbers (the value tells an index from a key like "0"). */
function pointerToPath(value: unknown, pointer: string): { path: Path; value: unknown } {
  const path: (string | number)[] = [];
  let current = value;
  if (pointer === "") return { path, value };
  for (const raw of pointer.slice(1).split("/")) {
    const segment = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    if (Array.isArray(current)) {
      path.push(Number(segment));
      current = current[Number(segment)];
    } else {
      path.push(segment);
      current =
        current !== null && typeof current === "object"
          ? (current as Record<string, unknown>)[segment]
          : undefined;
    }
  }
  return { path, value: current };
}

/** Never quotes the offending value: it may have come from an environment variable holding a secret. */
function describe(error: TLocalizedValidationError, schema: TSchema, value: unknown): PathProblem[] {
  const { path, value: actual } = pointerToPath(value, error.instancePath);
  switch (error.keyword) {
    case "boolean": {
      const key = String(path[path.length - 1]);
      const known = Object.keys(schemaAt(schema, path.slice(0, -1))?.properties ?? {});
      const hint = suggest(key, known);
      return [
        {
          path,
          message: hint ? `unknown key; did you mean ${hint}?` : `unknown key (known: ${known.join(", ")})`,
        },
      ];
    }
    case "required":
      return error.params.requiredProperties.map((key) => ({ path: [...path, key], message: "is required" }));
    case "type": {
      const noun = TYPE_NOUNS[String(error.params.type)] ?? String(error.params.type);
      return [{ path, message: actual === null ? `is empty; expected ${noun}` : `must be ${noun}` }];
    }
    case "minimum":
      return [{ path, message: `must be at least ${error.params.limit}` }];
    case "maximum":
      return [{ path, message: `must be at most ${error.params.limit}` }];
    case "exclusiveMinimum":
      return [{ path, message: `must be greater than ${error.params.limit}` }];
    case "minLength":
      return [
        {
          path,
          message:
            error.params.limit === 1
              ? "must not be empty"
              : `must be at least ${error.params.limit} characters`,
        },
      ];
    case "maxLength":
      return [{ path, message: `must be at most ${error.params.limit} characters` }];
    case "minItems":
      return [
        {
          path,
          message:
            error.params.limit === 1
              ? "must not be an empty list"
              : `must list at least ${error.params.limit} items`,
        },
      ];
    case "enum":
      return [{ path, message: `must be one of ${error.params.allowedValues.join(", ")}` }];
    case "const":
      return [{ path, message: `must be ${String(error.params.allowedValue)}` }];
    case "pattern":
      return [{ path, message: PATTERN_MESSAGES[String(error.params.pattern)] ?? "has an invalid format" }];
    default:
      return [{ path, message: error.message }];
  }
}

/**
 * Compiles a schema into a function listing every problem of a value, each with its path under `base` and a
 * message naming the expected type or the unknown key (with a "did you mean" suggestion).
 */
export function schemaChecker(schema: TSchema): (value: unknown, base?: Path) => PathProblem[] {
  const validator = Compile(schema);
  return (value, base = []) => {
    if (validator.Check(value)) return [];
    const saved = Settings.Get().maxErrors;
    // TypeBox stops at 8 errors by default; a config file is small and every problem should be listed at once.
    // The setting is global, so it is restored before anything else can run.
    Settings.Set({ maxErrors: 10_000 });
    let errors: TLocalizedValidationError[];
    try {
      errors = validator.Errors(value);
    } finally {
      Settings.Set({ maxErrors: saved });
    }
    const seen = new Set<string>();
    const problems: PathProblem[] = [];
    for (const error of errors) {
      if (error.keyword === "additionalProperties") continue; // each extra key also has its own "boolean" error
      for (const problem of describe(error, schema, value)) {
        const key = `${formatPath(problem.path)}\0${problem.message}`;
        if (seen.has(key)) continue;
        seen.add(key);
        problems.push({ path: [...base, ...problem.path], message: problem.message });
      }
    }
    return problems;
  };
}
