import { join } from "node:path";
import { VigilError } from "../errors.ts";
import type { ParsedRecord } from "./chain.ts";
import { openCheckpoint, parseCheckpoint } from "./checkpoint.ts";
import { recordLeafHash } from "./leaf.ts";
import { checkpointFileName, listCheckpointSizes, readCheckpointNote } from "./log-layout.ts";
import { MerkleFrontier } from "./merkle.ts";
import type { NoteVerifier } from "./note.ts";
import type { Finding } from "./verify.ts";

/**
 * What became of one checkpoint: `matched` (the records hash to its root), `tampered` (they do not), `bad`
 * (forged, malformed, or another log's), `unverifiable` (signed only by keys not given; not used),
 * `beyond_log` (it covers records the log no longer holds), `unchecked` (the log read does not start at
 * sequence 1 — `--partial` — so its tree cannot be recomputed).
 */
export type CheckpointStatus = "matched" | "tampered" | "bad" | "unverifiable" | "beyond_log" | "unchecked";

/** A signed checkpoint note and where it came from (a file path), as shown in the report. */
export interface CheckpointSource {
  source: string;
  note: string;
}

export interface CheckpointReport {
  /** Null when the note is too malformed to say. */
  size: number | null;
  origin: string | null;
  status: CheckpointStatus;
  source: string;
}

/** A validly signed checkpoint of the log's origin, waiting to be compared. */
interface Valid {
  size: number;
  rootHash: Buffer;
  report: CheckpointReport;
}

/** The checkpoints of one tree size; more than one root is a split view. */
interface Level {
  size: number;
  checkpoints: Valid[];
  /** Set once compared (or settled at the end); `tampered` when no root of this size matched. */
  outcome?: "matched" | "tampered";
  /** Index into the verifier's files and the line of the record that completed this size, or of the gap. */
  file: number;
  line: number;
}

interface Location {
  sequence: number;
  file: number;
  line: number;
}

export interface OpenedCheckpoints {
  /** One per distinct note, in the order found. */
  reports: CheckpointReport[];
  /** `bad_checkpoint`, `unverifiable_checkpoint` and `inconsistent_checkpoints`, found before any record is read. */
  problems: Finding[];
  valid: Valid[];
}

/** Every checkpoint note in `dirs` (`<size>.note` files), in directory order then size order. */
export async function readCheckpointDirs(dirs: readonly string[]): Promise<CheckpointSource[]> {
  const out: CheckpointSource[] = [];
  for (const dir of dirs) {
    for (const size of await listCheckpointSizes(dir)) {
      const note = await readCheckpointNote(dir, size);
      // A note removed between listing and reading is no longer there to be checked.
      if (note !== undefined) out.push({ source: join(dir, checkpointFileName(size)), note });
    }
  }
  return out;
}

/** The log's origin line as the data directory recorded it, if it did. */

/** Size and origin of a note that failed to open, for the report, when its text still parses. */
function peek(note: string): { size: number | null; origin: string | null } {
  const split = note.lastIndexOf("\n\n");
  try {
    const cp = parseCheckpoint(split < 0 ? note : note.slice(0, split + 1));
    return { size: cp.size, origin: cp.origin };
  } catch {
    return { size: null, origin: null };
  }
}

function problem(kind: Finding["kind"], sequence: number | null, source: string, detail: string): Finding {
  return { kind, sequence, file: source, line: 1, detail };
}

/**
 * Opens every note (each distinct text once) with `verifiers`. The log's origin is `origin` when the data
 * directory recorded one, else the one most validly signed checkpoints carry (the first found on a tie): a
 * validly signed checkpoint of another origin belongs to another log, or was made to look like this one's.
 */
