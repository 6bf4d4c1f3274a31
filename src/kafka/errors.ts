/**
 * How a failure of @platformatic/kafka is judged, for every Kafka client of Vigil: retryable (the caller tries
 * again with backoff) or permanent (trying again cannot help: the caller stops, with a message saying what to
 * fix). The `kafka` destination (destinations/kafka/errors.ts) and the `audit_topic` source
 * (sources/audit-topic/errors.ts) first look for the failures only they meet, then ask classifyKafkaError.
 *
 * The library reports a failure as a tree: MultipleErrors and ResponseError hold `errors` (one per attempt, per
 * broker, per partition), wrappers hold a `cause` (a NetworkError "Connection to … failed" wrapping the SASL or
 * TLS failure that closed the connection, with `canRetry: true`, so the library retries even a wrong password).
 * The whole tree is searched, and the first of these that any node matches decides:
 * 1. Authentication (PLT_KFK_AUTHENTICATION, SASL_AUTHENTICATION_FAILED, UNSUPPORTED_SASL_MECHANISM): permanent.
 * 2. `*_AUTHORIZATION_FAILED` (topic, group, cluster): permanent, naming the ACLs to grant.
 * 3. A broker certificate not trusted for its name (destinations/tls.ts, as webhook and syslog decide), or client
 *    key material OpenSSL refuses (ERR_OSSL_…): permanent. An expired certificate and TLS alerts are retried, as
 *    there: they clear up on the broker's side.
 * 4. "Broker requires TLS." (a plaintext client answered with a TLS alert): permanent, fix security_protocol.
 *    "TLS handshake failed" (the connection closed during the handshake) stays retryable: a listener that does
 *    not speak TLS causes it, and so does a broker going down at that moment; the message says what to check.
 * 5. An unknown topic (UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_TOPIC_ID, the library's "Unknown topic"): as the
 *    caller says (a destination that creates its topic retries; one that may not parks; a source waits for it).
 * 6. Anything else the library deems final: a PLT_KFK_USER error (bad options, serialisation), an unsupported API,
 *    compression or format, and a protocol error the library will not retry (INVALID_RECORD, POLICY_VIOLATION,
 *    INVALID_REPLICATION_FACTOR, …), except those that only mean "not now" (TRANSIENT below, and the caller's
 *    own: an idempotent producer's state, a consumer group's rebalance): permanent.
 * Everything else is retryable: connection refused or reset, timeouts (TimeoutError, whose code is
 * PLT_KFK_NETWORK), retriable protocol errors (NOT_ENOUGH_REPLICAS, LEADER_NOT_AVAILABLE, …).
 *
 * Messages never hold a secret: the configured password is scrubbed from every message (the library's and the
 * broker's texts do not quote it, but nothing here relies on that).
 */
import { isTrustError } from "../destinations/tls.ts";

/** A node of the library's error trees, as far as classification reads it. */
export interface KafkaErrorNode {
  message: string;
  code?: unknown;
  apiId?: unknown;
  canRetry?: unknown;
  serverErrorMessage?: unknown;
  errors?: unknown;
  cause?: unknown;
}

/** Protocol errors the library does not retry but that only mean "not now" to any client, which tries again. */
const TRANSIENT = new Set([
  "UNKNOWN_SERVER_ERROR",
  "BROKER_NOT_AVAILABLE",
  "STALE_CONTROLLER_EPOCH",
  "STALE_BROKER_EPOCH",
  "OFFSET_OUT_OF_RANGE",
  "REASSIGNMENT_IN_PROGRESS",
  "NEW_LEADER_ELECTED",
  "OPERATION_NOT_ATTEMPTED",
]);

/** Library error codes of failures that will not go away by trying again. */
const FINAL_CODES = new Set([
  "PLT_KFK_USER",
  "PLT_KFK_UNSUPPORTED_API",
  "PLT_KFK_UNSUPPORTED_COMPRESSION",
  "PLT_KFK_UNSUPPORTED_FORMAT",
  "PLT_KFK_UNSUPPORTED",
]);

export interface KafkaErrorContext {
  /**
   * What was being done, e.g. `producing to topic audit-events (kafka:9092)`, at the start of every message;
   * undefined: the message starts with what went wrong (the caller says where it happened).
   */
  action?: string;
  /** The ACLs the call needs, e.g. `WRITE and DESCRIBE on topic audit-events`. */
  grant: string;
  /** A missing topic: whether trying again can help, and what to say (after the action). */
  unknownTopic: KafkaFailure;
  /** Protocol errors that only mean "not now" to this client, besides TRANSIENT. */
  transient?: ReadonlySet<string>;
  /** Strings that must never appear in a message (the SASL password). */
  secrets: readonly string[];
}

export interface KafkaFailure {
  retryable: boolean;
  message: string;
}

/** Every node of an error tree, depth first: the error, the members of `errors`, then `cause`. */
export function errorNodes(error: unknown): KafkaErrorNode[] {
  const out: KafkaErrorNode[] = [];
  const seen = new Set<unknown>();
  const visit = (e: unknown) => {
    if (typeof e !== "object" || e === null || seen.has(e)) return;
    seen.add(e);
    const node = e as KafkaErrorNode;
    if (typeof node.message !== "string") return;
    out.push(node);
    if (Array.isArray(node.errors)) for (const inner of node.errors) visit(inner);
    visit(node.cause);
  };
  visit(error);
  return out;
}

