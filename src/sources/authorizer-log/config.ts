/**
 * Config of the `type: kafka_authorizer_log` source: its raw YAML schema and resolution into an
 * AuthorizerLogSourceConfig. config/load.ts checks an entry of `audit.sources` against
 * AuthorizerLogSourceSchema, then resolves it.
 */
import { basename, resolve } from "node:path";
import Type from "typebox";
import { SOURCE_NAME_PATTERN } from "../../config/schema.ts";
import type { AuthorizerLogSourceConfig } from "../../config/types.ts";

export const AuthorizerLogSourceSchema = Type.Object(
  {
    type: Type.Literal("kafka_authorizer_log"),
    name: Type.Optional(Type.String({ pattern: SOURCE_NAME_PATTERN })),
    path: Type.String({ minLength: 1 }),
    time_zone: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

export type RawAuthorizerLogSource = Type.Static<typeof AuthorizerLogSourceSchema>;

/** A name from the file's base name (`kafka-authorizer.log`), made to fit SOURCE_NAME_PATTERN. */
function defaultName(path: string): string {
  const safe = basename(path)
    .replace(/[^A-Za-z0-9._-]/g, "_")
    .replace(/^[^A-Za-z0-9]+/, "")
    .slice(0, 64);
  return safe || "kafka-authorizer-log";
}

/** `path` is resolved against `baseDir` (the config file's directory); `time_zone` defaults to UTC. */
export function resolveAuthorizerLogSource(
  raw: RawAuthorizerLogSource,
  baseDir: string,
): AuthorizerLogSourceConfig {
  const path = resolve(baseDir, raw.path);
  return {
    type: "kafka_authorizer_log",
    name: raw.name ?? defaultName(path),
    path,
    timeZone: raw.time_zone ?? "UTC",
  };
}
