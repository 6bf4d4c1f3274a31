/**
 * Key administration behind `vigil keys`: creating, importing, listing, rotating and exporting the data
 * directory's signing keys. No printing here, and no secret ever leaves this module: results carry ids, paths and
 * public verifier keys only.
 *
 * Two kinds of key live in `<data-dir>/keys/`:
 *   - HMAC keys (`<id>.key`, the secret as text, and `active`, the id that seals new records), see keys.ts, or
 *     forward-secure chains (`<chain>.state`, and `<chain>.seed` until the operator moves it away), see
 *     forward-secure.ts;
 *   - checkpoint keys (`checkpoint/<hash>.signer`, `.vkey` and `active`), see log-layout.ts.
 *
 * Rotation only moves the `active` pointer to a new key: old key files stay, because every record and checkpoint
 * names the key that signed it and a verifier needs that key for as long as the record is kept. `vigil serve`
 * reads the pointers at start, so a rotation takes effect at the server's next start.
 */
import { randomBytes } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { VigilError } from "../errors.ts";
import { ensureDir, exists, readdirIfExists, writeFileAtomic } from "../util/fs.ts";
import {
  type ChainFile,
  createChain,
  isChainFileText,
  isChainId,
  readChainFile,
  stateFileOf,
} from "./forward-secure.ts";
import { deriveKeyId, keyFromFile, keyFromSecret, keysDir } from "./keys.ts";
import { checkpointKeysDir, createCheckpointKey, loadOrCreateOrigin } from "./log-layout.ts";
import { formatKeyId, parseVerifierKey } from "./note.ts";

export type KeyKind = "hmac" | "checkpoint";

export interface HmacKeyInfo {
  /** The id records name in `integrity.key_id`, derived from the secret; for a chain, the chain id. */
  id: string;
  active: boolean;
  /** The key file; for a chain, its state file (or its seed, when only that is here). */
  file: string;
  /** The key file's modification time: when it was created or imported; for a chain, when it was created. */
  created: Date;
  /** Set for a forward-secure chain, whose records name `<id>-<epoch>`. */
  forwardSecure?: {
    epochRecords: number;
    /** The epoch the state file is at; undefined when only the seed is here. */
    epoch?: number;
    /** The seed file, while it is still in the data directory. */
    seed?: string;
  };
}

export interface CheckpointKeyInfo {
  /** The key name, which is the log's origin for keys Vigil creates. */
  name: string;
  /** The key hash as 8 lowercase hex digits, as signature lines and file names carry it. */
  keyHash: string;
  /** `<name>+<key hash>`, how checkpoints and reports name the key. */
  id: string;
  active: boolean;
  /** The public verifier key text, safe to publish. */
  verifierKey: string;
  /** The verifier key file. */
  file: string;
  /** Whether the private signer key is present (a key kept only for verification has none). */
  signer: boolean;
  created: Date;
}

export interface KeyListing {
  hmac: HmacKeyInfo[];
  checkpoint: CheckpointKeyInfo[];
  /** What each `active` pointer says, also when no key file matches it, so a caller can warn. */
  activeHmac: string | undefined;
  activeCheckpoint: string | undefined;
}

/** The pointer file, in each key directory, naming the key that signs from the next server start on. */
const ACTIVE = "active";

