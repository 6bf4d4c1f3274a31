/**
 * How a failure of @platformatic/kafka while consuming an audit topic is judged: retryable (the source keeps
 * trying with backoff, its status `retrying`) or permanent (the source stops, its status `failed`, with a message
 * saying what to fix).
 *
 * The library reports a failure as a tree: MultipleErrors and ResponseError hold `errors` (one per attempt, per
 * broker), wrappers hold a `cause` (a NetworkError "Connection to … failed" wrapping the SASL or TLS failure that
 * closed the connection, with `canRetry: true`, so the library retries even a wrong password). The whole tree is
 * searched; the first of these that any node matches decides:
 * 1. Authentication (PLT_KFK_AUTHENTICATION, SASL_AUTHENTICATION_FAILED, UNSUPPORTED_SASL_MECHANISM): permanent.
 * 2. `*_AUTHORIZATION_FAILED` (topic, group): permanent, naming the ACLs to grant.
 * 3. A TLS certificate or handshake alert (Node's CERT_…, UNABLE_TO_…, ERR_SSL_…, ERR_TLS_… codes), or a plaintext
 *    client at a TLS listener ("Broker requires TLS."): permanent.
 * 4. FENCED_INSTANCE_ID: permanent: another consumer took this source's static group membership (another Vigil
 *    with the same origin and source name, reading the same group).
 * 5. An unknown topic: retryable, and said so: Redpanda creates `_redpanda.audit_log` only once auditing is enabled.
 * 6. Any other PLT_KFK_USER error (bad options), an unsupported API or format, a protocol error the library will
 *    not retry and that does not merely mean "not now": permanent.
 * Everything else (connection refused or reset, timeouts, a coordinator loading or moving, a rebalance) is
 * retryable. Messages never hold the password: it is scrubbed from every one.
 */

/** A node of the library's error trees, as far as classification reads it. */
interface ErrorNode {
  message: string;
  code?: unknown;
  apiId?: unknown;
  canRetry?: unknown;
  serverErrorMessage?: unknown;
  errors?: unknown;
  cause?: unknown;
}

export interface ConsumeFailure {
  permanent: boolean;
  message: string;
}

/** TLS failures that trying again cannot fix (the certificate, the CA or the TLS settings must change). */
const CERTIFICATE_ERRORS =
  /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH|ERR_SSL_|ERR_OSSL_)/;

/** Protocol errors the library does not retry but that only mean "not now" to a consumer, which starts over. */
const TRANSIENT = new Set([
  "UNKNOWN_SERVER_ERROR",
  "BROKER_NOT_AVAILABLE",
  "STALE_CONTROLLER_EPOCH",
  "STALE_BROKER_EPOCH",
  "OFFSET_OUT_OF_RANGE",
  "REASSIGNMENT_IN_PROGRESS",
  "NEW_LEADER_ELECTED",
  "OPERATION_NOT_ATTEMPTED",
  "ILLEGAL_GENERATION",
  "UNKNOWN_MEMBER_ID",
  "REBALANCE_IN_PROGRESS",
  "MEMBER_ID_REQUIRED",
  "GROUP_MAX_SIZE_REACHED",
  "INCONSISTENT_GROUP_PROTOCOL",
]);

/** Library error codes of failures that will not go away by trying again. */
const FINAL_CODES = new Set([
  "PLT_KFK_USER",
  "PLT_KFK_UNSUPPORTED_API",
  "PLT_KFK_UNSUPPORTED_COMPRESSION",
  "PLT_KFK_UNSUPPORTED_FORMAT",
  "PLT_KFK_UNSUPPORTED",
]);

/** Every node of an error tree, depth first: the error, the members of `errors`, then `cause`. */
function errorNodes(error: unknown): ErrorNode[] {
  const out: ErrorNode[] = [];
  const seen = new Set<unknown>();
  const visit = (e: unknown) => {
    if (typeof e !== "object" || e === null || seen.has(e)) return;
    seen.add(e);
    const node = e as ErrorNode;
    if (typeof node.message !== "string") return;
    out.push(node);
    if (Array.isArray(node.errors)) for (const inner of node.errors) visit(inner);
    visit(node.cause);
  };
  visit(error);
  return out;
}

const apiIdOf = (node: ErrorNode) => (typeof node.apiId === "string" ? node.apiId : undefined);
const codeOf = (node: ErrorNode) => (typeof node.code === "string" ? node.code : undefined);

function describeApiError(node: ErrorNode): string {
  const said = typeof node.serverErrorMessage === "string" ? node.serverErrorMessage : "";
  return `${apiIdOf(node)}${said === "" ? "" : `: ${said}`}`;
}

