/**
 * The moto server the S3 and CloudWatch Logs destinations' tests run (test/support/moto.ts) answers the AWS SDK
 * v3 as those destinations will call it: an Object Lock bucket with retained, checksummed, gzip-encoded objects,
 * and log streams fed with PutLogEvents. These tests also pin down which of AWS's rules moto 5.2 enforces (and
 * with which error) and which it lets through, and how the outages the helper simulates look to a client.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { type AddressInfo, createServer } from "node:net";
import { gunzipSync, gzipSync } from "node:zlib";
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  DescribeLogGroupsCommand,
  GetLogEventsCommand,
  type InputLogEvent,
  PutLogEventsCommand,
} from "@aws-sdk/client-cloudwatch-logs";
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  type ObjectLockMode,
  PutObjectCommand,
  PutObjectRetentionCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitUntil } from "./support/files.ts";
import { type Moto, startMoto } from "./support/moto.ts";
import { ROOT, tempDir } from "./support/vigil-process.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * Clients as a destination would build them, with one attempt (no SDK retries) and a request timeout that
 * throws: without `throwOnRequestTimeout` this SDK only logs that `requestTimeout` passed and keeps waiting.
 */
function clients(moto: Moto): { s3: S3Client; logs: CloudWatchLogsClient } {
  const common = {
    endpoint: moto.endpoint,
    region: moto.region,
    credentials: moto.credentials,
    maxAttempts: 1,
    requestHandler: { requestTimeout: 500, throwOnRequestTimeout: true },
  };
  return { s3: new S3Client({ ...common, forcePathStyle: true }), logs: new CloudWatchLogsClient(common) };
}

