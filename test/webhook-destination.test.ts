/**
 * The webhook destination against a local HTTP receiver (the stand-in for a SIEM's ingest endpoint): the
 * destination contract, spec/000's config block through the real server, each body format, how answers are
 * classified (413 split, 429/5xx with Retry-After, 4xx parks), retry_attempts, TLS with a private CA, and the
 * outage scenario.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../src/config/load.ts";
import type { DeliveryPolicy } from "../src/destinations/delivery.ts";
import type { RecordBatch } from "../src/destinations/destination.ts";
import { resolveWebhookDestination } from "../src/destinations/webhook/config.ts";
import { retryAfterMs, WebhookDestination } from "../src/destinations/webhook/destination.ts";
import { canonicalize } from "../src/integrity/canonical.ts";
import { parseRecord, Sealer } from "../src/integrity/chain.ts";
import { keyFromSecret } from "../src/integrity/keys.ts";
import { CursorStore } from "../src/journal/cursor.ts";
import { JournalWriter } from "../src/journal/writer.ts";
import { JournalConsumer } from "../src/pipeline/consumer.ts";
import { makeCertificates } from "./support/certs.ts";
import { destinationContract, type StoredRecord } from "./support/destination-contract.ts";
import { destinationStatuses, waitUntil, writeConfig } from "./support/files.ts";
import { outageScenario } from "./support/outage.ts";
import {
  event,
  get,
  ndjson,
  post,
  runVigil,
  startVigil,
  tempDir,
  waitForDelivery,
} from "./support/vigil-process.ts";
import { startWebhookReceiver, type WebhookReceiver } from "./support/webhook-receiver.ts";

/** Records in the bodies of the accepted requests to `path`, in arrival order. */
function storedAt(receiver: WebhookReceiver, path: string): StoredRecord[] {
  const out: StoredRecord[] = [];
  for (const req of receiver.accepted) {
    if (req.path !== path) continue;
    for (const item of JSON.parse(req.body.toString("utf8")) as unknown[]) {
      const parsed = parseRecord(Buffer.from(JSON.stringify(item)));
      if (!parsed.ok) throw new Error(parsed.reason);
      const ev = JSON.parse(parsed.record.event.toString()) as { details?: Record<string, unknown> };
      out.push({
        sequence: parsed.record.integrity.sequence_number,
        signature: parsed.record.integrity.signature,
        ...(ev.details === undefined ? {} : { details: ev.details }),
      });
    }
  }
  return out;
}

const context = { log: () => {}, productVersion: "test", logOrigin: "vigil.test/log" };

function webhook(url: string, extra: Record<string, unknown> = {}) {
  return resolveWebhookDestination({ type: "webhook", url, ...extra } as never, "/");
}

let receiver: WebhookReceiver;
beforeAll(async () => {
  receiver = await startWebhookReceiver({ maxBodyBytes: 64 * 1024 });
});
afterAll(async () => {
  await receiver.close();
});

destinationContract("webhook", () => ({
  create: async ({ name, delivery }) => {
    const path = `/ingest/${name}`;
    const config = webhook(`${receiver.url}${path}`, { name, retry_attempts: 1 });
    config.delivery = { ...config.delivery, ...delivery };
    return {
      destination: new WebhookDestination(config, context),
      read: async () => storedAt(receiver, path),
    };
  },
  interrupt: () => receiver.interrupt(),
  resume: () => receiver.resume(),
  oversizeBytes: 100 * 1024,
}));

const key = keyFromSecret(Buffer.alloc(32, 3), "k");

/** A journal of `n` sealed records of ~300 bytes. */
async function journalWith(dataDir: string, n: number) {
  const { writer, recovery } = await JournalWriter.open({
    dir: join(dataDir, "journal"),
    segmentBytes: 1 << 20,
  });
  const sealer = new Sealer(key, recovery.head);
  const lines = Array.from(
    { length: n },
    (_, i) => sealer.seal(canonicalize({ event_type: "a.b", details: { i, pad: "p".repeat(200) } })).line,
  );
  await writer.append(lines, 1);
  return { writer, dir: join(dataDir, "journal"), cursors: new CursorStore(dataDir) };
}

