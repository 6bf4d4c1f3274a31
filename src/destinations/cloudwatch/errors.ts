/**
 * How an AWS SDK failure of a CloudWatch Logs call becomes a DeliveryError (retryable: the consumer backs off
 * and tries again forever; permanent: the destination parks, with a message saying what to fix).
 *
 * Retryable: no answer at all (connection refused or reset, DNS, timeouts, an aborted request), throttling,
 * 429 and 5xx answers, expired temporary credentials (the SDK's chain refreshes them) and a credential chain that
 * found nothing yet (an instance or container role can take a moment to appear).
 * Permanent: AccessDenied (grant the permission), credentials AWS does not know, ResourceNotFound when Vigil is
 * not allowed to create the resource (retryable when it is: it is created again), InvalidParameter (Vigil checks PutLogEvents' rules
 * before sending, so this is a name or setting CloudWatch refuses) and every other 4xx answer.
 *
 * Messages never hold a secret: the SDK's messages for credential problems are not quoted, and every message is
 * scrubbed of the configured key pair besides.
 */
import { DeliveryError } from "../destination.ts";

/** What an SDK failure looks like: a service exception, a network error, a timeout or an abort. */
interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  $fault?: "client" | "server";
  $metadata?: { httpStatusCode?: number };
}

/** Service answers that mean "try again later". */
const RETRYABLE_ERRORS = new Set([
  "ThrottlingException",
  "ServiceUnavailableException",
  "OperationAbortedException",
  "InternalFailure",
  "RequestTimeout",
  "RequestTimeoutException",
  "RequestExpired",
  "ExpiredTokenException",
]);

/** Service answers that mean AWS does not know the credentials, or they do not sign as it expects. */
const CREDENTIAL_ERRORS = new Set([
  "UnrecognizedClientException",
  "InvalidClientTokenId",
  "InvalidSignatureException",
  "SignatureDoesNotMatch",
  "IncompleteSignature",
  "MissingAuthenticationTokenException",
]);

export interface CallContext {
  /** The API call, e.g. PutLogEvents. */
  operation: string;
  /** What it was about, e.g. `log stream s in log group /g`. */
  resource: string;
  /** Strings that must never appear in a message (the configured secret key and its id). */
  secrets: readonly string[];
  /**
   * What to do about a missing resource, when Vigil may not create it (ResourceNotFound is then permanent);
   * undefined when Vigil creates what is missing (ResourceNotFound is then retryable).
   */
  missingHint?: string;
}

function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret !== "") out = out.split(secret).join("[redacted]");
  return out;
}

/** The DeliveryError for a failed CloudWatch Logs call. */
export function cloudWatchError(e: unknown, ctx: CallContext): DeliveryError {
  const err = (e ?? {}) as SdkError;
  const name = err.name ?? "Error";
  const status = err.$metadata?.httpStatusCode;
  const said = (err.message ?? "").replace(/\s+/g, " ").trim().slice(0, 300);
  const where = `${ctx.operation} on ${ctx.resource}`;
  const fail = (retryable: boolean, message: string) =>
    new DeliveryError(scrub(message, ctx.secrets), retryable, { cause: e });

  if (name === "AbortError") return fail(true, `${where} abandoned`);
  if (name === "CredentialsProviderError") {
    return fail(
      true,
      `${where}: no AWS credentials found; set access_key_id and secret_access_key, or give Vigil credentials ` +
        "through the SDK's chain (AWS_ACCESS_KEY_ID, a profile, a container or instance role)",
    );
  }
  if (CREDENTIAL_ERRORS.has(name)) {
    return fail(
      false,
      `${where}: AWS refused the credentials (${name}); check access_key_id and secret_access_key, or the ` +
        "credentials of the SDK's chain, and the region",
    );
  }
  if (name === "AccessDeniedException" || name === "AccessDenied") {
    return fail(
      false,
      `${where}: access denied (${said}); grant logs:${ctx.operation} on the log group to the credentials Vigil uses`,
    );
  }
  if (name === "ResourceNotFoundException") {
    const missing = `${where}: ${said.replace(/\.$/, "") || "not found"}`;
    return ctx.missingHint === undefined
      ? fail(true, `${missing}; it is created again on the next attempt`)
      : fail(false, `${missing}; ${ctx.missingHint}`);
  }
  if (status === undefined) {
    // No answer from CloudWatch: the network, a timeout, the endpoint down.
    return fail(true, `${where} failed: ${err.code ? `${err.code} ` : ""}${said || name}`);
  }
  const retryable = RETRYABLE_ERRORS.has(name) || status === 429 || status >= 500 || err.$fault === "server";
  const answer = `${where}: CloudWatch answered ${status} ${name}${said ? `: ${said}` : ""}`;
  return fail(retryable, retryable ? answer : `${answer} (permanent: the request will not succeed as it is)`);
}
