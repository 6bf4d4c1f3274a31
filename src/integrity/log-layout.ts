/**
 * Where a chain's transparency-log state lives in the data directory, shared by the server, `vigil keys`,
 * `vigil prove` and `vigil verify`:
 *
 *   <data-dir>/origin                         the log's origin line (its identity in checkpoints), made once
 *   <data-dir>/merkle/                        the MerkleStore (merkle-store.ts)
 *   <data-dir>/checkpoints/<size>.note        signed checkpoints, <size> as 20 zero-padded digits
 *   <data-dir>/keys/checkpoint/<hash>.signer  Ed25519 signer key texts (0600), <hash> = key hash, 8 hex digits
 *   <data-dir>/keys/checkpoint/<hash>.vkey    the matching public verifier key texts
 *   <data-dir>/keys/checkpoint/active         the key hash of the key that signs new checkpoints
 *
 * A file destination publishes its checkpoints beside it, in `<path>.checkpoints/<size>.note`.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { VigilError } from "../errors.ts";
import { ensureDir, readdirIfExists, writeFileAtomic } from "../util/fs.ts";
import {
  generateNoteKey,
  isValidKeyName,
  type NoteSigner,
  type NoteVerifier,
  parseVerifierKey,
  readSignerKey,
  writeSignerKey,
  writeVerifierKey,
} from "./note.ts";

const SIZE_DIGITS = 20;
const NOTE_FILE = /^(\d{20})\.note$/;

export const merkleDir = (dataDir: string) => join(dataDir, "merkle");
export const checkpointsDir = (dataDir: string) => join(dataDir, "checkpoints");
export const checkpointKeysDir = (dataDir: string) => join(dataDir, "keys", "checkpoint");
export const publishedCheckpointsDir = (destinationPath: string) => `${destinationPath}.checkpoints`;

export function checkpointFileName(size: number): string {
  return `${String(size).padStart(SIZE_DIGITS, "0")}.note`;
}

/** The tree sizes of the checkpoints in a directory, ascending; an absent directory has none. */
export async function listCheckpointSizes(dir: string): Promise<number[]> {
  const names = await readdirIfExists(dir);
  const sizes: number[] = [];
  for (const name of names) {
    const m = NOTE_FILE.exec(name);
    if (m?.[1]) sizes.push(Number(m[1]));
  }
  return sizes.sort((a, b) => a - b);
}

export async function readCheckpointNote(dir: string, size: number): Promise<string | undefined> {
  try {
    return await readFile(join(dir, checkpointFileName(size)), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

export async function writeCheckpointNote(dir: string, size: number, note: string): Promise<void> {
  await ensureDir(dir);
  await writeFileAtomic(join(dir, checkpointFileName(size)), note, 0o600);
}

/**
 * The log's origin: the configured one, or the one recorded in the data directory, or a new one made from the
 * host name and a random suffix (recorded so it never changes). It is also the checkpoint signing key's name, so
 * it must be a valid key name (no spaces, no "+").
 */
/** The origin recorded in a data directory, if any. */
export async function readOrigin(dataDir: string): Promise<string | undefined> {
  return (await readFile(join(dataDir, "origin"), "utf8").catch(() => "")).trim() || undefined;
}

export async function loadOrCreateOrigin(dataDir: string, configured?: string): Promise<string> {
  const path = join(dataDir, "origin");
  const recorded = (await readOrigin(dataDir)) ?? "";
  if (configured !== undefined) {
    if (recorded !== "" && recorded !== configured) {
      throw new VigilError(
        "usage",
        `integrity.checkpoints.origin is ${configured}, but this data directory's log is ${recorded}; ` +
          "a log's origin cannot change (use a new data directory for a new log)",
      );
    }
    if (recorded === "") await writeFileAtomic(path, `${configured}\n`, 0o600);
    return configured;
  }
  if (recorded !== "") return recorded;
  const host = hostname().replace(/[^A-Za-z0-9.-]/g, "-") || "localhost";
  const origin = `vigil/${host}/${randomBytes(4).toString("hex")}`;
  if (!isValidKeyName(origin))
    throw new VigilError("usage", `cannot derive a log origin from host name ${host}`);
  await writeFileAtomic(path, `${origin}\n`, 0o600);
  return origin;
}

const hashHex = (keyHash: number) => keyHash.toString(16).padStart(8, "0");

/** Creates a new checkpoint signing key named `name` in the data directory; makes it active if asked. */
export async function createCheckpointKey(
  dataDir: string,
  name: string,
  activate: boolean,
): Promise<{ signer: NoteSigner; verifierText: string }> {
  const dir = checkpointKeysDir(dataDir);
  await ensureDir(dir);
  const { signer, signerText, verifierText } = generateNoteKey(name);
  await writeSignerKey(join(dir, `${hashHex(signer.keyHash)}.signer`), signerText);
  await writeVerifierKey(join(dir, `${hashHex(signer.keyHash)}.vkey`), verifierText);
  if (activate) await writeFileAtomic(join(dir, "active"), `${hashHex(signer.keyHash)}\n`, 0o600);
  return { signer, verifierText };
}

/** The active checkpoint signer and its key text, created (named after the origin) on first use. */
export async function loadOrCreateCheckpointSigner(
  dataDir: string,
  origin: string,
): Promise<{ signer: NoteSigner; signerText: string; created: boolean }> {
  const dir = checkpointKeysDir(dataDir);
  let active = (await readFile(join(dir, "active"), "utf8").catch(() => "")).trim();
  const created = active === "";
  if (created) active = hashHex((await createCheckpointKey(dataDir, origin, true)).signer.keyHash);
  const path = join(dir, `${active}.signer`);
  const signer = await readSignerKey(path);
  return { signer, signerText: (await readFile(path, "utf8")).trim(), created };
}

/** Every checkpoint verifier key the data directory holds (active and rotated). */
export async function loadCheckpointVerifiers(dataDir: string): Promise<NoteVerifier[]> {
  const dir = checkpointKeysDir(dataDir);
  const names = await readdirIfExists(dir);
  const out: NoteVerifier[] = [];
  for (const name of names.filter((n) => n.endsWith(".vkey")).sort()) {
    out.push(parseVerifierKey((await readFile(join(dir, name), "utf8")).trim()));
  }
  return out;
}
