/**
 * C2SP transparency-log checkpoints (https://c2sp.org/tlog-checkpoint): a signed note whose text is exactly
 *
 *   <origin>\n<tree size in decimal>\n<base64 of the 32-byte RFC 6962 root hash>\n[<extension line>\n]*
 *
 * The origin identifies the log (for Vigil one chain, e.g. `vigil.example/<chain id>`); every line is non-empty.
 * Parsing accepts every origin the spec allows; formatting issues only origins that are also valid key names (no
 * spaces, no "+"), so the log's key can carry the origin as its name, as the spec recommends. Tree sizes are
 * limited to Number.MAX_SAFE_INTEGER (Go allows up to 2^63 - 1), which no Vigil chain approaches.
 */
import { VigilError } from "../errors.ts";
import {
  assertNoteText,
  decodeBase64Strict,
  isValidKeyName,
  type NoteKeyId,
  type NoteSigner,
  type NoteVerifier,
  openNote,
  signNote,
} from "./note.ts";

/** SHA-256, the RFC 6962 tree hash. */
export const ROOT_HASH_BYTES = 32;
/** Longest checkpoint text accepted, as golang.org/x/mod/sumdb/tlog ParseTree limits tree notes. */
export const MAX_CHECKPOINT_BYTES = 1_000_000;

const TREE_SIZE = /^(?:0|[1-9][0-9]*)$/;

export interface Checkpoint {
  origin: string;
  /** Number of leaves in the tree. */
  size: number;
  /** The 32-byte root hash of the tree of `size` leaves. */
  rootHash: Buffer;
  /** Opaque extension lines after the root hash, in order, each non-empty and without "\n". */
  extensions: string[];
}

export interface CheckpointInput {
  origin: string;
  size: number;
  rootHash: Uint8Array;
  extensions?: readonly string[];
}

export interface OpenedCheckpoint {
  checkpoint: Checkpoint;
  /** Known keys whose signatures verified. */
  verifiedBy: NoteKeyId[];
  /** Signatures by keys the caller does not know (e.g. witnesses, a rotated-out key), ignored. */
  unknown: NoteKeyId[];
}

/** The checkpoint's note text (no signatures). Throws `bad_note` for a value the format cannot carry. */
export function formatCheckpoint(cp: CheckpointInput): string {
  if (!isValidKeyName(cp.origin)) {
    throw new VigilError(
      "bad_note",
      `checkpoint origin ${quote(cp.origin)} must be non-empty without spaces, "+" or control characters`,
    );
  }
  if (!Number.isSafeInteger(cp.size) || cp.size < 0) {
    throw new VigilError("bad_note", `checkpoint tree size ${cp.size} is not a non-negative safe integer`);
  }
  if (cp.rootHash.length !== ROOT_HASH_BYTES) {
    throw new VigilError(
      "bad_note",
      `checkpoint root hash is ${cp.rootHash.length} bytes; it must be ${ROOT_HASH_BYTES}`,
    );
  }
  const extensions = cp.extensions ?? [];
  extensions.forEach((line, i) => {
    if (line === "" || line.includes("\n")) {
      throw new VigilError("bad_note", `checkpoint extension line ${i + 1} is empty or holds a newline`);
    }
  });
  const lines = [cp.origin, String(cp.size), Buffer.from(cp.rootHash).toString("base64"), ...extensions];
  const text = `${lines.join("\n")}\n`;
  assertNoteText(text, "checkpoint");
  return text;
}

/** Parses a checkpoint's note text (no signatures; see openCheckpoint for a signed one). Throws `bad_note`. */
export function parseCheckpoint(text: string): Checkpoint {
  if (Buffer.byteLength(text, "utf8") > MAX_CHECKPOINT_BYTES) {
    throw new VigilError("bad_note", `checkpoint is longer than ${MAX_CHECKPOINT_BYTES} bytes`);
  }
  assertNoteText(text, "checkpoint");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) {
    throw new VigilError(
      "bad_note",
      `checkpoint has ${lines.length} line(s); it needs origin, tree size and root hash`,
    );
  }
  const empty = lines.indexOf("");
  if (empty >= 0) throw new VigilError("bad_note", `checkpoint line ${empty + 1} is empty`);
  const [origin = "", sizeText = "", rootText = ""] = lines;

  if (!TREE_SIZE.test(sizeText)) {
    throw new VigilError(
      "bad_note",
      `checkpoint tree size ${quote(sizeText)} is not a decimal number without sign or leading zeros`,
    );
  }
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) {
    throw new VigilError("bad_note", `checkpoint tree size ${sizeText} exceeds ${Number.MAX_SAFE_INTEGER}`);
  }

  const rootHash = decodeBase64Strict(rootText);
  if (rootHash === undefined) {
    throw new VigilError("bad_note", `checkpoint root hash ${quote(rootText)} is not canonical base64`);
  }
  if (rootHash.length !== ROOT_HASH_BYTES) {
    throw new VigilError(
      "bad_note",
      `checkpoint root hash is ${rootHash.length} bytes; it must be ${ROOT_HASH_BYTES}`,
    );
  }
  return { origin, size, rootHash, extensions: lines.slice(3) };
}

/** The signed checkpoint note. */
export function signCheckpoint(cp: CheckpointInput, signers: readonly NoteSigner[]): string {
  return signNote(formatCheckpoint(cp), signers);
}

/**
 * Opens a signed checkpoint (see openNote for the signature rules and error codes) and parses its text. With
 * `expect.origin`, a checkpoint of any other log is rejected with `unverified`, even when a known key signed it:
 * a key may sign for several logs.
 */
export function openCheckpoint(
  note: string | Uint8Array,
  verifiers: readonly NoteVerifier[],
  expect: { origin?: string } = {},
): OpenedCheckpoint {
  const { text, verifiedBy, unknown } = openNote(note, verifiers);
  const checkpoint = parseCheckpoint(text);
  if (expect.origin !== undefined && checkpoint.origin !== expect.origin) {
    throw new VigilError(
      "unverified",
      `checkpoint is for origin ${quote(checkpoint.origin)}, not ${quote(expect.origin)}`,
    );
  }
  return { checkpoint, verifiedBy, unknown };
}

/** A value quoted for a message, cut to 80 characters so one huge line cannot flood a log. */
function quote(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}
