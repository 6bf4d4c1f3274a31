/**
 * Proof files (issue 3 point 4): self-contained JSON that an auditor archives and checks offline with only the
 * log's public checkpoint key.
 *
 *   {"format":"vigil-inclusion-proof/1","record":"<sealed record line>","leaf_hash":"<base64>","leaf_index":n,
 *    "tree_size":N,"hashes":["<base64>",…],"checkpoint":"<signed checkpoint note of size N>"}
 *   {"format":"vigil-consistency-proof/1","old_checkpoint":"<note>","new_checkpoint":"<note>","hashes":[…]}
 *
 * `hashes` is the RFC 9162 inclusion path (the leaf's sibling first) or consistency proof, O(log N) either way.
 * `leaf_hash` can be derived from the record (leaf.ts) and is carried anyway: a generic RFC 6962 verifier can
 * check the path without knowing Vigil's record format, and a failed check can say whether the record or the
 * path was altered instead of only that the root does not match.
 *
 * Building reads the data directory and never opens a MerkleStore: `MerkleStore.open` repairs level files,
 * which would race the running server's appends. The nodes a checkpoint covers never change once written, so
 * reading them straight from the level files is safe beside the server (and inside it, for the HTTP API). Every
 * proof is checked with the data directory's checkpoint verifier keys before it is handed out. Checking is pure:
 * it reads nothing but its arguments.
 */
import type { FileHandle } from "node:fs/promises";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { VigilError } from "../errors.ts";
import { JournalReader } from "../journal/reader.ts";
import { journalDir, listSegments } from "../journal/segment.ts";
import { parseRecord } from "./chain.ts";
import { type OpenedCheckpoint, openCheckpoint } from "./checkpoint.ts";
import { hasDuplicateMemberNames } from "./json-keys.ts";
import { recordLeafHash } from "./leaf.ts";
import {
  checkpointsDir,
  listCheckpointSizes,
  loadCheckpointVerifiers,
  merkleDir,
  readCheckpointNote,
} from "./log-layout.ts";
import {
  consistencyPlan,
  foldTiles,
  HASH_SIZE,
  inclusionPlan,
  isCount,
  type NodeRef,
  verifyConsistency,
  verifyInclusion,
} from "./merkle.ts";
import { levelFileName } from "./merkle-store.ts";
import { decodeBase64Strict, formatKeyId, type NoteVerifier } from "./note.ts";

export const INCLUSION_PROOF_FORMAT = "vigil-inclusion-proof/1";
export const CONSISTENCY_PROOF_FORMAT = "vigil-consistency-proof/1";

export interface InclusionProofJson {
  format: typeof INCLUSION_PROOF_FORMAT;
  /** The sealed record line exactly as in the journal (no newline). */
  record: string;
  /** base64 of the record's RFC 6962 leaf hash. */
  leaf_hash: string;
  /** sequence_number − 1. */
  leaf_index: number;
  tree_size: number;
  /** base64 of each hash of the inclusion path. */
  hashes: string[];
  /** The signed checkpoint note of tree size `tree_size`. */
  checkpoint: string;
}

export interface ConsistencyProofJson {
  format: typeof CONSISTENCY_PROOF_FORMAT;
  old_checkpoint: string;
  new_checkpoint: string;
  /** base64 of each hash of the consistency proof. */
  hashes: string[];
}

export type ProofJson = InclusionProofJson | ConsistencyProofJson;

/** Which record to prove. */
export type RecordSelector = { sequence: number } | { eventId: string };

/** What a check found wrong; `not_a_proof` is a file of neither format, every other kind a proof that fails. */
export type ProofFailure =
  | "not_a_proof"
  | "malformed"
  | "signature"
  | "origin"
  | "size"
  | "index"
  | "leaf"
  | "path"
  | "consistency";