export function openCheckpoints(
  sources: readonly CheckpointSource[],
  verifiers: readonly NoteVerifier[],
  origin: string | undefined,
): OpenedCheckpoints {
  const reports: CheckpointReport[] = [];
  const problems: Finding[] = [];
  const opened: {
    source: string;
    size: number;
    origin: string;
    rootHash: Buffer;
    report: CheckpointReport;
  }[] = [];
  const seen = new Set<string>();
  for (const { source, note } of sources) {
    if (seen.has(note)) continue;
    seen.add(note);
    try {
      const { checkpoint } = openCheckpoint(note, verifiers);
      const report: CheckpointReport = {
        size: checkpoint.size,
        origin: checkpoint.origin,
        status: "unchecked",
        source,
      };
      reports.push(report);
      opened.push({ source, ...checkpoint, report });
    } catch (e) {
      if (!(e instanceof VigilError)) throw e;
      const { size, origin: noteOrigin } = peek(note);
      const unverifiable = e.code === "unverified";
      reports.push({ size, origin: noteOrigin, status: unverifiable ? "unverifiable" : "bad", source });
      problems.push(
        unverifiable
          ? problem(
              "unverifiable_checkpoint",
              size,
              source,
              `${e.message}, so it is not used (if that is the log's key, give it with --public-key)`,
            )
          : problem(
              "bad_checkpoint",
              size,
              source,
              e.code === "bad_signature"
                ? `${e.message}: the checkpoint was forged or altered after signing`
                : `not a valid signed checkpoint: ${e.message}`,
            ),
      );
    }
  }

  const logOrigin = origin ?? mostCommon(opened.map((o) => o.origin));
  const bySize = new Map<number, Valid[]>();
  for (const o of opened) {
    if (o.origin !== logOrigin) {
      o.report.status = "bad";
      problems.push(
        problem(
          "bad_checkpoint",
          o.size,
          o.source,
          `signed for origin ${JSON.stringify(o.origin)}, but this log's checkpoints are for ` +
            `${JSON.stringify(logOrigin)}: a checkpoint of another log, or forged`,
        ),
      );
      continue;
    }
    const same = bySize.get(o.size) ?? [];
    same.push({ size: o.size, rootHash: o.rootHash, report: o.report });
    bySize.set(o.size, same);
  }
  const valid: Valid[] = [];
  for (const same of bySize.values()) {
    valid.push(...same);
    const first = same[0] as Valid;
    // The same tree head signed twice (by two keys, say) is no conflict; two roots for one size are.
    const roots = new Set(same.map((v) => v.rootHash.toString("hex")));
    if (roots.size > 1) {
      problems.push(
        problem(
          "inconsistent_checkpoints",
          first.size,
          first.report.source,
          `${same.length} validly signed checkpoints of size ${first.size} have ${roots.size} different roots ` +
            `(a split view: the log showed different histories): ${same.map((v) => v.report.source).join(", ")}`,
        ),
      );
    }
  }
  return { reports, problems, valid };
}

function mostCommon(values: readonly string[]): string | undefined {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: string | undefined;
  for (const [v, n] of counts) if (best === undefined || n > (counts.get(best) as number)) best = v;
  return best;
}

/** Findings about checkpoint files rather than records. */
const CHECKPOINT_KINDS: ReadonlySet<Finding["kind"]> = new Set([
  "bad_checkpoint",
  "unverifiable_checkpoint",
  "inconsistent_checkpoints",
]);

export interface TreeResult {
  findings: Finding[];
  /** The unsealed tail, when it is a notice rather than a finding. */
  notices: Finding[];
  /** The largest checkpoint size whose root the records matched; 0 if none. */
  sealedThrough: number;
}

export interface TreeCheckOptions {
  /** The records may start after sequence 1 (`--partial`). */
  partial: boolean;
  /** Records after the newest valid checkpoint are a finding, not a notice (`--require-sealed`). */
  requireSealed: boolean;
  /**
   * Whether record signatures are checked (an HMAC key is at hand). Without them the checkpoints are all that
   * covers a record's content, so records they do not cover are a finding whatever `requireSealed` says.
   */
  signaturesChecked: boolean;
  /** The verifier's list of files, indexed by the file numbers passed to `add`; read at `finish`. */
  files: readonly string[];
}

