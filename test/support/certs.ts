/**
 * Test certificates made with openssl at run time: a P-256 CA and a server certificate it signed for localhost
 * and 127.0.0.1, valid for two days. Shared by every test server that speaks TLS (Kafka's SASL_SSL listener,
 * rsyslog's TLS input, the webhook receiver).
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface TestCertificates {
  /** Paths of the PEM files in the directory given. */
  caPath: string;
  certPath: string;
  keyPath: string;
  /** Their contents. */
  ca: string;
  cert: string;
  key: string;
}

export async function makeCertificates(dir: string): Promise<TestCertificates> {
  const caPath = join(dir, "ca.pem");
  const caKey = join(dir, "ca.key");
  const certPath = join(dir, "server.pem");
  const keyPath = join(dir, "server.key");
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2"];
  await run("openssl", [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    caKey,
    "-out",
    caPath,
    "-subj",
    "/CN=Vigil test CA",
  ]);
  const server = ["-CA", caPath, "-CAkey", caKey, "-subj", "/CN=localhost"];
  const extensions = [
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "basicConstraints=critical,CA:FALSE",
    "extendedKeyUsage=serverAuth",
  ].flatMap((e) => ["-addext", e]);
  await run("openssl", [
    "req",
    "-x509",
    ...ec,
    ...server,
    ...extensions,
    "-keyout",
    keyPath,
    "-out",
    certPath,
  ]);
  const [ca, cert, key] = await Promise.all([caPath, certPath, keyPath].map((p) => readFile(p, "utf8")));
  return { caPath, certPath, keyPath, ca: ca as string, cert: cert as string, key: key as string };
}

/**
 * A client certificate for `cn`, signed by the CA makeCertificates made in `dir` (mutual TLS): paths and
 * contents of its PEM certificate and key.
 */
export async function makeClientCertificate(
  dir: string,
  cn: string,
): Promise<{ certPath: string; keyPath: string; cert: string; key: string }> {
  const certPath = join(dir, `client-${cn}.pem`);
  const keyPath = join(dir, `client-${cn}.key`);
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-days",
    "2",
    "-CA",
    join(dir, "ca.pem"),
    "-CAkey",
    join(dir, "ca.key"),
    "-subj",
    `/O=Vigil tests/CN=${cn}`,
    "-addext",
    "basicConstraints=critical,CA:FALSE",
    "-addext",
    "extendedKeyUsage=clientAuth",
    "-keyout",
    keyPath,
    "-out",
    certPath,
  ]);
  const [cert, key] = await Promise.all([certPath, keyPath].map((p) => readFile(p, "utf8")));
  return { certPath, keyPath, cert: cert as string, key: key as string };
}
