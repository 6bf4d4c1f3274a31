/**
 * `vigil keys`: list, create, rotate, activate, import and export the data directory's signing keys (integrity/key-admin.ts
 * does the work). Nothing here prints a secret: HMAC keys are shown by id and file, checkpoint keys by their public
 * verifier key. Exit codes: 0 done, 2 bad usage (unknown kind, missing data directory, unusable secret). The key
 * code is loaded only when a command runs.
 */
import { chmod, readFile, stat } from "node:fs/promises";
import { Argument, Command, InvalidArgumentError, Option } from "commander";
import { DEFAULT_DATA_DIR } from "../../config/types.ts";
import { VigilError } from "../../errors.ts";
import { DEFAULT_EPOCH_RECORDS } from "../../integrity/forward-secure.ts";
import type { CheckpointKeyInfo, HmacKeyInfo, KeyKind } from "../../integrity/key-admin.ts";
import { usage } from "../common.ts";

interface DataDirFlags {
  dataDir: string;
}

interface ChainFlags {
  forwardSecure?: boolean;
  epochRecords?: number;
}

const RESTART_NOTE = "vigil serve reads the active keys at start: restart it to sign with the new key.";
const ENV_KEY_NOTE =
  "A server configured with integrity.signing.key_env_var seals with that variable's key instead; keep its " +
  "old value for verification with: vigil keys import hmac --from-env VAR";
const FORWARD_SECURE_NOTE =
  "vigil serve seals with a forward-secure chain only with integrity.signing.forward_secure in its configuration.";

/** What to tell the operator about a new chain's seed, which must not stay on the server. */
const seedNote = (seedFile: string) =>
  `seed: ${seedFile} (mode 0600). Move this seed off this machine; it is what auditors verify with ` +
  "(vigil verify --key-file SEED); the server never needs it again.";

function output(cmd: Command): { out: (s: string) => void; err: (s: string) => void } {
  const config = cmd.configureOutput();
  return {
    out: config.writeOut ?? ((s) => process.stdout.write(s)),
    err: config.writeErr ?? ((s) => process.stderr.write(s)),
  };
}

async function requireDataDir(dataDir: string): Promise<void> {
  const isDir = await stat(dataDir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir) throw usage(`data directory ${dataDir} does not exist (pass --data-dir)`);
}

type KeyAdmin = typeof import("../../integrity/key-admin.ts");

/**
 * Runs a key operation of integrity/key-admin.ts (loaded here, when a command runs), turning the library's
 * usage-type errors into exit code 2 with their message.
 */
async function guarded<T>(operation: (admin: KeyAdmin) => Promise<T>): Promise<T> {
  const admin = await import("../../integrity/key-admin.ts");
  try {
    return await operation(admin);
  } catch (e) {
    if (e instanceof VigilError && (e.code === "usage" || e.code === "key_missing" || e.code === "bad_key")) {
      throw usage(e.message);
    }
    throw e;
  }
}

function hmacLine(k: HmacKeyInfo): string {
  const line = `  ${k.id}  ${k.active ? "active" : "      "}  created ${k.created.toISOString()}`;
  const chain = k.forwardSecure;
  if (chain === undefined) return `${line}  ${k.file}\n`;
  const epoch = chain.epoch === undefined ? "seed only" : `epoch ${chain.epoch}`;
  const seed =
    chain.seed === undefined ? "" : `    seed still here: ${chain.seed} (move it off this machine)\n`;
  return `${line}  forward-secure, ${epoch}, ${chain.epochRecords} records each  ${k.file}\n${seed}`;
}

function checkpointLines(k: CheckpointKeyInfo): string {
  const signer = k.signer ? "" : "  (verifier only: no signer key)";
  return (
    `  ${k.id}  ${k.active ? "active" : "      "}  created ${k.created.toISOString()}${signer}\n` +
    `    ${k.verifierKey}\n`
  );
}

