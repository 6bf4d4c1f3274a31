/**
 * The S3 destination against moto (test/support/moto.ts), with the real AWS SDK: the destination contract, the
 * objects it writes (key, gzip'd NDJSON, SHA-256 checksum, Object Lock retention), a retry that does not write a
 * second version (also when an upload abandoned while S3 hung lands late), checkpoints, resuming after a crash
 * without repeating records, how errors are classified, and spec/000's block and the outage scenario through
 * the real server. Each suite starts its own moto.
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RecordBatch } from "../src/destinations/destination.ts";
import {
  type RawS3Destination,
  resolveS3Destination,
  type S3DestinationConfig,
} from "../src/destinations/s3/config.ts";
import { S3Destination } from "../src/destinations/s3/destination.ts";
import { canonicalize } from "../src/integrity/canonical.ts";
import { parseRecord, Sealer } from "../src/integrity/chain.ts";
import { keyFromSecret } from "../src/integrity/keys.ts";
import { CursorStore } from "../src/journal/cursor.ts";
import { JournalWriter } from "../src/journal/writer.ts";
import { JournalConsumer } from "../src/pipeline/consumer.ts";
import { destinationContract, type StoredRecord } from "./support/destination-contract.ts";
import { destinationStatuses, waitUntil, writeConfig } from "./support/files.ts";
import { type Moto, startMoto } from "./support/moto.ts";
import { outageScenario } from "./support/outage.ts";
import { event, ndjson, post, startVigil, tempDir, waitForDelivery } from "./support/vigil-process.ts";

const DAY = 86_400_000;
const context = { log: () => {}, productVersion: "test", logOrigin: "vigil.test/log" };

/** A test client of its own, as a user's tools would read the bucket. */
function adminClient(moto: Moto): S3Client {
  return new S3Client({
    endpoint: moto.endpoint,
    region: moto.region,
    credentials: moto.credentials,
    forcePathStyle: true,
    maxAttempts: 1,
  });
}

/** A destination config pointed at moto; batches go at once unless the test says otherwise. */
function s3Config(moto: Moto, raw: Partial<RawS3Destination> & { bucket: string }): S3DestinationConfig {
  return resolveS3Destination({
    type: "s3",
    endpoint: moto.endpoint,
    region: moto.region,
    access_key_id: moto.credentials.accessKeyId,
    secret_access_key: moto.credentials.secretAccessKey,
    batch_interval_secs: 0,
    request_timeout_secs: 5,
    ...raw,
  });
}

async function createBucket(s3: S3Client, bucket: string, objectLock: boolean): Promise<void> {
  await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: objectLock }));
}

async function keysUnder(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    keys.push(...(page.Contents ?? []).map((o) => o.Key ?? ""));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return keys;
}

async function download(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  const answer = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from((await answer.Body?.transformToByteArray()) ?? new Uint8Array());
}

/** The lines of every record object under `prefix`, in key order. */
async function storedLines(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const lines: string[] = [];
  for (const key of await keysUnder(s3, bucket, prefix)) {
    if (!key.endsWith(".ndjson.gz")) continue;
    const text = gunzipSync(await download(s3, bucket, key)).toString("utf8");
    lines.push(...text.split("\n").filter((l) => l !== ""));
  }
  return lines;
}

/** Every native record stored under `prefix`, in key order. */
async function storedRecords(s3: S3Client, bucket: string, prefix: string): Promise<StoredRecord[]> {
  return (await storedLines(s3, bucket, prefix)).map((line) => {
    const parsed = parseRecord(Buffer.from(line));
    if (!parsed.ok) throw new Error(parsed.reason);
    const ev = JSON.parse(parsed.record.event.toString()) as { details?: Record<string, unknown> };
    return {
      sequence: parsed.record.integrity.sequence_number,
      signature: parsed.record.integrity.signature,
      ...(ev.details === undefined ? {} : { details: ev.details }),
    };
  });
}

const key = keyFromSecret(Buffer.alloc(32, 5), "s3-test");
const RECEIVED_AT = "2026-11-22T14:25:01.250Z";

