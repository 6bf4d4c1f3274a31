/**
 * Config of the `type: file` destination: its raw YAML schema, its defaults, and resolution into a
 * FileDestinationConfig. config/load.ts checks a `type: file` entry against FileDestinationSchema, then resolves it.
 */
import { resolve } from "node:path";
import Type from "typebox";
import { type BaseDestinationConfig, DeliveryFields, resolveDelivery } from "../delivery.ts";

const MIB = 1024 * 1024;
export const DEFAULT_ROTATION_MAX_SIZE_MB = 100;
export const DEFAULT_ROTATION_MAX_FILES = 10;

export const FileRotationSchema = Type.Object(
  {
    max_size_mb: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    max_files: Type.Optional(Type.Integer({ minimum: 1 })),
    compress: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export interface FileRotationConfig {
  /** Rotate once the active file reaches this size. */
  maxSizeBytes: number;
  /** Rotated files kept besides the active one; older ones are deleted. */
  maxFiles: number;
  /** gzip rotated files. */
  compress: boolean;
}

export interface FileDestinationConfig extends BaseDestinationConfig {
  type: "file";
  /** Defaults to `file:<path>`. */
  name: string;
  path: string;
  rotation?: FileRotationConfig;
}

export const FileDestinationSchema = Type.Object(
  {
    type: Type.Literal("file"),
    ...DeliveryFields,
    path: Type.String({ minLength: 1 }),
    rotation: Type.Optional(FileRotationSchema),
  },
  { additionalProperties: false },
);

export type RawFileDestination = Type.Static<typeof FileDestinationSchema>;

/**
 * `path` is resolved against `baseDir` (the config file's directory), so the result is absolute and the default
 * name `file:<path>` stays the same whatever the working directory. Without `rotation` the file never rotates;
 * `rotation: {}` rotates with the defaults. `format` defaults to native, the sealed record lines themselves.
 */
export function resolveFileDestination(raw: RawFileDestination, baseDir: string): FileDestinationConfig {
  const path = resolve(baseDir, raw.path);
  const config: FileDestinationConfig = {
    type: "file",
    name: raw.name ?? `file:${path}`,
    path,
    format: raw.format ?? "native",
    delivery: resolveDelivery(raw),
  };
  if (raw.rotation) {
    config.rotation = {
      maxSizeBytes: Math.ceil((raw.rotation.max_size_mb ?? DEFAULT_ROTATION_MAX_SIZE_MB) * MIB),
      maxFiles: raw.rotation.max_files ?? DEFAULT_ROTATION_MAX_FILES,
      compress: raw.rotation.compress ?? false,
    };
  }
  return config;
}

/** The destination used when the config names none: `audit.log` in the data directory, never rotated. */
export function defaultFileDestination(dataDir: string): FileDestinationConfig {
  return resolveFileDestination({ type: "file", path: "audit.log" }, dataDir);
}