async function list(flags: DataDirFlags & { json?: boolean }, cmd: Command): Promise<void> {
  const { out, err } = output(cmd);
  await requireDataDir(flags.dataDir);
  const listing = await guarded((admin) => admin.listKeys(flags.dataDir));
  if (flags.json) {
    out(`${JSON.stringify({ hmac: listing.hmac, checkpoint: listing.checkpoint }, null, 2)}\n`);
  } else {
    let text = "HMAC keys (records):";
    text += listing.hmac.length === 0 ? " none\n" : `\n${listing.hmac.map(hmacLine).join("")}`;
    text += "checkpoint keys (signed tree heads):";
    text +=
      listing.checkpoint.length === 0 ? " none\n" : `\n${listing.checkpoint.map(checkpointLines).join("")}`;
    out(text);
  }
  // A pointer naming a key that is gone stops `vigil serve` at start; say so now.
  if (listing.activeHmac !== undefined && !listing.hmac.some((k) => k.active)) {
    err(`warning: keys/active names ${listing.activeHmac}, but no key file holds that key\n`);
  }
  if (listing.activeCheckpoint !== undefined && !listing.checkpoint.some((k) => k.active)) {
    err(`warning: keys/checkpoint/active names ${listing.activeCheckpoint}, but there is no such key\n`);
  }
}

const state = (active: boolean, kind: KeyKind, id: string) =>
  active ? "active" : `inactive (activate it with: vigil keys activate ${kind} ${id})`;

/** The epoch size a forward-secure chain is asked for, undefined for a plain key; checks the flags go together. */
function chainEpochRecords(kind: KeyKind, flags: ChainFlags): number | undefined {
  if (flags.forwardSecure && kind !== "hmac") throw usage("--forward-secure applies to HMAC keys only");
  if (flags.epochRecords !== undefined && !flags.forwardSecure) {
    throw usage("--epoch-records applies with --forward-secure only");
  }
  return flags.forwardSecure ? (flags.epochRecords ?? DEFAULT_EPOCH_RECORDS) : undefined;
}

async function create(
  kind: KeyKind,
  flags: DataDirFlags & ChainFlags & { activate?: boolean; origin?: string },
  cmd: Command,
): Promise<void> {
  const { out } = output(cmd);
  const activate = flags.activate ?? false;
  if (kind === "hmac" && flags.origin !== undefined) throw usage("--origin applies to checkpoint keys only");
  const epochRecords = chainEpochRecords(kind, flags);
  if (epochRecords !== undefined) {
    const { key, seedFile } = await guarded((admin) =>
      admin.createForwardSecureChain(flags.dataDir, { activate, epochRecords }),
    );
    out(
      `created forward-secure HMAC chain ${key.id} (the key evolves every ${epochRecords} records) in ` +
        `${key.file}, ${state(activate, kind, key.id)}\n${seedNote(seedFile)}\n`,
    );
    if (activate) out(`${RESTART_NOTE}\n${FORWARD_SECURE_NOTE}\n`);
  } else if (kind === "hmac") {
    const key = await guarded((admin) => admin.createHmacKey(flags.dataDir, { activate }));
    out(`created HMAC key ${key.id} in ${key.file}, ${state(activate, kind, key.id)}\n`);
    if (activate) out(`${RESTART_NOTE}\n${ENV_KEY_NOTE}\n`);
  } else {
    const key = await guarded((admin) =>
      admin.createCheckpointSigningKey(flags.dataDir, { activate, origin: flags.origin }),
    );
    out(
      `created checkpoint key ${key.id}, ${state(activate, kind, key.keyHash)}\n` +
        `verifier key: ${key.verifierKey}\n`,
    );
    if (activate) out(`${RESTART_NOTE}\n`);
  }
}

async function activateExisting(kind: KeyKind, id: string, flags: DataDirFlags, cmd: Command): Promise<void> {
  const { out } = output(cmd);
  await requireDataDir(flags.dataDir);
  const activated = await guarded((admin) => admin.activateKey(flags.dataDir, kind, id));
  out(`${kind === "hmac" ? "HMAC" : "checkpoint"} key ${activated} is now active\n${RESTART_NOTE}\n`);
}