export const apiIdOf = (node: KafkaErrorNode) => (typeof node.apiId === "string" ? node.apiId : undefined);
const codeOf = (node: KafkaErrorNode) => (typeof node.code === "string" ? node.code : undefined);

/** The protocol error (apiId) found in the tree, if it holds one of `ids`. */
export function findApiError(error: unknown, ...ids: string[]): KafkaErrorNode | undefined {
  return errorNodes(error).find((n) => ids.includes(apiIdOf(n) ?? ""));
}

/** True when the error says the topic does not exist. */
export function isUnknownTopic(error: unknown): boolean {
  return errorNodes(error).some(
    (n) =>
      apiIdOf(n) === "UNKNOWN_TOPIC_OR_PARTITION" ||
      apiIdOf(n) === "UNKNOWN_TOPIC_ID" ||
      (codeOf(n) === "PLT_KFK_USER" && /^Unknown topic /.test(n.message)),
  );
}

/** Replaces every secret by `[redacted]` and folds white space. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret !== "") out = out.split(secret).join("[redacted]");
  return out.replace(/\s+/g, " ").trim();
}

/** What a protocol error node says: its id and the broker's own words when it gave some. */
export function describeApiError(node: KafkaErrorNode): string {
  const said = typeof node.serverErrorMessage === "string" ? node.serverErrorMessage : "";
  return `${apiIdOf(node)}${said === "" ? "" : `: ${said}`}`;
}

/**
 * The most telling detail of a retryable failure: a system or TLS error (ECONNREFUSED, ERR_SSL_…), else a
 * protocol error, else the deepest message.
 */
function retryableDetail(error: unknown, nodes: KafkaErrorNode[]): string {
  const system = nodes.find((n) => /^E[A-Z0-9_]+$/.test(codeOf(n) ?? ""));
  if (system) return system.message;
  const api = nodes.find((n) => apiIdOf(n) !== undefined);
  if (api) return describeApiError(api);
  return nodes.at(-1)?.message ?? String(error);
}

/** Judges a failed call of @platformatic/kafka (see the module comment). */
export function classifyKafkaError(error: unknown, ctx: KafkaErrorContext): KafkaFailure {
  const nodes = errorNodes(error);
  const { action } = ctx;
  /** `<action>: <what>`: a failure the message explains. */
  const judged = (retryable: boolean, what: string): KafkaFailure => ({
    retryable,
    message: scrub(action === undefined ? what : `${action}: ${what}`, ctx.secrets),
  });
  /** `<action> failed: <detail>`: a failure the message only reports. */
  const failed = (detail: string): KafkaFailure => ({
    retryable: true,
    message: scrub(action === undefined ? detail : `${action} failed: ${detail}`, ctx.secrets),
  });

  if (nodes.some((n) => apiIdOf(n) === "UNSUPPORTED_SASL_MECHANISM")) {
    return judged(
      false,
      "the broker does not accept this SASL mechanism; set security.sasl_mechanism to one its listener enables " +
        "(sasl.enabled.mechanisms)",
    );
  }
  if (
    nodes.some((n) => codeOf(n) === "PLT_KFK_AUTHENTICATION" || apiIdOf(n) === "SASL_AUTHENTICATION_FAILED")
  ) {
    const said = nodes.find((n) => apiIdOf(n) === "SASL_AUTHENTICATION_FAILED")?.serverErrorMessage;
    return judged(
      false,
      `authentication failed${typeof said === "string" && said !== "" ? ` (${said})` : ""}; check ` +
        "security.sasl_username, sasl_password and sasl_mechanism",
    );
  }

  const denied = nodes.find((n) => /_AUTHORIZATION_FAILED$/.test(apiIdOf(n) ?? ""));
  if (denied) return judged(false, `not authorized (${describeApiError(denied)}); grant ${ctx.grant}`);

  const certificate = nodes.find((n) => isTrustError(codeOf(n)) || /^ERR_OSSL_/.test(codeOf(n) ?? ""));
  if (certificate) {
    return judged(
      false,
      `TLS failed (${codeOf(certificate)}: ${certificate.message}); set security.ssl_ca_file to the CA that ` +
        "signed the broker's certificate, check the host names in bootstrap_servers against it, and " +
        "ssl_cert_file and ssl_key_file if the broker asks for a client certificate",
    );
  }
  if (nodes.some((n) => codeOf(n) === "PLT_KFK_USER" && n.message === "Broker requires TLS.")) {
    return judged(
      false,
      "the broker's listener requires TLS; set security.security_protocol to SSL or SASL_SSL, or use the port of " +
        "its plaintext listener",
    );
  }
  if (nodes.some((n) => codeOf(n) === "PLT_KFK_USER" && /^TLS handshake failed/.test(n.message))) {
    return failed(
      "the connection closed during the TLS handshake (is the broker's listener at this port a TLS one? check " +
        "security.security_protocol and the port in bootstrap_servers)",
    );
  }

  if (isUnknownTopic(error)) return judged(ctx.unknownTopic.retryable, ctx.unknownTopic.message);

  const final = nodes.find((n) => {
    const id = apiIdOf(n);
    if (id !== undefined) return n.canRetry === false && !TRANSIENT.has(id) && !ctx.transient?.has(id);
    return FINAL_CODES.has(codeOf(n) ?? "");
  });
  if (final) {
    const what =
      apiIdOf(final) === undefined ? final.message : `the broker answered ${describeApiError(final)}`;
    return judged(false, `${what} (permanent: the request will not succeed as it is)`);
  }

  return failed(retryableDetail(error, nodes));
}
