/**
 * C2SP signed notes (https://c2sp.org/signed-note), Ed25519 keys only, compatible with the Go reference
 * implementation golang.org/x/mod/sumdb/note.
 *
 * A note is UTF-8 text without control characters other than LF: the text (ending in "\n", empty lines allowed),
 * a blank line, then one or more lines `— <key name> <base64(key hash ‖ signature)>`. The text is split from the
 * signatures at the last blank line; the signed message is the text including its final "\n".
 *
 * A key is identified by its name plus its key hash, the first four bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public
 * key). Opening a note ignores signatures by keys it does not know (reporting them), rejects the note when a
 * signature by a known key does not verify, and requires at least one valid signature by a known key.
 *
 * Where the spec leaves room this module is stricter than Go: base64 must be canonical (padded, zero padding
 * bits), key hashes lowercase hex (as the spec writes them), and every signature by a known key is verified, not
 * only its first. Private key material lives only in KeyObjects and never appears in an error message.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import { readFile } from "node:fs/promises";
import { VigilError } from "../errors.ts";
import { writeFileAtomic } from "../util/fs.ts";

/** The signature type byte of Ed25519 in key hashes and key texts (signed-note §Signature types). */
const ED25519_TYPE = 0x01;
const ED25519_KEY_BYTES = 32;
const ED25519_SIGNATURE_BYTES = 64;
/** DER headers that turn a raw 32-byte Ed25519 public key or seed into SPKI / PKCS#8 for node:crypto. */
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/** At most this many signature lines are read, as in the Go implementation; more makes the note malformed. */
export const MAX_NOTE_SIGNATURES = 100;

const SIGNATURE_PREFIX = "\u2014 ";
const SIGNER_KEY_PREFIX = "PRIVATE+KEY+";
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const KEY_HASH_HEX = /^[0-9a-f]{8}$/;
/** Unicode White_Space (the set Go's unicode.IsSpace tests) and "+", both forbidden in key names. */
const FORBIDDEN_IN_NAME = /[\p{White_Space}+]/u;

/** Who signed: a key name and its key hash (an unsigned 32-bit integer). */
export interface NoteKeyId {
  readonly name: string;
  readonly keyHash: number;
}