export interface InclusionVerified {
  format: typeof INCLUSION_PROOF_FORMAT;
  /** The event's event_id, if the event has one. */
  eventId: string | undefined;
  sequence: number;
  treeSize: number;
  origin: string;
  /** The keys whose checkpoint signatures verified, as `name+keyhash`. */
  keys: string[];
}

export interface ConsistencyVerified {
  format: typeof CONSISTENCY_PROOF_FORMAT;
  oldSize: number;
  newSize: number;
  origin: string;
  keys: string[];
}

export type ProofCheck =
  | { ok: true; verified: InclusionVerified | ConsistencyVerified }
  | { ok: false; failure: ProofFailure; message: string };

const INCLUSION_MEMBERS = [
  "format",
  "record",
  "leaf_hash",
  "leaf_index",
  "tree_size",
  "hashes",
  "checkpoint",
];
const CONSISTENCY_MEMBERS = ["format", "old_checkpoint", "new_checkpoint", "hashes"];
/** Records read per batch while scanning the journal for an event_id. */
const SCAN_RECORDS = 4096;
const SCAN_BYTES = 8 * 1024 * 1024;

/**
 * Builds the inclusion proof of one record against a stored checkpoint: the one of tree size `size`, or by
 * default the newest. Throws `not_found` when the record is not in the journal, is not yet covered by a
 * checkpoint, or no checkpoint of `size` is stored; `usage` when that checkpoint's tree does not hold the record;
 * `key_missing` when the data directory has no checkpoint verifier key to check the proof with; and
 * `journal_corrupt` when the proof built does not verify (journal, tree and checkpoints disagree).
 */
export async function inclusionProofJson(
  dataDir: string,
  selector: RecordSelector,
  opts: { size?: number; verifiers?: readonly NoteVerifier[] } = {},
): Promise<InclusionProofJson> {
  const line = await findRecord(dataDir, selector);
  const parsed = parseRecord(line);
  if (!parsed.ok) {
    throw new VigilError(
      "journal_corrupt",
      `the journal's record for ${describe(selector)} is not a sealed record: ${parsed.reason}`,
    );
  }
  const sequence = parsed.record.integrity.sequence_number;
  if ("sequence" in selector && sequence !== selector.sequence) {
    throw new VigilError(
      "journal_corrupt",
      `the journal holds sequence ${sequence} where sequence ${selector.sequence} belongs`,
    );
  }
  const what =
    "eventId" in selector ? `event_id ${selector.eventId} (sequence ${sequence})` : `sequence ${sequence}`;
  const size = await chooseCheckpoint(dataDir, sequence, what, opts.size);
  const checkpoint = await storedCheckpoint(dataDir, size);
  const index = sequence - 1;
  const hashes = await readPlan(merkleDir(dataDir), inclusionPlan(index, size), size);
  const proof: InclusionProofJson = {
    format: INCLUSION_PROOF_FORMAT,
    record: line.toString("utf8"),
    leaf_hash: recordLeafHash(parsed.record).toString("base64"),
    leaf_index: index,
    tree_size: size,
    hashes: hashes.map((h) => h.toString("base64")),
    checkpoint,
  };
  await selfCheck(dataDir, proof, opts.verifiers, `${what} in the tree of size ${size}`);
  return proof;
}

/**
 * Builds the consistency proof between the stored checkpoints of tree sizes `oldSize` and `newSize` (what
 * `GET /v1/checkpoints/consistency?from=&to=` serves). Throws `usage` for sizes that are not counts or out of
 * order, `not_found` when either checkpoint is not stored, and `key_missing` / `journal_corrupt` as
 * inclusionProofJson does.
 */
