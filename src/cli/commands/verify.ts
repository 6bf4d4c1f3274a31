/**
 * `vigil verify`: checks sealed logs (journal, file destination with its rotated files, any file, stdin) and
 * prints what was done to them. With HMAC keys it checks every record's signature; with the log's public key
 * (`--public-key`) it checks the signed checkpoints against the records, which needs no secret. Exit codes:
 * 0 intact, 1 problems found, 2 bad usage (unknown path, no key, bad flag). Every error leaving the command
 * carries its exit code: a CommanderError (0 for --help, 2 for a bad flag) or a CliExit. The verifier and the key
 * readers are loaded only when the command runs.
 */
import { readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { Command, type ErrorOptions, Option } from "commander";
import { DEFAULT_DATA_DIR } from "../../config/types.ts";
import { VigilError } from "../../errors.ts";
import type { NoteVerifier } from "../../integrity/note.ts";
import type { Finding, VerifyReport } from "../../integrity/verify.ts";
import type { CheckpointSource } from "../../integrity/verify-tree.ts";
import { CliExit, EXIT, usage } from "../common.ts";
import { Progress } from "../progress.ts";

interface VerifyFlags {
  dataDir?: string;
  keyEnv: string[];
  keyFile: string[];
  publicKey: string[];
  checkpoint: string[];
  requireSealed?: boolean;
  partial?: boolean;
  json?: boolean;
  quiet?: boolean;
}

/** Commander reports a bad flag with exit code 1; here 1 means "problems found", so usage errors use 2. */
class VerifyCommand extends Command {
  override error(message: string, errorOptions?: ErrorOptions): never {
    return super.error(message, { ...errorOptions, exitCode: errorOptions?.exitCode ?? EXIT.usage });
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

function sequences(f: Finding): string {
  if (f.sequence === null) return "before the first record";
  if (f.toSequence !== undefined && f.toSequence !== f.sequence)
    return `sequences ${f.sequence}–${f.toSequence}`;
  return `sequence ${f.sequence}`;
}

function formatFinding(f: Finding): string {
  return `${sequences(f)}: ${f.kind} — ${f.detail} (${f.file}:${f.line})`;
}

/** What the checkpoints and the absence of an HMAC key mean for the result, appended to the summary. */
function coverage(report: VerifyReport): string {
  let text = "";
  const matched = report.checkpoints.filter((c) => c.status === "matched").length;
  if (report.sealedThrough > 0) {
    text += `; sealed through sequence ${report.sealedThrough} (${matched === 1 ? "1 checkpoint" : `${matched} checkpoints`} matched)`;
  }
  if (!report.recordSignaturesChecked) {
    // Without an HMAC key only matched checkpoints vouch for content: claim coverage only when they reach the end.
    text +=
      report.sealedThrough > 0 && report.sealedThrough === report.lastSequence
        ? "; record signatures not checked (no HMAC key); contents covered by the checkpoints"
        : report.sealedThrough > 0
          ? `; record signatures not checked (no HMAC key); contents covered by the checkpoints through sequence ${report.sealedThrough} only`
          : "; record signatures not checked (no HMAC key) and no checkpoint matched: contents not checked";
  }
  for (const notice of report.notices) {
    if (notice.kind === "unsealed_tail") {
      text += `; ${notice.sequence === notice.toSequence ? `record ${notice.sequence}` : `records ${notice.sequence}–${notice.toSequence}`} not yet covered by a checkpoint`;
    }
  }
  return text;
}

function formatSummary(report: VerifyReport): string {
  if (report.intact) {
    const range =
      report.firstSequence === null
        ? ""
        : report.firstSequence === report.lastSequence
          ? `, sequence ${report.firstSequence}`
          : `, sequences ${report.firstSequence}–${report.lastSequence}`;
    const keys = report.keyIds.length > 0 ? `, keys ${report.keyIds.join(", ")}` : "";
    return `intact: ${records(report.records)}${range}${keys}${coverage(report)}`;
  }
  const first = report.findings[0];
  const where = first ? `; first at ${sequences(first)} (${first.kind})` : "";
  const problems = report.findingCount === 1 ? "1 problem" : `${report.findingCount} problems`;
  return `NOT INTACT: ${problems} in ${records(report.records)}${where}${coverage(report)}`;
}

const records = (n: number) => (n === 1 ? "1 record" : `${n} records`);

/** The keys from the flags plus those of `dataDir`, if given; an unreadable key is a usage error. */
async function keyring(flags: VerifyFlags, dataDir: string | undefined) {
  const { loadKeyring } = await import("../../integrity/keys.ts");
  try {
    return await loadKeyring({ dataDir, keyFiles: flags.keyFile, envVars: flags.keyEnv });
  } catch (e) {
    if (e instanceof VigilError) throw usage(e.message);
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ENOENT" || err.code === "EACCES" || err.code === "EISDIR") {
      throw usage(`cannot read key file ${err.path ?? ""}: ${err.code}`);
    }
    throw e;
  }
}

/** The verifier keys of every --public-key file; an unreadable or invalid file is a usage error. */
async function publicKeys(files: readonly string[]): Promise<NoteVerifier[]> {
  const { readVerifierKeys } = await import("../../integrity/note.ts");
  const keys: NoteVerifier[] = [];
  for (const file of files) {
    try {
      keys.push(...(await readVerifierKeys(file)));
    } catch (e) {
      if (e instanceof VigilError) throw usage(`--public-key ${e.message}`);
      throw usage(
        `cannot read --public-key ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
  }
  return keys;
}

/** The notes of every --checkpoint file, as given; whether each is a valid checkpoint is a finding, not usage. */
async function checkpointNotes(files: readonly string[]): Promise<CheckpointSource[]> {
  const notes: CheckpointSource[] = [];
  for (const file of files) {
    try {
      notes.push({ source: file, note: await readFile(file, "utf8") });
    } catch (e) {
      throw usage(
        `cannot read --checkpoint ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
  }
  return notes;
}

async function run(paths: string[], flags: VerifyFlags, cmd: Command): Promise<void> {
  const output = cmd.configureOutput();
  const writeOut = output.writeOut ?? ((s: string) => process.stdout.write(s));
  let dataDir: string | undefined;
  if (flags.dataDir !== undefined) {
    if (!(await isDirectory(flags.dataDir))) throw usage(`--data-dir ${flags.dataDir} is not a directory`);
    dataDir = resolve(flags.dataDir);
  } else if (await isDirectory(DEFAULT_DATA_DIR)) {
    dataDir = resolve(DEFAULT_DATA_DIR);
  }
  const targets = paths.length > 0 ? paths : dataDir ? [dataDir] : [];
  if (targets.length === 0) {
    throw usage(
      `nothing to verify: name a journal, data directory or log file (no ${DEFAULT_DATA_DIR} here)`,
    );
  }
  // With --public-key or --checkpoint the data directory is the thing under audit, not a source of trust.
  const auditing = flags.publicKey.length > 0 || flags.checkpoint.length > 0;
  const keys = await keyring(flags, auditing ? undefined : dataDir);
  const verifierKeys = await publicKeys(flags.publicKey);
  const checkpoints = await checkpointNotes(flags.checkpoint);
  const { verifyPaths } = await import("../../integrity/verify.ts");
  const progress = flags.quiet ? undefined : new Progress({ label: "verifying", unit: "records" });
  let report: VerifyReport;
  try {
    report = await verifyPaths({
      paths: targets,
      keyring: keys,
      publicKeys: verifierKeys,
      checkpoints,
      dataDir,
      requireSealed: flags.requireSealed ?? false,
      partial: flags.partial ?? false,
      onProgress: progress && ((p) => progress.update(p.records, p.bytes, p.totalBytes)),
    });
  } catch (e) {
    // bad_key: a data directory's verifier key file that does not parse.
    if (e instanceof VigilError && (e.code === "usage" || e.code === "key_missing" || e.code === "bad_key")) {
      throw usage(e.message);
    }
    throw e;
  } finally {
    progress?.done();
  }
  if (flags.json) {
    writeOut(`${JSON.stringify(report, null, 2)}\n`);
  } else if (!flags.quiet) {
    let text = "";
    for (const f of report.findings) text += `${formatFinding(f)}\n`;
    const unlisted = report.findingCount - report.findings.length;
    if (unlisted > 0) text += `… and ${unlisted} more problems not listed\n`;
    writeOut(`${text}${formatSummary(report)}\n`);
  }
  if (!report.intact) throw new CliExit(EXIT.problem, "");
}

export function verifyCommand(): Command {
  return new VerifyCommand("verify")
    .description(
      "check that sealed audit logs are intact: every record present, in order, unaltered, signed by a known key",
    )
    .argument(
      "[paths...]",
      "data or journal directories, file destination paths (rotated path.N[.gz] siblings included), files, " +
        "or - for stdin; read in order as one chain (default: the data directory's journal)",
    )
    .option(
      "-d, --data-dir <dir>",
      `data directory whose keys/ holds signing and checkpoint verifier keys, not used with --public-key or ` +
        `--checkpoint (default ${DEFAULT_DATA_DIR} if present)`,
    )
    .option("--key-env <var>", "environment variable holding a signing key (repeatable)", collect, [])
    .option("--key-file <file>", "file holding a signing key (repeatable)", collect, [])
    .option(
      "--public-key <file>",
      "the log's checkpoint verifier keys, one per line (vigil keys export-public); needs no secret (repeatable)",
      collect,
      [],
    )
    .option(
      "--checkpoint <file>",
      "a signed checkpoint kept outside the log, e.g. from GET /v1/checkpoints/latest (repeatable)",
      collect,
      [],
    )
    .option(
      "--require-sealed",
      "records not yet covered by a checkpoint are a problem, not a notice (always so without an HMAC key)",
    )
    .option(
      "--partial",
      "the log may start after sequence 1 (oldest rotated files deleted); the start is not missing",
    )
    .addOption(new Option("--json", "print the full report as JSON").conflicts("quiet"))
    .option("-q, --quiet", "print nothing; the exit code tells the result")
    .addHelpText(
      "after",
      "\nFindings: modified, missing, inserted, duplicated, reordered, bad_signature (a run re-signed with another\n" +
        "secret), unknown_key, malformed (including records without integrity fields), truncated (a torn last\n" +
        "line, or a log that ends before a signed checkpoint: cut off), tampered (the records do not hash to a\n" +
        "signed checkpoint's root), bad_checkpoint (forged, malformed or another log's), unverifiable_checkpoint\n" +
        "(signed only by keys not given; not used), inconsistent_checkpoints (two signed roots for one size).\n" +
        "Notice: unsealed_tail, records after the newest checkpoint; a problem with --require-sealed, and\n" +
        "always without an HMAC key (nothing else checks their content; with --partial no checkpoint can).\n" +
        "Checkpoints come from <data-dir>/checkpoints/ (journal or data directory), <path>.checkpoints/ (file\n" +
        "destination) and --checkpoint.\n" +
        "\nTrusted keys: with --public-key or --checkpoint, only the keys you give (--public-key, --key-env,\n" +
        "--key-file); the keys/ of the data directory being checked are ignored, since whoever altered it could\n" +
        "have replaced them. Without either, the data directory's keys/ (HMAC and keys/checkpoint/) are used:\n" +
        "an operator checking their own node.\n" +
        "\nExit codes: 0 intact, 1 problems found, 2 bad usage (unknown path, no key, bad flag).",
    )
    .action((paths: string[], flags: VerifyFlags, cmd: Command) => run(paths, flags, cmd));
}