export interface NoteVerifier extends NoteKeyId {
  /** The raw 32-byte Ed25519 public key. */
  readonly publicKey: Buffer;
  /** The verifier key text `<name>+<key hash hex>+<base64(0x01 ‖ public key)>`, safe to publish. */
  readonly text: string;
  /** Whether `signature` is this key's Ed25519 signature of `message`. */
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

export interface NoteSigner extends NoteKeyId {
  /** The matching public half, e.g. to publish `verifier.text`. */
  readonly verifier: NoteVerifier;
  /** The 64-byte Ed25519 signature of `message`. */
  sign(message: Uint8Array): Buffer;
}

export interface OpenedNote {
  /** The signed text, ending in "\n". */
  text: string;
  /** Known keys whose signatures verified, each once, in the order their first signature appears. */
  verifiedBy: NoteKeyId[];
  /** Keys the caller does not know (ignored, as the spec requires), each once, in order of appearance. */
  unknown: NoteKeyId[];
}

/** `<name>+<key hash as 8 lowercase hex digits>`, how messages and reports name a key. */
export function formatKeyId(key: NoteKeyId): string {
  return `${key.name}+${key.keyHash.toString(16).padStart(8, "0")}`;
}

/** Key names are non-empty and contain no Unicode space, no "+" and (so notes stay valid) no control character. */
export function isValidKeyName(name: string): boolean {
  return name !== "" && name.isWellFormed() && !FORBIDDEN_IN_NAME.test(name) && firstControlChar(name) < 0;
}

/** The key hash: the first four bytes, big-endian, of SHA-256(name ‖ "\n" ‖ signature type ‖ public key). */
export function computeKeyHash(name: string, typedPublicKey: Uint8Array): number {
  return createHash("sha256")
    .update(name, "utf8")
    .update("\n")
    .update(typedPublicKey)
    .digest()
    .readUInt32BE(0);
}

/**
 * Decodes RFC 4648 standard base64 only in its canonical form: padded, no other characters, padding bits zero.
 * Returns undefined for anything else, so one value has exactly one text.
 */
export function decodeBase64Strict(text: string): Buffer | undefined {
  if (!BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, "base64");
  return bytes.toString("base64") === text ? bytes : undefined;
}

/**
 * Throws `bad_note` unless `text` can be the text of a note: non-empty, ending in "\n", well-formed Unicode and
 * free of control characters other than "\n". `what` names the text in the message.
 */
export function assertNoteText(text: string, what = "note text"): void {
  if (text === "" || !text.endsWith("\n"))
    throw new VigilError("bad_note", `${what} must end with a newline`);
  assertNoteCharacters(text, what);
}

export function generateNoteKey(name: string): {
  signer: NoteSigner;
  verifier: NoteVerifier;
  signerText: string;
  verifierText: string;
} {
  assertKeyName(name);
  const { privateKey } = generateKeyPairSync("ed25519");
  const seed = privateKey.export({ format: "der", type: "pkcs8" }).subarray(PKCS8_ED25519_PREFIX.length);
  const signer = makeSigner(name, privateKey);
  const signerText = `${SIGNER_KEY_PREFIX}${formatKeyId(signer)}+${typedKey(seed).toString("base64")}`;
  return { signer, verifier: signer.verifier, signerText, verifierText: signer.verifier.text };
}

/** Parses a verifier key text `<name>+<key hash hex>+<base64(0x01 ‖ 32-byte public key)>`; throws `bad_key`. */
export function parseVerifierKey(text: string): NoteVerifier {
  const { name, keyHash, key } = splitKeyText(text, "verifier key");
  const verifier = makeVerifier(name, key);
  if (verifier.keyHash !== keyHash) {
    throw new VigilError(
      "bad_key",
      `verifier key ${formatKeyId({ name, keyHash })} does not match its key, which hashes to ${formatKeyId(verifier)}`,
    );
  }
  return verifier;
}

/** Parses a signer key text `PRIVATE+KEY+<name>+<key hash hex>+<base64(0x01 ‖ 32-byte seed)>`; throws `bad_key`. */
export function parseSignerKey(text: string): NoteSigner {
  if (!text.startsWith(SIGNER_KEY_PREFIX)) {
    throw new VigilError("bad_key", `a signer key must begin with ${SIGNER_KEY_PREFIX}`);
  }
  const { name, keyHash, key } = splitKeyText(text.slice(SIGNER_KEY_PREFIX.length), "signer key");
  const signer = makeSigner(
    name,
    createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, key]), format: "der", type: "pkcs8" }),
  );
  if (signer.keyHash !== keyHash) {
    throw new VigilError(
      "bad_key",
      `signer key ${formatKeyId({ name, keyHash })} does not match its key, whose public key hashes to ${formatKeyId(signer)}`,
    );
  }
  return signer;
}

/** Signs `text` (see assertNoteText) with every signer, in order, and returns the note. Throws `bad_note`. */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  assertNoteText(text);
  if (signers.length === 0 || signers.length > MAX_NOTE_SIGNATURES) {
    throw new VigilError(
      "bad_note",
      `a note needs 1 to ${MAX_NOTE_SIGNATURES} signers, got ${signers.length}`,
    );
  }
  const message = Buffer.from(text, "utf8");
  let lines = "";
  for (const signer of signers) {
    assertKeyName(signer.name);
    if (!Number.isInteger(signer.keyHash) || signer.keyHash < 0 || signer.keyHash > 0xffffffff) {
      throw new VigilError(
        "bad_key",
        `key ${signer.name} has a key hash that is not an unsigned 32-bit integer`,
      );
    }
    const hash = Buffer.alloc(4);
    hash.writeUInt32BE(signer.keyHash);
    const signature = Buffer.concat([hash, signer.sign(message)]).toString("base64");
    lines += `${SIGNATURE_PREFIX}${signer.name} ${signature}\n`;
  }
  return `${text}\n${lines}`;
}

/**
 * Parses `note` (a string, or bytes that must be UTF-8) and checks its signatures against `verifiers`.
 * Throws `bad_note` for broken syntax, `bad_signature` when a known key's signature does not verify,
 * `unverified` when no known key signed, and `bad_key` when `verifiers` holds two different keys with the same
 * name and key hash and the note names that pair.
 */
