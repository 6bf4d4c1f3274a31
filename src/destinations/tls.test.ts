import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkTlsFiles, isTrustError, readTlsFiles } from "./tls.ts";

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "vigil-tls-files-"));
  await writeFile(join(dir, "ca.pem"), "CA PEM");
  await writeFile(join(dir, "client.pem"), "CERT PEM");
  await writeFile(join(dir, "client.key"), "KEY PEM");
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("TLS client settings", () => {
  it("reads the files relative to the config's directory", () => {
    const tls = { ca_file: "ca.pem", cert_file: "client.pem", key_file: join(dir, "client.key") };
    expect(checkTlsFiles(tls, "", ["tls"], dir)).toEqual([]);
    expect(readTlsFiles(tls, "", dir)).toEqual({
      ca: "CA PEM",
      cert: "CERT PEM",
      key: "KEY PEM",
      insecureSkipVerify: false,
    });
    expect(readTlsFiles({ insecure_skip_verify: true }, "", dir)).toEqual({ insecureSkipVerify: true });
    expect(readTlsFiles({ ssl_ca_file: "ca.pem" }, "ssl_", dir)).toEqual({
      ca: "CA PEM",
      insecureSkipVerify: false,
    });
  });

  it("refuses a certificate without its key, and files it cannot read, naming their keys", () => {
    expect(checkTlsFiles({ key_file: "client.key" }, "", ["tls"], dir)).toEqual([
      { path: ["tls"], message: "cert_file and key_file go together" },
    ]);
    expect(
      checkTlsFiles({ ssl_ca_file: "missing.pem", ssl_cert_file: "client.pem" }, "ssl_", ["security"], dir),
    ).toEqual([
      { path: ["security"], message: "ssl_cert_file and ssl_key_file go together" },
      { path: ["security", "ssl_ca_file"], message: "cannot read missing.pem: no such file" },
    ]);
    expect(checkTlsFiles({ ca_file: "." }, "", ["tls"], dir)).toEqual([
      { path: ["tls", "ca_file"], message: expect.stringMatching(/^cannot read \.: EISDIR/) },
    ]);
  });

  it("takes an untrusted certificate or another host's as permanent, not an expired one", () => {
    expect(isTrustError("UNABLE_TO_VERIFY_LEAF_SIGNATURE")).toBe(true);
    expect(isTrustError("ERR_TLS_CERT_ALTNAME_INVALID")).toBe(true);
    expect(isTrustError("CERT_HAS_EXPIRED")).toBe(false);
    expect(isTrustError("ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR")).toBe(false);
    expect(isTrustError(undefined)).toBe(false);
  });
});