async function rotate(
  kind: KeyKind,
  flags: DataDirFlags & ChainFlags & { origin?: string },
  cmd: Command,
): Promise<void> {
  const { out } = output(cmd);
  await requireDataDir(flags.dataDir);
  const epochRecords = chainEpochRecords(kind, flags);
  if (epochRecords !== undefined) {
    const { key, previous, seedFile } = await guarded((admin) =>
      admin.rotateForwardSecureChain(flags.dataDir, epochRecords),
    );
    const kept = previous ? `; ${previous} stays for verifying the records it sealed` : "";
    out(
      `forward-secure HMAC chain ${key.id} (the key evolves every ${epochRecords} records) is now active ` +
        `(${key.file})${kept}\n${seedNote(seedFile)}\n${RESTART_NOTE}\n${FORWARD_SECURE_NOTE}\n`,
    );
  } else if (kind === "hmac") {
    const { key, previous } = await guarded((admin) => admin.rotateHmacKey(flags.dataDir));
    const kept = previous ? `; ${previous} stays for verifying the records it sealed` : "";
    out(`HMAC key ${key.id} is now active (${key.file})${kept}\n${RESTART_NOTE}\n${ENV_KEY_NOTE}\n`);
  } else {
    const { key, previous } = await guarded((admin) =>
      admin.rotateCheckpointKey(flags.dataDir, { origin: flags.origin }),
    );
    const kept = previous ? `; ${previous.id} stays for verifying the checkpoints it signed` : "";
    out(
      `checkpoint key ${key.id} is now active${kept}\n${RESTART_NOTE}\n` +
        "Give auditors the new verifier keys: vigil keys export-public -o FILE\n",
    );
  }
}

async function exportPublic(flags: DataDirFlags & { output?: string }, cmd: Command): Promise<void> {
  const { out, err } = output(cmd);
  await requireDataDir(flags.dataDir);
  const text = await guarded((admin) => admin.exportPublicKeys(flags.dataDir));
  if (flags.output === undefined) {
    out(text);
    return;
  }
  const { writeFileAtomic } = await import("../../util/fs.ts");
  await writeFileAtomic(flags.output, text, 0o644);
  // The file is for others to read: a restrictive umask must not narrow it.
  await chmod(flags.output, 0o644);
  const count = text.split("\n").length - 1;
  err(`wrote ${count === 1 ? "1 verifier key" : `${count} verifier keys`} to ${flags.output}\n`);
}