export function openNote(note: string | Uint8Array, verifiers: readonly NoteVerifier[]): OpenedNote {
  const source = typeof note === "string" ? note : decodeUtf8(note);
  assertNoteCharacters(source, "note");
  const split = source.lastIndexOf("\n\n");
  if (split < 0)
    throw new VigilError("bad_note", "note has no blank line between its text and its signatures");
  const text = source.slice(0, split + 1);
  const block = source.slice(split + 2);
  if (block === "") throw new VigilError("bad_note", "note has no signature line after its last blank line");
  if (!block.endsWith("\n")) throw new VigilError("bad_note", "note does not end with a newline");
  const lines = block.slice(0, -1).split("\n");
  if (lines.length > MAX_NOTE_SIGNATURES) {
    throw new VigilError(
      "bad_note",
      `note has ${lines.length} signature lines; at most ${MAX_NOTE_SIGNATURES} are accepted`,
    );
  }

  const known = new Map<string, NoteVerifier[]>();
  for (const v of verifiers) {
    const id = formatKeyId(v);
    const same = known.get(id);
    if (same === undefined) known.set(id, [v]);
    else if (!same.some((s) => s.publicKey.equals(v.publicKey))) same.push(v);
  }

  const message = Buffer.from(text, "utf8");
  const firstLine = text.split("\n").length + 1;
  const verifiedBy = new Map<string, NoteKeyId>();
  const unknown = new Map<string, NoteKeyId>();
  lines.forEach((line, i) => {
    const where = `note line ${firstLine + i}`;
    if (!line.startsWith(SIGNATURE_PREFIX)) {
      throw new VigilError(
        "bad_note",
        `${where} is not a signature line: it must begin with "— " (U+2014, space)`,
      );
    }
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(" ");
    if (space < 0) throw new VigilError("bad_note", `${where} has no space between key name and signature`);
    const name = rest.slice(0, space);
    if (!isValidKeyName(name)) throw new VigilError("bad_note", `${where} has an invalid key name`);
    const raw = decodeBase64Strict(rest.slice(space + 1));
    if (raw === undefined)
      throw new VigilError("bad_note", `${where}: the signature is not canonical base64`);
    if (raw.length < 5) throw new VigilError("bad_note", `${where}: the signature is shorter than 5 bytes`);
    const key: NoteKeyId = { name, keyHash: raw.readUInt32BE(0) };
    const id = formatKeyId(key);
    const candidates = known.get(id);
    if (candidates === undefined) {
      if (!unknown.has(id)) unknown.set(id, key);
      return;
    }
    if (candidates.length > 1) {
      throw new VigilError(
        "bad_key",
        `the verifier keys hold ${candidates.length} different keys named ${id}`,
      );
    }
    if (!candidates[0]?.verify(message, raw.subarray(4))) {
      throw new VigilError("bad_signature", `the signature by ${id} (${where}) does not verify`);
    }
    if (!verifiedBy.has(id)) verifiedBy.set(id, key);
  });

  if (verifiedBy.size === 0) {
    const signers = unknown.size === 0 ? "" : `; it is signed only by ${[...unknown.keys()].join(", ")}`;
    throw new VigilError("unverified", `note has no signature by a known key${signers}`);
  }
  return { text, verifiedBy: [...verifiedBy.values()], unknown: [...unknown.values()] };
}

/** Writes a signer key text (checked first) durably with mode 0600; the file is the key text plus "\n". */
export async function writeSignerKey(path: string, text: string): Promise<void> {
  parseSignerKey(text);
  await writeFileAtomic(path, `${text}\n`, 0o600);
}

/** Writes a verifier key text (checked first) durably with mode 0644: it is public. */
export async function writeVerifierKey(path: string, text: string): Promise<void> {
  parseVerifierKey(text);
  await writeFileAtomic(path, `${text}\n`, 0o644);
}

/** Reads a file holding one signer key text (surrounding whitespace ignored). Errors name the file. */
export async function readSignerKey(path: string): Promise<NoteSigner> {
  const text = await readFile(path, "utf8");
  return inFile(path, () => parseSignerKey(text.trim()));
}

/** Reads a file of verifier key texts, one per line (blank lines ignored); at least one is required. */
export async function readVerifierKeys(path: string): Promise<NoteVerifier[]> {
  const text = await readFile(path, "utf8");
  return inFile(path, () => {
    const lines = text.split("\n").map((l) => l.trim());
    const keys = lines.filter((l) => l !== "").map(parseVerifierKey);
    if (keys.length === 0) throw new VigilError("bad_key", "holds no verifier key");
    return keys;
  });
}

