/**
 * The verifier behind `vigil verify`: streams sealed records and says precisely what, if anything, was done to
 * them after sealing.
 *
 * ## Classification algorithm
 *
 * Records are read in file order ("arrival order") and *processed* in sequence order. State:
 *   - `expected`: the next sequence number to process; everything below it is settled.
 *   - the previous processed record's signature, and whether it can be trusted as a link target (false after a
 *     gap, a malformed line, a record that failed its signature or named an unknown key, or a record already
 *     reported as inserted, so that one problem never causes a second finding at the next record's link);
 *   - a look-ahead stash (at most LOOKAHEAD records) for records that arrive above `expected`;
 *   - a ring of the last RECENT processed sequence→signature pairs, to recognise repeats;
 *   - the sequence number and signature of the last record that arrived, which say what the next line is due
 *     to carry.
 *
 * For each line:
 *   1. Unparseable (not JSON, no integrity block, mistyped fields, overlong, or a duplicate member name in any
 *      object: not I-JSON, see below) → `malformed`, reported at the sequence due at that position; a last line
 *      without `\n` that fails to parse → `truncated` (torn write). Such lines stand in for the records due
 *      there: if the next record skips exactly as many sequence numbers as malformed lines preceded it, no
 *      `missing` is reported for them (a record overwritten with garbage is one finding, not two).
 *   2. Renumbered records: the record after a line is due to carry that line's sequence number + 1 (plus one
 *      per malformed line between them). A record that carries another number and fails its signature as it
 *      stands is checked once more with the due number (and, when no malformed line intervenes, that line's
 *      signature as previous_signature). If it verifies then, its sequence_number was altered after sealing:
 *      `modified` at the due sequence, and from here on it is the due record, so a renumbered record is one
 *      finding, not a `missing` for its own number plus an `inserted`, a stash entry or a failure under the
 *      number it claims. An HMAC that verifies with the due values is proof; a record that does not is left as
 *      it stands, for the steps below.
 *   3. sequence < expected (already settled) → compared with the ring: same signature → `duplicated`; different
 *      signature → `inserted`; inside a range reported missing → `reordered` (moved further than the look-ahead);
 *      older than the ring → `inserted` (it cannot be compared). These records never touch the chain state.
 *   4. sequence > expected → stashed (a repeat of a stashed sequence is handled as in 3). When the stash is full,
 *      or at the end of input, the lowest stashed sequence is taken as settled: the numbers below it that never
 *      arrived are reported `missing` from..to, and processing resumes there. Until then a gap is
 *      indistinguishable from a record that arrives later.
 *   5. sequence == expected → processed, then stashed successors are drained in order.
 *
 * Processing a record (always in sequence order) checks its signature under the key it names:
 *   - unknown key id → no verdict on the record; consecutive records under the same unknown key are one
 *     `unknown_key` finding (a key rotation the verifier lacks the key for is not tampering). Except an
 *     isolated one: a single record under an unknown key whose previous and next records verify under a known
 *     key and link through it (its previous_signature is the previous record's signature, the next record's
 *     previous_signature is its signature) → `modified`. A sealer keeps its key for a whole run, so that is a
 *     key_id altered, perhaps together with the content, to pass a forgery off as a key-management issue. A run
 *     at the start or the end of the log, or of two or more records, stays `unknown_key`;
 *   - signature invalid, and previous_signature is not the previous record's signature → checked once more with
 *     that signature; if it verifies then, its previous_signature was altered after sealing: `modified`, and it
 *     is taken as valid (below), so it links its neighbours and starts no failing run;
 *   - signature invalid otherwise → the record joins a run of failing records that chain to each other (each one's
 *     previous_signature equals the prior one's stored signature). When the run ends, a run of one is `modified`
 *     (content or integrity fields altered after sealing), a run of two or more is `bad_signature` reported once
 *     at its first sequence with its length (re-signed with another secret under the same key id). A broken
 *     link inside a failing stretch splits it into separate runs;
 *   - signature valid but previous_signature does not match the trusted previous record → `inserted` (a record
 *     spliced in from elsewhere, or forged with the key);
 *   - a duplicate member name in an event whose verbatim bytes do not verify (found only there, so an intact
 *     log pays nothing for it) → `malformed` at the record's sequence.
 *
 * Duplicate member names: checking a record that is not hashed as written means parsing it, and JSON.parse
 * keeps the last of duplicate names; a forged member placed before the sealed one would disappear in the
 * canonical form and verify, while a reader that keeps the first occurrence shows the forgery. RFC 8785 takes
 * I-JSON only, which forbids duplicates, so such a record is `malformed`: it is not a well-formed sealed
 * record, whatever its HMAC says, and no single reading of it can be called the sealed one. (`modified` would
 * claim a sealed content to compare with, and would let two such neighbours, which still chain, pass as a
 * re-signed `bad_signature` run.) Lines in the sealer's own layout whose event bytes verify as written cannot
 * hold one: the sealer writes canonical JSON.
 *
 * Reorders: a record is *late* if a higher sequence arrived before it, *early* if a lower sequence arrives after
 * it (seen when it is processed: a record processed before it arrived later). A displacement episode lasts while
 * the stash is non-empty; at its end the smaller of the two sets is reported as `reordered`, ties going to the
 * late records. So moving one record up or down by any distance within the look-ahead reports exactly that
 * record, and a swap of two neighbours (…36, 38, 37, 39…) reports the lower one, 37: it appears after a later
 * record. Records a gap made wait in the stash are neither late nor early.
 *
 * All state is bounded (stash, ring, the recorded missing ranges, stored findings), so memory does not grow
 * with the log; findings beyond `maxFindings` are counted but not stored. The checkpoints are the exception:
 * one small entry per checkpoint note, a thousandth of the records at the server's default rate.
 *
 * ## Which keys are trusted
 *
 * Whoever can alter a data directory can also replace its keys: delete merkle/, checkpoints/ and
 * keys/checkpoint/, let the server make a new checkpoint key and sign the altered tree, and the directory
 * vouches for itself. So when the caller gives the log's public key (`publicKeys`, `--public-key`) or a
 * checkpoint (`checkpoints`, `--checkpoint`), they are auditing a directory they do not trust, and only the
 * keys they gave are used: neither the data directories' `keys/checkpoint/*.vkey` nor their HMAC `keys/*.key`
 * (HMAC keys then come only from `keyring`, i.e. --key-env / --key-file). Without either, the data
 * directories' keys are added to `keyring` and used as the checkpoint verifier keys: the operator checking
 * their own node, which catches accidents and tampering by anyone without access to keys/.
 *
 * ## Checkpoints: verification with the log's public key (verify-tree.ts)
 *
 * In play when a checkpoint verifier key is at hand (`publicKeys`, or, when neither `publicKeys` nor
 * `checkpoints` is given, `keys/checkpoint/*.vkey` of a data directory in play), a checkpoint is given
 * (`checkpoints`) or `requireSealed` is set. Notes come from
 * `<data-dir>/checkpoints/` for a data or journal directory, `<path>.checkpoints/` beside a file destination,
 * and `checkpoints` (an auditor's copies, possibly newer than anything beside the log); they are read before
 * any record, so one signed while the log is read cannot make it look cut off. Each distinct note is opened:
 *   - a signature by a known key that does not verify, a malformed note, or a validly signed note for another
 *     origin than the log's (the data directory's `origin` file, else the one most valid checkpoints carry)
 *     → `bad_checkpoint` (forged, altered, or another log's); not used;
 *   - signed only by keys not given → `unverifiable_checkpoint`; not used (a rotated key the verifier lacks,
 *     or a checkpoint made to look like the log's under its key name);
 *   - two validly signed checkpoints of one size with different roots → `inconsistent_checkpoints` (a split
 *     view), one finding naming every source; each is still compared with the records.
 * The tree is recomputed from the records in the order they are processed (sequence order), each leaf hashed
 * from the record as it stands in the input — not as the checks above restored it, since the checkpoint is
 * the evidence about what the input holds. When the tree reaches a checkpoint's size its root is compared:
 *   - no root of that size matches → `tampered` from A+1 to N, A being the largest smaller checkpoint that
 *     matched: a record in that range differs from what checkpoint N signed. Later checkpoints cover the same
 *     records and cannot match either, so until one matches again they are named in that finding's detail
 *     rather than reported again: one finding per mismatching stretch, with a pointer to a record the HMAC
 *     checks already named in the range. A sequence that never came or did not parse ends the recomputation:
 *     every checkpoint from there on within the log is `tampered` the same way;
 *   - a valid checkpoint N beyond the log's last record M → `truncated` from M+1 to N: the log was cut off,
 *     the case the HMAC chain cannot see (a log cut after record M verifies as an intact log of M records);
 *     with its own checkpoints deleted too, only a checkpoint kept elsewhere shows it;
 *   - records after the newest valid checkpoint → `unsealed_tail`, a notice in `notices` (a live log always
 *     has one) when record signatures are checked, a finding with `requireSealed` or without any HMAC key
 *     (then nothing at all checked their content).
 * With `partial`, a log that does not start at sequence 1 has no tree to recompute: its checkpoints are
 * `unchecked`, though one beyond the log is still `truncated`; without an HMAC key every record is then
 * uncovered, one `unsealed_tail` finding from the first record to the last. Leaves are hashed only up to the largest valid
 * checkpoint and only while the prefix is unbroken; without checkpoints nothing is hashed.
 *
 * Without any HMAC key (a public key or a checkpoint given instead) record signatures are not checked, and the
 * chain's structure still is: sequence numbers (missing, duplicated, inserted, reordered), malformed lines
 * (including records stripped of their integrity block), and previous_signature links — a broken link is
 * `modified` at the record that does not link, since without the key it cannot be told whether this field or
 * the previous record's signature was altered. The content is covered by the matched checkpoints only, so a
 * record none covers is a finding (`unsealed_tail`, above): a log passes only if every record was checked.
 */