/** Seals events into consecutive batches of one chain, as the journal hands them to a destination. */
class Chain {
  readonly #sealer = new Sealer(key, { sequence: 0, signature: "" });
  readonly signatures: string[] = [];

  lines(n: number, extra: Record<string, unknown> = {}): string[] {
    return Array.from({ length: n }, () => {
      const i = this.signatures.length + 1;
      const sealed = this.#sealer.seal(
        canonicalize({
          event_type: "backup.completed",
          event_id: `evt-${i}`,
          timestamp: "2026-11-22T14:25:00Z",
          version: "1.0",
          received_at: RECEIVED_AT,
          origin: { source: "http" },
          actor: { type: "user", id: "alice" },
          details: { i, ...extra },
        }),
      );
      this.signatures.push(sealed.integrity.signature);
      return sealed.line;
    });
  }

  batch(n: number, extra: Record<string, unknown> = {}): RecordBatch {
    const firstSequence = this.signatures.length + 1;
    return { firstSequence, lines: this.lines(n, extra).map((l) => Buffer.from(l)) };
  }
}

const signal = () => new AbortController().signal;

describe("s3 destination contract", () => {
  const bucket = "vigil-contract";
  let moto: Moto;
  let admin: S3Client;
  beforeAll(async () => {
    moto = await startMoto();
    admin = adminClient(moto);
    await createBucket(admin, bucket, true);
  });
  afterAll(async () => {
    admin?.destroy();
    await moto?.close();
  });

  destinationContract("s3", () => ({
    create: async ({ name, delivery }) => {
      // The destination's name gives its prefix: the contract's restart creates it again by name.
      const prefix = `${name}/`;
      const config = s3Config(moto, { name, bucket, prefix, object_lock: true, object_lock_retain_days: 1 });
      config.delivery = { ...config.delivery, ...delivery };
      return {
        destination: new S3Destination(config, context),
        read: () => storedRecords(admin, bucket, prefix),
      };
    },
    interrupt: () => moto.pause(),
    resume: () => moto.resume(),
    oversizeBytes: undefined,
  }));
});

