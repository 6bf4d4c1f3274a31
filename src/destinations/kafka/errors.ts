/**
 * How a failure of @platformatic/kafka becomes a DeliveryError (retryable: the consumer backs off and tries again
 * forever; permanent: the destination parks, with a message saying what to fix).
 *
 * The library reports a failure as a tree: MultipleErrors and ResponseError hold `errors` (one per attempt, per
 * broker, per partition), wrappers hold a `cause` (a NetworkError "Connection to … failed" wrapping the SASL or
 * TLS failure that closed the connection, with `canRetry: true`, so the library retries even a wrong password).
 * The whole tree is searched, and the first of these that any node matches decides:
 * 1. MESSAGE_TOO_LARGE or RECORD_LIST_TOO_LARGE: `tooLarge` (the consumer splits the batch, then `on_oversize`).
 * 2. Authentication (PLT_KFK_AUTHENTICATION, SASL_AUTHENTICATION_FAILED, UNSUPPORTED_SASL_MECHANISM): permanent.
 * 3. `*_AUTHORIZATION_FAILED`: permanent, naming the ACL to grant.
 * 4. A broker certificate not trusted for its name (destinations/tls.ts, as webhook and syslog decide), or client
 *    key material OpenSSL refuses (ERR_OSSL_…): permanent. An expired certificate and TLS alerts are retried, as
 *    there: they clear up on the broker's side.
 * 5. "Broker requires TLS." (a plaintext client answered with a TLS alert): permanent, fix security_protocol.
 *    "TLS handshake failed" (the connection closed during the handshake) stays retryable: a listener that does
 *    not speak TLS causes it, and so does a broker going down at that moment; the message says what to check.
 * 6. An unknown topic: retryable when Vigil creates topics (the topic is created again before the next attempt),
 *    permanent otherwise.
 * 7. Anything else the library deems final: a PLT_KFK_USER error (bad options, serialisation), an unsupported API,
 *    compression or format, and a protocol error the library will not retry (INVALID_RECORD, POLICY_VIOLATION,
 *    INVALID_REPLICATION_FACTOR, …), except those an idempotent producer recovers from by starting over with a
 *    new producer id, and answers that only mean "not now" (TRANSIENT below): permanent.
 * Everything else is retryable: connection refused or reset, timeouts (TimeoutError, whose code is
 * PLT_KFK_NETWORK), retriable protocol errors (NOT_ENOUGH_REPLICAS, LEADER_NOT_AVAILABLE, …).
 *
 * Messages never hold a secret: the configured password is scrubbed from every message (the library's and the
 * broker's texts do not quote it, but nothing here relies on that).
 */
import { DeliveryError } from "../destination.ts";
import { isTrustError } from "../tls.ts";

/** A node of the library's error trees, as far as classification reads it. */
interface KafkaErrorNode {
  message: string;
  code?: unknown;
  apiId?: unknown;
  canRetry?: unknown;
  serverErrorMessage?: unknown;
  errors?: unknown;
  cause?: unknown;
  name?: string;
}

/** Protocol errors the library does not retry but that only mean "not now" to Vigil, which tries again. */
const TRANSIENT = new Set([
  "UNKNOWN_SERVER_ERROR",
  "BROKER_NOT_AVAILABLE",
  "STALE_CONTROLLER_EPOCH",
  "STALE_BROKER_EPOCH",
  "OFFSET_OUT_OF_RANGE",
  "REASSIGNMENT_IN_PROGRESS",
  "NEW_LEADER_ELECTED",
  "OPERATION_NOT_ATTEMPTED",
  // The idempotent producer's state: the library drops its producer id after a failed send, and starts over.
  "OUT_OF_ORDER_SEQUENCE_NUMBER",
  "DUPLICATE_SEQUENCE_NUMBER",
  "INVALID_PRODUCER_EPOCH",
  "INVALID_PRODUCER_ID_MAPPING",
  "UNKNOWN_PRODUCER_ID",
  "PRODUCER_FENCED",
  "TRANSACTION_ABORTABLE",
]);

/** Library error codes of failures that will not go away by trying again. */
const FINAL_CODES = new Set([
  "PLT_KFK_USER",
  "PLT_KFK_UNSUPPORTED_API",
  "PLT_KFK_UNSUPPORTED_COMPRESSION",
  "PLT_KFK_UNSUPPORTED_FORMAT",
  "PLT_KFK_UNSUPPORTED",
]);

export interface KafkaCallContext {
  /** What was being done, e.g. `producing to topic audit-events`. */
  action: string;
  topic: string;
  /** The ACLs this call needs, e.g. `WRITE and DESCRIBE on topic audit-events`. */
  grant: string;
  /** Vigil creates the topic when it is missing: an unknown topic is then retryable. */
  createTopic: boolean;
  /** Strings that must never appear in a message (the SASL password). */
  secrets: readonly string[];
}

/** Every node of an error tree, depth first: the error, the members of `errors`, then `cause`. */
export function errorNodes(error: unknown): KafkaErrorNode[] {
  const out: KafkaErrorNode[] = [];
  const seen = new Set<unknown>();
  const visit = (e: unknown) => {
    if (typeof e !== "object" || e === null || seen.has(e)) return;
    seen.add(e);
    const node = e as KafkaErrorNode;
    out.push(node);
    if (Array.isArray(node.errors)) for (const inner of node.errors) visit(inner);
    visit(node.cause);
  };
  visit(error);
  return out;
}

const apiIdOf = (node: KafkaErrorNode) => (typeof node.apiId === "string" ? node.apiId : undefined);
const codeOf = (node: KafkaErrorNode) => (typeof node.code === "string" ? node.code : undefined);