import type { KeyObject } from "node:crypto";
import type { Readable } from "node:stream";
import { VigilError } from "../errors.ts";
import {
  checkRecordSignature,
  DUPLICATE_NAMES_REASON,
  GENESIS_SIGNATURE,
  type ParsedRecord,
  parseRecord,
  type SignatureCheck,
} from "./chain.ts";
import { Keyring, loadKeyring } from "./keys.ts";
import { loadCheckpointVerifiers, readOrigin } from "./log-layout.ts";
import type { NoteVerifier } from "./note.ts";
import { forEachLine, type InputFile, type LineSink, openInput, resolveInputs } from "./verify-sources.ts";
import {
  type CheckpointReport,
  type CheckpointSource,
  type OpenedCheckpoints,
  openCheckpoints,
  readCheckpointDirs,
  TreeCheck,
} from "./verify-tree.ts";

export type FindingKind =
  | "malformed"
  | "modified"
  | "bad_signature"
  | "unknown_key"
  | "missing"
  | "reordered"
  | "duplicated"
  | "inserted"
  | "truncated"
  | "tampered"
  | "bad_checkpoint"
  | "unverifiable_checkpoint"
  | "inconsistent_checkpoints"
  | "unsealed_tail";

export interface Finding {
  kind: FindingKind;
  /** The sequence number concerned (for `malformed`, the one due at that position); null if none is known yet. */
  sequence: number | null;
  /** Last sequence of a range (`missing`, `tampered`, `truncated` against a checkpoint, `unsealed_tail`). */
  toSequence?: number;
  /** Records covered: the size of a range, a `bad_signature` run or an `unknown_key` run. */
  count?: number;
  /** The input file, or the checkpoint note's file for a finding about a checkpoint. */
  file: string;
  /** 1-based line in `file`. */
  line: number;
  detail: string;
}