export async function consistencyProofJson(
  dataDir: string,
  oldSize: number,
  newSize: number,
  opts: { verifiers?: readonly NoteVerifier[] } = {},
): Promise<ConsistencyProofJson> {
  for (const size of [oldSize, newSize]) {
    if (!isCount(size)) throw new VigilError("usage", `tree size ${size} is not a non-negative integer`);
  }
  if (oldSize > newSize) {
    throw new VigilError("usage", `the old tree size ${oldSize} exceeds the new tree size ${newSize}`);
  }
  const oldCheckpoint = await storedCheckpoint(dataDir, oldSize);
  const newCheckpoint = await storedCheckpoint(dataDir, newSize);
  const hashes = await readPlan(merkleDir(dataDir), consistencyPlan(oldSize, newSize), newSize);
  const proof: ConsistencyProofJson = {
    format: CONSISTENCY_PROOF_FORMAT,
    old_checkpoint: oldCheckpoint,
    new_checkpoint: newCheckpoint,
    hashes: hashes.map((h) => h.toString("base64")),
  };
  await selfCheck(dataDir, proof, opts.verifiers, `tree sizes ${oldSize} to ${newSize}`);
  return proof;
}

/**
 * Checks a proof file's text (either format) against the verifier keys: every checkpoint signature, then the
 * proof itself. Never throws for bad input; the result names the first thing that fails.
 */
export function checkProof(text: string, verifiers: readonly NoteVerifier[]): ProofCheck {
  try {
    const value = decode(text);
    const verified =
      value.format === INCLUSION_PROOF_FORMAT
        ? checkInclusion(value, verifiers)
        : checkConsistency(value, verifiers);
    return { ok: true, verified };
  } catch (e) {
    if (e instanceof ProofFailed) return { ok: false, failure: e.failure, message: e.message };
    throw e;
  }
}

/** How a check ends early; caught in checkProof and turned into its result. */
class ProofFailed extends Error {
  readonly failure: ProofFailure;

  constructor(failure: ProofFailure, message: string) {
    super(message);
    this.failure = failure;
  }
}

function fail(failure: ProofFailure, message: string): never {
  throw new ProofFailed(failure, message);
}

function decode(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return fail("not_a_proof", `not JSON (${(e as Error).message})`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return fail("not_a_proof", "not a JSON object");
  }
  const obj = value as Record<string, unknown>;
  const members =
    obj.format === INCLUSION_PROOF_FORMAT
      ? INCLUSION_MEMBERS
      : obj.format === CONSISTENCY_PROOF_FORMAT
        ? CONSISTENCY_MEMBERS
        : fail(
            "not_a_proof",
            `its "format" is ${JSON.stringify(obj.format) ?? "absent"}, neither ${INCLUSION_PROOF_FORMAT} nor ${CONSISTENCY_PROOF_FORMAT}`,
          );
  // JSON.parse keeps the last of duplicate names; a tool keeping the first would check another proof.
  if (hasDuplicateMemberNames(text)) fail("malformed", "the proof has duplicate member names");
  for (const name of Object.keys(obj)) {
    if (!members.includes(name)) fail("malformed", `unknown member ${JSON.stringify(name)}`);
  }
  for (const name of members) {
    if (!(name in obj)) fail("malformed", `missing member ${JSON.stringify(name)}`);
  }
  return obj;
}

function stringMember(obj: Record<string, unknown>, name: string): string {
  const v = obj[name];
  return typeof v === "string" ? v : fail("malformed", `${name} is not a string`);
}

function countMember(obj: Record<string, unknown>, name: string): number {
  const v = obj[name];
  return typeof v === "number" && isCount(v) ? v : fail("malformed", `${name} is not a non-negative integer`);
}

function hashFrom(value: unknown, name: string): Buffer {
  const bytes = typeof value === "string" ? decodeBase64Strict(value) : undefined;
  return bytes?.length === HASH_SIZE
    ? bytes
    : fail("malformed", `${name} is not the canonical base64 of a ${HASH_SIZE}-byte hash`);
}

function hashesMember(obj: Record<string, unknown>): Buffer[] {
  const v = obj.hashes;
  if (!Array.isArray(v)) return fail("malformed", "hashes is not an array");
  return v.map((h, i) => hashFrom(h, `hashes[${i}]`));
}