async function readSecret(flags: { fromEnv?: string; fromFile?: string }): Promise<[string, string]> {
  if (flags.fromEnv !== undefined) {
    const value = process.env[flags.fromEnv];
    if (value === undefined || value === "") throw usage(`${flags.fromEnv} is not set`);
    return [value, `$${flags.fromEnv}`];
  }
  if (flags.fromFile !== undefined) {
    let text: string;
    try {
      text = await readFile(flags.fromFile, "utf8");
    } catch (e) {
      throw usage(`cannot read ${flags.fromFile}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    // Trimmed exactly as keyFromFile reads key files, so the stored key has the id the file's key has.
    return [text.trim(), flags.fromFile];
  }
  throw usage("name the secret to import with --from-env VAR or --from-file FILE");
}

async function importKey(
  flags: DataDirFlags & { fromEnv?: string; fromFile?: string; activate?: boolean },
  cmd: Command,
): Promise<void> {
  const { out } = output(cmd);
  const [secret, source] = await readSecret(flags);
  const activate = flags.activate ?? false;
  const { key, existed } = await guarded((admin) =>
    admin.importHmacKey(flags.dataDir, secret, source, { activate }),
  );
  const status = key.active ? "active" : "kept for verification";
  out(
    `${existed ? "already had" : "imported"} HMAC key ${key.id} from ${source} in ${key.file}, ${status}\n`,
  );
  if (activate) out(`${RESTART_NOTE}\n`);
}

const kindArgument = () =>
  new Argument("<kind>", "hmac (seals records) or checkpoint (signs tree heads)").choices([
    "hmac",
    "checkpoint",
  ]);

const dataDirOption = () =>
  new Option("-d, --data-dir <dir>", "data directory whose keys/ holds the keys").default(DEFAULT_DATA_DIR);

function epochRecordsValue(text: string): number {
  const n = Number(text);
  if (!/^[1-9][0-9]*$/.test(text) || n > 2 ** 40) {
    throw new InvalidArgumentError("must be a positive integer (records per epoch)");
  }
  return n;
}

const forwardSecureOption = () =>
  new Option(
    "--forward-secure",
    "an HMAC chain whose key evolves every epoch and erases the one before, so a key stolen later cannot " +
      "re-sign earlier records; its seed, for auditors, is written once to keys/<chain>.seed",
  );

const epochRecordsOption = () =>
  new Option(
    "--epoch-records <n>",
    `records per epoch of a --forward-secure chain (default ${DEFAULT_EPOCH_RECORDS})`,
  ).argParser(epochRecordsValue);

const originOption = () =>
  new Option(
    "--origin <origin>",
    "the log's origin (integrity.checkpoints.origin) when the data directory has none recorded yet; checked " +
      "against the recorded one otherwise",
  );

export function keysCommand(): Command {
  const keys = new Command("keys").description(
    "list, create, rotate, activate, import and export signing keys (HMAC keys seal records, checkpoint keys sign tree " +
      "heads); old keys stay so older records and checkpoints remain verifiable",
  );
  keys
    .command("list")
    .description("list every key: HMAC keys by id and file, checkpoint keys with their public verifier key")
    .addOption(dataDirOption())
    .option("--json", "print the list as JSON")
    .action((flags: DataDirFlags & { json?: boolean }, cmd: Command) => list(flags, cmd));
  keys
    .command("create")
    .description("create a new key, inactive unless --activate")
    .addArgument(kindArgument())
    .addOption(dataDirOption())
    .option("--activate", "make it the key that signs from the next server start on")
    .addOption(originOption())
    .addOption(forwardSecureOption())
    .addOption(epochRecordsOption())
    .action(
      (
        kind: KeyKind,
        flags: DataDirFlags & ChainFlags & { activate?: boolean; origin?: string },
        cmd: Command,
      ) => create(kind, flags, cmd),
    );
  keys
    .command("rotate")
    .description("create a new key and make it active; the old key stays for verification")
    .addArgument(kindArgument())
    .addOption(dataDirOption())
    .addOption(originOption())
    .addOption(forwardSecureOption())
    .addOption(epochRecordsOption())
    .action((kind: KeyKind, flags: DataDirFlags & ChainFlags & { origin?: string }, cmd: Command) =>
      rotate(kind, flags, cmd),
    );
  keys
    .command("activate")
    .description("make an existing key active: an HMAC key by id, a checkpoint key by key hash or name+hash")
    .addArgument(kindArgument())
    .argument("<id>", "the key, as vigil keys list shows it")
    .addOption(dataDirOption())
    .action((kind: KeyKind, id: string, flags: DataDirFlags, cmd: Command) =>
      activateExisting(kind, id, flags, cmd),
    );
  keys
    .command("export-public")
    .description(
      "print every checkpoint verifier key, active first, one per line: the file for vigil verify --public-key",
    )
    .addOption(dataDirOption())
    .option("-o, --output <file>", "write the keys to this file (mode 0644) instead of standard output")
    .action((flags: DataDirFlags & { output?: string }, cmd: Command) => exportPublic(flags, cmd));
  keys
    .command("import")
    .description(
      "store an existing HMAC secret (at least 32 bytes) under its key id, e.g. the old value of " +
        "integrity.signing.key_env_var, so the records it sealed stay verifiable",
    )
    .addArgument(new Argument("<kind>", "hmac (checkpoint keys are created, not imported)").choices(["hmac"]))
    .addOption(dataDirOption())
    .addOption(
      new Option("--from-env <var>", "environment variable holding the secret").conflicts("fromFile"),
    )
    .option("--from-file <file>", "file holding the secret (surrounding whitespace ignored)")
    .option("--activate", "make it the key that seals from the next server start on")
    .action(
      (
        _kind: "hmac",
        flags: DataDirFlags & { fromEnv?: string; fromFile?: string; activate?: boolean },
        cmd: Command,
      ) => importKey(flags, cmd),
    )
    .addHelpText("after", "\nExactly one of --from-env and --from-file is required.");
  return keys;
}
