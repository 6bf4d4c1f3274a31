/**
 * `npm run bench:destinations`: delivery throughput of each destination against its local server, in one run
 * (issue 5, point 11), driven by the real JournalConsumer over a real journal, as `vigil serve` does:
 * - catch-up: a backlog of BENCH_DEST_BACKLOG sealed records is already durable (an outage just ended); time
 *   until the destination confirmed all of them;
 * - sustained: records are appended at BENCH_DEST_RATE events/s for BENCH_DEST_SECONDS while the destination
 *   follows; reports the delivery rate achieved and the largest lag seen (a destination that keeps up shows a
 *   lag of about one batch).
 * Each is measured BENCH_RUNS times (default 3) and the median reported. Records are sealed before timing, so
 * only journal appends, reads and delivery are measured. BENCH_DESTINATIONS (comma-separated) picks some.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { resolveCloudWatchDestination } from "../src/destinations/cloudwatch/config.ts";
import { CloudWatchDestination } from "../src/destinations/cloudwatch/destination.ts";
import type { DeliveryPolicy } from "../src/destinations/delivery.ts";
import type { Destination } from "../src/destinations/destination.ts";
import { resolveFileDestination } from "../src/destinations/file/config.ts";
import { FileDestination } from "../src/destinations/file/destination.ts";
import { resolveKafkaDestination } from "../src/destinations/kafka/config.ts";
import { KafkaDestination } from "../src/destinations/kafka/destination.ts";
import { resolveS3Destination } from "../src/destinations/s3/config.ts";
import { S3Destination } from "../src/destinations/s3/destination.ts";
import { resolveSyslogDestination, type SyslogProtocol } from "../src/destinations/syslog/config.ts";
import { SyslogDestination } from "../src/destinations/syslog/destination.ts";
import { resolveWebhookDestination } from "../src/destinations/webhook/config.ts";
import { WebhookDestination } from "../src/destinations/webhook/destination.ts";
import { canonicalize } from "../src/integrity/canonical.ts";
import { Sealer } from "../src/integrity/chain.ts";
import { keyFromSecret } from "../src/integrity/keys.ts";
import { CursorStore } from "../src/journal/cursor.ts";
import { JournalWriter } from "../src/journal/writer.ts";
import { JournalConsumer } from "../src/pipeline/consumer.ts";
import { startKafka } from "../test/support/kafka.ts";
import { startMoto } from "../test/support/moto.ts";
import { startRsyslog } from "../test/support/rsyslog.ts";
import { startWebhookReceiver } from "../test/support/webhook-receiver.ts";
import { sampleEvent } from "./sample.ts";

const BACKLOG = Number(process.env.BENCH_DEST_BACKLOG ?? 100_000);
const RATE = Number(process.env.BENCH_DEST_RATE ?? 50_000);
const SECONDS = Number(process.env.BENCH_DEST_SECONDS ?? 4);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const ONLY = process.env.BENCH_DESTINATIONS?.split(",").map((s) => s.trim());

const context = { log: () => {}, productVersion: "bench", logOrigin: "bench.vigil.dev/log" };

/** A destination under test: built afresh for each measurement (a new file, topic, prefix, stream …). */
interface Setup {
  name: string;
  /** What the destination writes to, for the table. */
  server: string;
  create(run: string): Promise<{ destination: Destination; delivery?: Partial<DeliveryPolicy> }>;
  close(): Promise<void>;
}