/**
 * The recomputed tree. `add` is called for every processed record, in sequence order; leaves are hashed only up
 * to the largest valid checkpoint and only while the records form a gap-free prefix of the tree (once a
 * sequence is missing or unreadable, no root of a larger size can match), so records beyond cost nothing.
 */
export class TreeCheck {
  readonly #levels: Level[];
  readonly #options: TreeCheckOptions;
  readonly #maxSize: number;
  readonly #frontier = new MerkleFrontier();
  #next = 0;
  #hashing: boolean;
  /** Where the tree stopped short: the first record present after a sequence that never came. */
  #gap: Location | undefined;
  /** The records do not start at sequence 1 (`--partial`): no tree can be recomputed. */
  #unanchored = false;
  /** The first processed record above the newest valid checkpoint. */
  #tail: Location | undefined;
  /** The first processed record: where an unanchored log's uncovered records start. */
  #first: Location | undefined;

  constructor(valid: readonly Valid[], options: TreeCheckOptions) {
    this.#options = options;
    const bySize = new Map<number, Level>();
    for (const v of valid) {
      const level = bySize.get(v.size) ?? { size: v.size, checkpoints: [], file: -1, line: 0 };
      level.checkpoints.push(v);
      bySize.set(v.size, level);
    }
    this.#levels = [...bySize.values()].sort((a, b) => a.size - b.size);
    this.#maxSize = this.#levels.at(-1)?.size ?? 0;
    this.#hashing = this.#maxSize > 0;
    // The empty tree needs no record: a checkpoint of size 0 is compared now.
    this.#reached(-1, 0);
  }