function inFile<T>(path: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof VigilError) throw new VigilError(e.code, `${path}: ${e.message}`, { cause: e });
    throw e;
  }
}

function typedKey(key: Uint8Array): Buffer {
  return Buffer.concat([Buffer.of(ED25519_TYPE), key]);
}

function makeVerifier(name: string, publicKeyBytes: Buffer): NoteVerifier {
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({
      key: Buffer.concat([SPKI_ED25519_PREFIX, publicKeyBytes]),
      format: "der",
      type: "spki",
    });
  } catch (e) {
    throw new VigilError("bad_key", `verifier key ${name} holds an invalid Ed25519 public key`, { cause: e });
  }
  const keyHash = computeKeyHash(name, typedKey(publicKeyBytes));
  const text = `${formatKeyId({ name, keyHash })}+${typedKey(publicKeyBytes).toString("base64")}`;
  return {
    name,
    keyHash,
    publicKey: Buffer.from(publicKeyBytes),
    text,
    verify: (message, signature) =>
      signature.length === ED25519_SIGNATURE_BYTES && verify(null, message, publicKey, signature),
  };
}

function makeSigner(name: string, privateKey: KeyObject): NoteSigner {
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  const verifier = makeVerifier(name, spki.subarray(SPKI_ED25519_PREFIX.length));
  return {
    name,
    keyHash: verifier.keyHash,
    verifier,
    sign: (message) => sign(null, message, privateKey),
  };
}

/**
 * Splits `<name>+<hash hex>+<base64 typed key>` (the base64 may itself contain "+") and checks each part.
 * Messages name the key only once its name is known to be valid, and never quote the key data.
 */
function splitKeyText(text: string, what: string): { name: string; keyHash: number; key: Buffer } {
  const first = text.indexOf("+");
  const second = first < 0 ? -1 : text.indexOf("+", first + 1);
  if (second < 0) throw new VigilError("bad_key", `a ${what} must have the form <name>+<key hash>+<key>`);
  const name = text.slice(0, first);
  const hashHex = text.slice(first + 1, second);
  if (!isValidKeyName(name)) throw new VigilError("bad_key", `the ${what}'s name is empty or invalid`);
  if (!KEY_HASH_HEX.test(hashHex)) {
    throw new VigilError("bad_key", `the ${what} ${name} has a key hash that is not 8 lowercase hex digits`);
  }
  const typed = decodeBase64Strict(text.slice(second + 1));
  if (typed === undefined)
    throw new VigilError("bad_key", `the ${what} ${name}: its key is not canonical base64`);
  if (typed[0] !== ED25519_TYPE) {
    const type = typed.length === 0 ? "none" : `0x${typed[0]?.toString(16).padStart(2, "0")}`;
    throw new VigilError(
      "bad_key",
      `the ${what} ${name} has signature type ${type}; only Ed25519 (0x01) is supported`,
    );
  }
  if (typed.length !== 1 + ED25519_KEY_BYTES) {
    throw new VigilError(
      "bad_key",
      `the ${what} ${name} holds a ${typed.length - 1}-byte key; Ed25519 keys are ${ED25519_KEY_BYTES} bytes`,
    );
  }
  return { name, keyHash: Number.parseInt(hashHex, 16), key: typed.subarray(1) };
}

function assertKeyName(name: string): void {
  if (!isValidKeyName(name)) {
    throw new VigilError(
      "bad_key",
      `invalid key name ${JSON.stringify(name)}: it must be non-empty without spaces, "+" or control characters`,
    );
  }
}

/** Throws `bad_note` if `text` has a lone surrogate or a control character other than "\n", naming its line. */
function assertNoteCharacters(text: string, what: string): void {
  if (!text.isWellFormed()) throw new VigilError("bad_note", `${what} is not valid UTF-8`);
  const at = firstControlChar(text);
  if (at >= 0) {
    const code = text.charCodeAt(at).toString(16).toUpperCase().padStart(4, "0");
    const line = text.slice(0, at).split("\n").length;
    const hint = code === "000D" ? " (line endings must be LF, not CRLF)" : "";
    throw new VigilError("bad_note", `${what} line ${line} holds control character U+${code}${hint}`);
  }
}

/** Index of the first character below U+0020 other than "\n", or -1. */
function firstControlChar(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) return i;
  }
  return -1;
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (e) {
    throw new VigilError("bad_note", "note is not valid UTF-8", { cause: e });
  }
}
