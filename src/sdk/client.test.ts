import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  AuditClient,
  AuditClientError,
  type AuditClientOptions,
  type AuditEvent,
  type LogResult,
} from "./index.ts";

const TOKEN = "s3cr3t-token-abc123";
const EVENT_TYPE = /^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$/;

interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

/** One scripted answer, used instead of the contract for the next request. */
type Step = Answer | { action: "destroy" } | { action: "hang" };

interface Recorded {
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
  events: Record<string, unknown>[];
}

/**
 * A stand-in for the Vigil ingest endpoint implementing the SDK's contract: bearer auth, NDJSON only, a body limit
 * (413), per-event validation refusing the whole batch (400 with indexed problems), and idempotent sealing by
 * event_id. `script` overrides the next answers, in order, to inject failures.
 */
class FakeVigil {
  readonly requests: Recorded[] = [];
  readonly script: Step[] = [];
  maxBodyBytes = Number.POSITIVE_INFINITY;
  private readonly sealed = new Map<string, number>();
  private readonly server: Server = createServer((req, res) => void this.handle(req, res));
  url = "";

  async start(): Promise<this> {
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, "close");
  }

  /** Events of every request, flattened, as the server saw them. */
  sentEventIds(): unknown[] {
    return this.requests.flatMap((r) => r.events.map((e) => e.event_id));
  }

  batchSizes(): number[] {
    return this.requests.map((r) => r.events.length);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const events = body
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    this.requests.push({
      authorization: req.headers.authorization,
      contentType: req.headers["content-type"],
      body,
      events,
    });
    const step = this.script.shift();
    if (step !== undefined && "action" in step) {
      if (step.action === "destroy") req.socket.destroy();
      return;
    }
    const answer = step ?? this.contract(req, body, events);
    res.writeHead(answer.status, {
      "content-type": answer.status < 300 ? "application/json" : "application/problem+json",
      ...answer.headers,
    });
    res.end(answer.body === undefined ? undefined : JSON.stringify(answer.body));
  }

  private contract(req: IncomingMessage, body: string, events: Record<string, unknown>[]): Answer {
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      // A careless server that echoes the credential: the client must still keep it out of its errors.
      return problem(401, `unknown token: ${req.headers.authorization}`);
    }
    if (req.headers["content-type"] !== "application/x-ndjson") return problem(415, "send NDJSON");
    if (Buffer.byteLength(body) > this.maxBodyBytes) return problem(413, `over ${this.maxBodyBytes} bytes`);
    const errors = events.flatMap((e, index) =>
      typeof e.event_type === "string" && EVENT_TYPE.test(e.event_type)
        ? []
        : [{ index, line: index + 1, field: "event_type", message: "must be category.action" }],
    );
    if (errors.length > 0) return { status: 400, body: { ...problem(400, "invalid events").body, errors } };
    const results = events.map((e) => {
      const id = e.event_id as string;
      const type = e.event_type as string;
      if (type.endsWith(".excluded")) return { event_id: id, status: "excluded" };
      if (type.endsWith(".dropped")) return { event_id: id, status: "dropped" };
      if (!this.sealed.has(id)) this.sealed.set(id, this.sealed.size + 1);
      return { event_id: id, sequence_number: this.sealed.get(id), status: "sealed" };
    });
    const tally = (s: string) => results.filter((r) => r.status === s).length;
    return {
      status: 200,
      body: {
        accepted: tally("sealed"),
        excluded: tally("excluded"),
        dropped: tally("dropped"),
        events: results,
      },
    };
  }
}

function problem(status: number, detail: string): { status: number; body: Record<string, unknown> } {
  return { status, body: { type: "about:blank", title: `HTTP ${status}`, status, detail } };
}

const servers: FakeVigil[] = [];
const clients: AuditClient[] = [];

async function setup(
  options: Partial<AuditClientOptions> = {},
): Promise<{ server: FakeVigil; client: AuditClient }> {
  const server = await new FakeVigil().start();
  servers.push(server);
  const client = new AuditClient({
    url: server.url,
    token: TOKEN,
    initialBackoffMs: 1,
    maxBackoffMs: 5,
    ...options,
  });
  clients.push(client);
  return { server, client };
}