export interface VerifyReport {
  intact: boolean;
  /** Lines that parsed as sealed records. */
  records: number;
  firstSequence: number | null;
  lastSequence: number | null;
  /** Key ids named by the records, sorted. */
  keyIds: string[];
  /** The first `maxFindings` findings, by sequence. */
  findings: Finding[];
  /** All findings, including those not stored. */
  findingCount: number;
  files: string[];
  /** Bytes read as stored (compressed bytes for gzip). */
  bytes: number;
  elapsedMs: number;
  /** False when no HMAC key was at hand: only the structure of the chain was checked, not record signatures. */
  recordSignaturesChecked: boolean;
  /** Every distinct checkpoint note considered, by size; empty when no public key or checkpoint was given. */
  checkpoints: CheckpointReport[];
  /** The largest checkpoint size the records matched; 0 if none. */
  sealedThrough: number;
  /**
   * Not problems: the `unsealed_tail` (records after the newest checkpoint) when record signatures are checked
   * and `requireSealed` is not set.
   */
  notices: Finding[];
}

export interface VerifyProgress {
  records: number;
  bytes: number;
  /** Sum of the input files' sizes, when all are known (not for stdin). */
  totalBytes: number | undefined;
}

export interface VerifyOptions {
  /** Inputs, read in this order as one chain; see `resolveInputs`. `-` is standard input. */
  paths: readonly string[];
  /**
   * Keys by id. Keys found in a data directory given as a path are added to these, unless `publicKeys` or
   * `checkpoints` are given.
   */
  keyring?: Keyring | ReadonlyMap<string, KeyObject>;
  /**
   * The log's checkpoint verifier keys (`--public-key`). Given keys or given checkpoints let a log be verified
   * without any HMAC key. When these or `checkpoints` are given, they are the only keys trusted: the data
   * directories' checkpoint verifier keys and HMAC keys are not added (see the header).
   */
  publicKeys?: readonly NoteVerifier[];
  /** Checkpoint notes from outside the log (`--checkpoint`, e.g. kept by an auditor), checked with the others. */
  checkpoints?: readonly CheckpointSource[];
  /**
   * A data directory holding this log's keys that is not itself an input (`--data-dir`): its checkpoint verifier
   * keys (unless `publicKeys` or `checkpoints` are given) and recorded origin are used. Its HMAC keys are the
   * caller's to put in `keyring`.
   */
  dataDir?: string;
  /** Records after the newest checkpoint are a finding, not a notice (they always are without an HMAC key). */
  requireSealed?: boolean;
  /** The log may start after sequence 1 (older files deleted by retention): the first record's link is not checked. */
  partial?: boolean;
  /** Standard input, for `-` (default process.stdin). */
  stdin?: Readable;
  /** Findings stored in the report (default 1000); all are counted. */
  maxFindings?: number;
  /** Called after each chunk read. */
  onProgress?: (progress: VerifyProgress) => void;
}

/** Records a gap may hold back before it is declared missing; also the furthest a reorder is recognised. */
const LOOKAHEAD = 10_000;
/** Processed sequence→signature pairs remembered for telling duplicates from forgeries. */
const RECENT = 1 << 16;
/** Missing ranges remembered for recognising a record that arrives after it was declared missing. */
const MAX_MISSING_RANGES = 10_000;
const DEFAULT_MAX_FINDINGS = 1000;

