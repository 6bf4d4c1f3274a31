/**
 * What the destinations that call AWS through its SDK (s3, cloudwatch) share: the keys saying where and as whom
 * they call it, their checks, and the SDK client options they become.
 *
 * ```yaml
 * region: us-west-2                  # default: the SDK's (AWS_REGION, the profile's region)
 * endpoint: http://localhost:4566    # another endpoint (an S3-compatible store, LocalStack, a VPC endpoint)
 * access_key_id: ${AWS_KEY_ID}       # both or neither; default: the SDK's credential chain (environment,
 * secret_access_key: ${AWS_SECRET}   #   profile, SSO, container or instance role)
 * ```
 *
 * - `endpoint` is an http:// or https:// URL without credentials (they go in the two keys, never in a URL that
 *   names and logs show), query string or fragment (the SDK appends its own paths and queries to it).
 * - Each request times out after the delivery's request timeout (`throwOnRequestTimeout`: without it the SDK only
 *   logs and keeps waiting), and opening a connection after at most 10 s of it. How many attempts the SDK makes
 *   per request is each destination's choice (see theirs). Requests name Vigil and its version (User-Agent).
 * - Each destination's schema declares these keys among its own, in its own order (a problem lists the known keys
 *   so).
 */
import type { PathProblem } from "../config/schema.ts";
import { VIGIL_VERSION } from "../version.ts";

/** The longest wait for a connection to AWS to open, whatever the request timeout. */
const MAX_CONNECTION_TIMEOUT_MS = 10_000;

/** The shared keys of an entry that passed its schema. */
export interface RawAwsKeys {
  region?: string;
  endpoint?: string;
  access_key_id?: string;
  secret_access_key?: string;
}

/** Where and as whom a destination calls AWS. */
export interface AwsClientConfig {
  /** Undefined: the SDK's region chain (AWS_REGION, AWS_DEFAULT_REGION, the profile's region). */
  region?: string;
  /** Undefined: AWS's endpoint for the region (or the SDK's AWS_ENDPOINT_URL). */
  endpoint?: string;
  /** Static credentials; undefined: the SDK's default credential chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** The SDK client options every AWS client of a destination starts from. */
export interface AwsClientOptions extends AwsClientConfig {
  maxAttempts: number;
  requestHandler: { requestTimeout: number; connectionTimeout: number; throwOnRequestTimeout: true };
  customUserAgent: string;
}

/** Problems of the endpoint URL and the key pair. */
export function checkAwsKeys(raw: RawAwsKeys): PathProblem[] {
  const problems: PathProblem[] = [];
  if (raw.endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(raw.endpoint);
    } catch {
      problems.push({ path: ["endpoint"], message: "must be an absolute http:// or https:// URL" });
    }
    if (url && url.protocol !== "http:" && url.protocol !== "https:") {
      problems.push({ path: ["endpoint"], message: "must be an http:// or https:// URL" });
    } else if (url && (url.username !== "" || url.password !== "")) {
      problems.push({
        path: ["endpoint"],
        message: "must not hold credentials; use access_key_id and secret_access_key",
      });
    } else if (url && (url.search !== "" || url.hash !== "")) {
      problems.push({ path: ["endpoint"], message: "must not have a query string or fragment" });
    }
  }
  if ((raw.access_key_id === undefined) !== (raw.secret_access_key === undefined)) {
    problems.push({
      path: [raw.access_key_id === undefined ? "secret_access_key" : "access_key_id"],
      message:
        "access_key_id and secret_access_key go together (leave both out to use the SDK's credential chain)",
    });
  }
  return problems;
}

/** The shared keys of an entry that passed checkAwsKeys. */
export function resolveAwsKeys(raw: RawAwsKeys): AwsClientConfig {
  const config: AwsClientConfig = {};
  if (raw.region !== undefined) config.region = raw.region;
  if (raw.endpoint !== undefined) config.endpoint = raw.endpoint;
  if (raw.access_key_id !== undefined && raw.secret_access_key !== undefined) {
    config.credentials = { accessKeyId: raw.access_key_id, secretAccessKey: raw.secret_access_key };
  }
  return config;
}

/** The SDK client options for `config`: requests time out after `requestTimeoutMs`, tried `maxAttempts` times. */
export function awsClientOptions(
  config: AwsClientConfig,
  requestTimeoutMs: number,
  maxAttempts: number,
): AwsClientOptions {
  const options: AwsClientOptions = {
    maxAttempts,
    requestHandler: {
      requestTimeout: requestTimeoutMs,
      connectionTimeout: Math.min(requestTimeoutMs, MAX_CONNECTION_TIMEOUT_MS),
      throwOnRequestTimeout: true,
    },
    customUserAgent: `vigil/${VIGIL_VERSION}`,
  };
  if (config.region !== undefined) options.region = config.region;
  if (config.endpoint !== undefined) options.endpoint = config.endpoint;
  if (config.credentials !== undefined) options.credentials = config.credentials;
  return options;
}