/** Settles a log() promise into a value the test can inspect, so rejections are never left unhandled. */
function outcome(p: Promise<LogResult>): Promise<LogResult | AuditClientError> {
  return p.catch((e: unknown) => {
    if (e instanceof AuditClientError) return e;
    throw e;
  });
}

const ev = (n: number, extra: Partial<AuditEvent> = {}): AuditEvent => ({
  event_type: "test.happened",
  details: { n },
  ...extra,
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

describe("AuditClient batching", () => {
  it("sends a batch as soon as it reaches batchSize", async () => {
    const { server, client } = await setup({ batchSize: 3, flushIntervalMs: 60_000 });
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => client.log(ev(n))));
    expect(server.batchSizes()).toEqual([3, 3]);
    expect(results.map((r) => r.status)).toEqual(Array(6).fill("sealed"));
    const last = client.log(ev(7));
    await client.flush();
    await last;
    expect(server.batchSizes()).toEqual([3, 3, 1]);
  });

  it("bounds a batch by maxBatchBytes and still sends an oversized event alone", async () => {
    const pad = "x".repeat(200);
    const { server, client } = await setup({ maxBatchBytes: 700, flushIntervalMs: 60_000 });
    const logs = [1, 2, 3, 4, 5].map((n) => client.log(ev(n, { details: { pad } })));
    logs.push(client.log(ev(6, { details: { pad: pad.repeat(5) } })));
    await client.flush();
    await Promise.all(logs);
    expect(server.batchSizes()).toEqual([2, 2, 1, 1]);
    for (const r of server.requests.slice(0, 2)) expect(Buffer.byteLength(r.body)).toBeLessThanOrEqual(700);
  });

  it("sends a partial batch flushIntervalMs after its first event", async () => {
    const { server, client } = await setup({ batchSize: 100, flushIntervalMs: 5 });
    await Promise.all([1, 2, 3].map((n) => client.log(ev(n))));
    expect(server.batchSizes()).toEqual([3]);
    await Promise.all([4, 5].map((n) => client.log(ev(n))));
    expect(server.batchSizes()).toEqual([3, 2]);
  });

  it("delivers events in log() order across batches and retries", async () => {
    const { server, client } = await setup({ batchSize: 3, flushIntervalMs: 60_000 });
    server.script.push({ status: 503, headers: { "retry-after": "0" } });
    const logs = Array.from({ length: 10 }, (_, n) => client.log(ev(n)));
    await client.flush();
    const results = await Promise.all(logs);
    expect(server.batchSizes()).toEqual([3, 3, 3, 3, 1]);
    const seen = server.requests.slice(1).flatMap((r) => r.events.map((e) => (e.details as { n: number }).n));
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(results.map((r) => r.sequence_number)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });
});

describe("AuditClient events", () => {
  it("merges defaults under each event, one level deep, without touching the caller's objects", async () => {
    const defaults = {
      version: "1.0",
      actor: { type: "service", id: "kafka-backup", user_agent: "kafka-backup-cli/1.0.0" },
      context: { environment: "production", cluster_id: "prod-us-west-2" },
    };
    const { server, client } = await setup({ defaults, flushIntervalMs: 0 });
    const event: AuditEvent = {
      event_type: "backup.completed",
      actor: { id: "alice@company.com", roles: ["backup-operator"] },
      context: { correlation_id: "req_xyz789" },
    };
    const frozen = structuredClone(event);
    await client.log(event);
    const [sent] = server.requests[0]?.events ?? [];
    expect(sent).toMatchObject({
      version: "1.0",
      event_type: "backup.completed",
      actor: {
        type: "service",
        id: "alice@company.com",
        user_agent: "kafka-backup-cli/1.0.0",
        roles: ["backup-operator"],
      },
      context: { environment: "production", cluster_id: "prod-us-west-2", correlation_id: "req_xyz789" },
    });
    expect(event).toEqual(frozen);
    expect(defaults.actor).toEqual({
      type: "service",
      id: "kafka-backup",
      user_agent: "kafka-backup-cli/1.0.0",
    });
  });

  it("assigns event_id and timestamp once, before the first attempt, and resends identical bytes", async () => {
    const { server, client } = await setup({ flushIntervalMs: 60_000 });
    server.script.push({ status: 503, headers: { "retry-after": "0" } }, { status: 500 });
    const before = Date.now();
    const event = ev(1);
    const logged = client.log(event);
    const given = client.log(ev(2, { event_id: "evt_caller_chosen", timestamp: "2024-12-01T10:15:30.123Z" }));
    // Serialized inside log(): later changes to the object are not sent, so retries stay identical.
    (event.details as { n: number }).n = 99;
    await client.flush();
    const [first, second] = await Promise.all([logged, given]);
    expect(server.requests).toHaveLength(3);
    expect(new Set(server.requests.map((r) => r.body)).size).toBe(1);
    const sent = server.requests[0]?.events[0] as { event_id: string; timestamp: string; details: unknown };
    expect(sent.details).toEqual({ n: 1 });
    expect(sent.event_id).toMatch(/^evt_[0-9a-f]{32}$/);
    expect(first?.event_id).toBe(sent.event_id);
    const idMs = Number.parseInt(sent.event_id.slice(4, 16), 16);
    expect(idMs).toBeGreaterThanOrEqual(before);
    expect(idMs).toBeLessThanOrEqual(Date.now());
    expect(sent.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(Date.parse(sent.timestamp)).toBe(idMs);
    expect(server.requests[0]?.events[1]).toMatchObject({
      event_id: "evt_caller_chosen",
      timestamp: "2024-12-01T10:15:30.123Z",
    });
    expect(second).toEqual({ event_id: "evt_caller_chosen", sequence_number: 2, status: "sealed" });
  });

  it("gives distinct, time-ordered ids", async () => {
    const { server, client } = await setup({ flushIntervalMs: 60_000 });
    const logs = Array.from({ length: 50 }, (_, n) => client.log(ev(n)));
    await client.flush();
    const ids = (await Promise.all(logs)).map((r) => r.event_id);
    expect(new Set(ids).size).toBe(50);
    const stamps = ids.map((id) => id.slice(4, 16));
    expect([...stamps].sort()).toEqual(stamps);
    expect(server.requests[0]?.authorization).toBe(`Bearer ${TOKEN}`);
    expect(server.requests[0]?.contentType).toBe("application/x-ndjson");
  });

  it("reports excluded and dropped events as a status", async () => {
    const { client } = await setup({ flushIntervalMs: 60_000 });
    const logs = [
      client.log({ event_type: "test.excluded" }),
      client.log({ event_type: "test.dropped" }),
      client.log({ event_type: "test.sealed" }),
    ];
    await client.flush();
    const [excluded, dropped, sealed] = await Promise.all(logs);
    expect(excluded).toEqual({ event_id: excluded?.event_id, status: "excluded" });
    expect(dropped).toEqual({ event_id: dropped?.event_id, status: "dropped" });
    expect(sealed).toEqual({ event_id: sealed?.event_id, sequence_number: 1, status: "sealed" });
  });
});

describe("AuditClient retries", () => {
  it("honours Retry-After in place of its own backoff", async () => {
    // With a 60 s backoff the test could only finish in time if Retry-After: 0 and a past date are obeyed.
    const { server, client } = await setup({
      initialBackoffMs: 60_000,
      maxBackoffMs: 60_000,
      flushIntervalMs: 0,
    });
    server.script.push(
      { status: 503, headers: { "retry-after": "0" }, body: problem(503, "queue full").body },
      { status: 503, headers: { "retry-after": new Date(Date.now() - 5000).toUTCString() } },
    );
    await expect(client.log(ev(1))).resolves.toMatchObject({ status: "sealed" });
    expect(server.requests).toHaveLength(3);
  }, 10_000);

  it("waits the seconds Retry-After asks for", async () => {
    const { server, client } = await setup({ flushIntervalMs: 0 });
    server.script.push({ status: 503, headers: { "retry-after": "1" } });
    const started = performance.now();
    await client.log(ev(1));
    expect(server.requests).toHaveLength(2);
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
  });

  it("retries a connection the server cut and a request it never answered", async () => {
    const { server, client } = await setup({ flushIntervalMs: 0, requestTimeoutMs: 2000 });
    server.script.push({ action: "destroy" }, { action: "hang" });
    await expect(client.log(ev(1))).resolves.toMatchObject({ status: "sealed", sequence_number: 1 });
    expect(server.requests).toHaveLength(3);
    expect(new Set(server.requests.map((r) => r.body)).size).toBe(1);
  });

  it("gives up with retries_exhausted after maxRetries when nothing listens", async () => {
    const { server } = await setup();
    const url = server.url;
    await server.stop();
    servers.splice(0);
    let calls = 0;
    const client = new AuditClient({
      url,
      token: TOKEN,
      maxRetries: 2,
      initialBackoffMs: 1,
      flushIntervalMs: 0,
      fetch: (input, init) => {
        calls++;
        return fetch(input, init);
      },
    });
    clients.push(client);
    const error = await outcome(client.log(ev(1)));
    expect(error).toBeInstanceOf(AuditClientError);
    expect(error).toMatchObject({ code: "retries_exhausted", retryable: true, status: undefined });
    expect((error as AuditClientError).event_id).toMatch(/^evt_/);
    expect((error as Error).message).toMatch(/3 attempts/);
    expect((error as Error).message).not.toContain(TOKEN);
    expect(calls).toBe(3);
  });

  it("retries 5xx and reports the last status when retries run out", async () => {
    const { server, client } = await setup({ maxRetries: 2, flushIntervalMs: 0 });
    server.script.push(
      { status: 500, body: problem(500, "boom").body },
      { status: 502 },
      { status: 503, body: problem(503, `journal down (${TOKEN})`).body },
    );
    const error = await outcome(client.log(ev(1)));
    expect(error).toMatchObject({ code: "retries_exhausted", status: 503, retryable: true });
    expect((error as Error).message).toContain("journal down");
    expect((error as Error).message).not.toContain(TOKEN);
    expect(server.requests).toHaveLength(3);
  });

  it("retries a success answer that does not match the batch", async () => {
    const { server, client } = await setup({ flushIntervalMs: 0 });
    server.script.push({ status: 200, body: { accepted: 0, excluded: 0, dropped: 0, events: [] } });
    await expect(client.log(ev(1))).resolves.toMatchObject({ status: "sealed" });
    expect(server.requests).toHaveLength(2);
  });
});

describe("AuditClient permanent errors", () => {
  it("maps a 400's problems to the events they name and resends the others", async () => {
    const { server, client } = await setup({ flushIntervalMs: 60_000 });
    const logs = [
      client.log(ev(0)),
      client.log({ event_type: "Not Valid", details: { n: 1 } }),
      client.log(ev(2)),
      client.log({ event_type: "nodot", details: { n: 3 } }),
      client.log(ev(4)),
    ].map(outcome);
    await client.flush();
    const [a, b, c, d, e] = await Promise.all(logs);
    expect(server.batchSizes()).toEqual([5, 3]);
    expect(server.requests[1]?.events.map((x) => (x.details as { n: number }).n)).toEqual([0, 2, 4]);
    for (const ok of [a, c, e]) expect(ok).toMatchObject({ status: "sealed" });
    for (const bad of [b, d]) {
      expect(bad).toBeInstanceOf(AuditClientError);
      expect(bad).toMatchObject({
        code: "rejected",
        status: 400,
        retryable: false,
        problems: [{ field: "event_type", message: "must be category.action" }],
      });
    }
    expect((b as AuditClientError).event_id).toBe(server.requests[0]?.events[1]?.event_id);
    expect((d as AuditClientError).event_id).toBe(server.requests[0]?.events[3]?.event_id);
  });

  it("rejects the whole batch when a 400 names no event", async () => {
    const { server, client } = await setup({ flushIntervalMs: 60_000 });
    server.script.push({
      status: 400,
      body: { ...problem(400, "body is not valid UTF-8").body, errors: [] },
    });
    const logs = [client.log(ev(1)), client.log(ev(2))].map(outcome);
    await client.flush();
    for (const error of await Promise.all(logs)) {
      expect(error).toMatchObject({ code: "rejected", status: 400, problems: [] });
      expect((error as Error).message).toContain("body is not valid UTF-8");
    }
    expect(server.requests).toHaveLength(1);
  });

  it("stops at once on 401 and 403, never revealing the token", async () => {
    const { server, client } = await setup({ flushIntervalMs: 0, token: "wrong-token-xyz" });
    const error = await outcome(client.log(ev(1)));
    expect(error).toMatchObject({ code: "unauthorized", status: 401, retryable: false });
    expect(server.requests).toHaveLength(1);
    expect((error as Error).message).toContain("unknown token");
    expect((error as Error).message).not.toContain("wrong-token-xyz");
    expect(String((error as Error).stack)).not.toContain("wrong-token-xyz");

    server.script.push({ status: 403, body: problem(403, "needs the ingest scope").body });
    const scoped = new AuditClient({ url: server.url, token: TOKEN, flushIntervalMs: 0 });
    clients.push(scoped);
    await expect(scoped.log(ev(2))).rejects.toMatchObject({ code: "unauthorized", status: 403 });
    expect(server.requests).toHaveLength(2);
  });

  it("refuses other 4xx answers without retrying", async () => {
    const { server, client } = await setup({ flushIntervalMs: 0 });
    server.script.push({ status: 415, body: problem(415, "send NDJSON").body });
    await expect(client.log(ev(1))).rejects.toMatchObject({
      code: "rejected",
      status: 415,
      retryable: false,
    });
    expect(server.requests).toHaveLength(1);
  });

  it("splits a batch the server finds too large, down to single events", async () => {
    const { server, client } = await setup({ flushIntervalMs: 60_000 });
    const small = (n: number) => ev(n, { details: { n, pad: "x".repeat(150) } });
    server.maxBodyBytes = 700;
    const logs = [
      client.log(small(0)),
      client.log(small(1)),
      client.log(ev(2, { details: { n: 2, pad: "x".repeat(800) } })),
      client.log(small(3)),
    ].map(outcome);
    await client.flush();
    const [a, b, big, d] = await Promise.all(logs);
    expect(server.batchSizes()).toEqual([4, 2, 2, 1, 1]);
    expect(
      server.requests.slice(1).flatMap((r) => r.events.map((e) => (e.details as { n: number }).n)),
    ).toEqual([0, 1, 2, 3, 2, 3]);
    expect([a, b, d].map((r) => (r as LogResult).sequence_number)).toEqual([1, 2, 3]);
    expect(big).toMatchObject({ code: "too_large", status: 413, retryable: false });
  });
});

describe("AuditClient lifecycle", () => {
  it("rejects with queue_full once maxQueue events are unsettled, and accepts again after", async () => {
    const { server, client } = await setup({ maxQueue: 2, flushIntervalMs: 0 });
    const first = client.log(ev(1));
    const second = client.log(ev(2));
    const refused = await outcome(client.log(ev(3)));
    expect(refused).toMatchObject({ code: "queue_full", retryable: true });
    await Promise.all([first, second]);
    await expect(client.log(ev(4))).resolves.toMatchObject({ status: "sealed" });
    expect(server.sentEventIds()).toHaveLength(3);
  });

  it("flushes on close, refuses logs after it and can be closed twice", async () => {
    const { server, client } = await setup({ flushIntervalMs: 60_000 });
    const logs = [client.log(ev(1)), client.log(ev(2))];
    const closing = client.close();
    await expect(client.log(ev(3))).rejects.toMatchObject({ code: "closed", retryable: false });
    await closing;
    expect(server.batchSizes()).toEqual([2]);
    await expect(Promise.all(logs)).resolves.toHaveLength(2);
    await client.close();
    await client.flush();
    expect(server.requests).toHaveLength(1);
  });

  it("flush waits for events already in flight and resolves at once when idle", async () => {
    const { server, client } = await setup({ flushIntervalMs: 0 });
    await client.flush();
    server.script.push({ status: 503, headers: { "retry-after": "0" } });
    let settled = false;
    const logged = client.log(ev(1)).then(() => {
      settled = true;
    });
    await client.flush();
    expect(settled).toBe(true);
    await logged;
    expect(server.requests).toHaveLength(2);
  });

  it("refuses invalid options without echoing the token", () => {
    expect(() => new AuditClient({ url: "ftp://vigil", token: TOKEN })).toThrow(TypeError);
    expect(() => new AuditClient({ url: "http://vigil", token: "" })).toThrow(TypeError);
    expect(() => new AuditClient({ url: "http://user:pass@vigil", token: TOKEN })).toThrow(/credentials/);
    let error: unknown;
    try {
      new AuditClient({ url: "http://vigil", token: "bad\ntoken-secret" });
    } catch (e) {
      error = e;
    }
    expect(String(error)).not.toContain("token-secret");
    expect(() => new AuditClient({ url: "http://vigil", token: TOKEN, batchSize: 0 })).toThrow(RangeError);
  });
});
