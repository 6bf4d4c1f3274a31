/**
 * The contract between the journal and a destination. The journal is the durable buffer: each destination is
 * fed by its own consumer (pipeline/consumer.ts) that reads the journal from the destination's persisted cursor,
 * so a destination that is slow or down never loses data and never blocks ingest or the other destinations.
 */
import { VigilError } from "../errors.ts";

/** Consecutive sealed records from the journal. Lines are the record JSON without the trailing newline. */
export interface RecordBatch {
  /** Sequence number of `lines[0]`; `lines[i]` has `firstSequence + i`. */
  firstSequence: number;
  lines: Buffer[];
  /**
   * Where each line lies in the journal (set by the journal reader): `positions[i]` is `lines[i]`'s segment
   * (the segment's first sequence) and byte offset in it. The search index keeps these instead of the records.
   */
  positions?: JournalLocation[];
}

/** A record's place in the journal: its segment (by first sequence) and the byte offset of its line. */
export interface JournalLocation {
  segment: number;
  offset: number;
}

/** Identifies one sealed record: its sequence number and signature. */
export interface RecordRef {
  sequence: number;
  signature: string;
}

/** What the consumer knows when it starts a destination. */
export interface StartFrom {
  /**
   * The last sequence the consumer's cursor says the destination confirmed (0: none). The destination may hold
   * more (a crash between its confirmation and the cursor commit): a destination that can only search its
   * storage forward (S3 listings) looks for records after this one.
   */
  committedSequence: number;
  /** Aborts when the consumer gives up on the start (timeout, shutdown): settle promptly then. */
  signal?: AbortSignal;
}

/**
 * Lifecycle: `start` once, then `deliver` any number of times (never concurrently: one batch at a time, in
 * sequence order), then `stop`. `stop` is safe before `start` and safe twice. A destination must not mutate
 * the lines it is given.
 */
export interface Destination {
  /** Unique among the configured destinations; names the consumer's cursor. */
  readonly name: string;
  /**
   * Prepares the destination. May return the newest record the destination already holds (read from its own
   * storage), so records delivered before a crash but after the last cursor commit are not repeated, and a
   * destination holding another chain's records is recognised instead of being appended to.
   */
  start(from: StartFrom): Promise<{ last?: RecordRef }>;
  /**
   * Resolves only once every line of the batch is durable at the destination (the server confirmed it). Throws
   * DeliveryError on failure: `tooLarge` when the server refused the batch for its size (the consumer splits it),
   * `retryAfterMs` when the server said when to come back. `signal` aborts when the consumer gives up on the
   * delivery (request timeout, shutdown): the destination must then settle promptly, abandoning its requests.
   */
  deliver(batch: RecordBatch, signal: AbortSignal): Promise<void>;
  /**
   * Publishes a signed checkpoint (C2SP note) of the chain, as fits the destination (a file beside the log, an
   * object, a topic record). Called only once every record the checkpoint covers (sequence ≤ size) has been
   * delivered, never concurrently with `deliver`. Idempotent: the same checkpoint may be published again.
   */
  publishCheckpoint?(checkpoint: { size: number; note: string }, signal: AbortSignal): Promise<void>;
  /**
   * For a destination whose server never acknowledges (syslog): the highest sequence it is sure the server has,
   * below what `deliver` resolved for while later records may still be lost with the connection. The cursor is
   * committed only up to it, so after a restart the others are sent again. Undefined or absent: everything
   * delivered is settled.
   */
  settledSequence?(): number | undefined;
  /** Counters only the destination knows, shown with its consumer's status (`GET /v1/destinations`). */
  status?(): DestinationStatus;
  stop(): Promise<void>;
}

export interface DestinationStatus {
  /** Records delivered but not written because the destination's format cannot represent them. */
  skippedRecords?: number;
}

export interface DeliveryErrorOptions {
  cause?: unknown;
  /** The server refused the batch (or its one record) as too large: split it, or apply `on_oversize`. */
  tooLarge?: boolean;
  /** The server asked to wait this long before trying again (HTTP Retry-After, throttling). */
  retryAfterMs?: number;
}

/**
 * A failed delivery. `retryable: false` parks the destination instead of retrying forever. The message is shown
 * in status and logs: it must never hold a secret (credentials, tokens, full URLs with query strings).
 */
export class DeliveryError extends VigilError {
  readonly tooLarge: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, retryable: boolean, options: DeliveryErrorOptions = {}) {
    super("destination_failed", message, { retryable, cause: options.cause });
    this.name = "DeliveryError";
    this.tooLarge = options.tooLarge ?? false;
    this.retryAfterMs = options.retryAfterMs;
  }
}