function consumer(
  j: Awaited<ReturnType<typeof journalWith>>,
  destination: WebhookDestination,
  delivery: Partial<DeliveryPolicy>,
) {
  return new JournalConsumer(destination, {
    journalDir: j.dir,
    writer: j.writer,
    cursors: j.cursors,
    log: () => {},
    delivery: { ...delivery, backoff: { initialMs: 10, maxMs: 50 } },
  });
}

function batchOf(events: Record<string, unknown>[]): RecordBatch {
  const sealer = new Sealer(key, { sequence: 0, signature: "" });
  return {
    firstSequence: 1,
    lines: events.map((e) => Buffer.from(sealer.seal(canonicalize(e)).line)),
  };
}

describe("webhook destination", () => {
  it("sends the configured headers, an idempotency key and a JSON array; NDJSON on request", async () => {
    const r = await startWebhookReceiver();
    try {
      const d = new WebhookDestination(
        webhook(`${r.url}/a?token=abc`, { headers: { Authorization: "Bearer s3cret", "X-Tenant": "blue" } }),
        context,
      );
      await d.deliver(
        batchOf([
          { event_type: "a.b", n: 1 },
          { event_type: "a.b", n: 2 },
        ]),
        new AbortController().signal,
      );
      const nd = new WebhookDestination(webhook(`${r.url}/b`, { body: "ndjson" }), context);
      await nd.deliver(batchOf([{ event_type: "a.b", n: 1 }]), new AbortController().signal);
      const [first, second] = r.accepted;
      expect(first?.path).toBe("/a?token=abc");
      expect(first?.headers).toMatchObject({
        authorization: "Bearer s3cret",
        "x-tenant": "blue",
        "content-type": "application/json",
        "idempotency-key": `${encodeURIComponent(`webhook:http://127.0.0.1:${new URL(r.url).port}/a`)}:1-2`,
      });
      expect((JSON.parse(first?.body.toString() ?? "") as unknown[]).length).toBe(2);
      expect(second?.headers["content-type"]).toBe("application/x-ndjson");
      expect(second?.body.toString()).toMatch(/^\{"event":.*\}\n$/);
      await Promise.all([d.stop(), nd.stop()]);
    } finally {
      await r.close();
    }
  });

  it("posts a CloudEvents batch and a Kubernetes EventList for those formats", async () => {
    const r = await startWebhookReceiver();
    try {
      const ce = new WebhookDestination(webhook(`${r.url}/ce`, { format: "cloudevents" }), context);
      await ce.deliver(
        batchOf([
          { event_type: "auth.login", n: 1 },
          { event_type: "auth.login", n: 2 },
        ]),
        new AbortController().signal,
      );
      const req = r.accepted[0];
      expect(req?.headers["content-type"]).toBe("application/cloudevents-batch+json");
      const events = JSON.parse(req?.body.toString() ?? "") as Record<string, unknown>[];
      expect(events).toHaveLength(2);
      for (const e of events) {
        expect(e).toMatchObject({
          specversion: "1.0",
          type: "io.vigil.auth.login",
          source: "vigil://vigil.test/log",
        });
      }
      expect(events.map((e) => e.vigilseq)).toEqual(["1", "2"]);

      const logged: string[] = [];
      const kube = new WebhookDestination(webhook(`${r.url}/k8s`, { format: "kubernetes" }), {
        ...context,
        log: (m: string) => logged.push(m),
      });
      await kube.deliver(batchOf([{ event_type: "a.b" }]), new AbortController().signal);
      expect(kube.status().skippedRecords).toBe(1);
      expect(r.accepted).toHaveLength(1);
      expect(logged.join()).toMatch(
        /skipped 1 record\(s\) the kubernetes format cannot represent \(sequence 1\)/,
      );
      await Promise.all([ce.stop(), kube.stop()]);
    } finally {
      await r.close();
    }
  });

  it("splits a batch the receiver refuses with 413 and honours Retry-After on 429 and 503", async () => {
    const r = await startWebhookReceiver({ maxBodyBytes: 2000 });
    const dir = await mkdtemp(join(tmpdir(), "vigil-webhook-"));
    try {
      const j = await journalWith(dir, 12);
      const config = webhook(`${r.url}/split`, { retry_attempts: 1 });
      const c = consumer(j, new WebhookDestination(config, context), { maxRecords: 12 });
      await c.start();
      await waitUntil("12 delivered", async () => (c.status().deliveredSequence === 12 ? true : undefined));
      expect(storedAt(r, "/split").map((x) => x.sequence)).toEqual(
        Array.from({ length: 12 }, (_, i) => i + 1),
      );
      expect(r.all.filter((q) => q.path === "/split").length).toBeGreaterThan(r.accepted.length);
      await c.stop();

      r.script.push(
        { status: 429, headers: { "retry-after": "1" } },
        { status: 503, headers: { "retry-after": "1" } },
      );
      const d = new WebhookDestination(webhook(`${r.url}/later`, { retry_attempts: 3 }), context);
      const started = Date.now();
      await d.deliver(batchOf([{ event_type: "a.b" }]), new AbortController().signal);
      expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
      expect(d.status()).toMatchObject({ requests: 3, retries: 2 });
      await d.stop();
      await j.writer.close();
    } finally {
      await r.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("reports a failure after retry_attempts, and parks on a 4xx without showing the token", async () => {
    const r = await startWebhookReceiver();
    try {
      r.script.push({ status: 500 }, { status: 502 });
      const twice = new WebhookDestination(webhook(`${r.url}/x`, { retry_attempts: 2 }), context);
      await expect(
        twice.deliver(batchOf([{ event_type: "a.b" }]), new AbortController().signal),
      ).rejects.toMatchObject({
        retryable: true,
        message: expect.stringMatching(/answered 502/),
      });
      await twice.stop();

      // A 401's body is not quoted at all; another 4xx's is, without anything configured that may be secret, even
      // when the receiver echoes the request.
      r.script.push(
        { status: 401, body: "invalid token hunter3" },
        { status: 400, body: "bad request: Authorization=Bearer hunter3 url=/y?api_key=hunter2222" },
      );
      const d = new WebhookDestination(
        webhook(`${r.url}/y?api_key=hunter2222`, { headers: { Authorization: "Bearer hunter3" } }),
        context,
      );
      const deliverOnce = () =>
        d.deliver(batchOf([{ event_type: "a.b" }]), new AbortController().signal).catch((e: unknown) => e);
      const unauthorized = (await deliverOnce()) as Error;
      expect(unauthorized).toMatchObject({ retryable: false });
      expect(unauthorized.message).toMatch(/\/y answered 401 \(permanent/);
      const bad = (await deliverOnce()) as Error;
      expect(bad.message).toMatch(
        /\/y answered 400: bad request: Authorization=<redacted> url=\/y\?<redacted>/,
      );
      for (const e of [unauthorized, bad]) expect(e.message).not.toMatch(/hunter/);
      await d.stop();
    } finally {
      await r.close();
    }
  });

  it("trusts a private CA given in tls.ca_file, and refuses an unknown certificate as permanent", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vigil-webhook-tls-"));
    const certs = await makeCertificates(dir);
    const r = await startWebhookReceiver({ tls: { key: certs.key, cert: certs.cert } });
    try {
      const url = `${r.url.replace("127.0.0.1", "localhost")}/tls`;
      const trusted = new WebhookDestination(
        resolveWebhookDestination({ type: "webhook", url, tls: { ca_file: certs.caPath } }, "/"),
        context,
      );
      await trusted.deliver(batchOf([{ event_type: "a.b" }]), new AbortController().signal);
      expect(r.accepted).toHaveLength(1);
      const stranger = new WebhookDestination(webhook(url), context);
      await expect(
        stranger.deliver(batchOf([{ event_type: "a.b" }]), new AbortController().signal),
      ).rejects.toMatchObject({
        retryable: false,
        message: expect.stringMatching(/certificate/),
      });
      await Promise.all([trusted.stop(), stranger.stop()]);
    } finally {
      await r.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("reads Retry-After in seconds or as an HTTP date", () => {
    expect(retryAfterMs("7")).toBe(7000);
    expect(retryAfterMs(new Date(Date.now() + 60_000).toUTCString(), Date.now())).toBeGreaterThan(58_000);
    expect(retryAfterMs("soon")).toBeUndefined();
    expect(retryAfterMs(undefined)).toBeUndefined();
  });
});

describe("webhook destination through the server", () => {
  it("takes spec/000's block as written, and forwards Kubernetes events to another Vigil as an EventList", async () => {
    const downstream = await startVigil();
    const dir = await tempDir("vigil-webhook-e2e-");
    const config = await writeConfig(
      dir,
      `enterprise:
  audit:
    destination:
      type: webhook
      url: ${downstream.url}/v1/k8s/audit
      headers:
        Authorization: Bearer \${WEBHOOK_TOKEN}
      batch_size: 100
      retry_attempts: 3
      format: kubernetes
`,
    );
    const upstream = await startVigil({
      dataDir: dir,
      args: ["--config", config],
      env: { WEBHOOK_TOKEN: downstream.token },
    });
    try {
      const items = (
        await readFile(join(import.meta.dirname, "../../shared/fixtures/k8s/audit2rbac-demo.log"), "utf8")
      )
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l) as unknown);
      const res = await fetch(`${upstream.url}/v1/k8s/audit`, {
        method: "POST",
        headers: { authorization: `Bearer ${upstream.token}`, "content-type": "application/json" },
        body: JSON.stringify({ kind: "EventList", apiVersion: "audit.k8s.io/v1", items }),
      });
      expect(res.status).toBe(200);
      const accepted = ((await res.json()) as { accepted: number }).accepted;
      expect(accepted).toBeGreaterThan(0);
      // A native event has no Kubernetes form: skipped at this destination, counted.
      expect((await post(upstream, ndjson([event(1)]))).status).toBe(200);
      await waitForDelivery(upstream);
      const [status] = await destinationStatuses(upstream);
      expect(status).toMatchObject({ name: `webhook:${downstream.url}/v1/k8s/audit`, state: "running" });
      expect(
        (status as unknown as { destination: { skippedRecords: number } }).destination.skippedRecords,
      ).toBe(1);
      const down = await waitUntil("the downstream Vigil to hold the events", async () => {
        const s = (await (
          await fetch(`${downstream.url}/v1/status`, {
            headers: { authorization: `Bearer ${downstream.token}` },
          })
        ).json()) as {
          chain: { sequence: number };
        };
        return s.chain.sequence === accepted ? s : undefined;
      });
      expect(down.chain.sequence).toBe(accepted);
      expect(upstream.stderr()).not.toContain(downstream.token);
    } finally {
      await upstream.stop();
      await downstream.stop();
    }
  });

  it("loses nothing and never stalls ingest while the receiver is away", async () => {
    const r = await startWebhookReceiver();
    try {
      await outageScenario({
        config: `audit:
  destination:
    type: webhook
    url: ${r.url}/outage
    retry_attempts: 1
    retry: { initial_backoff_ms: 50, max_backoff_secs: 0.5 }
`,
        interrupt: () => r.interrupt(),
        resume: () => r.resume(),
        read: async () => storedAt(r, "/outage"),
      });
    } finally {
      await r.close();
    }
  });

  it("shows each destination's state, lag and error in vigil status, and exits 1 while one is parked", async () => {
    const r = await startWebhookReceiver();
    const dir = await tempDir("vigil-webhook-status-");
    const config = await writeConfig(
      dir,
      `audit:
  destinations:
    - type: file
      path: audit.log
    - type: webhook
      name: siem
      url: ${r.url}/status
`,
    );
    r.script.push({ status: 403, body: "forbidden" });
    const vigil = await startVigil({ dataDir: dir, args: ["--config", config] });
    try {
      expect((await post(vigil, ndjson([event(1), event(2)]))).status).toBe(200);
      await waitUntil("the webhook to park", async () =>
        (await destinationStatuses(vigil)).find((d) => d.name === "siem" && d.state === "parked"),
      );
      const args = ["status", "--url", vigil.url, "--token", vigil.token];
      const table = await runVigil(args);
      expect(table.code).toBe(1);
      expect(table.stdout).toMatch(/^chain +sequence 2, key /m);
      expect(table.stdout).toMatch(/^DESTINATION +STATE +DELIVERED +LAG +LAG TIME +FAILURES +LAST ERROR$/m);
      expect(table.stdout).toMatch(/^siem +parked +0 +2 +[\d.]+ s +1 +.*answered 403 \(permanent/m);
      expect(table.stdout).toMatch(/^file:\S+audit\.log +running +2 +0 +- +0$/m);
      const metrics = await (await get(vigil, "/metrics")).text();
      expect(metrics).toMatch(/^vigil_destination_parked\{destination="siem"\} 1$/m);
      expect(metrics).toMatch(/^vigil_destination_parked\{destination="file:\S+audit\.log"\} 0$/m);
      expect(metrics).toMatch(
        /^vigil_destination_delivered_records_total\{destination="file:\S+audit\.log"\} 2$/m,
      );
      expect(metrics).toMatch(/^vigil_destination_failures_total\{destination="siem"\} 1$/m);
      expect(metrics).toMatch(/^vigil_destination_lag_records\{destination="siem",state="parked"\} 2$/m);
      expect(metrics).toMatch(/^vigil_destination_lag_seconds\{destination="siem"\} [\d.]+$/m);
      const json = await runVigil([...args, "--json"]);
      expect(JSON.parse(json.stdout)).toMatchObject({
        destinations: [{ state: "running" }, { name: "siem", state: "parked" }],
      });
    } finally {
      await vigil.stop();
      await r.close();
    }
  });

  it("leaves a Retry-After that does not fit in the request timeout to the consumer, which honours it", async () => {
    const r = await startWebhookReceiver();
    const dir = await mkdtemp(join(tmpdir(), "vigil-webhook-ra-"));
    try {
      r.script.push({ status: 503, headers: { "retry-after": "2" } });
      const j = await journalWith(dir, 1);
      const config = webhook(`${r.url}/ra`, { retry_attempts: 3, request_timeout_secs: 1 });
      const c = consumer(j, new WebhookDestination(config, context), {
        requestTimeoutMs: config.delivery.requestTimeoutMs,
      });
      await c.start();
      await waitUntil("delivered", async () => (c.status().deliveredSequence === 1 ? true : undefined));
      const [refused, accepted] = r.all.map((q) => q.path);
      expect([refused, accepted]).toEqual(["/ra", "/ra"]);
      expect(c.status()).toMatchObject({ timeouts: 0, lastError: expect.stringMatching(/answered 503/) });
      await c.stop();
      await j.writer.close();
    } finally {
      await r.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("names a webhook without the secrets of its URL, and refuses a header Node could not send", () => {
    const slack = webhook(
      "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/abcdefghijklmnopqrstuvwx?x=1",
    );
    expect(slack.name).toBe("webhook:https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/…");
    expect(() =>
      parseConfig(
        "audit:\n  destination:\n    type: webhook\n    url: https://x.example/in\n    headers:\n      X-Team: équipe ✓\n",
        undefined,
        {},
      ),
    ).toThrow(/line 6: audit.destination.headers.X-Team: must hold only printable Latin-1 characters/);
  });
});
