/**
 * The native event: the "Standard Fields" of spec/000 plus event-specific `details`.
 * The TypeBox schema is the single source of truth: the TypeScript types below are derived from it.
 */
import Type from "typebox";

/** `category.action`, lower case: `backup.started`, `auth.token_refresh`, `kafka.produce`. */
export const EVENT_TYPE_PATTERN = "^[a-z0-9][a-z0-9_-]*(\\.[a-z0-9][a-z0-9_-]*)+$";
/** Event ids are opaque but restricted to a safe alphabet so they can name files, keys and URLs. */
export const EVENT_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._:-]*$";

const Str = (maxLength = 1024) => Type.String({ maxLength });

export const Actor = Type.Object(
  {
    type: Type.Optional(Str(64)),
    id: Type.Optional(Str()),
    roles: Type.Optional(Type.Array(Str(256), { maxItems: 256 })),
    ip_address: Type.Optional(Str(64)),
    user_agent: Type.Optional(Str()),
  },
  { additionalProperties: true },
);

export const Resource = Type.Object(
  {
    type: Type.Optional(Str(128)),
    id: Type.Optional(Str()),
    path: Type.Optional(Str(4096)),
  },
  { additionalProperties: true },
);

export const Action = Type.Object(
  {
    operation: Type.Optional(Str(128)),
    result: Type.Optional(Str(64)),
    duration_ms: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: true },
);

export const Context = Type.Object(
  {
    cluster_id: Type.Optional(Str(256)),
    environment: Type.Optional(Str(128)),
    correlation_id: Type.Optional(Str(256)),
  },
  { additionalProperties: true },
);

/** Where the server received the event from; set by Vigil, never by the client. */
export const Origin = Type.Object(
  {
    source: Str(64),
    address: Type.Optional(Str(64)),
    token: Type.Optional(Str(128)),
  },
  { additionalProperties: false },
);

/** What a client may send. */
export const InputEvent = Type.Object(
  {
    timestamp: Type.Optional(Type.String({ maxLength: 40 })),
    event_type: Type.String({ pattern: EVENT_TYPE_PATTERN, maxLength: 128 }),
    event_id: Type.Optional(Type.String({ pattern: EVENT_ID_PATTERN, minLength: 1, maxLength: 128 })),
    version: Type.Optional(Str(16)),
    actor: Type.Optional(Actor),
    resource: Type.Optional(Resource),
    action: Type.Optional(Action),
    context: Type.Optional(Context),
    details: Type.Optional(Type.Object({}, { additionalProperties: true })),
  },
  { additionalProperties: false },
);

/** An event as sealed: the server has filled the id, timestamp, version, receive time and origin. */
export const NativeEvent = Type.Object(
  {
    timestamp: Type.String(),
    event_type: Type.String(),
    event_id: Type.String(),
    version: Type.String(),
    received_at: Type.String(),
    origin: Origin,
    actor: Type.Optional(Actor),
    resource: Type.Optional(Resource),
    action: Type.Optional(Action),
    context: Type.Optional(Context),
    details: Type.Optional(Type.Object({}, { additionalProperties: true })),
  },
  { additionalProperties: false },
);

export type InputEvent = Type.Static<typeof InputEvent>;
export type NativeEvent = Type.Static<typeof NativeEvent>;
export type EventOrigin = Type.Static<typeof Origin>;

/** Fields only Vigil may set. A client that sends them is refused (see validate.ts). */
export const SERVER_FIELDS = ["received_at", "origin", "integrity"] as const;

export const EVENT_SCHEMA_VERSION = "1.0";