async function readPointer(path: string): Promise<string | undefined> {
  try {
    const value = (await readFile(path, "utf8")).trim();
    return value === "" ? undefined : value;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

const byCreated = <T extends { created: Date; id: string }>(a: T, b: T) =>
  a.created.getTime() - b.created.getTime() || a.id.localeCompare(b.id);

/**
 * The HMAC keys, oldest first. The id comes from each file's secret, not its name, because that is what
 * `loadKeyring` uses to match records to keys.
 */
export async function listHmacKeys(dataDir: string): Promise<{ keys: HmacKeyInfo[]; active?: string }> {
  const dir = keysDir(dataDir);
  const active = await readPointer(join(dir, ACTIVE));
  const keys: HmacKeyInfo[] = [];
  for (const name of (await readdirIfExists(dir)).filter((n) => n.endsWith(".key"))) {
    const file = join(dir, name);
    const { id } = await keyFromFile(file);
    keys.push({ id, active: id === active, file, created: (await stat(file)).mtime });
  }
  keys.push(...(await listChains(dir, active)));
  return { keys: keys.sort(byCreated), active };
}

/** The forward-secure chains, each from its state file and seed; the key ids come from the files' content. */
async function listChains(dir: string, active: string | undefined): Promise<HmacKeyInfo[]> {
  const names = await readdirIfExists(dir);
  const chains = new Map<string, { file: string; content: ChainFile; seed?: string }>();
  for (const name of names.filter((n) => n.endsWith(".state"))) {
    const file = join(dir, name);
    const content = await readChainFile(file);
    content.key.fill(0);
    chains.set(content.chain, { file, content });
  }
  for (const name of names.filter((n) => n.endsWith(".seed"))) {
    const file = join(dir, name);
    const content = await readChainFile(file);
    content.key.fill(0);
    const known = chains.get(content.chain);
    if (known) known.seed = file;
    else chains.set(content.chain, { file, content, seed: file });
  }
  return [...chains.values()].map(({ file, content, seed }) => ({
    id: content.chain,
    active: content.chain === active,
    file,
    created: content.created,
    forwardSecure: {
      epochRecords: content.epochRecords,
      ...(content.kind === "state" ? { epoch: content.epoch } : {}),
      ...(seed === undefined ? {} : { seed }),
    },
  }));
}

/** The checkpoint keys that have a verifier key file, oldest first. */
export async function listCheckpointKeys(
  dataDir: string,
): Promise<{ keys: CheckpointKeyInfo[]; active?: string }> {
  const dir = checkpointKeysDir(dataDir);
  const active = await readPointer(join(dir, ACTIVE));
  const keys: CheckpointKeyInfo[] = [];
  for (const name of (await readdirIfExists(dir)).filter((n) => n.endsWith(".vkey"))) {
    const file = join(dir, name);
    const verifier = parseVerifierKey((await readFile(file, "utf8")).trim());
    const keyHash = verifier.keyHash.toString(16).padStart(8, "0");
    keys.push({
      name: verifier.name,
      keyHash,
      id: formatKeyId(verifier),
      active: keyHash === active,
      verifierKey: verifier.text,
      file,
      signer: await exists(join(dir, `${keyHash}.signer`)),
      created: (await stat(file)).mtime,
    });
  }
  return { keys: keys.sort(byCreated), active };
}

export async function listKeys(dataDir: string): Promise<KeyListing> {
  const hmac = await listHmacKeys(dataDir);
  const checkpoint = await listCheckpointKeys(dataDir);
  return {
    hmac: hmac.keys,
    checkpoint: checkpoint.keys,
    activeHmac: hmac.active,
    activeCheckpoint: checkpoint.active,
  };
}

/** Stores a secret text as `<id>.key` (0600) unless that key is already there; directories are created 0700. */
async function storeHmacSecret(
  dataDir: string,
  secret: string,
  source: string,
  activate: boolean,
): Promise<{ key: HmacKeyInfo; existed: boolean }> {
  const { id } = keyFromSecret(Buffer.from(secret, "utf8"), source);
  const dir = keysDir(dataDir);
  await ensureDir(dir);
  const file = join(dir, `${id}.key`);
  // A file already holding this key is left alone, keeping its creation time; one holding another key under
  // this name is a broken data directory, and overwriting it would lose that key.
  const existed = await exists(file);
  if (!existed) await writeFileAtomic(file, `${secret}\n`, 0o600);
  else if ((await keyFromFile(file)).id !== id) {
    throw new VigilError("key_missing", `${file} does not hold key ${id}; move it aside and retry`);
  }
  if (activate) await writeFileAtomic(join(dir, ACTIVE), `${id}\n`, 0o600);
  const active = (await readPointer(join(dir, ACTIVE))) === id;
  return { key: { id, active, file, created: (await stat(file)).mtime }, existed };
}

/** A new HMAC key (32 random bytes written as 64 hex characters, as `loadOrCreateLocalKey` makes them). */
export async function createHmacKey(dataDir: string, options: { activate: boolean }): Promise<HmacKeyInfo> {
  const secret = randomBytes(32).toString("hex");
  return (await storeHmacSecret(dataDir, secret, "generated key", options.activate)).key;
}

/**
 * A new forward-secure chain (forward-secure.ts): its seed, to be moved off the machine, and its state at epoch 0,
 * which the server moves on to the epoch of the next record when it starts sealing with it.
 */
export async function createForwardSecureChain(
  dataDir: string,
  options: { activate: boolean; epochRecords: number },
): Promise<{ key: HmacKeyInfo; seedFile: string }> {
  const { chain, seedFile, stateFile, created } = await createChain(keysDir(dataDir), options);
  const forwardSecure = { epochRecords: options.epochRecords, epoch: 0, seed: seedFile };
  return { key: { id: chain, active: options.activate, file: stateFile, created, forwardSecure }, seedFile };
}

/**
 * Stores an existing secret (e.g. the value of the environment variable a server signed with) under its derived
 * id, so records sealed with it stay verifiable from the data directory. The secret is the text exactly as a key
 * file yields it: key files are read trimmed, so a secret with surrounding whitespace could not be stored
 * faithfully and is refused instead of being kept under an id its records do not name.
 */
export async function importHmacKey(
  dataDir: string,
  secret: string,
  source: string,
  options: { activate: boolean },
): Promise<{ key: HmacKeyInfo; existed: boolean }> {
  if (isChainFileText(secret)) {
    throw new VigilError(
      "usage",
      `${source} is a forward-secure seed or state, not an HMAC secret: verify with it as it is ` +
        "(vigil verify --key-file FILE), or copy it into the keys directory unchanged",
    );
  }
  if (secret !== secret.trim()) {
    throw new VigilError(
      "usage",
      `the secret from ${source} begins or ends with whitespace, which a key file cannot hold ` +
        `(key files are read trimmed); its records name key ${deriveKeyId(Buffer.from(secret, "utf8"))}`,
    );
  }
  return storeHmacSecret(dataDir, secret, source, options.activate);
}

/**
 * A new checkpoint key named after the log's origin (`origin`, when given, must match the one recorded; it is
 * recorded if none is yet, as `vigil serve` does with `integrity.checkpoints.origin`).
 */
export async function createCheckpointSigningKey(
  dataDir: string,
  options: { activate: boolean; origin?: string },
): Promise<CheckpointKeyInfo> {
  await ensureDir(dataDir);
  const name = await loadOrCreateOrigin(dataDir, options.origin);
  const { signer } = await createCheckpointKey(dataDir, name, options.activate);
  const keyHash = signer.keyHash.toString(16).padStart(8, "0");
  const file = join(checkpointKeysDir(dataDir), `${keyHash}.vkey`);
  return {
    name,
    keyHash,
    id: formatKeyId(signer),
    active: options.activate,
    verifierKey: signer.verifier.text,
    file,
    signer: true,
    created: (await stat(file)).mtime,
  };
}

/** Creates and activates a new HMAC key; the previously active one (if any) stays for verification. */
export async function rotateHmacKey(dataDir: string): Promise<{ key: HmacKeyInfo; previous?: string }> {
  const previous = await readPointer(join(keysDir(dataDir), ACTIVE));
  return { key: await createHmacKey(dataDir, { activate: true }), previous };
}

/** Creates and activates a new forward-secure chain; the previously active key or chain stays for verification. */
export async function rotateForwardSecureChain(
  dataDir: string,
  epochRecords: number,
): Promise<{ key: HmacKeyInfo; seedFile: string; previous?: string }> {
  const previous = await readPointer(join(keysDir(dataDir), ACTIVE));
  return { ...(await createForwardSecureChain(dataDir, { activate: true, epochRecords })), previous };
}

/** Creates and activates a new checkpoint key; the previous one stays, so older checkpoints stay verifiable. */
export async function rotateCheckpointKey(
  dataDir: string,
  options: { origin?: string } = {},
): Promise<{ key: CheckpointKeyInfo; previous?: CheckpointKeyInfo }> {
  const { keys } = await listCheckpointKeys(dataDir);
  const key = await createCheckpointSigningKey(dataDir, { activate: true, origin: options.origin });
  return { key, previous: keys.find((k) => k.active) };
}

/**
 * Makes an existing key the active one: an HMAC key by id, a checkpoint key by key hash or `<name>+<key hash>`.
 * A checkpoint key needs its signer key, since the server signs with it. Throws `usage` for an unknown key.
 */
export async function activateKey(dataDir: string, kind: KeyKind, id: string): Promise<string> {
  if (kind === "hmac") {
    // The server opens `<id>.key` (a chain's `<id>.state`) by name, so the file must be named after what it holds.
    const file = isChainId(id) ? stateFileOf(keysDir(dataDir), id) : join(keysDir(dataDir), `${id}.key`);
    const key = (await listHmacKeys(dataDir)).keys.find((k) => k.id === id && k.file === file);
    if (key === undefined) throw new VigilError("usage", `no HMAC key ${id} in ${keysDir(dataDir)}`);
    await writeFileAtomic(join(keysDir(dataDir), ACTIVE), `${key.id}\n`, 0o600);
    return key.id;
  }
  const dir = checkpointKeysDir(dataDir);
  const key = (await listCheckpointKeys(dataDir)).keys.find((k) => k.id === id || k.keyHash === id);
  if (key === undefined) throw new VigilError("usage", `no checkpoint key ${id} in ${dir}`);
  if (!key.signer) {
    throw new VigilError("usage", `checkpoint key ${key.id} has no signer key in ${dir}: it can only verify`);
  }
  await writeFileAtomic(join(dir, ACTIVE), `${key.keyHash}\n`, 0o600);
  return key.id;
}

/**
 * Every checkpoint verifier key text, one per line, the active key first: what an auditor needs to check all
 * checkpoints of the log, those signed before a rotation included. Throws `usage` when there is none.
 */
export async function exportPublicKeys(dataDir: string): Promise<string> {
  const { keys } = await listCheckpointKeys(dataDir);
  if (keys.length === 0) {
    throw new VigilError(
      "usage",
      `no checkpoint keys in ${checkpointKeysDir(dataDir)} (create one with: vigil keys create checkpoint)`,
    );
  }
  const ordered = [...keys.filter((k) => k.active), ...keys.filter((k) => !k.active)];
  return ordered.map((k) => `${k.verifierKey}\n`).join("");
}
