/**
 * Forward-secure record keys, after Schneier and Kelsey ("Secure audit logs to support computer forensics",
 * 1999): the HMAC key evolves through a one-way function every `epoch_records` records and the server keeps only
 * the current epoch's key. Whoever takes the server's key today can seal this epoch's records and later ones, but
 * cannot compute an earlier epoch's key, so cannot re-sign what was sealed before.
 *
 *   K(0) = the seed, 32 random bytes;  K(e+1) = HMAC-SHA256(K(e), "vigil forward-secure evolve")
 *   epoch of sequence n = floor((n - 1) / epoch_records)
 *   key_id of a record = <chain>-<epoch>, e.g. fs-0123456789abcdef-42
 *
 * The chain id is derived from the seed and the epoch size, so a seed file whose epoch size was edited no longer
 * matches its id. The epoch follows from the sequence number, so a record needs no extra field, and a verifier
 * insists on it: a key derived for epoch e verifies only sequences of epoch e (chain.ts `limitKeyToSequences`);
 * otherwise a thief of K(e) could re-sign an old record under the key id of epoch e.
 *
 * Files in `<data-dir>/keys/` (0600), one text format: a header line, then `name: value` lines.
 *   <chain>.seed   K(0), written once when the chain is created, for the operator to move off the machine: it is
 *                  what auditors verify every epoch with, and the server never reads it.
 *   <chain>.state  the current epoch and its key, replaced atomically (write, fsync, rename, fsync the directory)
 *                  when the epoch advances. It verifies and signs its epoch and later ones only.
 * The header also marks a seed given to `vigil verify --key-file` as a seed rather than a plain HMAC secret.
 *
 * When the key advances: in memory as soon as the last record of its epoch is sealed (the Sealer asks for the
 * next key then, not at the next record, which on a quiet log may come days later); in the state file once that
 * record is durable, not sooner. A crash may cut off records that are not durable yet (journal recovery drops an
 * unacknowledged tail), and the restarted server seals those sequence numbers again, with their epoch's key; had
 * the state file's copy been erased, the chain could not continue. So on a healthy journal, however quiet, the
 * old key outlives its epoch on disk by about one group commit, and its raw copy in memory not at all.
 *
 * Erasing: every raw key Buffer held here is overwritten with zeros once the next key is derived. The copy Node
 * keeps inside a KeyObject, and key text in V8 strings, cannot be wiped and go with garbage collection; the blocks
 * of a replaced state file are freed by the file system, not scrubbed (full-disk encryption covers that).
 */
