/**
 * Config of the `type: webhook` destination (spec/000): batches of records POSTed to `url` with `headers`
 * (`${ENV}` interpolated, like every string of the config), `batch_size` records at most, each request tried
 * `retry_attempts` times before the failure is reported (the consumer then keeps trying at its own slower pace:
 * Vigil never drops a record), and TLS options for a private CA or client certificates.
 */
import Type from "typebox";
import type { PathProblem } from "../../config/schema.ts";
import { type BaseDestinationConfig, DeliveryFields, resolveDelivery } from "../delivery.ts";
import { checkTlsFiles, readTlsFiles, type TlsClientConfig, TlsSchema } from "../tls.ts";

export const WEBHOOK_BODIES = ["json", "ndjson"] as const;
export type WebhookBody = (typeof WEBHOOK_BODIES)[number];

export interface WebhookDestinationConfig extends BaseDestinationConfig {
  type: "webhook";
  url: string;
  headers: Record<string, string>;
  /** Attempts per request (1 + retries) before the failure goes to the consumer's backoff. */
  retryAttempts: number;
  /** How a batch is sent for formats without a batch form of their own (native, ocsf). */
  body: WebhookBody;
  tls: TlsClientConfig;
}

export const DEFAULT_WEBHOOK_BATCH_SIZE = 100;
export const DEFAULT_WEBHOOK_RETRY_ATTEMPTS = 3;

export const WebhookDestinationSchema = Type.Object(
  {
    type: Type.Literal("webhook"),
    ...DeliveryFields,
    url: Type.String({ minLength: 1 }),
    headers: Type.Optional(Type.Record(Type.String(), Type.String())),
    batch_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
    retry_attempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    body: Type.Optional(Type.Enum(WEBHOOK_BODIES)),
    tls: TlsSchema,
  },
  { additionalProperties: false },
);

export type RawWebhookDestination = Type.Static<typeof WebhookDestinationSchema>;

/** Headers Vigil sets itself: a configured one would contradict the body it sends. */
const RESERVED_HEADERS = new Set([
  "content-type",
  "content-length",
  "transfer-encoding",
  "host",
  "connection",
]);

/** Checks the schema cannot express: the URL, the headers, the TLS files and pairs. */
export function checkWebhookDestination(raw: RawWebhookDestination, baseDir: string): PathProblem[] {
  const problems: PathProblem[] = [];
  let url: URL | undefined;
  try {
    url = new URL(raw.url);
  } catch {
    problems.push({ path: ["url"], message: "must be an absolute http:// or https:// URL" });
  }
  if (url && url.protocol !== "http:" && url.protocol !== "https:") {
    problems.push({ path: ["url"], message: "must be an http:// or https:// URL" });
  }
  if (url && (url.username !== "" || url.password !== "")) {
    problems.push({
      path: ["url"],
      message:
        "must not hold credentials; put them in headers (an Authorization header from the environment)",
    });
  }
  for (const name of Object.keys(raw.headers ?? {})) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      problems.push({ path: ["headers", name], message: "is not a valid HTTP header name" });
    } else if (RESERVED_HEADERS.has(name.toLowerCase())) {
      problems.push({ path: ["headers", name], message: "is set by Vigil itself and cannot be configured" });
    }
  }
  for (const [name, value] of Object.entries(raw.headers ?? {})) {
    // Never quote the value: it is usually a secret.
    if (/[\r\n\0]/.test(value)) problems.push({ path: ["headers", name], message: "must be on one line" });
    else if (/[^\t\x20-\x7e\x80-\xff]/.test(value)) {
      problems.push({ path: ["headers", name], message: "must hold only printable Latin-1 characters" });
    }
  }
  if (raw.batch_size !== undefined && raw.batch?.max_events !== undefined) {
    problems.push({ path: ["batch_size"], message: "use either batch_size or batch.max_events, not both" });
  }
  problems.push(...checkTlsFiles(raw.tls ?? {}, "", ["tls"], baseDir));
  return problems;
}

/**
 * A path segment that looks like a credential rather than a name: long and made of token characters, as the
 * secrets in Slack's (`/services/T…/B…/<secret>`) and Discord's (`/api/webhooks/<id>/<secret>`) webhook URLs.
 */
export function isSecretLike(segment: string): boolean {
  return segment.length >= 20 && /^[A-Za-z0-9_.~-]+$/.test(segment);
}

/**
 * How the destination is named and logged: the URL without query string and fragment (which may hold a token),
 * with path segments that look like secrets replaced by `…`.
 */
export function displayUrl(url: string): string {
  const u = new URL(url);
  const path = u.pathname
    .split("/")
    .map((segment) => (isSecretLike(segment) ? "…" : segment))
    .join("/");
  return `${u.protocol}//${u.host}${path}`;
}

export function resolveWebhookDestination(
  raw: RawWebhookDestination,
  baseDir: string,
): WebhookDestinationConfig {
  return {
    type: "webhook",
    name: raw.name ?? `webhook:${displayUrl(raw.url)}`,
    format: raw.format ?? "native",
    delivery: resolveDelivery(
      raw,
      { maxRecords: DEFAULT_WEBHOOK_BATCH_SIZE, maxBytes: 4 * 1024 * 1024 },
      raw.batch_size === undefined ? {} : { maxRecords: raw.batch_size },
    ),
    url: raw.url,
    headers: raw.headers ?? {},
    retryAttempts: raw.retry_attempts ?? DEFAULT_WEBHOOK_RETRY_ATTEMPTS,
    body: raw.body ?? "json",
    tls: readTlsFiles(raw.tls ?? {}, "", baseDir),
  };
}