/** A record waiting in the stash; the event bytes are copied so no read buffer is kept alive. */
interface Held {
  record: ParsedRecord;
  /** The record as it stands in the input, when `record` has its integrity fields restored as sealed. */
  written: ParsedRecord;
  file: number;
  line: number;
  arrival: number;
}

/** Consecutive records sharing a verdict (failing signature, or one unknown key). */
interface Run {
  first: number;
  last: number;
  lastSignature: string;
  keyId: string;
  file: number;
  line: number;
  /** The record before the run verified under a known key, and the run's first record links to it. */
  anchored: boolean;
}

/** Reorder candidates of the current displacement episode; only the smaller side is reported. */
interface Side {
  findings: Finding[];
  count: number;
}

/** `unchecked`: no HMAC key at all, so only the chain's structure is checked (public-key verification). */
type Verdict = SignatureCheck | "unknown" | "unchecked";

interface ChainVerifierOptions {
  keyring: Keyring;
  partial: boolean;
  maxFindings: number;
  /** Present when public-key verification is in play (a verifier key or a checkpoint was given). */
  checkpoints?: { opened: OpenedCheckpoints; requireSealed: boolean };
}

class ChainVerifier implements LineSink {
  readonly #keyring: Keyring;
  readonly #signaturesChecked: boolean;
  readonly #partial: boolean;
  readonly #maxFindings: number;
  readonly #files: string[] = [];
  readonly #tree: TreeCheck | undefined;
  readonly #checkpointReports: CheckpointReport[];
  #notices: Finding[] = [];
  #sealedThrough = 0;
  #file = -1;
  #lastLine = 0;

  readonly #findings: Finding[] = [];
  #findingCount = 0;
  #records = 0;
  readonly #keyIds = new Set<string>();
  #lastKeyId = "";
  #firstSequence: number | null = null;
  #lastSequence: number | null = null;

  #started = false;
  /**
   * The last record that arrived, in file order (with its integrity fields as sealed, if they were restored):
   * the record after it is due to carry the next sequence number and this signature as previous_signature.
   */
  #arrivedSequence = 0;
  #arrivedSignature = GENESIS_SIGNATURE;
  #expected = 1;
  #previousSignature = GENESIS_SIGNATURE;
  #previousTrusted = true;
  #pendingMalformed = 0;

  readonly #stash = new Map<number, Held>();
  #arrivals = 0;
  #maxSequenceArrived = 0;
  #maxArrivalProcessed = 0;
  #maxArrivalSequence = 0;
  #late: Side = { findings: [], count: 0 };
  #early: Side = { findings: [], count: 0 };

  #badRun: Run | null = null;
  #unknownRun: Run | null = null;

  readonly #ringSequence = new Float64Array(RECENT);
  readonly #ringSignature: string[] = new Array<string>(RECENT);
  /** Flat [from, to, from, to, …], ascending. */
  readonly #missingRanges: number[] = [];

  constructor(options: ChainVerifierOptions) {
    this.#keyring = options.keyring;
    this.#signaturesChecked = options.keyring.size > 0;
    this.#partial = options.partial;
    this.#maxFindings = options.maxFindings;
    const checkpoints = options.checkpoints;
    this.#checkpointReports = checkpoints?.opened.reports ?? [];
    this.#tree =
      checkpoints &&
      new TreeCheck(checkpoints.opened.valid, {
        partial: options.partial,
        requireSealed: checkpoints.requireSealed,
        signaturesChecked: this.#signaturesChecked,
        files: this.#files,
      });
    for (const finding of checkpoints?.opened.problems ?? []) this.#add(finding);
  }

  beginFile(path: string): void {
    this.#files.push(path);
    this.#file = this.#files.length - 1;
    this.#lastLine = 0;
  }

  line(line: Buffer, lineNumber: number, terminated: boolean): void {
    this.#lastLine = lineNumber;
    const parsed = parseRecord(line);
    if (parsed.ok) this.#arrive(parsed.record, lineNumber);
    else this.#malformed(parsed.reason, lineNumber, terminated);
  }

  overlong(lineNumber: number, bytes: number, terminated: boolean): void {
    this.#lastLine = lineNumber;
    this.#malformed(`a line of ${bytes} bytes, longer than any record`, lineNumber, terminated);
  }