import { createHmac, createSecretKey, type KeyObject, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { VigilError } from "../errors.ts";
import { ensureDir, exists, writeFileAtomic } from "../util/fs.ts";
import { type KeySchedule, limitKeyToSequences, type SigningKey } from "./chain.ts";

/** Records per epoch when neither the configuration nor `vigil keys` says otherwise. */
export const DEFAULT_EPOCH_RECORDS = 10_000;

const EVOLVE_LABEL = "vigil forward-secure evolve";
const SEED_BYTES = 32;
const HEADERS = { seed: "vigil forward-secure seed v1", state: "vigil forward-secure state v1" } as const;
const FIELDS = ["chain", "epoch_records", "epoch", "created", "key"] as const;
const CHAIN_ID = /^fs-[0-9a-f]{16}$/;
const EPOCH_KEY_ID = /^(fs-[0-9a-f]{16})-(0|[1-9][0-9]{0,15})$/;
const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;
/** The pointer file naming the key or chain the server seals with (as keys.ts and key-admin.ts read it). */
const ACTIVE = "active";

/** A verifier keeps every ANCHOR_EVERY-th key it derived, so a lookup walks at most that many steps. */
const ANCHOR_EVERY = 64;
/** Epoch keys a verifier keeps ready: the current epoch's and the few a reordered or repeated record needs. */
const RECENT_KEYS = 16;
/**
 * The furthest one lookup derives past the keys a verifier has (about a second): a forged key id naming a huge
 * epoch would otherwise hold it for ever. Beyond this the id is an unknown key. A log read from its start never
 * comes near it; a partial one (retention) may start at most this many epochs past the seed or state.
 */
const MAX_DERIVATION = 1 << 17;

type ChainFileKind = keyof typeof HEADERS;

/** A seed or state file's content. */
export interface ChainFile {
  kind: ChainFileKind;
  chain: string;
  epochRecords: number;
  /** The epoch `key` belongs to: 0 for the seed. */
  epoch: number;
  /** When the chain was created. */
  created: Date;
  key: Buffer;
}

/** K(e+1) from K(e); K(e) is overwritten with zeros. */
export function evolve(key: Buffer): Buffer {
  const next = createHmac("sha256", key).update(EVOLVE_LABEL).digest();
  key.fill(0);
  return next;
}

export function chainIdOf(seed: Buffer, epochRecords: number): string {
  const mac = createHmac("sha256", seed).update(`vigil forward-secure chain id v1 ${epochRecords}`);
  return `fs-${mac.digest("hex").slice(0, 16)}`;
}

export function isChainId(id: string): boolean {
  return CHAIN_ID.test(id);
}

export function epochKeyId(chain: string, epoch: number): string {
  return `${chain}-${epoch}`;
}

/** The chain and epoch a record's key id names, or undefined for any other key id. */
export function parseEpochKeyId(id: string): { chain: string; epoch: number } | undefined {
  const m = EPOCH_KEY_ID.exec(id);
  const epoch = Number(m?.[2]);
  return m && Number.isSafeInteger(epoch) ? { chain: m[1] as string, epoch } : undefined;
}

export function epochOf(sequence: number, epochRecords: number): number {
  return Math.floor((sequence - 1) / epochRecords);
}

export function seedFileOf(keysDir: string, chain: string): string {
  return join(keysDir, `${chain}.seed`);
}

export function stateFileOf(keysDir: string, chain: string): string {
  return join(keysDir, `${chain}.state`);
}

/** Whether a key file's text is a forward-secure seed or state rather than a plain HMAC secret. */
export function isChainFileText(text: string): boolean {
  return text.startsWith(HEADERS.seed) || text.startsWith(HEADERS.state);
}

export function formatChainFile(file: ChainFile): string {
  return (
    `${HEADERS[file.kind]}\nchain: ${file.chain}\nepoch_records: ${file.epochRecords}\nepoch: ${file.epoch}\n` +
    `created: ${file.created.toISOString()}\nkey: ${file.key.toString("hex")}\n`
  );
}

/** Parses a seed or state file; `path` names it in errors, which never quote the key. */
export function parseChainFile(text: string, path: string): ChainFile {
  const bad = (why: string) => new VigilError("bad_key", `${path}: ${why}`);
  const [header, ...lines] = text.trimEnd().split("\n");
  const kind = header === HEADERS.seed ? "seed" : header === HEADERS.state ? "state" : undefined;
  if (kind === undefined) {
    throw bad(
      `not a forward-secure seed or state (the first line is not "${HEADERS.seed}" or "${HEADERS.state}")`,
    );
  }
  const fields = new Map<string, string>();
  lines.forEach((line, i) => {
    const m = /^([a-z_]+): (\S+)$/.exec(line);
    const name = m?.[1] as string;
    if (!m || !(FIELDS as readonly string[]).includes(name) || fields.has(name)) {
      throw bad(`line ${i + 2} is not one of ${FIELDS.join(", ")} (each once, as "name: value")`);
    }
    fields.set(name, m[2] as string);
  });
  const missing = FIELDS.filter((f) => !fields.has(f));
  if (missing.length > 0) throw bad(`missing ${missing.join(", ")}`);
  const chain = fields.get("chain") as string;
  const epochRecords = Number(fields.get("epoch_records"));
  const epoch = Number(fields.get("epoch"));
  const created = new Date(fields.get("created") as string);
  const hex = fields.get("key") as string;
  if (!CHAIN_ID.test(chain)) throw bad("chain is not fs- and 16 hex digits");
  if (
    !DECIMAL.test(fields.get("epoch_records") as string) ||
    !Number.isSafeInteger(epochRecords) ||
    epochRecords < 1
  ) {
    throw bad("epoch_records is not a positive integer");
  }
  if (!DECIMAL.test(fields.get("epoch") as string) || !Number.isSafeInteger(epoch)) {
    throw bad("epoch is not a non-negative integer");
  }
  if (Number.isNaN(created.getTime())) throw bad("created is not a date");
  if (!/^[0-9a-f]{64}$/.test(hex)) throw bad("key is not 64 lowercase hex digits");
  const key = Buffer.from(hex, "hex");
  if (kind === "seed" && (epoch !== 0 || chainIdOf(key, epochRecords) !== chain)) {
    key.fill(0);
    throw bad(
      `not the seed of ${chain} (its key and epoch size give another chain id, or its epoch is not 0)`,
    );
  }
  return { kind, chain, epochRecords, epoch, created, key };
}

export async function readChainFile(path: string): Promise<ChainFile> {
  return parseChainFile(await readFile(path, "utf8"), path);
}

async function readActive(keysDir: string): Promise<string | undefined> {
  try {
    return (await readFile(join(keysDir, ACTIVE), "utf8")).trim() || undefined;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/**
 * Creates a chain: a random seed, written once to `<chain>.seed`, and the state at epoch 0 (both 0600 in a 0700
 * directory); with `activate`, the server seals with it from its next start on.
 */
export async function createChain(
  keysDir: string,
  options: { epochRecords: number; activate: boolean },
): Promise<{ chain: string; seedFile: string; stateFile: string; created: Date }> {
  await ensureDir(keysDir);
  const key = randomBytes(SEED_BYTES);
  const chain = chainIdOf(key, options.epochRecords);
  const file: ChainFile = {
    kind: "seed",
    chain,
    epochRecords: options.epochRecords,
    epoch: 0,
    created: new Date(),
    key,
  };
  const seedFile = seedFileOf(keysDir, chain);
  const stateFile = stateFileOf(keysDir, chain);
  // The seed first: a state without its seed would seal records no auditor could check from the start.
  await writeFileAtomic(seedFile, formatChainFile(file), 0o600);
  await writeFileAtomic(stateFile, formatChainFile({ ...file, kind: "state" }), 0o600);
  key.fill(0);
  if (options.activate) await writeFileAtomic(join(keysDir, ACTIVE), `${chain}\n`, 0o600);
  return { chain, seedFile, stateFile, created: file.created };
}

export interface SignerOptions {
  /** Records per epoch the configuration asks for; undefined: whatever the chain was created with. */
  epochRecords?: number;
  /** The sequence number the chain continues at; every record before it is durable. */
  nextSequence: number;
  /**
   * Resolves true once every record up to `sequence` is durable, false if they never will be (the journal
   * failed or closed first).
   */
  whenDurable: (sequence: number) => Promise<boolean>;
  log: (msg: string) => void;
}

/**
 * The server's side: the current epoch's key, and the state file it keeps up to date. A `KeySchedule` for the
 * Sealer, which asks for the next epoch's key as soon as it has sealed the last record of an epoch.
 */
export class ForwardSecureSigner implements KeySchedule {
  readonly chain: string;
  readonly epochRecords: number;
  readonly #stateFile: string;
  readonly #created: Date;
  readonly #whenDurable: (sequence: number) => Promise<boolean>;
  readonly #log: (msg: string) => void;
  #epoch: number;
  /** K(#epoch), the only raw copy of a chain key the server holds. */
  #raw: Buffer;
  #key: SigningKey;
  /** State file writes, one after the other, so the file's epoch only grows. */
  #writes: Promise<void> = Promise.resolve();

  private constructor(state: ChainFile, stateFile: string, options: SignerOptions) {
    this.chain = state.chain;
    this.epochRecords = state.epochRecords;
    this.#stateFile = stateFile;
    this.#created = state.created;
    this.#whenDurable = options.whenDurable;
    this.#log = options.log;
    this.#epoch = state.epoch;
    this.#raw = state.key;
    this.#key = this.#keyOf(state.epoch);
  }

  /**
   * Opens a state file and moves it forward to the epoch of `nextSequence`, erasing the keys it passes. Refuses a
   * state already past that epoch: the key that chain continues with was erased, and cannot be derived back.
   */
  static async open(stateFile: string, options: SignerOptions): Promise<ForwardSecureSigner> {
    const state = await readChainFile(stateFile);
    if (state.kind !== "state") throw new VigilError("bad_key", `${stateFile} is not a forward-secure state`);
    if (options.epochRecords !== undefined && options.epochRecords !== state.epochRecords) {
      throw new VigilError(
        "invalid_config",
        `integrity.signing.forward_secure.epoch_records is ${options.epochRecords}, but chain ${state.chain} was ` +
          `created with epochs of ${state.epochRecords} records, which cannot change; set ${state.epochRecords}, ` +
          "or start a new chain with: vigil keys rotate hmac --forward-secure --epoch-records N",
      );
    }
    const epoch = epochOf(options.nextSequence, state.epochRecords);
    if (state.epoch > epoch) {
      throw new VigilError(
        "key_missing",
        `${stateFile} holds the key of epoch ${state.epoch} (from sequence ${state.epoch * state.epochRecords + 1}), ` +
          `but the chain continues at sequence ${options.nextSequence}, in epoch ${epoch}, whose key was erased: the ` +
          "journal is older than the key (restored from a backup?). Restore the matching journal, or seal on under " +
          "a new chain: vigil keys rotate hmac --forward-secure",
      );
    }
    const signer = new ForwardSecureSigner(state, stateFile, options);
    if (epoch > state.epoch) {
      // Every record before nextSequence is durable: the keys of the epochs passed are not needed again.
      signer.#advance(epoch);
      await writeFileAtomic(stateFile, signer.#stateText(), 0o600);
    }
    return signer;
  }

  /** The epoch whose key the signer holds. */
  get epoch(): number {
    return this.#epoch;
  }

  keyFor(sequence: number): { key: SigningKey; last: number } {
    const epoch = epochOf(sequence, this.epochRecords);
    if (epoch !== this.#epoch) {
      this.#advance(epoch);
      this.#writes = this.#writes.then(() => this.#persist(epoch));
    }
    return { key: this.#key, last: (epoch + 1) * this.epochRecords };
  }

  /** Resolves once every state file write asked for so far is done (or skipped). */
  settled(): Promise<void> {
    return this.#writes;
  }

  #advance(epoch: number): void {
    if (epoch < this.#epoch) {
      throw new VigilError(
        "internal",
        `forward-secure chain ${this.chain} asked for epoch ${epoch} after ${this.#epoch}`,
      );
    }
    while (this.#epoch < epoch) {
      this.#raw = evolve(this.#raw);
      this.#epoch += 1;
    }
    this.#key = this.#keyOf(epoch);
  }

  #keyOf(epoch: number): SigningKey {
    return { id: epochKeyId(this.chain, epoch), secret: createSecretKey(this.#raw) };
  }

  #stateText(): string {
    return formatChainFile({
      kind: "state",
      chain: this.chain,
      epochRecords: this.epochRecords,
      epoch: this.#epoch,
      created: this.#created,
      key: this.#raw,
    });
  }

  async #persist(epoch: number): Promise<void> {
    if (!(await this.#whenDurable(epoch * this.epochRecords))) return;
    // A later advance queued its own write; this epoch's key is already gone.
    if (epoch !== this.#epoch) return;
    try {
      await writeFileAtomic(this.#stateFile, this.#stateText(), 0o600);
    } catch (e) {
      this.#log(
        `warning: cannot write ${this.#stateFile} for epoch ${epoch} of ${this.chain}: ${(e as Error).message}; ` +
          "an earlier epoch's key stays on disk until a write succeeds",
      );
    }
  }
}

/**
 * Opens the chain `keys/active` names for sealing, or creates one (and makes it active) when it names none or a
 * plain HMAC key.
 */
export async function openSealingChain(
  keysDir: string,
  options: SignerOptions,
): Promise<{
  signer: ForwardSecureSigner;
  created: boolean;
  replaced?: string;
  seedFile: string;
  seedPresent: boolean;
}> {
  const active = await readActive(keysDir);
  let chain = active;
  const created = active === undefined || !isChainId(active);
  if (created) {
    const epochRecords = options.epochRecords ?? DEFAULT_EPOCH_RECORDS;
    chain = (await createChain(keysDir, { epochRecords, activate: true })).chain;
  }
  const stateFile = stateFileOf(keysDir, chain as string);
  if (!(await exists(stateFile))) {
    throw new VigilError(
      "key_missing",
      `keys/active names forward-secure chain ${chain}, but ${stateFile} is missing; restore it, or start a new ` +
        "chain with: vigil keys rotate hmac --forward-secure",
    );
  }
  const signer = await ForwardSecureSigner.open(stateFile, options);
  const seedFile = seedFileOf(keysDir, signer.chain);
  return {
    signer,
    created,
    ...(created && active !== undefined ? { replaced: active } : {}),
    seedFile,
    seedPresent: await exists(seedFile),
  };
}

/**
 * A verifier's keys of one chain, derived on demand from a seed (every epoch) or a state file (its epoch and
 * later ones), each limited to its epoch's sequence numbers.
 */
export class ChainKeys {
  readonly chain: string;
  readonly epochRecords: number;
  /** The earliest epoch whose key can be derived: 0 from a seed, the state's epoch from a state file. */
  readonly firstEpoch: number;
  /** K(firstEpoch + i * ANCHOR_EVERY). */
  readonly #anchors: Buffer[];
  readonly #recent = new Map<number, KeyObject>();

  constructor(file: ChainFile) {
    this.chain = file.chain;
    this.epochRecords = file.epochRecords;
    this.firstEpoch = file.epoch;
    this.#anchors = [Buffer.from(file.key)];
  }

  /** The key of `epoch`; undefined before `firstEpoch` (one-way: not derivable) and too far past what is known. */
  key(epoch: number): KeyObject | undefined {
    const recent = this.#recent.get(epoch);
    if (recent !== undefined) return recent;
    if (epoch < this.firstEpoch) return undefined;
    const offset = epoch - this.firstEpoch;
    const anchor = Math.min(Math.floor(offset / ANCHOR_EVERY), this.#anchors.length - 1);
    let at = anchor * ANCHOR_EVERY;
    if (offset - at > MAX_DERIVATION) return undefined;
    let raw: Buffer = Buffer.from(this.#anchors[anchor] as Buffer);
    while (at < offset) {
      raw = evolve(raw);
      at += 1;
      if (at === this.#anchors.length * ANCHOR_EVERY) this.#anchors.push(Buffer.from(raw));
    }
    const secret = this.#scoped(raw, epoch);
    raw.fill(0);
    this.#recent.set(epoch, secret);
    if (this.#recent.size > RECENT_KEYS) this.#recent.delete(this.#recent.keys().next().value as number);
    return secret;
  }

  /** The keys of the `count` epochs from `firstEpoch` on, by key id, derived one after the other. */
  *list(count: number): Generator<[string, KeyObject]> {
    let raw: Buffer = Buffer.from(this.#anchors[0] as Buffer);
    try {
      for (let epoch = this.firstEpoch; epoch < this.firstEpoch + count; epoch++) {
        if (epoch > this.firstEpoch) raw = evolve(raw);
        yield [epochKeyId(this.chain, epoch), this.#scoped(raw, epoch)];
      }
    } finally {
      raw.fill(0);
    }
  }

  /** A KeyObject of `raw` that verifies only the sequence numbers of `epoch`. */
  #scoped(raw: Buffer, epoch: number): KeyObject {
    const secret = createSecretKey(raw);
    limitKeyToSequences(secret, epoch * this.epochRecords + 1, (epoch + 1) * this.epochRecords);
    return secret;
  }
}
