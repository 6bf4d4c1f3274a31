/**
 * How destinations that speak TLS themselves (webhook, syslog) classify a failed connection: errors only a change
 * of Vigil's trust settings or of the server's name can fix are permanent (the destination parks, saying so);
 * an expired or not yet valid certificate, and TLS alerts from a server being redeployed, clear up on the server's
 * side and are retried.
 */
const TRUST_ERRORS =
  /^(UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH|CERT_(UNTRUSTED|REJECTED|SIGNATURE_FAILURE))/;

/** True for a Node error code that means the server's certificate is not trusted for this name. */
export function isTrustError(code: string | undefined): boolean {
  return code !== undefined && TRUST_ERRORS.test(code);
}