/** Opens a checkpoint note; `which` names it in the failure ("checkpoint", "old checkpoint", …). */
function openSigned(note: string, verifiers: readonly NoteVerifier[], which: string): OpenedCheckpoint {
  try {
    return openCheckpoint(note, verifiers);
  } catch (e) {
    if (!(e instanceof VigilError)) throw e;
    switch (e.code) {
      case "unverified":
        return fail("signature", `${which} signature: unknown key (${e.message})`);
      case "bad_signature":
        return fail(
          "signature",
          `${which} signature: bad signature (${e.message}): the checkpoint was altered`,
        );
      case "bad_key":
        return fail("signature", `${which} signature: ${e.message}`);
      default:
        return fail("malformed", `${which} is not a signed checkpoint: ${e.message}`);
    }
  }
}

const keyIds = (...opened: OpenedCheckpoint[]) => [
  ...new Set(opened.flatMap((o) => o.verifiedBy.map(formatKeyId))),
];

function checkInclusion(obj: Record<string, unknown>, verifiers: readonly NoteVerifier[]): InclusionVerified {
  const record = stringMember(obj, "record");
  const leaf = hashFrom(obj.leaf_hash, "leaf_hash");
  const index = countMember(obj, "leaf_index");
  const size = countMember(obj, "tree_size");
  const hashes = hashesMember(obj);
  const opened = openSigned(stringMember(obj, "checkpoint"), verifiers, "checkpoint");
  const { checkpoint } = opened;

  if (size !== checkpoint.size) {
    fail("size", `tree_size ${size} is not the checkpoint's tree size ${checkpoint.size}`);
  }
  if (index >= size) fail("index", `leaf_index ${index} is outside the tree of size ${size}`);
  const parsed = record.includes("\n") ? undefined : parseRecord(Buffer.from(record, "utf8"));
  if (!parsed?.ok) {
    const reason = parsed ? parsed.reason : "it spans more than one line";
    return fail("leaf", `the record is not a sealed record (${reason}), so it cannot be the proven leaf`);
  }
  if (!recordLeafHash(parsed.record).equals(leaf)) {
    fail("leaf", "the record does not hash to the proven leaf (leaf_hash): the record was altered");
  }
  const sequence = parsed.record.integrity.sequence_number;
  if (index !== sequence - 1) {
    fail("index", `leaf_index ${index} is not the record's: sequence ${sequence} is leaf ${sequence - 1}`);
  }
  const expected = inclusionPlan(index, size).length;
  if (hashes.length !== expected) {
    fail(
      "path",
      `${hashes.length} hashes, but the path of leaf ${index} in a tree of size ${size} has ${expected}`,
    );
  }
  if (!verifyInclusion(leaf, index, size, hashes, checkpoint.rootHash)) {
    fail("path", "the hashes do not lead from the leaf to the checkpoint's root hash (root mismatch)");
  }
  return {
    format: INCLUSION_PROOF_FORMAT,
    eventId: eventIdOf(parsed.record.event),
    sequence,
    treeSize: size,
    origin: checkpoint.origin,
    keys: keyIds(opened),
  };
}