describe("s3 destination", () => {
  const locked = "vigil-locked";
  const plain = "vigil-plain";
  let moto: Moto;
  let admin: S3Client;
  let prefixes = 0;
  /** A prefix of its own for each test. */
  const newPrefix = () => `t${++prefixes}/`;

  beforeAll(async () => {
    moto = await startMoto();
    admin = adminClient(moto);
    await createBucket(admin, locked, true);
    await createBucket(admin, plain, false);
  });
  afterAll(async () => {
    admin?.destroy();
    await moto?.close();
  });

  it("writes one gzip'd NDJSON object per batch, named by its sequence range and time, checksummed and retained in COMPLIANCE", async () => {
    const prefix = newPrefix();
    const d = new S3Destination(s3Config(moto, { bucket: locked, prefix, object_lock: true }), context);
    expect(await d.start({ committedSequence: 0 })).toEqual({});
    const chain = new Chain();
    const batch = chain.batch(3);
    const before = Date.now();
    await d.deliver(batch, signal());
    const objectKey = `${prefix}00000000000000000001-00000000000000000003_20261122T142501Z.ndjson.gz`;
    expect(await keysUnder(admin, locked, prefix)).toEqual([objectKey]);

    const body = await download(admin, locked, objectKey);
    expect(gunzipSync(body).toString("utf8")).toBe(`${batch.lines.map((l) => l.toString()).join("\n")}\n`);
    const head = await admin.send(
      new HeadObjectCommand({ Bucket: locked, Key: objectKey, ChecksumMode: "ENABLED" }),
    );
    expect(head).toMatchObject({
      ContentType: "application/x-ndjson",
      ContentEncoding: "gzip",
      ChecksumSHA256: createHash("sha256").update(body).digest("base64"),
      ObjectLockMode: "COMPLIANCE",
    });
    const until = head.ObjectLockRetainUntilDate?.getTime() ?? 0;
    expect(until).toBeGreaterThanOrEqual(before + 365 * DAY - 1000);
    expect(until).toBeLessThanOrEqual(Date.now() + 365 * DAY + 1000);
    expect(d.status()).toEqual({ skippedRecords: 0, objectsWritten: 1, bytesWritten: body.length });

    // The retained version cannot be deleted.
    await expect(
      admin.send(new DeleteObjectCommand({ Bucket: locked, Key: objectKey, VersionId: head.VersionId })),
    ).rejects.toMatchObject({ name: "AccessDenied" });
    await d.stop();
  });

  it("retains in GOVERNANCE for object_lock_retain_days when configured, checkpoints too", async () => {
    const prefix = newPrefix();
    const d = new S3Destination(
      s3Config(moto, {
        bucket: locked,
        prefix,
        object_lock: true,
        object_lock_mode: "governance",
        object_lock_retain_days: 2,
      }),
      context,
    );
    await d.start({ committedSequence: 0 });
    const before = Date.now();
    await d.deliver(new Chain().batch(2), signal());
    const note = "vigil.test/log\n2\nroot=\n\n— vigil.test/log sig\n";
    await d.publishCheckpoint({ size: 2, note });
    await d.publishCheckpoint({ size: 2, note }); // published again after a restart: no error, no new version
    const keys = await keysUnder(admin, locked, prefix);
    expect(keys).toEqual([
      `${prefix}00000000000000000001-00000000000000000002_20261122T142501Z.ndjson.gz`,
      `${prefix}checkpoints/00000000000000000002`,
    ]);
    for (const objectKey of keys) {
      const head = await admin.send(new HeadObjectCommand({ Bucket: locked, Key: objectKey }));
      expect(head.ObjectLockMode).toBe("GOVERNANCE");
      const until = head.ObjectLockRetainUntilDate?.getTime() ?? 0;
      expect(until).toBeGreaterThanOrEqual(before + 2 * DAY - 1000);
      expect(until).toBeLessThanOrEqual(Date.now() + 2 * DAY + 1000);
    }
    const checkpoint = `${prefix}checkpoints/00000000000000000002`;
    expect((await download(admin, locked, checkpoint)).toString()).toBe(note);
    const head = await admin.send(new HeadObjectCommand({ Bucket: locked, Key: checkpoint }));
    expect(head.ContentType).toBe("text/plain; charset=utf-8");
    const versions = await admin.send(new ListObjectVersionsCommand({ Bucket: locked, Prefix: checkpoint }));
    expect(versions.Versions).toHaveLength(1);
    await d.stop();
  });

  it("writes a batch delivered again after a lost answer once, and refuses other content at its key", async () => {
    const prefix = newPrefix();
    const d = new S3Destination(s3Config(moto, { bucket: locked, prefix, object_lock: true }), context);
    await d.start({ committedSequence: 0 });
    const batch = new Chain().batch(5);
    await d.deliver(batch, signal());
    await d.deliver(batch, signal());
    const versions = await admin.send(new ListObjectVersionsCommand({ Bucket: locked, Prefix: prefix }));
    expect(versions.Versions).toHaveLength(1);
    expect(d.status().objectsWritten).toBe(1);

    // The same sequence range and time from another chain (another Vigil writing to this prefix).
    const other = new Chain().batch(5, { other: true });
    const error = await d.deliver(other, signal()).catch((e: unknown) => e);
    expect(error).toMatchObject({
      retryable: false,
      message: expect.stringMatching(
        /already exists with other content: another writer .* give this destination a prefix of its own/,
      ),
    });
    await d.stop();
  });

  it("writes the configured format, and reads the last record back whatever format wrote it", async () => {
    const prefix = newPrefix();
    const chain = new Chain();
    const ocsf = new S3Destination(s3Config(moto, { bucket: plain, prefix, format: "ocsf" }), context);
    await ocsf.start({ committedSequence: 0 });
    await ocsf.deliver(chain.batch(4), signal());
    const [line] = await storedLines(admin, plain, prefix);
    expect(JSON.parse(line ?? "")).toMatchObject({
      class_uid: expect.any(Number),
      unmapped: { vigil_integrity: { sequence_number: 1 } },
    });
    await ocsf.stop();
    const native = new S3Destination(s3Config(moto, { bucket: plain, prefix }), context);
    expect(await native.start({ committedSequence: 0 })).toEqual({
      last: { sequence: 4, signature: chain.signatures[3] },
    });
    await native.stop();
  });

  it("finds the newest stored record after a crash from the objects after the cursor only", async () => {
    const prefix = newPrefix();
    const config = s3Config(moto, { bucket: plain, prefix });
    const first = new S3Destination(config, context);
    await first.start({ committedSequence: 0 });
    const chain = new Chain();
    for (let i = 0; i < 3; i++) await first.deliver(chain.batch(10), signal());
    await first.publishCheckpoint({ size: 30, note: "checkpoint\n" });
    await first.stop();

    // A new instance, as after a crash: the cursor may lag behind what S3 holds.
    const again = new S3Destination(config, context);
    const newest = { last: { sequence: 30, signature: chain.signatures[29] } };
    expect(await again.start({ committedSequence: 0 })).toEqual(newest);
    expect(await again.start({ committedSequence: 10 })).toEqual(newest);
    expect(await again.start({ committedSequence: 20 })).toEqual(newest);
    expect(await again.start({ committedSequence: 30 })).toEqual({});
    await again.stop();
  });

  it("resumes after a crash without repeating what S3 already holds", async () => {
    const prefix = newPrefix();
    const dataDir = await mkdtemp(join(tmpdir(), "vigil-s3-"));
    const { writer, recovery } = await JournalWriter.open({
      dir: join(dataDir, "journal"),
      segmentBytes: 1 << 20,
    });
    const sealer = new Sealer(key, recovery.head);
    const append = (n: number) =>
      writer.append(
        Array.from({ length: n }, (_, i) =>
          sealer.seal(canonicalize({ event_type: "a.b", received_at: RECEIVED_AT, details: { i } })),
        ).map((s) => s.line),
        writer.durableSequence + 1,
      );
    const cursors = new CursorStore(dataDir);
    const config = s3Config(moto, { bucket: plain, prefix, batch: { max_events: 10 } });
    const consumer = () =>
      new JournalConsumer(new S3Destination(config, context), {
        journalDir: join(dataDir, "journal"),
        writer,
        cursors,
        log: () => {},
        delivery: { ...config.delivery, backoff: { initialMs: 10, maxMs: 50 } },
        cursorCommitMs: 0,
      });
    try {
      await append(30);
      const c1 = consumer();
      await c1.start();
      await waitUntil("30 delivered", async () => (c1.status().deliveredSequence === 30 ? true : undefined));
      await c1.stop();
      // The crash came before the cursor commit of the last two objects.
      await cursors.save({ name: config.name, sequence: 10 });
      const c2 = consumer();
      await c2.start();
      await append(5);
      await waitUntil("35 delivered", async () => (c2.status().deliveredSequence === 35 ? true : undefined));
      await c2.stop();
      expect(c2.status().deliveredRecords).toBe(5);
      const sequences = (await storedRecords(admin, plain, prefix)).map((r) => r.sequence);
      expect(sequences).toEqual(Array.from({ length: 35 }, (_, i) => i + 1));
      expect((await keysUnder(admin, plain, prefix)).length).toBe(4);
    } finally {
      await writer.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("writes each object once when S3 hangs and an abandoned upload lands after the retry was sent", async () => {
    const prefix = newPrefix();
    const dataDir = await mkdtemp(join(tmpdir(), "vigil-s3-"));
    const { writer, recovery } = await JournalWriter.open({
      dir: join(dataDir, "journal"),
      segmentBytes: 1 << 20,
    });
    const sealer = new Sealer(key, recovery.head);
    const lines = Array.from(
      { length: 40 },
      (_, i) =>
        sealer.seal(canonicalize({ event_type: "a.b", received_at: RECEIVED_AT, details: { i } })).line,
    );
    const config = s3Config(moto, { bucket: locked, prefix, object_lock: true, batch: { max_events: 10 } });
    const c = new JournalConsumer(new S3Destination(config, context), {
      journalDir: join(dataDir, "journal"),
      writer,
      cursors: new CursorStore(dataDir),
      log: () => {},
      delivery: { ...config.delivery, requestTimeoutMs: 300, backoff: { initialMs: 10, maxMs: 50 } },
    });
    try {
      await writer.append(lines.slice(0, 10), 1);
      await c.start();
      await waitUntil("10 delivered", async () => (c.status().deliveredSequence === 10 ? true : undefined));
      await moto.pause("hang");
      await writer.append(lines.slice(10), 11);
      await waitUntil("a timed-out upload", async () => (c.status().timeouts > 0 ? true : undefined));
      await moto.resume();
      await waitUntil("40 delivered", async () => (c.status().deliveredSequence === 40 ? true : undefined));
      const versions = await admin.send(new ListObjectVersionsCommand({ Bucket: locked, Prefix: prefix }));
      const keys = (versions.Versions ?? []).map((v) => v.Key);
      expect(keys).toHaveLength(4);
      expect(new Set(keys).size).toBe(4);
      const sequences = (await storedRecords(admin, locked, prefix)).map((r) => r.sequence);
      expect(sequences).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    } finally {
      await c.stop();
      await writer.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("parks with a clear message when object_lock is set on a bucket without Object Lock", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "vigil-s3-"));
    const { writer } = await JournalWriter.open({ dir: join(dataDir, "journal"), segmentBytes: 1 << 20 });
    try {
      const config = s3Config(moto, { bucket: plain, prefix: newPrefix(), object_lock: true });
      const c = new JournalConsumer(new S3Destination(config, context), {
        journalDir: join(dataDir, "journal"),
        writer,
        cursors: new CursorStore(dataDir),
        log: () => {},
      });
      await c.start();
      const status = await waitUntil("the destination to park", async () =>
        c.status().state === "parked" ? c.status() : undefined,
      );
      expect(status.lastError).toMatch(
        /^bucket vigil-plain has no Object Lock configuration: object_lock: true needs a bucket with Object Lock enabled/,
      );
      await c.stop();
    } finally {
      await writer.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("classifies errors: a missing bucket is permanent, an outage retryable, an abort prompt", async () => {
    const missing = new S3Destination(s3Config(moto, { bucket: "vigil-missing", prefix: "p/" }), context);
    await expect(missing.start({ committedSequence: 0 })).rejects.toMatchObject({
      retryable: false,
      message: "listing s3://vigil-missing/p/: bucket vigil-missing does not exist; create it or fix bucket",
    });
    await expect(missing.deliver(new Chain().batch(1), signal())).rejects.toMatchObject({
      retryable: false,
      message: expect.stringMatching(
        /^uploading s3:\/\/vigil-missing\/p\/0.*: bucket vigil-missing does not exist/,
      ),
    });
    await missing.stop();

    const d = new S3Destination(s3Config(moto, { bucket: plain, prefix: newPrefix() }), context);
    await moto.pause();
    try {
      await expect(d.deliver(new Chain().batch(1), signal())).rejects.toMatchObject({
        retryable: true,
        message: expect.stringMatching(/cannot reach S3 at http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/),
      });
    } finally {
      await moto.resume();
    }
    await moto.pause("hang");
    try {
      const abort = new AbortController();
      const started = Date.now();
      const delivery = d.deliver(new Chain().batch(1), abort.signal);
      setTimeout(() => abort.abort(), 100);
      await expect(delivery).rejects.toMatchObject({
        retryable: true,
        message: expect.stringMatching(/abandoned$/),
      });
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      await moto.resume();
    }
    await d.stop();
  });

  it("says what to set when the SDK finds no region (permanent) or no credentials (retryable)", async () => {
    const saved = { ...process.env };
    for (const name of Object.keys(process.env)) if (name.startsWith("AWS_")) delete process.env[name];
    Object.assign(process.env, {
      AWS_CONFIG_FILE: "/nonexistent/config",
      AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/credentials",
      AWS_EC2_METADATA_DISABLED: "true",
    });
    try {
      const noRegion = new S3Destination(
        resolveS3Destination({ type: "s3", bucket: "b-1", access_key_id: "a", secret_access_key: "b" }),
        context,
      );
      await expect(noRegion.start({ committedSequence: 0 })).rejects.toMatchObject({
        retryable: false,
        message: "listing s3://b-1/: no AWS region: set region (or AWS_REGION)",
      });
      await noRegion.stop();
      const noCredentials = new S3Destination(
        resolveS3Destination({ type: "s3", bucket: "b-1", region: moto.region, endpoint: moto.endpoint }),
        context,
      );
      await expect(noCredentials.start({ committedSequence: 0 })).rejects.toMatchObject({
        retryable: true,
        message: expect.stringMatching(/^listing s3:\/\/b-1\/: no AWS credentials found; set access_key_id/),
      });
      await noCredentials.stop();
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
    }
  });

  it("never shows the credentials in an error", async () => {
    const secret = "wJalrXUtnFEMI-K7MDENG-secret";
    const d = new S3Destination(
      s3Config(moto, { bucket: "vigil-missing", access_key_id: "AKIDVIGILTEST", secret_access_key: secret }),
      context,
    );
    const error = (await d.deliver(new Chain().batch(1), signal()).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/does not exist/);
    expect(error.message).not.toContain(secret);
    expect(error.message).not.toContain("AKIDVIGILTEST");
    await d.stop();
  });
});

describe("s3 destination through the server", () => {
  let moto: Moto;
  let admin: S3Client;
  beforeAll(async () => {
    moto = await startMoto();
    admin = adminClient(moto);
  });
  afterAll(async () => {
    admin?.destroy();
    await moto?.close();
  });

  it("takes spec/000's block as written (plus the endpoint), and uploads what is ingested", async () => {
    await createBucket(admin, "audit-logs", false);
    const dir = await tempDir("vigil-s3-e2e-");
    const config = await writeConfig(
      dir,
      `enterprise:
  audit:
    destination:
      type: s3
      bucket: audit-logs
      prefix: kafka-backup/
      region: us-west-2
      # Logs are batched and uploaded periodically
      batch_interval_secs: 1
      endpoint: \${AWS_ENDPOINT_URL}
`,
    );
    const vigil = await startVigil({ dataDir: dir, args: ["--config", config], env: moto.env });
    try {
      const started = Date.now();
      const res = await post(vigil, ndjson(Array.from({ length: 30 }, (_, i) => event(i + 1))));
      expect(res.status).toBe(200);
      await waitForDelivery(vigil);
      // batch_interval_secs: the records waited for more to fill their batch, then went as one object.
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      const keys = await keysUnder(admin, "audit-logs", "kafka-backup/");
      expect(keys[0]).toMatch(
        /^kafka-backup\/00000000000000000001-00000000000000000030_\d{8}T\d{6}Z\.ndjson\.gz$/,
      );
      const records = await storedRecords(admin, "audit-logs", "kafka-backup/");
      expect(records.map((r) => r.sequence)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      const [status] = await destinationStatuses(vigil);
      expect(status).toMatchObject({
        name: "s3:audit-logs/kafka-backup/",
        state: "running",
        deliveredSequence: 30,
      });
      expect(
        (status as unknown as { destination: { objectsWritten: number } }).destination.objectsWritten,
      ).toBe(1);
      // The server's signed checkpoint follows the records.
      await waitUntil("a checkpoint object", async () =>
        (await keysUnder(admin, "audit-logs", "kafka-backup/checkpoints/")).includes(
          "kafka-backup/checkpoints/00000000000000000030",
        )
          ? true
          : undefined,
      );
    } finally {
      await vigil.stop();
    }
  });

  it("loses nothing and never stalls ingest while S3 is away", async () => {
    await createBucket(admin, "vigil-outage", true);
    await outageScenario({
      config: `audit:
  destination:
    type: s3
    bucket: vigil-outage
    prefix: outage/
    endpoint: \${AWS_ENDPOINT_URL}
    access_key_id: \${AWS_ACCESS_KEY_ID}
    secret_access_key: \${AWS_SECRET_ACCESS_KEY}
    object_lock: true
    batch_interval_secs: 0
    request_timeout_secs: 2
    retry: { initial_backoff_ms: 50, max_backoff_secs: 0.5 }
`,
      env: moto.env,
      interrupt: () => moto.pause(),
      resume: () => moto.resume(),
      read: () => storedRecords(admin, "vigil-outage", "outage/"),
    });
  });
});
