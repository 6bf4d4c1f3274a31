/**
 * HMAC signing keys. A key's id is derived from the key itself, so the same secret always has the same id and a
 * verifier can tell "this record was signed with a key I do not have" (unknown key) from "this record was
 * altered" (bad signature). Forward-secure chains (forward-secure.ts) name a key per epoch, derived from the
 * chain's seed or state file.
 */
import { createHmac, createSecretKey, type KeyObject, randomBytes } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { VigilError } from "../errors.ts";
import { ensureDir, writeFileAtomic } from "../util/fs.ts";
import type { SigningKey } from "./chain.ts";
import {
  ChainKeys,
  isChainFileText,
  isChainId,
  parseChainFile,
  parseEpochKeyId,
  readChainFile,
} from "./forward-secure.ts";

/** Shortest secret accepted: 32 bytes, the HMAC-SHA256 block-size guidance of RFC 2104 §3. */
export const MIN_KEY_BYTES = 32;

export function deriveKeyId(secret: Buffer): string {
  return `hmac-${createHmac("sha256", secret).update("vigil key id v1").digest("hex").slice(0, 16)}`;
}

export function keyFromSecret(secret: Buffer, source: string): SigningKey {
  if (secret.length < MIN_KEY_BYTES) {
    throw new VigilError(
      "key_missing",
      `the signing key from ${source} is ${secret.length} bytes; at least ${MIN_KEY_BYTES} are required ` +
        "(generate one with: openssl rand -hex 32)",
    );
  }
  return { id: deriveKeyId(secret), secret: createSecretKey(secret) };
}

/** Reads a key from an environment variable; the variable's value (UTF-8) is the secret. */
export function keyFromEnv(name: string, env: NodeJS.ProcessEnv = process.env): SigningKey {
  const value = env[name];
  if (value === undefined || value === "") {
    throw new VigilError(
      "key_missing",
      `integrity.signing.key_env_var names ${name}, but ${name} is not set`,
    );
  }
  return keyFromSecret(Buffer.from(value, "utf8"), `$${name}`);
}

export function keysDir(dataDir: string): string {
  return join(dataDir, "keys");
}

/** Reads a key file (its trimmed content is the secret, as with the environment variable). */
export async function keyFromFile(path: string): Promise<SigningKey> {
  const text = await readFile(path, "utf8");
  return keyFromSecret(Buffer.from(text.trim(), "utf8"), path);
}

/**
 * The data directory's own key, for running without a configured key: created on first use (mode 0600 in a 0700
 * directory) and reused afterwards. Returns whether it was just created so the caller can warn.
 */
export async function loadOrCreateLocalKey(dataDir: string): Promise<{ key: SigningKey; created: boolean }> {
  const dir = keysDir(dataDir);
  const active = join(dir, "active");
  try {
    const id = (await readFile(active, "utf8")).trim();
    if (isChainId(id)) {
      throw new VigilError(
        "key_missing",
        `${active} names forward-secure chain ${id}: set integrity.signing.forward_secure to seal with it, or ` +
          "activate a plain key (vigil keys activate hmac ID)",
      );
    }
    const key = await keyFromFile(join(dir, `${id}.key`));
    if (key.id !== id) throw new VigilError("key_missing", `${dir}/${id}.key does not hold key ${id}`);
    return { key, created: false };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  await ensureDir(dir);
  const secret = randomBytes(32).toString("hex");
  const key = keyFromSecret(Buffer.from(secret, "utf8"), "generated key");
  await writeFileAtomic(join(dir, `${key.id}.key`), `${secret}\n`, 0o600);
  await writeFileAtomic(active, `${key.id}\n`, 0o600);
  return { key, created: true };
}

/**
 * Every key a verifier can use, by id: plain keys, and forward-secure chains whose epoch keys `get` derives on
 * demand (limited to their epoch's sequence numbers). Not a Map: a chain holds unboundedly many epoch keys, so
 * there is nothing finite to iterate; `size` counts plain keys and chains.
 */
export class Keyring {
  readonly #keys = new Map<string, KeyObject>();
  readonly #chains = new Map<string, ChainKeys>();

  add(id: string, secret: KeyObject): void {
    this.#keys.set(id, secret);
  }

  /** Adds a chain; of a seed and a state of the same chain, the one reaching further back stays. */
  addChain(keys: ChainKeys): void {
    const known = this.#chains.get(keys.chain);
    if (known !== undefined && known.epochRecords !== keys.epochRecords) {
      throw new VigilError(
        "bad_key",
        `two files of forward-secure chain ${keys.chain} disagree on its epoch size (${known.epochRecords} and ` +
          `${keys.epochRecords} records)`,
      );
    }
    if (known === undefined || keys.firstEpoch < known.firstEpoch) this.#chains.set(keys.chain, keys);
  }

  /** Adds everything another ring (or a plain map of keys) holds, its chains still derived on demand. */
  merge(other: Keyring | ReadonlyMap<string, KeyObject>): void {
    if (!(other instanceof Keyring)) {
      for (const [id, secret] of other) this.add(id, secret);
      return;
    }
    for (const [id, secret] of other.#keys) this.add(id, secret);
    for (const keys of other.#chains.values()) this.addChain(keys);
  }

  get(id: string): KeyObject | undefined {
    const plain = this.#keys.get(id);
    if (plain !== undefined) return plain;
    const epochKey = parseEpochKeyId(id);
    return epochKey && this.#chains.get(epochKey.chain)?.key(epochKey.epoch);
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  /** Plain keys plus forward-secure chains. */
  get size(): number {
    return this.#keys.size + this.#chains.size;
  }

  /** The ids of the plain keys. */
  plainKeyIds(): string[] {
    return [...this.#keys.keys()];
  }
}

/** Reads a file given to a verifier: a forward-secure seed or state, or a plain key file. */
async function addKeyFile(ring: Keyring, path: string): Promise<void> {
  const text = await readFile(path, "utf8");
  if (isChainFileText(text)) {
    ring.addChain(new ChainKeys(parseChainFile(text, path)));
  } else {
    const key = keyFromSecret(Buffer.from(text.trim(), "utf8"), path);
    ring.add(key.id, key.secret);
  }
}

/**
 * Every key a verifier can use, by id: the data directory's keys (plain `*.key`, forward-secure `*.seed` and
 * `*.state`) plus any given explicitly (a `--key-file` may be a seed or state file too).
 */
export async function loadKeyring(sources: {
  dataDir?: string;
  keyFiles?: string[];
  envVars?: string[];
  env?: NodeJS.ProcessEnv;
}): Promise<Keyring> {
  const ring = new Keyring();
  if (sources.dataDir) {
    const dir = keysDir(sources.dataDir);
    let names: string[] = [];
    try {
      if ((await stat(dir)).isDirectory()) names = await readdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    for (const name of names.filter((n) => n.endsWith(".key"))) {
      const key = await keyFromFile(join(dir, name));
      ring.add(key.id, key.secret);
    }
    for (const name of names.filter((n) => n.endsWith(".seed") || n.endsWith(".state"))) {
      ring.addChain(new ChainKeys(await readChainFile(join(dir, name))));
    }
  }
  for (const f of sources.keyFiles ?? []) await addKeyFile(ring, f);
  for (const v of sources.envVars ?? []) {
    const key = keyFromEnv(v, sources.env);
    ring.add(key.id, key.secret);
  }
  return ring;
}