function checkConsistency(
  obj: Record<string, unknown>,
  verifiers: readonly NoteVerifier[],
): ConsistencyVerified {
  const hashes = hashesMember(obj);
  const oldOpened = openSigned(stringMember(obj, "old_checkpoint"), verifiers, "old checkpoint");
  const newOpened = openSigned(stringMember(obj, "new_checkpoint"), verifiers, "new checkpoint");
  const older = oldOpened.checkpoint;
  const newer = newOpened.checkpoint;
  if (older.origin !== newer.origin) {
    fail(
      "origin",
      `the checkpoints are of different logs: ${JSON.stringify(older.origin)} and ${JSON.stringify(newer.origin)}`,
    );
  }
  if (older.size > newer.size) {
    fail(
      "size",
      `the old checkpoint's tree size ${older.size} exceeds the new one's ${newer.size} (swapped checkpoints?)`,
    );
  }
  const expected = consistencyPlan(older.size, newer.size).length;
  if (hashes.length !== expected) {
    fail(
      "consistency",
      `${hashes.length} hashes, but a consistency proof from tree size ${older.size} to ${newer.size} has ${expected}`,
    );
  }
  if (!verifyConsistency(older.size, newer.size, older.rootHash, newer.rootHash, hashes)) {
    fail(
      "consistency",
      `the proof does not show that the tree of size ${older.size} is a prefix of the tree of size ${newer.size}: ` +
        "the log was rewritten, or the proof altered",
    );
  }
  return {
    format: CONSISTENCY_PROOF_FORMAT,
    oldSize: older.size,
    newSize: newer.size,
    origin: older.origin,
    keys: keyIds(oldOpened, newOpened),
  };
}

function eventIdOf(event: Uint8Array): string | undefined {
  try {
    const id = (JSON.parse(Buffer.from(event).toString("utf8")) as { event_id?: unknown }).event_id;
    return typeof id === "string" ? id : undefined;
  } catch {
    return undefined;
  }
}

function describe(selector: RecordSelector): string {
  return "eventId" in selector ? `event_id ${selector.eventId}` : `sequence ${selector.sequence}`;
}

async function findRecord(dataDir: string, selector: RecordSelector): Promise<Buffer> {
  const dir = journalDir(dataDir);
  if ("sequence" in selector) {
    if (!isCount(selector.sequence) || selector.sequence < 1) {
      throw new VigilError("usage", `sequence ${selector.sequence} is not a positive integer`);
    }
    const line = await recordBySequence(dir, selector.sequence);
    if (line) return line;
  } else {
    const line = await recordByEventId(dir, selector.eventId);
    if (line) return line;
  }
  throw new VigilError("not_found", `no record with ${describe(selector)} in the journal ${dir}`);
}

async function recordBySequence(dir: string, sequence: number): Promise<Buffer | undefined> {
  const reader = new JournalReader(dir, sequence);
  try {
    const batch = await reader.readAvailable(1, Number.MAX_SAFE_INTEGER);
    const line = batch.lines[0];
    return line && Buffer.from(line);
  } catch (e) {
    // Positioning fails this way when no segment holds the sequence or the journal ends before it.
    if (e instanceof VigilError && e.code === "journal_corrupt") return undefined;
    throw e;
  } finally {
    await reader.close();
  }
}

/** The first record whose event has this event_id; a full scan, since the journal has no index of ids. */
async function recordByEventId(dir: string, eventId: string): Promise<Buffer | undefined> {
  const first = (await listSegments(dir))[0];
  if (!first) return undefined;
  // The sealer writes events in canonical form, so the member appears exactly like this; lines without it are
  // skipped without parsing, and a hit (perhaps a nested member of the same name) is confirmed by parsing.
  const needle = Buffer.from(`"event_id":${JSON.stringify(eventId)}`);
  const reader = new JournalReader(dir, first.firstSequence);
  try {
    for (;;) {
      const batch = await reader.readAvailable(SCAN_RECORDS, SCAN_BYTES);
      if (batch.lines.length === 0) return undefined;
      for (const line of batch.lines) {
        if (!line.includes(needle)) continue;
        const parsed = parseRecord(line);
        if (parsed.ok && eventIdOf(parsed.record.event) === eventId) return Buffer.from(line);
      }
    }
  } finally {
    await reader.close();
  }
}

