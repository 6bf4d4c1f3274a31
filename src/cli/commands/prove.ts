/**
 * `vigil prove`: writes an inclusion proof for one record (by event_id or sequence number) or a consistency
 * proof between two stored checkpoints, and checks either offline with only the log's public key
 * (integrity/proof.ts holds the format). Exit codes: 0 written or verified, 1 the record or checkpoint is not
 * there or the proof does not verify, 2 bad usage (bad flag, unreadable key, a file that is not a proof). The
 * proof code is loaded only when the command runs.
 */
import { readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { Command, Option } from "commander";
import { DEFAULT_DATA_DIR } from "../../config/types.ts";
import { VigilError } from "../../errors.ts";
import type { NoteVerifier } from "../../integrity/note.ts";
import type {
  ConsistencyVerified,
  InclusionVerified,
  ProofJson,
  RecordSelector,
} from "../../integrity/proof.ts";
import { CliExit, EXIT, usage } from "../common.ts";

interface ProveFlags {
  dataDir: string;
  size?: string;
  eventId?: boolean;
  consistency?: boolean;
  output?: string;
  check?: string;
  publicKey?: string;
}

const DECIMAL = /^(?:0|[1-9][0-9]*)$/;

function count(text: string, what: string): number {
  const n = Number(text);
  if (!DECIMAL.test(text) || !Number.isSafeInteger(n))
    throw usage(`${what} must be a whole number, not ${text}`);
  return n;
}

function summary(v: InclusionVerified | ConsistencyVerified): string {
  const keys = `${v.keys.length === 1 ? "key" : "keys"} ${v.keys.join(", ")}`;
  if ("sequence" in v) {
    const event = v.eventId === undefined ? "an event without event_id" : `event ${v.eventId}`;
    return `verified: ${event}, sequence ${v.sequence}, in the tree of size ${v.treeSize}, origin ${v.origin}, ${keys}`;
  }
  return (
    `verified: the tree of size ${v.oldSize} is a prefix of the tree of size ${v.newSize}, ` +
    `origin ${v.origin}, ${keys}`
  );
}

/** Reads a file named on the command line; one that cannot be read is a usage error. */
async function readNamed(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    throw usage(`cannot read ${flag} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

async function check(file: string, keyFile: string, writeOut: (s: string) => void): Promise<void> {
  const { readVerifierKeys } = await import("../../integrity/note.ts");
  const { checkProof } = await import("../../integrity/proof.ts");
  let verifiers: NoteVerifier[];
  try {
    verifiers = await readVerifierKeys(keyFile);
  } catch (e) {
    if (e instanceof VigilError) throw usage(e.message);
    throw usage(
      `cannot read --public-key ${keyFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  const result = checkProof(await readNamed(file, "--check"), verifiers);
  if (result.ok) {
    writeOut(`${summary(result.verified)}\n`);
    return;
  }
  if (result.failure === "not_a_proof") throw usage(`${file} is not a Vigil proof: ${result.message}`);
  writeOut(`NOT VERIFIED (${result.failure}): ${result.message}\n`);
  throw new CliExit(EXIT.problem, "");
}

/** The data directory, once the arguments are known to be right. */
async function dataDirOf(flags: ProveFlags): Promise<string> {
  const dataDir = resolve(flags.dataDir);
  if (!(await stat(dataDir).catch(() => undefined))?.isDirectory()) {
    throw usage(`--data-dir ${flags.dataDir} is not a directory`);
  }
  return dataDir;
}

async function build(targets: string[], flags: ProveFlags): Promise<{ proof: ProofJson; what: string }> {
  if (flags.consistency) {
    const [from, to] = targets;
    if (targets.length !== 2 || from === undefined || to === undefined) {
      throw usage("--consistency takes two tree sizes: OLD_SIZE NEW_SIZE");
    }
    const oldSize = count(from, "OLD_SIZE");
    const newSize = count(to, "NEW_SIZE");
    const { consistencyProofJson } = await import("../../integrity/proof.ts");
    return {
      proof: await consistencyProofJson(await dataDirOf(flags), oldSize, newSize),
      what: `consistency proof from tree size ${oldSize} to ${newSize}`,
    };
  }
  const [target] = targets;
  if (targets.length !== 1 || target === undefined) {
    throw usage("name one record: an event_id or a sequence number");
  }
  const selector: RecordSelector =
    !flags.eventId && DECIMAL.test(target)
      ? { sequence: count(target, "the sequence number") }
      : { eventId: target };
  const size = flags.size === undefined ? undefined : count(flags.size, "--size");
  const { inclusionProofJson } = await import("../../integrity/proof.ts");
  const proof = await inclusionProofJson(
    await dataDirOf(flags),
    selector,
    size === undefined ? {} : { size },
  );
  return {
    proof,
    what: `inclusion proof of sequence ${proof.leaf_index + 1} in the tree of size ${proof.tree_size}`,
  };
}

async function run(targets: string[], flags: ProveFlags, cmd: Command): Promise<void> {
  const output = cmd.configureOutput();
  const writeOut = output.writeOut ?? ((s: string) => process.stdout.write(s));
  const writeErr = output.writeErr ?? ((s: string) => process.stderr.write(s));
  if (flags.check !== undefined) {
    if (flags.publicKey === undefined) throw usage("--check needs --public-key <file> holding the log's key");
    if (targets.length > 0) throw usage("--check takes no other arguments");
    await check(flags.check, flags.publicKey, writeOut);
    return;
  }
  if (flags.publicKey !== undefined) throw usage("--public-key is only used with --check");
  const { proof, what } = await build(targets, flags);
  const text = `${JSON.stringify(proof, null, 2)}\n`;
  if (flags.output === undefined) {
    writeOut(text);
    return;
  }
  const { writeFileAtomic } = await import("../../util/fs.ts");
  // A proof is public: anyone may hold it, so it is readable by all.
  // 0600 like the log itself: an inclusion proof carries the full audit record.
  await writeFileAtomic(resolve(flags.output), text, 0o600);
  writeErr(`wrote the ${what} to ${flags.output}\n`);
}

export function proveCommand(): Command {
  return new Command("prove")
    .description(
      "write a proof that a record is in the log (inclusion) or that the log only grew between two checkpoints " +
        "(consistency), or check one offline with only the log's public key",
    )
    .argument("[target...]", "an event_id or sequence number; with --consistency, OLD_SIZE NEW_SIZE")
    .option("-d, --data-dir <dir>", "data directory", DEFAULT_DATA_DIR)
    .option("--size <n>", "prove against the checkpoint of this tree size (default: the newest)")
    .option("--event-id", "the argument is an event_id even if it is a number")
    .addOption(
      new Option(
        "--consistency",
        "prove that checkpoint OLD_SIZE is a prefix of checkpoint NEW_SIZE",
      ).conflicts(["size", "eventId"]),
    )
    .option("-o, --output <file>", "write the proof to this file (default: stdout)")
    .addOption(
      new Option("--check <file>", "check a proof file (either kind); needs --public-key").conflicts([
        "size",
        "eventId",
        "consistency",
        "output",
      ]),
    )
    .option("--public-key <file>", "the log's checkpoint verifier key(s), one key text per line, for --check")
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  vigil prove evt_01J… -o evt.proof          inclusion proof against the newest checkpoint\n" +
        "  vigil prove 1234 --size 2000               by sequence number, against the checkpoint of size 2000\n" +
        "  vigil prove --consistency 1000 2000 -o c.proof\n" +
        "  vigil prove --check evt.proof --public-key log.vkey\n" +
        "\nA purely decimal argument is a sequence number unless --event-id is given.\n" +
        "Exit codes: 0 written or verified, 1 not found or the proof does not verify, 2 bad usage or not a proof.",
    )
    .action((targets: string[], flags: ProveFlags, cmd: Command) => run(targets, flags, cmd));
}
