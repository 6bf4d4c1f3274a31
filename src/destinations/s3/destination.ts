/**
 * The `type: s3` destination: each batch becomes one S3 object, confirmed once S3 answered the PutObject.
 *
 * Objects. `<prefix><first>-<last>_<time>.ndjson.gz`: the batch's first and last sequence numbers, 20 digits
 * zero-padded (so keys sort by sequence), and the UTC time (`20261122T142501Z`) at which Vigil received the
 * batch's first record (its signed `received_at`; its `timestamp` for a record without one, and
 * `00000000T000000Z` for one with neither, which Vigil's ingest never seals). Nothing in the key comes from the
 * clock at upload, so a retry of a batch writes the same key. The body is the batch's records in the `format:`
 * (records the format cannot represent are skipped and counted; a batch with none left writes no object), one
 * per line, gzip'd: `Content-Type: application/x-ndjson`, `Content-Encoding: gzip`, and a SHA-256 checksum of
 * the body that S3 verifies before storing it. Signed checkpoints go to `<prefix>checkpoints/<size>` (20 digits,
 * `text/plain`), so the record objects under `<prefix>` stay alone at their level.
 *
 * Once, never twice. Every upload carries `If-None-Match: *`. When S3 answers PreconditionFailed (the key
 * exists: an earlier attempt whose answer was lost, or a batch delivered again after a crash), the stored object
 * is compared with the one to write, by its SHA-256 (HeadObject) and, if that differs, by its decoded content:
 * the same records count as delivered, without a second object version; different content means another writer
 * (another Vigil, another chain) uses this prefix, which is permanent.
 *
 * Object Lock (`object_lock: true`). Every object gets `ObjectLockMode` (COMPLIANCE by default, GOVERNANCE on
 * request) and `ObjectLockRetainUntilDate` = upload time + `object_lock_retain_days`. `start` refuses, as a
 * permanent error, a bucket without an Object Lock configuration (GetObjectLockConfiguration), rather than
 * discover it at the first upload.
 *
 * Restart. `start({committedSequence})` lists (ListObjectsV2, delimiter `/`) only the keys after the cursor's
 * (`StartAfter = <prefix><committed, 20 digits>`): the objects of batches the consumer had not committed yet, or
 * with a new cursor, all of them. It reads the last line of the one reaching the highest sequence and returns
 * that record (sequence and signature, read with `integrityOfEncodedLine`, whatever format wrote it), so records
 * already stored are not repeated and a prefix holding another chain's records is recognised by the consumer.
 *
 * Errors. Network errors, timeouts, 5xx, throttling (SlowDown, Throttling), RequestTimeout, a body damaged on
 * the way (BadDigest) and a skewed clock are retryable, and so are missing credentials (the SDK's chain can
 * find them later: an instance role that is not ready yet). NoSuchBucket, AccessDenied, InvalidAccessKeyId,
 * SignatureDoesNotMatch, a bucket in another region, Object Lock on a bucket without it and every other 4xx are
 * permanent: the destination parks with a message naming what to fix. Messages name the bucket and key, never
 * the credentials.
 *
 * Retries. The SDK makes at most 2 attempts per request: the consumer retries every failure with its own
 * backoff (and shows it in status), but a single immediate retry inside the SDK absorbs the one failure that
 * is routine with S3, a kept-alive connection S3 closed while the destination waited `batch_interval_secs`;
 * If-None-Match makes that second attempt safe when the first one did land. Each request times out after the
 * delivery's request timeout (`throwOnRequestTimeout`: without it the SDK only logs and keeps waiting), and
 * `deliver` aborts its requests when the consumer's signal aborts.
 */