/** True when the error says the topic does not exist. */
export function isUnknownTopic(error: unknown): boolean {
  return errorNodes(error).some(
    (n) =>
      apiIdOf(n) === "UNKNOWN_TOPIC_OR_PARTITION" ||
      (codeOf(n) === "PLT_KFK_USER" && /^Unknown topic /.test(n.message)),
  );
}

/** The protocol error (apiId) found in the tree, if it holds one of `ids`. */
export function findApiError(error: unknown, ...ids: string[]): KafkaErrorNode | undefined {
  return errorNodes(error).find((n) => ids.includes(apiIdOf(n) ?? ""));
}

function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret !== "") out = out.split(secret).join("[redacted]");
  return out.replace(/\s+/g, " ").trim();
}

/** What a protocol error node says: its id and the broker's own words when it gave some. */
function describeApiError(node: KafkaErrorNode): string {
  const said = typeof node.serverErrorMessage === "string" ? node.serverErrorMessage : "";
  return `${apiIdOf(node)}${said === "" ? "" : `: ${said}`}`;
}

/**
 * The most telling detail of a retryable failure: a system or TLS error (ECONNREFUSED, ERR_SSL_…), else a
 * protocol error, else the deepest message.
 */
function retryableDetail(nodes: KafkaErrorNode[]): string {
  const system = nodes.find((n) => {
    const code = codeOf(n);
    return code !== undefined && /^E[A-Z0-9_]+$/.test(code);
  });
  if (system) return system.message;
  const api = nodes.find((n) => apiIdOf(n) !== undefined);
  if (api) return describeApiError(api);
  return nodes.at(-1)?.message ?? "unknown error";
}

/** The DeliveryError for a failed call of @platformatic/kafka. */
export function kafkaError(error: unknown, ctx: KafkaCallContext): DeliveryError {
  const nodes = errorNodes(error);
  const fail = (retryable: boolean, message: string, tooLarge = false) =>
    new DeliveryError(scrub(message, ctx.secrets), retryable, { cause: error, tooLarge });
  const where = ctx.action;

  const tooLarge = nodes.find((n) =>
    ["MESSAGE_TOO_LARGE", "RECORD_LIST_TOO_LARGE"].includes(apiIdOf(n) ?? ""),
  );
  if (tooLarge) {
    return fail(
      true,
      `${where}: the broker refused the batch as too large (${apiIdOf(tooLarge)}: over the topic's max.message.bytes)`,
      true,
    );
  }

  if (nodes.some((n) => apiIdOf(n) === "UNSUPPORTED_SASL_MECHANISM")) {
    return fail(
      false,
      `${where}: the broker does not accept this SASL mechanism; set security.sasl_mechanism to one its ` +
        "listener enables (sasl.enabled.mechanisms)",
    );
  }
  const authentication = nodes.find(
    (n) => codeOf(n) === "PLT_KFK_AUTHENTICATION" || apiIdOf(n) === "SASL_AUTHENTICATION_FAILED",
  );
  if (authentication) {
    const said = nodes.find((n) => apiIdOf(n) === "SASL_AUTHENTICATION_FAILED")?.serverErrorMessage;
    return fail(
      false,
      `${where}: authentication failed${typeof said === "string" && said !== "" ? ` (${said})` : ""}; check ` +
        "security.sasl_username, sasl_password and sasl_mechanism",
    );
  }

  const denied = nodes.find((n) => /_AUTHORIZATION_FAILED$/.test(apiIdOf(n) ?? ""));
  if (denied) {
    return fail(false, `${where}: not authorized (${describeApiError(denied)}); grant ${ctx.grant}`);
  }

  const certificate = nodes.find((n) => isTrustError(codeOf(n)) || /^ERR_OSSL_/.test(codeOf(n) ?? ""));
  if (certificate) {
    return fail(
      false,
      `${where}: TLS failed (${codeOf(certificate)}: ${certificate.message}); set security.ssl_ca_file to the ` +
        "CA that signed the broker's certificate, check the host names in bootstrap_servers against it, and " +
        "ssl_cert_file and ssl_key_file if the broker asks for a client certificate",
    );
  }
  if (nodes.some((n) => codeOf(n) === "PLT_KFK_USER" && n.message === "Broker requires TLS.")) {
    return fail(
      false,
      `${where}: the broker's listener requires TLS; set security.security_protocol to SSL or SASL_SSL, or ` +
        "use the port of its plaintext listener",
    );
  }
  const handshake = nodes.find(
    (n) => codeOf(n) === "PLT_KFK_USER" && /^TLS handshake failed/.test(n.message),
  );
  if (handshake) {
    return fail(
      true,
      `${where} failed: the connection closed during the TLS handshake (is the broker's listener at this port ` +
        "a TLS one? check security.security_protocol and the port in bootstrap_servers)",
    );
  }

  if (isUnknownTopic(error)) {
    return ctx.createTopic
      ? fail(true, `${where}: topic ${ctx.topic} does not exist; it is created again before the next attempt`)
      : fail(false, `${where}: topic ${ctx.topic} does not exist; create it, or set create_topic: true`);
  }

  const final = nodes.find((n) => {
    const id = apiIdOf(n);
    if (id !== undefined) return n.canRetry === false && !TRANSIENT.has(id);
    return FINAL_CODES.has(codeOf(n) ?? "");
  });
  if (final) {
    const what =
      apiIdOf(final) === undefined ? final.message : `the broker answered ${describeApiError(final)}`;
    return fail(false, `${where}: ${what} (permanent: the request will not succeed as it is)`);
  }

  return fail(true, `${where} failed: ${retryableDetail(nodes)}`);
}
