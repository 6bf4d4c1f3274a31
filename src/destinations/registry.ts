/**
 * Every destination type Vigil can write to, in one table: its YAML schema, its resolution into a config, what
 * it writes to (two entries writing to the same place are refused) and how to build it. config/load.ts checks
 * and resolves `destinations:` entries through this table, server/app.ts builds them through it.
 *
 * Adding a destination type: a folder `destinations/<type>/` with `config.ts` (a TypeBox schema that spreads
 * `DeliveryFields`, a config type extending `BaseDestinationConfig`, `resolve`) and `destination.ts` (a class
 * implementing `Destination`), one entry below, and the contract suite (test/destination-contract.test.ts)
 * run against a real server of that type.
 */
import type { TSchema } from "typebox";
import type { PathProblem } from "../config/schema.ts";
import {
  type CloudWatchDestinationConfig,
  CloudWatchDestinationSchema,
  checkCloudWatchDestination,
  cloudWatchTarget,
  type RawCloudWatchDestination,
  resolveCloudWatchDestination,
} from "./cloudwatch/config.ts";
import { CloudWatchDestination } from "./cloudwatch/destination.ts";
import type { BaseDestinationConfig } from "./delivery.ts";
import type { Destination } from "./destination.ts";
import {
  type FileDestinationConfig,
  FileDestinationSchema,
  type RawFileDestination,
  resolveFileDestination,
} from "./file/config.ts";
import { FileDestination } from "./file/destination.ts";
import {
  checkKafkaDestination,
  type KafkaDestinationConfig,
  KafkaDestinationSchema,
  kafkaTarget,
  type RawKafkaDestination,
  resolveKafkaDestination,
} from "./kafka/config.ts";
import { KafkaDestination } from "./kafka/destination.ts";
import {
  checkS3Destination,
  type RawS3Destination,
  resolveS3Destination,
  type S3DestinationConfig,
  S3DestinationSchema,
  s3Target,
} from "./s3/config.ts";
import { S3Destination } from "./s3/destination.ts";
import {
  checkSyslogDestination,
  type RawSyslogDestination,
  resolveSyslogDestination,
  type SyslogDestinationConfig,
  SyslogDestinationSchema,
  syslogTarget,
} from "./syslog/config.ts";
import { SyslogDestination } from "./syslog/destination.ts";
import {
  checkWebhookDestination,
  type RawWebhookDestination,
  resolveWebhookDestination,
  type WebhookDestinationConfig,
  WebhookDestinationSchema,
} from "./webhook/config.ts";
import { WebhookDestination } from "./webhook/destination.ts";

/** What a destination is built with besides its config. */
export interface DestinationContext {
  /** Warnings, repairs, skipped records; prefixed by the caller with nothing (destinations name themselves). */
  log: (msg: string) => void;
  /** Vigil's version, for encodings (OCSF metadata.product.version) and client ids. */
  productVersion: string;
  /** The log's checkpoint origin, which names this chain (CloudEvents source, object keys). */
  logOrigin: string;
}

export interface DestinationType<Raw, Config extends BaseDestinationConfig> {
  /** The entry's keys: its own and the shared `DeliveryFields`. */
  schema: TSchema;
  /** Checks the schema cannot express, for an entry that passed it; paths are relative to the entry. */
  check?(raw: Raw, baseDir: string): PathProblem[];
  /** Defaults applied; relative paths resolved against `baseDir` (the config file's directory). */
  resolve(raw: Raw, baseDir: string): Config;
  /** Where the destination writes, such that two entries with the same target would write to the same place. */
  target(config: Config): string;
  create(config: Config, context: DestinationContext): Destination;
}

function destinationType<Raw, Config extends BaseDestinationConfig>(
  type: DestinationType<Raw, Config>,
): DestinationType<Raw, Config> {
  return type;
}

/** In spec/000's order (error messages list the types so). */
export const DESTINATIONS = {
  file: destinationType<RawFileDestination, FileDestinationConfig>({
    schema: FileDestinationSchema,
    resolve: resolveFileDestination,
    target: (c) => `file:${c.path}`,
    create: (c, ctx) =>
      new FileDestination(c, ctx.log, { productVersion: ctx.productVersion, logOrigin: ctx.logOrigin }),
  }),
  s3: destinationType<RawS3Destination, S3DestinationConfig>({
    schema: S3DestinationSchema,
    check: checkS3Destination,
    resolve: resolveS3Destination,
    target: s3Target,
    create: (c, ctx) => new S3Destination(c, ctx),
  }),
  cloudwatch: destinationType<RawCloudWatchDestination, CloudWatchDestinationConfig>({
    schema: CloudWatchDestinationSchema,
    check: checkCloudWatchDestination,
    resolve: resolveCloudWatchDestination,
    target: cloudWatchTarget,
    create: (c, ctx) => new CloudWatchDestination(c, ctx),
  }),
  kafka: destinationType<RawKafkaDestination, KafkaDestinationConfig>({
    schema: KafkaDestinationSchema,
    check: checkKafkaDestination,
    resolve: resolveKafkaDestination,
    target: kafkaTarget,
    create: (c, ctx) => new KafkaDestination(c, ctx),
  }),
  syslog: destinationType<RawSyslogDestination, SyslogDestinationConfig>({
    schema: SyslogDestinationSchema,
    check: checkSyslogDestination,
    resolve: resolveSyslogDestination,
    target: syslogTarget,
    create: (c, ctx) => new SyslogDestination(c, ctx),
  }),
  webhook: destinationType<RawWebhookDestination, WebhookDestinationConfig>({
    schema: WebhookDestinationSchema,
    check: checkWebhookDestination,
    resolve: resolveWebhookDestination,
    target: (c) => `webhook:${c.url}`,
    create: (c, ctx) => new WebhookDestination(c, ctx),
  }),
};

export type DestinationTypeName = keyof typeof DESTINATIONS;
export type DestinationConfig = ReturnType<(typeof DESTINATIONS)[DestinationTypeName]["resolve"]>;

export function isBuiltDestinationType(type: string): type is DestinationTypeName {
  return Object.hasOwn(DESTINATIONS, type);
}

/** Builds the destination a resolved config describes. */
export function createDestination(config: DestinationConfig, context: DestinationContext): Destination {
  const type = DESTINATIONS[config.type] as DestinationType<unknown, DestinationConfig>;
  return type.create(config, context);
}