/** The tree size to prove against: `requested`, or the newest checkpoint; it must cover `sequence`. */
async function chooseCheckpoint(
  dataDir: string,
  sequence: number,
  what: string,
  requested: number | undefined,
): Promise<number> {
  if (requested !== undefined) {
    if (!isCount(requested))
      throw new VigilError("usage", `tree size ${requested} is not a non-negative integer`);
    if (requested < sequence) {
      throw new VigilError(
        "usage",
        `${what} is not in the tree of size ${requested}; choose a checkpoint of size ${sequence} or more`,
      );
    }
    return requested;
  }
  const newest = (await listCheckpointSizes(checkpointsDir(dataDir))).at(-1);
  if (newest === undefined || newest < sequence) {
    const covered =
      newest === undefined ? "no checkpoint is stored yet" : `the newest covers sequences 1–${newest}`;
    throw new VigilError(
      "not_found",
      `${what} is not yet covered by a checkpoint (${covered}); the next one is signed within seconds`,
    );
  }
  return newest;
}

/**
 * The stored note of tree size `size`. Its error reaches unauthenticated HTTP clients (GET
 * /v1/checkpoints/consistency), so it names the size only: no server path, and no listing of the directory,
 * which would let any client make the server read it on every request.
 */
async function storedCheckpoint(dataDir: string, size: number): Promise<string> {
  const note = await readCheckpointNote(checkpointsDir(dataDir), size);
  if (note === undefined) throw new VigilError("not_found", `no stored checkpoint of tree size ${size}`);
  return note;
}

/** Checks a proof before it leaves: a store, journal or checkpoint that disagree must not yield a bad proof. */
async function selfCheck(
  dataDir: string,
  proof: ProofJson,
  given: readonly NoteVerifier[] | undefined,
  what: string,
): Promise<void> {
  const verifiers = given ?? (await loadCheckpointVerifiers(dataDir));
  // No server path in these messages: they may reach an HTTP client (see storedCheckpoint).
  if (verifiers.length === 0) {
    throw new VigilError(
      "key_missing",
      "no checkpoint verifier key in the data directory's keys/checkpoint/ to check the proof with before " +
        "handing it out",
    );
  }
  const result = checkProof(JSON.stringify(proof), verifiers);
  if (!result.ok) {
    throw new VigilError(
      "journal_corrupt",
      `the proof built for ${what} does not verify (${result.message}): the journal, the Merkle tree and the ` +
        "checkpoints disagree; run vigil verify",
    );
  }
}

/**
 * Resolves a proof plan from the level files, read-only (see the header); `size` names the tree in errors,
 * which name no path (see storedCheckpoint).
 */
async function readPlan(dir: string, plan: NodeRef[][], size: number): Promise<Buffer[]> {
  const refs = plan.flat();
  const files = new Map<number, FileHandle>();
  const missing = (ref: NodeRef) =>
    new VigilError(
      "journal_corrupt",
      `the Merkle tree lacks node (${ref.level}, ${ref.index}) of the tree of size ${size} that a checkpoint covers`,
    );
  try {
    for (const ref of refs) {
      if (files.has(ref.level)) continue;
      try {
        files.set(ref.level, await open(join(dir, levelFileName(ref.level)), "r"));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") throw missing(ref);
        throw e;
      }
    }
    const buf = Buffer.alloc(refs.length * HASH_SIZE);
    await Promise.all(
      refs.map(async (ref, i) => {
        const fh = files.get(ref.level) as FileHandle;
        const { bytesRead } = await fh.read(buf, i * HASH_SIZE, HASH_SIZE, ref.index * HASH_SIZE);
        if (bytesRead !== HASH_SIZE) throw missing(ref);
      }),
    );
    let next = 0;
    return plan.map((tiles) => {
      const start = next;
      next += tiles.length;
      return foldTiles(
        tiles.map((_, j) => buf.subarray((start + j) * HASH_SIZE, (start + j + 1) * HASH_SIZE)),
      );
    });
  } finally {
    await Promise.all([...files.values()].map((fh) => fh.close()));
  }
}