import { createHash } from "node:crypto";
import { promisify } from "node:util";
import { gunzip, gzip } from "node:zlib";
import {
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  type PutObjectCommandInput,
  S3Client,
} from "@aws-sdk/client-s3";
import { FORMAT_NAMES, integrityOfEncodedLine, readSealedRecord } from "../../formats/encoder.ts";
import { awsClientOptions } from "../aws.ts";
import {
  DeliveryError,
  type Destination,
  type DestinationStatus,
  type RecordBatch,
  type RecordRef,
} from "../destination.ts";
import { destinationOutput, type RecordEncoding } from "../encoding.ts";
import type { DestinationContext } from "../registry.ts";
import { displayEndpoint, type S3DestinationConfig } from "./config.ts";

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

const DAY_MS = 86_400_000;
/** Attempts per request inside the SDK (see the module comment). */
const SDK_ATTEMPTS = 2;
/** How much of S3's own error message is quoted for errors without advice of ours. */
const QUOTED_MESSAGE_CHARS = 300;

/** The width of the sequence numbers in keys: enough for any 64-bit number, so keys sort by sequence. */
const SEQUENCE_DIGITS = 20;
const NO_TIME = "00000000T000000Z";
/** A record object's key after the prefix: first and last sequence, time of the first record. */
const RECORD_OBJECT = /^(\d{20})-(\d{20})_(\d{8}T\d{6}Z)\.ndjson\.gz$/;
const GZIP_MAGIC = [0x1f, 0x8b];

export function sequenceKeyPart(sequence: number): string {
  return String(sequence).padStart(SEQUENCE_DIGITS, "0");
}

/** `2026-11-22T14:25:01.123Z` → `20261122T142501Z`; the placeholder for what is not a date. */
export function keyTime(iso: unknown): string {
  const at = typeof iso === "string" ? Date.parse(iso) : Number.NaN;
  if (Number.isNaN(at)) return NO_TIME;
  return new Date(at)
    .toISOString()
    .replace(/\.\d{3}Z$/, "Z")
    .replace(/[-:]/g, "");
}

/** The key (after the prefix) of the object holding `batch`. */
export function recordObjectName(batch: RecordBatch): string {
  const first = batch.lines[0];
  if (first === undefined) throw new Error("an empty batch has no object");
  const event = readSealedRecord(first).event as { received_at?: unknown; timestamp?: unknown };
  const time = keyTime(typeof event.received_at === "string" ? event.received_at : event.timestamp);
  const last = batch.firstSequence + batch.lines.length - 1;
  return `${sequenceKeyPart(batch.firstSequence)}-${sequenceKeyPart(last)}_${time}.ndjson.gz`;
}

/** The first and last sequence a record object's name (after the prefix) says it holds. */
export function parseRecordObjectName(name: string): { first: number; last: number } | undefined {
  const m = RECORD_OBJECT.exec(name);
  return m ? { first: Number(m[1]), last: Number(m[2]) } : undefined;
}

/** What an S3 SDK error carries that matters here. */
interface AwsError {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

/** S3 error codes that a later attempt can succeed past (besides every 5xx). */
const RETRYABLE_CODES = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "RequestTimeout",
  "RequestTimeTooSkewed",
  "BadDigest",
  "IncompleteBody",
  "XAmzContentSHA256Mismatch",
  "OperationAborted",
  "InternalError",
  "ServiceUnavailable",
  // Temporary credentials rotated between signing and arrival: the next request is signed with the new ones.
  "ExpiredToken",
  "TokenRefreshRequired",
  // A conditional upload of the same key is still in progress (a timed-out attempt S3 is still processing):
  // AWS asks to retry.
  "ConditionalRequestConflict",
]);

export class S3Destination implements Destination {
  readonly name: string;
  readonly #config: S3DestinationConfig;
  readonly #s3: S3Client;
  readonly #encoding: RecordEncoding;
  readonly #log: (msg: string) => void;
  /** Aborted by stop(): requests made outside a delivery (start, checkpoints) end with it. */
  readonly #stopped = new AbortController();
  #objects = 0;
  #bytes = 0;