describe("moto test server", () => {
  let moto: Moto;
  let s3: S3Client;
  let logs: CloudWatchLogsClient;
  beforeAll(async () => {
    moto = await startMoto();
    ({ s3, logs } = clients(moto));
  });
  afterAll(async () => {
    s3?.destroy();
    logs?.destroy();
    await moto?.close();
  });

  describe("S3 with Object Lock", () => {
    const bucket = "vigil-locked";
    const body = gzipSync('{"seq":1}\n{"seq":2}\n');
    const sha256 = createHash("sha256").update(body).digest("base64");
    const until = new Date(Date.now() + HOUR);
    const versions = new Map<ObjectLockMode, string>();

    /** A segment as the S3 destination writes it: gzip, SHA-256 checksum, retained in `mode` until `until`. */
    function putSegment(key: string, mode: ObjectLockMode) {
      return s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentType: "application/x-ndjson",
          ContentEncoding: "gzip",
          ChecksumAlgorithm: "SHA256",
          ObjectLockMode: mode,
          ObjectLockRetainUntilDate: until,
        }),
      );
    }

    beforeAll(async () => {
      await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
    });

    it("creates an Object Lock bucket, which turns versioning on", async () => {
      const lock = await s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }));
      expect(lock.ObjectLockConfiguration?.ObjectLockEnabled).toBe("Enabled");
      expect((await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status).toBe("Enabled");
    });

    it("stores retained objects with their checksum, encoding and retention, shown by HeadObject", async () => {
      for (const mode of ["COMPLIANCE", "GOVERNANCE"] as const) {
        const put = await putSegment(`segments/${mode}.ndjson.gz`, mode);
        expect(put.ChecksumSHA256).toBe(sha256);
        versions.set(mode, put.VersionId ?? "");
        const head = await s3.send(
          new HeadObjectCommand({
            Bucket: bucket,
            Key: `segments/${mode}.ndjson.gz`,
            ChecksumMode: "ENABLED",
          }),
        );
        expect(head).toMatchObject({
          ObjectLockMode: mode,
          ObjectLockRetainUntilDate: until,
          ContentEncoding: "gzip",
          ChecksumSHA256: sha256,
          VersionId: put.VersionId,
        });
      }
      const get = await s3.send(
        new GetObjectCommand({ Bucket: bucket, Key: "segments/COMPLIANCE.ndjson.gz" }),
      );
      expect(gunzipSync(await (get.Body?.transformToByteArray() ?? new Uint8Array())).toString()).toBe(
        '{"seq":1}\n{"seq":2}\n',
      );
    });

    it("does not implement GetObjectRetention: it answers with the object itself, which the SDK cannot parse", async () => {
      await expect(
        s3.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: "segments/COMPLIANCE.ndjson.gz" })),
      ).rejects.toThrow(/Deserialization error/);
    });

    it("refuses to delete a retained version, unless GOVERNANCE is bypassed", async () => {
      for (const mode of ["COMPLIANCE", "GOVERNANCE"] as const) {
        await expect(
          s3.send(
            new DeleteObjectCommand({
              Bucket: bucket,
              Key: `segments/${mode}.ndjson.gz`,
              VersionId: versions.get(mode),
            }),
          ),
        ).rejects.toMatchObject({ name: "AccessDenied", $metadata: { httpStatusCode: 403 } });
      }
      await s3.send(
        new DeleteObjectCommand({
          Bucket: bucket,
          Key: "segments/GOVERNANCE.ndjson.gz",
          VersionId: versions.get("GOVERNANCE"),
          BypassGovernanceRetention: true,
        }),
      );
    });

    it("deletes without a version id by adding a delete marker; the retained version stays", async () => {
      const key = "segments/COMPLIANCE.ndjson.gz";
      expect((await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))).DeleteMarker).toBe(true);
      const listed = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }));
      expect(listed.Versions?.map((v) => v.VersionId)).toEqual([versions.get("COMPLIANCE")]);
      expect(listed.DeleteMarkers).toHaveLength(1);
    });

    it("lists objects under a prefix", async () => {
      for (const key of ["listing/a/1", "listing/a/2", "listing/b/1"]) {
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
      }
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "listing/a/" }));
      expect(listed.Contents?.map((o) => o.Key)).toEqual(["listing/a/1", "listing/a/2"]);
      expect(listed.KeyCount).toBe(2);
    });

    it("refuses Object Lock headers for a bucket without Object Lock (InvalidRequest, 400)", async () => {
      await s3.send(new CreateBucketCommand({ Bucket: "vigil-unlocked" }));
      await expect(
        s3.send(
          new PutObjectCommand({
            Bucket: "vigil-unlocked",
            Key: "x",
            Body: "x",
            ObjectLockMode: "COMPLIANCE",
            ObjectLockRetainUntilDate: until,
          }),
        ),
      ).rejects.toMatchObject({
        name: "InvalidRequest",
        message: "Bucket is missing ObjectLockConfiguration",
        $fault: "client",
        $metadata: { httpStatusCode: 400 },
      });
      await expect(
        s3.send(new PutObjectCommand({ Bucket: "vigil-missing", Key: "x", Body: "x" })),
      ).rejects.toMatchObject({ name: "NoSuchBucket", $metadata: { httpStatusCode: 404 } });
    });

    it("refuses an Object Lock upload that carries neither a checksum nor Content-MD5", async () => {
      const bare = new S3Client({
        endpoint: moto.endpoint,
        region: moto.region,
        credentials: moto.credentials,
        forcePathStyle: true,
        requestChecksumCalculation: "WHEN_REQUIRED",
      });
      await expect(
        bare.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: "unchecked",
            Body: "x",
            ObjectLockMode: "COMPLIANCE",
            ObjectLockRetainUntilDate: until,
          }),
        ),
      ).rejects.toMatchObject({
        name: "MissingUploadObjectWithObjectLockHeaders",
        $metadata: { httpStatusCode: 400 },
      });
      bare.destroy();
    });

    it("lets through what AWS refuses: wrong checksums, past retention dates, a shortened COMPLIANCE retention", async () => {
      const wrong = await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: "wrong-checksums",
          Body: "x",
          ChecksumSHA256: createHash("sha256").update("y").digest("base64"),
          ContentMD5: createHash("md5").update("y").digest("base64"),
        }),
      );
      expect(wrong.ETag).toBeDefined();
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: "past",
          Body: "x",
          ObjectLockMode: "COMPLIANCE",
          ObjectLockRetainUntilDate: new Date(Date.now() - HOUR),
        }),
      );
      await s3.send(
        new PutObjectRetentionCommand({
          Bucket: bucket,
          Key: "segments/COMPLIANCE.ndjson.gz",
          VersionId: versions.get("COMPLIANCE"),
          Retention: { Mode: "COMPLIANCE", RetainUntilDate: new Date(Date.now() + 60_000) },
        }),
      );
    });
  });

  describe("CloudWatch Logs", () => {
    const group = "/vigil/audit";
    let streamNo = 0;
    const start = Date.now();

    /** A new log stream in the group, so that each test reads back only its own events. */
    async function newStream(): Promise<string> {
      const stream = `node-${++streamNo}`;
      await logs.send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: stream }));
      return stream;
    }

    function put(stream: string, logEvents: InputLogEvent[], sequenceToken?: string) {
      return logs.send(
        new PutLogEventsCommand({ logGroupName: group, logStreamName: stream, logEvents, sequenceToken }),
      );
    }

    async function read(stream: string): Promise<string[]> {
      const res = await logs.send(
        new GetLogEventsCommand({ logGroupName: group, logStreamName: stream, startFromHead: true }),
      );
      return (res.events ?? []).map((e) => e.message ?? "");
    }

    beforeAll(async () => {
      await logs.send(new CreateLogGroupCommand({ logGroupName: group }));
    });

    it("refuses to create a log group or stream twice (ResourceAlreadyExistsException)", async () => {
      await expect(logs.send(new CreateLogGroupCommand({ logGroupName: group }))).rejects.toMatchObject({
        name: "ResourceAlreadyExistsException",
        $metadata: { httpStatusCode: 400 },
      });
      const stream = await newStream();
      // moto's message for a stream says "log group" too.
      await expect(
        logs.send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: stream })),
      ).rejects.toMatchObject({ name: "ResourceAlreadyExistsException" });
    });

    it("answers ResourceNotFoundException for a missing log group or stream", async () => {
      const event = [{ timestamp: Date.now(), message: "x" }];
      await expect(put("missing", event)).rejects.toMatchObject({
        name: "ResourceNotFoundException",
        message: "The specified log stream does not exist.",
      });
      await expect(
        logs.send(
          new PutLogEventsCommand({ logGroupName: "/missing", logStreamName: "s", logEvents: event }),
        ),
      ).rejects.toMatchObject({ name: "ResourceNotFoundException" });
    });

    it("stores a batch and reads it back in order; sequence tokens are neither needed nor checked", async () => {
      const stream = await newStream();
      const first = await put(
        stream,
        [0, 1, 2].map((i) => ({ timestamp: start + i, message: `event ${i}` })),
      );
      expect(first.nextSequenceToken).toBeDefined();
      expect(first.rejectedLogEventsInfo).toBeUndefined();
      await put(stream, [{ timestamp: start + 3, message: "event 3" }], "not-a-token");
      // A later batch may go back in time: GetLogEvents returns the stream sorted by timestamp.
      await put(stream, [{ timestamp: start - 1, message: "earlier" }]);
      expect(await read(stream)).toEqual(["earlier", "event 0", "event 1", "event 2", "event 3"]);
    });

    it("refuses a batch out of chronological order (InvalidParameterException)", async () => {
      const stream = await newStream();
      await expect(
        put(stream, [
          { timestamp: start + 10, message: "later" },
          { timestamp: start, message: "sooner" },
        ]),
      ).rejects.toMatchObject({
        name: "InvalidParameterException",
        message: "Log events in a single PutLogEvents request must be in chronological order.",
        $metadata: { httpStatusCode: 400 },
      });
      expect(await read(stream)).toEqual([]);
    });

    it("drops events over 14 days old or over 2 hours ahead and says so in rejectedLogEventsInfo", async () => {
      const stream = await newStream();
      const now = Date.now();
      const res = await put(stream, [
        { timestamp: now - 15 * DAY, message: "too old" },
        { timestamp: now, message: "in range" },
        { timestamp: now + 3 * HOUR, message: "too new 1" },
        { timestamp: now + 4 * HOUR, message: "too new 2" },
      ]);
      // AWS gives the first too-new index (2); moto gives the last one.
      expect(res.rejectedLogEventsInfo).toEqual({ tooOldLogEventEndIndex: 0, tooNewLogEventStartIndex: 3 });
      expect(await read(stream)).toEqual(["in range"]);
    });

    it("does not enforce the batch limits: 10,001 events, over 1,048,576 bytes, a span over 24 hours", async () => {
      const stream = await newStream();
      const now = Date.now();
      const many = Array.from({ length: 10_001 }, (_, i) => ({ timestamp: now - 2 * DAY, message: `e${i}` }));
      expect((await put(stream, many)).rejectedLogEventsInfo).toBeUndefined();
      const big = Array.from({ length: 5 }, () => ({ timestamp: now - DAY, message: "x".repeat(262_144) }));
      expect((await put(stream, big)).rejectedLogEventsInfo).toBeUndefined();
      await put(stream, [
        { timestamp: now - 2 * DAY, message: "two days ago" },
        { timestamp: now, message: "now" },
      ]);
      expect(await read(stream)).toHaveLength(10_000); // one page: GetLogEvents returns at most 10,000 events
    });
  });

  it("serves a process configured only by moto.env, which asks no instance metadata service", async () => {
    // The child gets no other AWS settings and an empty HOME (no ~/.aws); defaults_mode "auto" is the one SDK
    // setting that looks up IMDS when credentials and region are given. IMDS is pointed at a counting listener.
    let imdsConnections = 0;
    const imds = createServer((socket) => {
      imdsConnections++;
      socket.destroy();
    });
    await new Promise<void>((resolveListen) => imds.listen(0, "127.0.0.1", resolveListen));
    const script = `
      import { S3Client, ListBucketsCommand } from "@aws-sdk/client-s3";
      import { CloudWatchLogsClient, DescribeLogGroupsCommand } from "@aws-sdk/client-cloudwatch-logs";
      const buckets = await new S3Client({}).send(new ListBucketsCommand({}));
      const groups = await new CloudWatchLogsClient({}).send(new DescribeLogGroupsCommand({}));
      console.log(JSON.stringify({ buckets: buckets.Buckets.length, groups: groups.logGroups.length }));
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: await tempDir(),
        AWS_DEFAULTS_MODE: "auto",
        AWS_EC2_METADATA_SERVICE_ENDPOINT: `http://127.0.0.1:${(imds.address() as AddressInfo).port}`,
        ...moto.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      out += d;
    });
    const code = await new Promise<number | null>((resolveExit) => child.once("close", resolveExit));
    imds.close();
    const buckets = (await s3.send(new ListBucketsCommand({}))).Buckets?.length;
    const groups = (await logs.send(new DescribeLogGroupsCommand({}))).logGroups?.length;
    expect({ code, out }).toEqual({ code: 0, out: `${JSON.stringify({ buckets, groups })}\n` });
    expect(imdsConnections).toBe(0);
  });

  describe("outages", () => {
    const bucket = "vigil-outage";
    beforeAll(async () => {
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    });

    it("pause() refuses connections (ECONNREFUSED) and keeps moto's state for resume()", async () => {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "before", Body: "x" }));
      await moto.pause();
      await expect(
        s3.send(new PutObjectCommand({ Bucket: bucket, Key: "during", Body: "x" })),
      ).rejects.toMatchObject({ code: "ECONNREFUSED", $metadata: { attempts: 1 } });
      await expect(logs.send(new CreateLogGroupCommand({ logGroupName: "/outage" }))).rejects.toMatchObject({
        code: "ECONNREFUSED",
      });
      await moto.resume();
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
      expect(listed.Contents?.map((o) => o.Key)).toEqual(["before"]);
    });

    it('pause("hang") leaves requests unanswered until the client times out; they may still apply after resume()', async () => {
      await moto.pause("hang");
      await expect(
        s3.send(new PutObjectCommand({ Bucket: bucket, Key: "timed-out", Body: "x" })),
      ).rejects.toMatchObject({ name: "TimeoutError", code: "ETIMEDOUT" });
      await moto.resume();
      // moto runs the queued request on its own thread after SIGCONT, not necessarily before the next one.
      const keys = await waitUntil("the timed-out PutObject to apply", async () => {
        const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
        const found = listed.Contents?.map((o) => o.Key);
        return found?.includes("timed-out") ? found : undefined;
      });
      expect(keys).toEqual(["before", "timed-out"]);
    });

    it("stop() refuses connections and restart() brings moto back empty", async () => {
      await moto.stop();
      await expect(s3.send(new ListObjectsV2Command({ Bucket: bucket }))).rejects.toMatchObject({
        code: "ECONNREFUSED",
      });
      await moto.restart();
      await expect(s3.send(new ListObjectsV2Command({ Bucket: bucket }))).rejects.toMatchObject({
        name: "NoSuchBucket",
      });
    });
  });
});
