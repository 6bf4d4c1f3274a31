/**
 * The TLS client settings of the clients Vigil runs (webhook, syslog, the Kafka destination and audit-topic
 * source): the CA, certificate and key files the config names, and how a failed connection is classified.
 *
 * Files. The keys are `ca_file`, `cert_file`, `key_file` and `insecure_skip_verify` (TlsSchema: the `tls:` block
 * of webhook and syslog), or the same with `ssl_` before each in a Kafka `security:` block (kafka/connection.ts).
 * checkTlsFiles refuses a certificate without its key (or a key without its certificate) and files that cannot be
 * read, relative to the config's directory; readTlsFiles reads them once the entry passed. Their PEM content is
 * passed to Node's TLS as is.
 *
 * Failures: errors only a change of Vigil's trust settings or of the server's name can fix are permanent (the
 * destination parks, saying so); an expired or not yet valid certificate, and TLS alerts from a server being
 * redeployed, clear up on the server's side and are retried.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import Type from "typebox";
import type { Path, PathProblem } from "../config/schema.ts";

const TRUST_ERRORS =
  /^(UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH|CERT_(UNTRUSTED|REJECTED|SIGNATURE_FAILURE))/;

/** True for a Node error code that means the server's certificate is not trusted for this name. */
export function isTrustError(code: string | undefined): boolean {
  return code !== undefined && TRUST_ERRORS.test(code);
}

/** The `tls:` block of a destination that speaks TLS itself. */
export const TlsSchema = Type.Optional(
  Type.Object(
    {
      ca_file: Type.Optional(Type.String({ minLength: 1 })),
      cert_file: Type.Optional(Type.String({ minLength: 1 })),
      key_file: Type.Optional(Type.String({ minLength: 1 })),
      insecure_skip_verify: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
);

/** A TLS client's trust and identity, resolved from the files the config names. */
export interface TlsClientConfig {
  /** PEM CA certificates trusted instead of the system's. */
  ca?: string;
  /** PEM client certificate and key (mutual TLS), for servers that ask for one. */
  cert?: string;
  key?: string;
  /** Skip certificate verification: only for tests; logged as a warning at start. */
  insecureSkipVerify: boolean;
}

/** A block holding the TLS keys, each spelled with a prefix: none in `tls:`, `ssl_` in Kafka's `security:`. */
type TlsSection = { readonly [key: string]: unknown };
type TlsKeyPrefix = "" | "ssl_";

const FILE_KEYS = ["ca_file", "cert_file", "key_file"] as const;

function fileAt(section: TlsSection, key: string): string | undefined {
  const file = section[key];
  return typeof file === "string" ? file : undefined;
}

/**
 * Problems of the files a TLS block at `path` names (`<prefix>ca_file`, `<prefix>cert_file`, `<prefix>key_file`):
 * the certificate and key go together, and every file must be readable relative to `baseDir`.
 */
export function checkTlsFiles(
  section: TlsSection,
  prefix: TlsKeyPrefix,
  path: Path,
  baseDir: string,
): PathProblem[] {
  const problems: PathProblem[] = [];
  const [cert, key] = [`${prefix}cert_file`, `${prefix}key_file`];
  if ((fileAt(section, cert) === undefined) !== (fileAt(section, key) === undefined)) {
    problems.push({ path, message: `${cert} and ${key} go together` });
  }
  for (const name of FILE_KEYS.map((k) => `${prefix}${k}`)) {
    const file = fileAt(section, name);
    if (file === undefined) continue;
    try {
      readFileSync(resolve(baseDir, file));
    } catch (e) {
      const reason = (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message;
      problems.push({ path: [...path, name], message: `cannot read ${file}: ${reason}` });
    }
  }
  return problems;
}

/** The TLS settings of a block that passed checkTlsFiles: its files read relative to `baseDir`. */
export function readTlsFiles(section: TlsSection, prefix: TlsKeyPrefix, baseDir: string): TlsClientConfig {
  const read = (key: string) => {
    const file = fileAt(section, `${prefix}${key}`);
    return file === undefined ? undefined : readFileSync(resolve(baseDir, file), "utf8");
  };
  const tls: TlsClientConfig = { insecureSkipVerify: section[`${prefix}insecure_skip_verify`] === true };
  const ca = read("ca_file");
  const cert = read("cert_file");
  const key = read("key_file");
  if (ca !== undefined) tls.ca = ca;
  if (cert !== undefined) tls.cert = cert;
  if (key !== undefined) tls.key = key;
  return tls;
}