  constructor(config: S3DestinationConfig, context: DestinationContext) {
    this.name = config.name;
    this.#config = config;
    ({ log: this.#log, encoding: this.#encoding } = destinationOutput(config, context));
    this.#s3 = new S3Client({
      ...awsClientOptions(config, config.delivery.requestTimeoutMs, SDK_ATTEMPTS),
      forcePathStyle: config.forcePathStyle,
    });
  }

  status(): DestinationStatus & { objectsWritten: number; bytesWritten: number } {
    return {
      skippedRecords: this.#encoding.skipped,
      objectsWritten: this.#objects,
      bytesWritten: this.#bytes,
    };
  }

  async start(from: { committedSequence: number }): Promise<{ last?: RecordRef }> {
    const signal = this.#stopped.signal;
    if (this.#config.objectLock !== undefined) await this.#checkObjectLock(signal);
    const newest = await this.#newestRecordObject(from.committedSequence, signal);
    if (newest === undefined) return {};
    return { last: await this.#lastRecordOf(newest, signal) };
  }

  async deliver(batch: RecordBatch, signal: AbortSignal): Promise<void> {
    const records = this.#encoding.encode(batch);
    if (records.length === 0) return;
    const text = Buffer.from(`${records.map((r) => r.text).join("\n")}\n`);
    const body = await gzipAsync(text);
    const key = this.#config.prefix + recordObjectName(batch);
    const written = await this.#putOnce(
      { key, body, content: text, contentType: "application/x-ndjson", gzipped: true },
      AbortSignal.any([signal, this.#stopped.signal]),
    );
    if (written) {
      this.#objects++;
      this.#bytes += body.length;
    }
  }

  async publishCheckpoint(checkpoint: { size: number; note: string }): Promise<void> {
    const text = Buffer.from(checkpoint.note);
    await this.#putOnce(
      {
        key: `${this.#config.prefix}checkpoints/${sequenceKeyPart(checkpoint.size)}`,
        body: text,
        content: text,
        contentType: "text/plain; charset=utf-8",
        gzipped: false,
      },
      this.#stopped.signal,
    );
  }

  async stop(): Promise<void> {
    this.#stopped.abort();
    this.#s3.destroy();
  }

  /** `s3://bucket/key`, as objects are named in messages. */
  #uri(key = this.#config.prefix): string {
    return `s3://${this.#config.bucket}/${key}`;
  }

  async #checkObjectLock(signal: AbortSignal): Promise<void> {
    const { bucket } = this.#config;
    const missing = new DeliveryError(
      `bucket ${bucket} has no Object Lock configuration: object_lock: true needs a bucket with Object Lock ` +
        "enabled (at its creation, or later on a versioned bucket); enable it, or remove object_lock",
      false,
    );
    let enabled: string | undefined;
    try {
      const answer = await this.#s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }), {
        abortSignal: signal,
      });
      enabled = answer.ObjectLockConfiguration?.ObjectLockEnabled;
    } catch (e) {
      if ((e as AwsError).name === "ObjectLockConfigurationNotFoundError") throw missing;
      throw this.#classify(e, `reading the Object Lock configuration of bucket ${bucket}`, signal);
    }
    if (enabled !== "Enabled") throw missing;
  }

  /** The record object after the cursor's key that reaches the highest sequence, if any. */
  async #newestRecordObject(committedSequence: number, signal: AbortSignal): Promise<string | undefined> {
    const { bucket, prefix } = this.#config;
    let newest: { key: string; last: number } | undefined;
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.#s3.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix,
            Delimiter: "/",
            StartAfter: prefix + sequenceKeyPart(committedSequence),
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
          { abortSignal: signal },
        );
      } catch (e) {
        throw this.#classify(e, `listing ${this.#uri()}`, signal);
      }
      for (const object of page.Contents ?? []) {
        const key = object.Key ?? "";
        const range = parseRecordObjectName(key.slice(prefix.length));
        if (range !== undefined && (newest === undefined || range.last >= newest.last)) {
          newest = { key, last: range.last };
        }
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return newest?.key;
  }

  /** The last record a record object holds, read back in whichever format wrote it. */
  async #lastRecordOf(key: string, signal: AbortSignal): Promise<RecordRef> {
    const text = (await this.#download(key, signal)).toString("utf8");
    const line = text.trimEnd().split("\n").at(-1) ?? "";
    const formats = [this.#config.format, ...FORMAT_NAMES.filter((f) => f !== this.#config.format)];
    for (const format of formats) {
      const integrity = integrityOfEncodedLine(format, Buffer.from(line));
      if (integrity !== undefined) {
        return { sequence: integrity.sequence_number, signature: integrity.signature };
      }
    }
    throw new DeliveryError(
      `${this.#uri(key)} does not end with a Vigil record: something else writes Vigil's object names under ` +
        "this prefix; give this destination a prefix of its own",
      false,
    );
  }

  /** An object's content, gunzipped when it is gzip (whatever its Content-Encoding says). */
  async #download(key: string, signal: AbortSignal): Promise<Buffer> {
    let bytes: Uint8Array;
    try {
      const answer = await this.#s3.send(new GetObjectCommand({ Bucket: this.#config.bucket, Key: key }), {
        abortSignal: signal,
      });
      bytes = (await answer.Body?.transformToByteArray()) ?? new Uint8Array();
    } catch (e) {
      throw this.#classify(e, `reading ${this.#uri(key)}`, signal);
    }
    const gzipped = bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
    return gzipped ? gunzipAsync(bytes) : Buffer.from(bytes);
  }

  /**
   * Writes an object unless its key exists (true: written now); an existing object with the same content is
   * accepted as it is (a retry after a lost answer: false), one with other content is a permanent error.
   */
  async #putOnce(
    object: { key: string; body: Buffer; content: Buffer; contentType: string; gzipped: boolean },
    signal: AbortSignal,
  ): Promise<boolean> {
    const { bucket, objectLock, storageClass } = this.#config;
    const sha256 = createHash("sha256").update(object.body).digest("base64");
    const input: PutObjectCommandInput = {
      Bucket: bucket,
      Key: object.key,
      Body: object.body,
      ContentType: object.contentType,
      ...(object.gzipped ? { ContentEncoding: "gzip" } : {}),
      ChecksumAlgorithm: "SHA256",
      ChecksumSHA256: sha256,
      IfNoneMatch: "*",
      ...(storageClass === undefined ? {} : { StorageClass: storageClass }),
      ...(objectLock === undefined
        ? {}
        : {
            ObjectLockMode: objectLock.mode,
            ObjectLockRetainUntilDate: new Date(Date.now() + objectLock.retainDays * DAY_MS),
          }),
    };
    try {
      await this.#s3.send(new PutObjectCommand(input), { abortSignal: signal });
      return true;
    } catch (e) {
      if ((e as AwsError).name !== "PreconditionFailed") {
        throw this.#classify(e, `uploading ${this.#uri(object.key)}`, signal);
      }
    }
    if (await this.#holds(object.key, sha256, object.content, signal)) return false;
    throw new DeliveryError(
      `${this.#uri(object.key)} already exists with other content: another writer (another Vigil or another ` +
        "chain) uses this prefix; give this destination a prefix of its own",
      false,
    );
  }

  /** Whether the stored object at `key` has the SHA-256 `sha256`, or else the decoded `content`. */
  async #holds(key: string, sha256: string, content: Buffer, signal: AbortSignal): Promise<boolean> {
    let stored: string | undefined;
    try {
      const head = await this.#s3.send(
        new HeadObjectCommand({ Bucket: this.#config.bucket, Key: key, ChecksumMode: "ENABLED" }),
        { abortSignal: signal },
      );
      stored = head.ChecksumSHA256;
    } catch (e) {
      if ((e as AwsError).name === "NotFound") {
        // It existed a moment ago: deleted meanwhile (a delete marker); the next attempt writes it again.
        throw new DeliveryError(`${this.#uri(key)} existed, then vanished: trying again`, true, { cause: e });
      }
      throw this.#classify(e, `checking the existing ${this.#uri(key)}`, signal);
    }
    // The same records compressed by another zlib have another checksum: compare what they decode to.
    return stored === sha256 || (await this.#download(key, signal)).equals(content);
  }

  /** A DeliveryError for an SDK error: retryable or permanent (see the module comment), never quoting secrets. */
  #classify(e: unknown, doing: string, signal: AbortSignal): DeliveryError {
    const error = e as AwsError;
    const code = error.name ?? "";
    const status = error.$metadata?.httpStatusCode;
    const { bucket } = this.#config;
    const retryable = (message: string) => new DeliveryError(message, true, { cause: e });
    const permanent = (message: string) => new DeliveryError(message, false, { cause: e });
    if (signal.aborted || code === "AbortError") return retryable(`${doing}: abandoned`);
    if (code === "CredentialsProviderError") {
      return retryable(
        `${doing}: no AWS credentials found; set access_key_id and secret_access_key, or provide them ` +
          "through the environment (AWS_ACCESS_KEY_ID), a profile or an instance role",
      );
    }
    if (status === undefined) {
      if (/region is missing/i.test(error.message ?? "")) {
        return permanent(`${doing}: no AWS region: set region (or AWS_REGION)`);
      }
      const { endpoint } = this.#config;
      const where = endpoint === undefined ? "S3" : `S3 at ${displayEndpoint(endpoint)}`;
      return retryable(`${doing}: cannot reach ${where}: ${error.message ?? code}`);
    }
    if (status >= 500 || status === 429 || RETRYABLE_CODES.has(code)) {
      return retryable(`${doing}: S3 answered ${status} ${code}`);
    }
    switch (code) {
      case "NoSuchBucket":
        return permanent(
          `${doing}: bucket ${bucket} does not exist; create it${this.#config.objectLock ? " with Object Lock enabled" : ""} or fix bucket`,
        );
      case "AccessDenied":
      case "AllAccessDisabled":
      case "Forbidden":
        return permanent(
          `${doing}: access denied; the credentials need s3:ListBucket on ${bucket} and s3:PutObject and ` +
            `s3:GetObject on ${this.#uri()}*${this.#config.objectLock ? `, s3:GetBucketObjectLockConfiguration and s3:PutObjectRetention` : ""}`,
        );
      case "InvalidAccessKeyId":
        return permanent(
          `${doing}: S3 does not know the access key; check access_key_id (or the AWS credentials)`,
        );
      case "SignatureDoesNotMatch":
        return permanent(
          `${doing}: S3 refused the request signature; check secret_access_key (or the AWS credentials)`,
        );
      case "PermanentRedirect":
      case "AuthorizationHeaderMalformed":
      case "IllegalLocationConstraintException":
        return permanent(
          `${doing}: bucket ${bucket} is in another region; set region to the bucket's region`,
        );
      case "InvalidStorageClass":
        return permanent(
          `${doing}: the store does not accept this storage_class; choose another or remove it`,
        );
    }
    const said = (error.message ?? "").slice(0, QUOTED_MESSAGE_CHARS);
    if (/ObjectLockConfiguration/i.test(said)) {
      return permanent(
        `${doing}: bucket ${bucket} has no Object Lock configuration (${said}); enable Object Lock on the ` +
          "bucket, or remove object_lock",
      );
    }
    return permanent(
      `${doing}: S3 answered ${status} ${code}${said === "" || said === code ? "" : `: ${said}`} (permanent: the request will not succeed as it is)`,
    );
  }
}