  /**
   * The rest of the current file cannot be read (corrupt gzip data). Records lost there are reported as
   * `missing` if later ones follow, so this line does not stand in for any of them.
   */
  unreadable(reason: string): void {
    const sequence = this.#started || !this.#partial ? this.#expected : null;
    this.#add(
      this.#finding(
        "malformed",
        sequence,
        this.#file,
        this.#lastLine + 1,
        `the rest of the file cannot be read: ${reason}`,
      ),
    );
  }

  /** Settles everything still waiting once the input has ended. */
  finish(): void {
    this.#relieve(0);
    this.#closeBadRun();
    this.#closeUnknownRun();
    this.#concludeEpisode();
    if (this.#tree) {
      const end = { file: this.#file, line: this.#lastLine + 1 };
      const result = this.#tree.finish(this.#lastSequence ?? 0, end, this.#findings);
      for (const finding of result.findings) this.#add(finding);
      this.#notices = result.notices;
      this.#sealedThrough = result.sealedThrough;
    }
  }

  get records(): number {
    return this.#records;
  }

  report(bytes: number, elapsedMs: number): VerifyReport {
    const findings = [...this.#findings].sort((a, b) => (a.sequence ?? 0) - (b.sequence ?? 0));
    return {
      intact: this.#findingCount === 0,
      records: this.#records,
      firstSequence: this.#firstSequence,
      lastSequence: this.#lastSequence,
      keyIds: [...this.#keyIds].sort(),
      findings,
      findingCount: this.#findingCount,
      files: [...this.#files],
      bytes,
      elapsedMs,
      recordSignaturesChecked: this.#signaturesChecked,
      checkpoints: [...this.#checkpointReports].sort(
        (a, b) => (a.size ?? -1) - (b.size ?? -1) || a.source.localeCompare(b.source),
      ),
      sealedThrough: this.#sealedThrough,
      notices: this.#notices,
    };
  }

  #add(finding: Finding): void {
    this.#findingCount++;
    if (this.#findings.length < this.#maxFindings) this.#findings.push(finding);
  }

  #finding(kind: FindingKind, sequence: number | null, file: number, line: number, detail: string): Finding {
    return { kind, sequence, file: this.#files[file] ?? "", line, detail };
  }

  #malformed(reason: string, lineNumber: number, terminated: boolean): void {
    const sequence = this.#started || !this.#partial ? this.#expected + this.#pendingMalformed : null;
    this.#pendingMalformed++;
    this.#add(
      terminated
        ? this.#finding("malformed", sequence, this.#file, lineNumber, `not a sealed record: ${reason}`)
        : this.#finding(
            "truncated",
            sequence,
            this.#file,
            lineNumber,
            "the last line ends without a newline and is not a complete record (a torn write)",
          ),
    );
  }

  #arrive(parsed: ParsedRecord, lineNumber: number): void {
    this.#records++;
    const keyId = parsed.integrity.key_id;
    if (keyId !== this.#lastKeyId) {
      this.#keyIds.add(keyId);
      this.#lastKeyId = keyId;
    }
    const arrival = ++this.#arrivals;
    const malformedBefore = this.#pendingMalformed;
    this.#pendingMalformed = 0;
    let record = parsed;
    // Before its claimed number routes it: a record that fails its signature and is not numbered as due after
    // the previous line (malformed lines standing in for the records due there; with --partial nothing is due
    // before the first record) may be the due record renumbered. An intact log pays one comparison here.
    if (this.#started || !this.#partial) {
      const due = this.#arrivedSequence + 1 + malformedBefore;
      if (parsed.integrity.sequence_number !== due && this.#verdict(parsed) === "invalid") {
        // After a malformed line the signature due as previous_signature is not known.
        const previous = malformedBefore === 0 ? this.#arrivedSignature : parsed.integrity.previous_signature;
        record = this.#asSealed(parsed, due, previous, this.#file, lineNumber) ?? parsed;
      }
    }
    const sequence = record.integrity.sequence_number;
    this.#arrivedSequence = sequence;
    this.#arrivedSignature = record.integrity.signature;
    if (!this.#started) {
      this.#started = true;
      if (this.#partial) {
        this.#expected = sequence;
        this.#previousTrusted = false;
      }
    }
    if (sequence < this.#expected) {
      this.#settled(record, lineNumber);
      return;
    }
    const held = this.#stash.get(sequence);
    if (held) {
      this.#repeat(record, lineNumber, held.record.integrity.signature);
      return;
    }
    if (sequence < this.#maxSequenceArrived) {
      this.#note(
        this.#late,
        this.#finding(
          "reordered",
          sequence,
          this.#file,
          lineNumber,
          `appears after sequence ${this.#maxSequenceArrived}, a later record`,
        ),
      );
    } else {
      this.#maxSequenceArrived = sequence;
    }
    if (sequence > this.#expected && malformedBefore > 0 && this.#stash.size === 0) {
      this.#expected = Math.min(sequence, this.#expected + malformedBefore);
      this.#previousTrusted = false;
    }
    if (sequence === this.#expected) {
      this.#process(record, this.#file, lineNumber, arrival, parsed);
      this.#drain();
      return;
    }
    const copy: ParsedRecord = {
      integrity: record.integrity,
      event: Buffer.from(record.event),
      verbatim: record.verbatim,
    };
    // A restored record keeps its event bytes: only the integrity fields as written differ.
    const written = record === parsed ? copy : { ...copy, integrity: parsed.integrity };
    this.#stash.set(sequence, { record: copy, written, file: this.#file, line: lineNumber, arrival });
    if (this.#stash.size > LOOKAHEAD) this.#relieve(LOOKAHEAD / 2);
  }

  /**
   * The record as sealed, when only its integrity fields were altered: called for a record that fails its
   * signature as it stands and carries another sequence number or previous_signature than the ones due at its
   * place. If it verifies with the due values (HMAC makes that conclusive), that is reported `modified` at the
   * due sequence and the record goes on as the due record; null if it does not.
   */
  #asSealed(
    record: ParsedRecord,
    sequence: number,
    previous: string,
    file: number,
    lineNumber: number,
  ): ParsedRecord | null {
    const integrity = record.integrity;
    const sealed: ParsedRecord = {
      ...record,
      integrity: { ...integrity, sequence_number: sequence, previous_signature: previous },
    };
    if (this.#verdict(sealed) !== "valid") return null;
    const altered: string[] = [];
    if (integrity.sequence_number !== sequence) {
      altered.push(`it was sealed as sequence ${sequence} but claims ${integrity.sequence_number}`);
    }
    if (integrity.previous_signature !== previous) {
      altered.push(
        `it was sealed after ${previous} but its previous_signature says ${integrity.previous_signature}`,
      );
    }
    this.#add(
      this.#finding(
        "modified",
        sequence,
        file,
        lineNumber,
        `integrity field altered after sealing: ${altered.join("; ")}`,
      ),
    );
    return sealed;
  }

  /** A record whose sequence number is already settled (processed or declared missing). */
  #settled(record: ParsedRecord, lineNumber: number): void {
    const sequence = record.integrity.sequence_number;
    const slot = sequence % RECENT;
    if (this.#ringSequence[slot] === sequence) {
      this.#repeat(record, lineNumber, this.#ringSignature[slot] as string);
    } else if (this.#wasMissing(sequence)) {
      this.#add(
        this.#finding(
          "reordered",
          sequence,
          this.#file,
          lineNumber,
          `appears more than ${LOOKAHEAD} records after its place, where it was reported missing`,
        ),
      );
    } else {
      this.#add(
        this.#finding(
          "inserted",
          sequence,
          this.#file,
          lineNumber,
          `reuses sequence ${sequence}, which was already passed and is not among the last ${RECENT} records, ` +
            "so it cannot be compared",
        ),
      );
    }
  }

  /** A second record with a sequence number already seen, whose signature was `original`. */
  #repeat(record: ParsedRecord, lineNumber: number, original: string): void {
    const sequence = record.integrity.sequence_number;
    const verdict = this.#verdict(record);
    if (record.integrity.signature === original) {
      const note =
        verdict === "invalid" || verdict === "duplicate_names"
          ? " (and this copy's content no longer matches its signature)"
          : "";
      this.#add(
        this.#finding(
          "duplicated",
          sequence,
          this.#file,
          lineNumber,
          `a copy of sequence ${sequence}${note}`,
        ),
      );
      return;
    }
    const how =
      verdict === "valid"
        ? "it carries a valid signature, so it was sealed with the key"
        : verdict === "invalid"
          ? "its signature does not verify"
          : verdict === "duplicate_names"
            ? "it has a duplicate member name (not I-JSON)"
            : verdict === "unchecked"
              ? "its signature cannot be checked without the HMAC key"
              : `it names key ${record.integrity.key_id}, which is not in the keyring`;
    this.#add(
      this.#finding(
        "inserted",
        sequence,
        this.#file,
        lineNumber,
        `a second record with sequence ${sequence} and a different signature; ${how}`,
      ),
    );
  }

  #wasMissing(sequence: number): boolean {
    const ranges = this.#missingRanges;
    let lo = 0;
    let hi = ranges.length / 2 - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (sequence < (ranges[2 * mid] as number)) hi = mid - 1;
      else if (sequence > (ranges[2 * mid + 1] as number)) lo = mid + 1;
      else return true;
    }
    return false;
  }

  #verdict(record: ParsedRecord): Verdict {
    if (!this.#signaturesChecked) return "unchecked";
    const secret = this.#keyring.get(record.integrity.key_id);
    if (secret === undefined) return "unknown";
    return checkRecordSignature(record, secret);
  }

  /** Processes the record with sequence `expected`; `written` is the record as it stands in the input. */
  #process(
    claimed: ParsedRecord,
    file: number,
    lineNumber: number,
    arrival: number,
    written: ParsedRecord,
  ): void {
    const sequence = claimed.integrity.sequence_number;
    if (arrival < this.#maxArrivalProcessed) {
      this.#note(
        this.#early,
        this.#finding(
          "reordered",
          sequence,
          file,
          lineNumber,
          `appears before sequence ${this.#maxArrivalSequence}, an earlier record`,
        ),
      );
    } else {
      this.#maxArrivalProcessed = arrival;
      this.#maxArrivalSequence = sequence;
    }

    let record = claimed;
    let verdict = this.#verdict(record);
    // Only a failing record is tried with the previous record's signature: an altered previous_signature is then
    // one `modified`, and the record links, instead of starting a failing run that a neighbour could join. After
    // a gap the signature at hand is not the predecessor's, and the HMAC says so.
    if (verdict === "invalid" && record.integrity.previous_signature !== this.#previousSignature) {
      const sealed = this.#asSealed(record, sequence, this.#previousSignature, file, lineNumber);
      if (sealed) {
        record = sealed;
        verdict = "valid";
      }
    }
    const integrity = record.integrity;
    if (verdict === "valid") {
      if (this.#badRun) this.#closeBadRun();
      const unknown = this.#unknownRun;
      if (unknown) {
        this.#closeUnknownRun(
          unknown.anchored &&
            unknown.first === unknown.last &&
            unknown.last === sequence - 1 &&
            unknown.lastSignature === integrity.previous_signature,
        );
      }
      if (this.#previousTrusted && integrity.previous_signature !== this.#previousSignature) {
        this.#add(
          this.#finding(
            "inserted",
            sequence,
            file,
            lineNumber,
            "its signature is valid but its previous_signature does not link to the record before it",
          ),
        );
        this.#previousTrusted = false;
      } else {
        this.#previousTrusted = true;
      }
    } else if (verdict === "invalid") {
      this.#closeUnknownRun();
      const run = this.#badRun;
      if (run && run.last === sequence - 1 && run.lastSignature === integrity.previous_signature) {
        run.last = sequence;
        run.lastSignature = integrity.signature;
      } else {
        this.#closeBadRun();
        this.#badRun = this.#newRun(record, file, lineNumber, false);
      }
      this.#previousTrusted = false;
    } else if (verdict === "unchecked") {
      // Without the key a broken link shows that something was altered, not which of the two records.
      if (this.#previousTrusted && integrity.previous_signature !== this.#previousSignature) {
        this.#add(
          this.#finding(
            "modified",
            sequence,
            file,
            lineNumber,
            `its previous_signature does not link to the record before it: this field, or that record's ` +
              "signature, was altered, or one of the two records replaced (record signatures are not checked " +
              "without the HMAC key)",
          ),
        );
      }
      this.#previousTrusted = true;
    } else if (verdict === "duplicate_names") {
      this.#closeBadRun();
      this.#closeUnknownRun();
      this.#add(
        this.#finding(
          "malformed",
          sequence,
          file,
          lineNumber,
          `not a sealed record: ${DUPLICATE_NAMES_REASON}`,
        ),
      );
      this.#previousTrusted = false;
    } else {
      this.#closeBadRun();
      const run = this.#unknownRun;
      if (run && run.last === sequence - 1 && run.keyId === integrity.key_id) {
        run.last = sequence;
      } else {
        this.#closeUnknownRun();
        // Record 1 links to the genesis value, not to a record: it is not anchored.
        const anchored =
          this.#previousTrusted &&
          this.#firstSequence !== null &&
          integrity.previous_signature === this.#previousSignature;
        this.#unknownRun = this.#newRun(record, file, lineNumber, anchored);
      }
      this.#previousTrusted = false;
    }

    this.#previousSignature = integrity.signature;
    const slot = sequence % RECENT;
    this.#ringSequence[slot] = sequence;
    this.#ringSignature[slot] = integrity.signature;
    this.#expected = sequence + 1;
    if (this.#firstSequence === null) this.#firstSequence = sequence;
    this.#lastSequence = sequence;
    this.#tree?.add(sequence, written, file, lineNumber);
  }

  #newRun(record: ParsedRecord, file: number, line: number, anchored: boolean): Run {
    const { sequence_number, signature, key_id } = record.integrity;
    return {
      first: sequence_number,
      last: sequence_number,
      lastSignature: signature,
      keyId: key_id,
      file,
      line,
      anchored,
    };
  }

  #closeBadRun(): void {
    const run = this.#badRun;
    if (!run) return;
    this.#badRun = null;
    const length = run.last - run.first + 1;
    if (length === 1) {
      this.#add(
        this.#finding("modified", run.first, run.file, run.line, "signature does not match the record"),
      );
      return;
    }
    const finding = this.#finding(
      "bad_signature",
      run.first,
      run.file,
      run.line,
      `${length} consecutive records (${run.first}–${run.last}) chain to each other but none verifies under ` +
        `key ${run.keyId}: re-signed with a different secret`,
    );
    finding.count = length;
    this.#add(finding);
  }

  /** `isolated`: a single record between two that verify under a known key and link through it. */
  #closeUnknownRun(isolated = false): void {
    const run = this.#unknownRun;
    if (!run) return;
    this.#unknownRun = null;
    if (isolated) {
      this.#add(
        this.#finding(
          "modified",
          run.first,
          run.file,
          run.line,
          `names key ${run.keyId}, which is not in the keyring, while its neighbours are signed by a known key ` +
            "and link through it: a sealer does not switch keys for one record, so its key_id (and possibly " +
            "its content) was altered",
        ),
      );
      return;
    }
    const length = run.last - run.first + 1;
    const finding = this.#finding(
      "unknown_key",
      run.first,
      run.file,
      run.line,
      `${length === 1 ? "signed" : `${length} records (${run.first}–${run.last}) signed`} with key ${run.keyId}, ` +
        "which is not in the keyring, so cannot be checked",
    );
    finding.count = length;
    this.#add(finding);
  }

  #note(side: Side, finding: Finding): void {
    side.count++;
    if (side.findings.length < this.#maxFindings) side.findings.push(finding);
  }

  #concludeEpisode(): void {
    const late = this.#late;
    const early = this.#early;
    if (late.count === 0 && early.count === 0) return;
    const chosen = early.count < late.count ? early : late;
    for (const f of chosen.findings) this.#add(f);
    this.#findingCount += chosen.count - chosen.findings.length;
    this.#late = { findings: [], count: 0 };
    this.#early = { findings: [], count: 0 };
  }

  /** Processes stashed records while the next one due is there; ends the episode when the stash empties. */
  #drain(): void {
    for (let held = this.#stash.get(this.#expected); held; held = this.#stash.get(this.#expected)) {
      this.#stash.delete(this.#expected);
      this.#process(held.record, held.file, held.line, held.arrival, held.written);
    }
    if (this.#stash.size === 0) this.#concludeEpisode();
  }

  /** Declares gaps below the lowest stashed records until at most `target` remain stashed. */
  #relieve(target: number): void {
    if (this.#stash.size <= target) return;
    const sequences = [...this.#stash.keys()].sort((a, b) => a - b);
    for (const sequence of sequences) {
      if (this.#stash.size <= target) break;
      const held = this.#stash.get(sequence);
      if (!held) continue;
      if (sequence > this.#expected) this.#declareMissing(sequence - 1, held);
      this.#drain();
    }
  }

  #declareMissing(to: number, next: Held): void {
    const from = this.#expected;
    const count = to - from + 1;
    const finding = this.#finding(
      "missing",
      from,
      next.file,
      next.line,
      `${count === 1 ? "never appears" : `${count} records never appear`}; the next one present is ${to + 1}`,
    );
    finding.toSequence = to;
    finding.count = count;
    this.#add(finding);
    if (this.#missingRanges.length < 2 * MAX_MISSING_RANGES) this.#missingRanges.push(from, to);
    this.#expected = to + 1;
    this.#previousTrusted = false;
  }
}

/**
 * Verifies the chain formed by `options.paths` read in order, and the checkpoints that apply to it. Throws a
 * `usage` VigilError for a path that does not exist and a `key_missing` one when there is no HMAC key and no
 * public key or checkpoint was given; problems in the log are findings, not errors.
 */
export async function verifyPaths(options: VerifyOptions): Promise<VerifyReport> {
  const started = performance.now();
  const inputs = await resolveInputs(options.paths);
  // An auditor who brings the log's public key or a checkpoint is checking a data directory they do not
  // trust: keys found in it could be the attacker's own, so only the caller's keys count (see the header).
  const given = (options.publicKeys?.length ?? 0) > 0 || (options.checkpoints?.length ?? 0) > 0;
  const keyring = new Keyring();
  if (options.keyring) keyring.merge(options.keyring);
  if (!given) for (const dataDir of inputs.dataDirs) keyring.merge(await loadKeyring({ dataDir }));
  if (keyring.size === 0 && !given) {
    throw new VigilError(
      "key_missing",
      "no key to verify with: pass --key-env VAR (a variable holding the signing key), --key-file FILE, " +
        "--data-dir DIR (a data directory whose keys/ holds the keys), or --public-key FILE (the log's " +
        "checkpoint verifier keys, from vigil keys export-public)",
    );
  }
  const dataDirs = [...(options.dataDir === undefined ? [] : [options.dataDir]), ...inputs.dataDirs];
  const publicKeys = [...(options.publicKeys ?? [])];
  if (!given) for (const dataDir of dataDirs) publicKeys.push(...(await loadCheckpointVerifiers(dataDir)));
  let checkpoints: ChainVerifierOptions["checkpoints"];
  if (given || publicKeys.length > 0 || options.requireSealed) {
    // Read before any record: a checkpoint signed while the log is read covers records already written, so it
    // cannot look like a cut-off log.
    const sources = [...(await readCheckpointDirs(inputs.checkpointDirs)), ...(options.checkpoints ?? [])];
    let origin: string | undefined;
    for (const dataDir of dataDirs) origin ??= await readOrigin(dataDir);
    checkpoints = {
      opened: openCheckpoints(sources, publicKeys, origin),
      requireSealed: options.requireSealed ?? false,
    };
  }
  const verifier = new ChainVerifier({
    keyring,
    partial: options.partial ?? false,
    maxFindings: options.maxFindings ?? DEFAULT_MAX_FINDINGS,
    checkpoints,
  });
  const totalBytes = totalSize(inputs.files);
  let bytes = 0;
  const onBytes = (n: number) => {
    bytes += n;
    options.onProgress?.({ records: verifier.records, bytes, totalBytes });
  };
  const stdin = options.stdin ?? process.stdin;
  for (const file of inputs.files) {
    verifier.beginFile(file.path);
    try {
      await forEachLine(openInput(file, stdin, onBytes), verifier);
    } catch (e) {
      if (!isZlibError(e)) throw e;
      verifier.unreadable((e as Error).message);
    }
  }
  verifier.finish();
  return verifier.report(bytes, performance.now() - started);
}

function totalSize(files: readonly InputFile[]): number | undefined {
  let total = 0;
  for (const f of files) {
    if (f.size === undefined) return undefined;
    total += f.size;
  }
  return total;
}

/** zlib's errors carry codes like Z_DATA_ERROR (corrupt input) and Z_BUF_ERROR (input ends early). */
function isZlibError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return typeof code === "string" && code.startsWith("Z_");
}