  /** One processed record: `written` is the record as it stands in the input, whatever the HMAC checks restored. */
  add(sequence: number, written: ParsedRecord, file: number, line: number): void {
    if (this.#hashing) {
      if (sequence === this.#frontier.size + 1) {
        this.#frontier.append(recordLeafHash(written));
        this.#reached(file, line);
      } else {
        this.#hashing = false;
        this.#gap = { sequence: this.#frontier.size + 1, file, line };
        this.#unanchored = this.#options.partial && this.#frontier.size === 0;
      }
    }
    this.#first ??= { sequence, file, line };
    if (sequence > this.#maxSize && this.#tail === undefined) this.#tail = { sequence, file, line };
  }

  #reached(file: number, line: number): void {
    const size = this.#frontier.size;
    const level = this.#levels[this.#next];
    if (level?.size !== size) return;
    this.#next++;
    const root = this.#frontier.root();
    level.outcome = level.checkpoints.some((c) => c.rootHash.equals(root)) ? "matched" : "tampered";
    for (const c of level.checkpoints) c.report.status = c.rootHash.equals(root) ? "matched" : "tampered";
    level.file = file;
    level.line = line;
    if (size >= this.#maxSize) this.#hashing = false;
  }

  /**
   * Settles every checkpoint once the input has ended. `lastSequence` is the last record processed (0 for none),
   * `end` the position after the last line read; `recordFindings` are the chain verifier's findings so far, to
   * point a `tampered` range at a record the HMAC checks already named.
   */
  finish(
    lastSequence: number,
    end: { file: number; line: number },
    recordFindings: readonly Finding[],
  ): TreeResult {
    const findings: Finding[] = [];
    const files = this.#options.files;
    const at = (file: number) => files[file] ?? "";
    let sealedThrough = 0;
    let lastMatched = 0;
    /** The open tampered finding: later checkpoints that do not match either are added to its detail. */
    let open: { finding: Finding; later: number[] } | undefined;
    const close = () => {
      if (open && open.later.length > 0) {
        const n = open.later.length;
        open.finding.detail +=
          n === 1
            ? `; checkpoint ${open.later[0]}, which covers these records too, does not match either`
            : `; checkpoints ${open.later.join(", ")}, which cover these records too, do not match either`;
      }
      open = undefined;
    };
    let beyond: Level | undefined;
    for (const level of this.#levels) {
      if (level.outcome === undefined) {
        if (level.size > lastSequence) {
          for (const c of level.checkpoints) c.report.status = "beyond_log";
          beyond = level;
          continue;
        }
        if (this.#unanchored) {
          for (const c of level.checkpoints) c.report.status = "unchecked";
          continue;
        }
        level.outcome = "tampered";
        for (const c of level.checkpoints) c.report.status = "tampered";
        const gap = this.#gap ?? { sequence: this.#frontier.size + 1, ...end };
        level.file = gap.file;
        level.line = gap.line;
      }
      if (level.outcome === "matched") {
        close();
        lastMatched = level.size;
        sealedThrough = level.size;
        continue;
      }
      if (open) {
        open.later.push(level.size);
        continue;
      }
      const from = lastMatched + 1;
      let detail = `a record between sequences ${from} and ${level.size} differs from what checkpoint ${level.size} signed`;
      if (this.#gap && this.#gap.sequence <= level.size) {
        detail += ` (sequence ${this.#gap.sequence} is missing or unreadable, so the first ${level.size} records cannot hash to its root)`;
      }
      const named = recordFindings
        .filter(
          (f) =>
            !CHECKPOINT_KINDS.has(f.kind) &&
            f.sequence !== null &&
            f.sequence >= from &&
            f.sequence <= level.size,
        )
        .sort((a, b) => (a.sequence as number) - (b.sequence as number))[0];
      if (named) detail += `; the record checks report sequence ${named.sequence} (${named.kind})`;
      const finding: Finding = {
        kind: "tampered",
        sequence: from,
        toSequence: level.size,
        count: level.size - from + 1,
        file: at(level.file),
        line: level.line,
        detail,
      };
      findings.push(finding);
      open = { finding, later: [] };
    }
    close();

    if (beyond) {
      const n = beyond.size;
      const from = lastSequence + 1;
      findings.push({
        kind: "truncated",
        sequence: from,
        toSequence: n,
        count: n - lastSequence,
        file: at(end.file),
        line: end.line,
        detail: `${from === n ? `record ${n}` : `records ${from}–${n}`}, covered by signed checkpoint ${n}, ${from === n ? "is" : "are"} missing (the log was cut off)`,
      });
    }

    const notices: Finding[] = [];
    const { requireSealed, signaturesChecked } = this.#options;
    // Without an HMAC key an unanchored log (--partial) has nothing checking its content: no checkpoint can be
    // compared, so every record is as uncovered as a tail.
    const unanchored = this.#unanchored && !signaturesChecked;
    const tail = unanchored ? this.#first : this.#tail;
    if (tail && lastSequence >= tail.sequence) {
      const count = lastSequence - tail.sequence + 1;
      const newest =
        this.#maxSize > 0 ? `the newest checkpoint (size ${this.#maxSize})` : "any signed checkpoint";
      let detail = unanchored
        ? `${count === 1 ? "1 record" : `${count} records`} not covered by a checkpoint: the log does not start at ` +
          "sequence 1 (--partial), so no checkpoint's root can be recomputed"
        : `${count === 1 ? "1 record" : `${count} records`} after ${newest} ${count === 1 ? "is" : "are"} not yet ` +
          "covered by a checkpoint";
      if (!signaturesChecked) {
        detail += `, and without an HMAC key ${count === 1 ? "its" : "their"} content is not checked at all`;
      } else {
        detail += requireSealed
          ? ", and --require-sealed asks for every record to be"
          : ": a live log always has some, until the next checkpoint is signed";
      }
      const finding: Finding = {
        kind: "unsealed_tail",
        sequence: tail.sequence,
        toSequence: lastSequence,
        count,
        file: at(tail.file),
        line: tail.line,
        detail,
      };
      (requireSealed || !signaturesChecked ? findings : notices).push(finding);
    }
    return { findings, notices, sealedThrough };
  }
}