function sealAll(n: number): string[] {
  const sealer = new Sealer(keyFromSecret(Buffer.alloc(32, 1), "bench"), { sequence: 0, signature: "" });
  return Array.from(
    { length: n },
    (_, i) =>
      sealer.seal(canonicalize({ ...sampleEvent(i + 1), received_at: new Date().toISOString() })).line,
  );
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function measure(setup: Setup, lines: string[], mode: "catch-up" | "sustained", run: string) {
  const dataDir = await mkdtemp(join(tmpdir(), "vigil-bench-dest-"));
  const { writer } = await JournalWriter.open({ dir: join(dataDir, "journal"), segmentBytes: 64 << 20 });
  const { destination, delivery } = await setup.create(run);
  const consumer = new JournalConsumer(destination, {
    journalDir: join(dataDir, "journal"),
    writer,
    cursors: new CursorStore(dataDir),
    log: (m) => process.stderr.write(`${setup.name}: ${m}\n`),
    ...(delivery === undefined ? {} : { delivery }),
  });
  try {
    if (mode === "catch-up") {
      for (let i = 0; i < BACKLOG; i += 5000) await writer.append(lines.slice(i, i + 5000), i + 1);
      const started = performance.now();
      const cpu = process.cpuUsage();
      await consumer.start();
      while (consumer.status().deliveredSequence < BACKLOG) await new Promise((r) => setTimeout(r, 5));
      const elapsed = (performance.now() - started) / 1000;
      const used = process.cpuUsage(cpu);
      // Vigil's own share of one core while catching up: well below 1 means the server (or the network) is
      // the bound, not Vigil.
      const vigilCore = (used.user + used.system) / 1e6 / elapsed;
      return { rate: BACKLOG / elapsed, lag: 0, vigilCore };
    }
    await consumer.start();
    const total = Math.min(lines.length, RATE * SECONDS);
    const tickMs = 10;
    const perTick = Math.max(1, Math.round((RATE * tickMs) / 1000));
    const started = performance.now();
    let maxLag = 0;
    let appended = 0;
    while (appended < total) {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * RATE) + perTick);
      if (due > appended) {
        await writer.append(lines.slice(appended, due), appended + 1);
        appended = due;
      }
      maxLag = Math.max(maxLag, appended - consumer.status().deliveredSequence);
      await new Promise((r) => setTimeout(r, tickMs));
    }
    while (consumer.status().deliveredSequence < total) await new Promise((r) => setTimeout(r, 5));
    return { rate: total / ((performance.now() - started) / 1000), lag: maxLag, vigilCore: 0 };
  } finally {
    await consumer.stop();
    await writer.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function fileSetup(): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), "vigil-bench-file-"));
  return {
    name: "file",
    server: "local disk (fdatasync per batch)",
    create: async (run) => ({
      destination: new FileDestination(
        resolveFileDestination({ type: "file", path: `${run}.log` }, dir),
        () => {},
      ),
    }),
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

async function webhookSetup(): Promise<Setup> {
  const receiver = await startWebhookReceiver();
  return {
    name: "webhook",
    server: "local HTTP receiver (Node http), batch_size 1000",
    create: async (run) => {
      const config = resolveWebhookDestination(
        { type: "webhook", url: `${receiver.url}/${run}`, batch_size: 1000 },
        "/",
      );
      // The receiver keeps what it accepts; drop it so memory stays flat over long runs.
      receiver.accepted.length = 0;
      receiver.all.length = 0;
      return { destination: new WebhookDestination(config, context), delivery: config.delivery };
    },
    close: () => receiver.close(),
  };
}

async function syslogSetup(protocol: Exclude<SyslogProtocol, "udp">): Promise<Setup> {
  const rsyslog = await startRsyslog({ maxMessageSize: 65536 });
  const server = rsyslog[protocol];
  return {
    name: `syslog-${protocol}`,
    server: `rsyslogd 8 (${protocol === "tls" ? "imtcp + gtls" : "imtcp"}, omfile JSON), max_message_bytes 65536`,
    create: async (run) => {
      const config = resolveSyslogDestination(
        {
          type: "syslog",
          server: `${server.host}:${server.port}`,
          protocol,
          app_name: run,
          max_message_bytes: 65536,
        },
        "/",
      );
      if (protocol === "tls") config.tls = { ca: rsyslog.caPem, insecureSkipVerify: false };
      return { destination: new SyslogDestination(config, context), delivery: config.delivery };
    },
    close: () => rsyslog.close(),
  };
}

async function kafkaSetup(): Promise<Setup> {
  const kafka = await startKafka({ sasl: false });
  return {
    name: "kafka",
    server: "Apache Kafka 4.4 (one KRaft node, PLAINTEXT), idempotent producer, acks=all, a topic per run",
    create: async (run) => {
      const config = resolveKafkaDestination(
        { type: "kafka", bootstrap_servers: [kafka.plaintext], topic: `bench-${run}` },
        "/",
      );
      return { destination: new KafkaDestination(config, context), delivery: config.delivery };
    },
    close: () => kafka.close(),
  };
}

async function s3Setup(): Promise<Setup> {
  const moto = await startMoto();
  const bucket = "vigil-bench";
  const admin = new S3Client({
    endpoint: moto.endpoint,
    region: moto.region,
    credentials: moto.credentials,
    forcePathStyle: true,
  });
  await admin.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
  admin.destroy();
  return {
    name: "s3",
    server: "moto 5.2 (S3, Object Lock on), batch_interval_secs 1, default 100,000 records per object",
    create: async (run) => {
      const config = resolveS3Destination({
        type: "s3",
        bucket,
        prefix: `${run}/`,
        endpoint: moto.endpoint,
        region: moto.region,
        access_key_id: moto.credentials.accessKeyId,
        secret_access_key: moto.credentials.secretAccessKey,
        object_lock: true,
        batch_interval_secs: 1,
      });
      return { destination: new S3Destination(config, context), delivery: config.delivery };
    },
    close: () => moto.close(),
  };
}

async function cloudWatchSetup(): Promise<Setup> {
  const moto = await startMoto();
  return {
    name: "cloudwatch",
    server: "moto 5.2 (CloudWatch Logs), default batches (10,000 events, 1 s wait)",
    create: async (run) => {
      const config = resolveCloudWatchDestination({
        type: "cloudwatch",
        log_group: "/vigil/bench",
        log_stream: run,
        endpoint: moto.endpoint,
        region: moto.region,
        access_key_id: moto.credentials.accessKeyId,
        secret_access_key: moto.credentials.secretAccessKey,
      });
      return { destination: new CloudWatchDestination(config, context), delivery: config.delivery };
    },
    close: () => moto.close(),
  };
}

const SETUPS: Record<string, () => Promise<Setup>> = {
  file: fileSetup,
  webhook: webhookSetup,
  "syslog-tcp": () => syslogSetup("tcp"),
  "syslog-tls": () => syslogSetup("tls"),
  kafka: kafkaSetup,
  s3: s3Setup,
  cloudwatch: cloudWatchSetup,
};

async function main(): Promise<void> {
  const lines = sealAll(Math.max(BACKLOG, RATE * SECONDS));
  const rows: string[] = [];
  for (const [name, make] of Object.entries(SETUPS)) {
    if (ONLY && !ONLY.includes(name)) continue;
    const setup = await make();
    try {
      const catchUp: number[] = [];
      const cores: number[] = [];
      const sustained: number[] = [];
      const lags: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        const c = await measure(setup, lines, "catch-up", `c${r}-${Date.now()}`);
        catchUp.push(c.rate);
        cores.push(c.vigilCore);
        const s = await measure(setup, lines, "sustained", `s${r}-${Date.now()}`);
        sustained.push(s.rate);
        lags.push(s.lag);
      }
      const row = `| ${name} | ${setup.server} | ${Math.round(median(catchUp)).toLocaleString("en-US")} | ${Math.round(median(sustained)).toLocaleString("en-US")} (offered ${RATE.toLocaleString("en-US")}) | ${median(lags).toLocaleString("en-US")} | ${median(cores).toFixed(2)} |`;
      process.stderr.write(`${row}  runs: catch-up ${catchUp.map(Math.round).join(" / ")}\n`);
      rows.push(row);
    } finally {
      await setup.close();
    }
  }
  process.stdout.write(
    `\nNode ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}; backlog ${BACKLOG}, ${RATE} ev/s offered for ${SECONDS} s, median of ${RUNS}\n\n` +
      "| destination | server | catch-up (records/s) | sustained (records/s) | max lag (records) | Vigil's cores while catching up |\n|---|---|---|---|---|---|\n" +
      `${rows.join("\n")}\n`,
  );
}

await main();
