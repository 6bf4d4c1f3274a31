/**
 * Bearer-token authentication. Tokens come from config; with none configured, one admin token is generated on
 * first start into `<data-dir>/admin.token` (0600), printed once, and read from there by the CLI.
 * Token comparison hashes both sides first so it takes the same time whatever the input.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { TokenConfig, TokenScope } from "../config/types.ts";
import { writeFileAtomic } from "../util/fs.ts";

export interface Principal {
  name: string;
  scopes: TokenScope[];
}

export function adminTokenPath(dataDir: string): string {
  return join(dataDir, "admin.token");
}

/** Reads the generated admin token, creating it if absent. `created` tells the caller to print it once. */
export async function loadOrCreateAdminToken(dataDir: string): Promise<{ token: string; created: boolean }> {
  const path = adminTokenPath(dataDir);
  try {
    return { token: (await readFile(path, "utf8")).trim(), created: false };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  const token = `vgl_${randomBytes(24).toString("base64url")}`;
  await writeFileAtomic(path, `${token}\n`, 0o600);
  return { token, created: true };
}

const digest = (s: string) => createHash("sha256").update(s).digest();

export class TokenAuthenticator {
  readonly #tokens: { digest: Buffer; principal: Principal }[];

  constructor(tokens: TokenConfig[]) {
    this.#tokens = tokens.map((t) => ({
      digest: digest(t.token),
      principal: { name: t.name, scopes: t.scopes },
    }));
  }

  /** The principal for an `Authorization` header value, or undefined when it names no known token. */
  authenticate(header: string | undefined): Principal | undefined {
    if (!header) return undefined;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m?.[1]) return undefined;
    const presented = digest(m[1]);
    let found: Principal | undefined;
    for (const t of this.#tokens) if (timingSafeEqual(t.digest, presented)) found = t.principal;
    return found;
  }
}