/** Replaces every secret by `[redacted]` and folds white space. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret !== "") out = out.split(secret).join("[redacted]");
  return out.replace(/\s+/g, " ").trim();
}

/**
 * The most telling detail of a retryable failure: a system error (ECONNREFUSED …), else a protocol error, else
 * the deepest message.
 */
function retryableDetail(nodes: ErrorNode[]): string {
  const system = nodes.find((n) => /^E[A-Z]+$/.test(codeOf(n) ?? ""));
  if (system) return system.message;
  const api = nodes.find((n) => apiIdOf(n) !== undefined);
  if (api) return describeApiError(api);
  return nodes.at(-1)?.message ?? String(nodes[0]);
}

/**
 * Judges a failure of consuming `topic` in `groupId`.
 * @param secrets strings never to appear in the message (the SASL password)
 */
export function classifyConsumeError(
  error: unknown,
  ctx: { topic: string; groupId: string; secrets: readonly string[] },
): ConsumeFailure {
  const nodes = errorNodes(error);
  const result = (permanent: boolean, message: string): ConsumeFailure => ({
    permanent,
    message: scrub(message, ctx.secrets),
  });
  if (nodes.length === 0) return result(false, String(error));

  if (nodes.some((n) => apiIdOf(n) === "UNSUPPORTED_SASL_MECHANISM")) {
    return result(
      true,
      "the broker does not accept this SASL mechanism; set security.sasl_mechanism to one its listener enables " +
        "(sasl.enabled.mechanisms)",
    );
  }
  if (
    nodes.some((n) => codeOf(n) === "PLT_KFK_AUTHENTICATION" || apiIdOf(n) === "SASL_AUTHENTICATION_FAILED")
  ) {
    const said = nodes.find((n) => apiIdOf(n) === "SASL_AUTHENTICATION_FAILED")?.serverErrorMessage;
    return result(
      true,
      `authentication failed${typeof said === "string" && said !== "" ? ` (${said})` : ""}; check ` +
        "security.sasl_username, sasl_password and sasl_mechanism",
    );
  }
  const denied = nodes.find((n) => /_AUTHORIZATION_FAILED$/.test(apiIdOf(n) ?? ""));
  if (denied) {
    return result(
      true,
      `not authorized (${describeApiError(denied)}); grant READ and DESCRIBE on topic ${ctx.topic} and READ on ` +
        `group ${ctx.groupId}`,
    );
  }
  const certificate = nodes.find((n) => CERTIFICATE_ERRORS.test(codeOf(n) ?? ""));
  if (certificate) {
    return result(
      true,
      `TLS failed (${codeOf(certificate)}: ${certificate.message}); set security.ssl_ca_file to the CA that ` +
        "signed the broker's certificate, check the host names in bootstrap_servers against it, and " +
        "ssl_cert_file and ssl_key_file if the broker asks for a client certificate",
    );
  }
  if (nodes.some((n) => codeOf(n) === "PLT_KFK_USER" && n.message === "Broker requires TLS.")) {
    return result(
      true,
      "the broker's listener requires TLS; set security.security_protocol to SSL or SASL_SSL, or use the port of " +
        "its plaintext listener",
    );
  }
  if (nodes.some((n) => apiIdOf(n) === "FENCED_INSTANCE_ID")) {
    return result(
      true,
      `another consumer joined group ${ctx.groupId} with this source's instance id: another Vigil with the same ` +
        "log origin and source name reads this group; give one of them another group_id",
    );
  }
  const handshake = nodes.find(
    (n) => codeOf(n) === "PLT_KFK_USER" && /^TLS handshake failed/.test(n.message),
  );
  if (handshake) {
    return result(
      false,
      "the connection closed during the TLS handshake (is the broker's listener at this port a TLS one? check " +
        "security.security_protocol and the port in bootstrap_servers)",
    );
  }
  if (
    nodes.some(
      (n) =>
        apiIdOf(n) === "UNKNOWN_TOPIC_OR_PARTITION" ||
        apiIdOf(n) === "UNKNOWN_TOPIC_ID" ||
        (codeOf(n) === "PLT_KFK_USER" && /^Unknown topic /.test(n.message)),
    )
  ) {
    return result(false, `topic ${ctx.topic} does not exist (yet)`);
  }
  const final = nodes.find((n) => {
    const id = apiIdOf(n);
    if (id !== undefined) return n.canRetry === false && !TRANSIENT.has(id);
    return FINAL_CODES.has(codeOf(n) ?? "");
  });
  if (final) {
    const what =
      apiIdOf(final) === undefined ? final.message : `the broker answered ${describeApiError(final)}`;
    return result(true, `${what} (permanent: consuming cannot succeed as configured)`);
  }
  return result(false, retryableDetail(nodes));
}
