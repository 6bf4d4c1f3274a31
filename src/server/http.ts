/**
 * The HTTP API: ingest, health, readiness, metrics and status. Built on Fastify; request bodies reach the ingest
 * handler as raw bytes so decoding (UTF-8, JSON or NDJSON) and validation are ours and report every bad field.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { TokenScope } from "../config/types.ts";
import { ValidationError, VigilError } from "../errors.ts";
import { type BodyFormat, decodeBody, type EventLimits, prepareEvents } from "../event/validate.ts";
import type { CheckpointerThread } from "../integrity/checkpointer-thread.ts";
import type { ConsistencyProofJson } from "../integrity/proof.ts";
import type { ConsumerStatus } from "../pipeline/consumer.ts";
import {
  type EventOutcome,
  type IngestResult,
  type Pipeline,
  RETRY_AFTER_SECONDS,
} from "../pipeline/pipeline.ts";
import type { KubernetesPolicy } from "../policy/kubernetes.ts";
import {
  auditReadEvent,
  parseSearchParams,
  type SearchParams,
  type SearchService,
  SearchUnavailable,
} from "../search/service.ts";
import { prepareKubernetesList } from "../sources/kubernetes-webhook/webhook.ts";
import type { Principal, TokenAuthenticator } from "./auth.ts";
import type { Metrics } from "./metrics.ts";
import { problemBody, sendProblem } from "./problem.ts";

export interface HttpDeps {
  pipeline: Pipeline;
  auth: TokenAuthenticator;
  metrics: Metrics;
  limits: EventLimits;
  /** The `policy_file` policy for `POST /v1/k8s/audit`; undefined: every request at level Metadata. */
  kubernetesPolicy: KubernetesPolicy | undefined;
  maxBodyBytes: number;
  status: () => Record<string, unknown>;
  destinations: () => ConsumerStatus[];
  checkpoints: Pick<CheckpointerThread, "latest" | "note" | "sizes">;
  /** Builds a consistency proof between two stored checkpoints (proof.ts consistencyProofJson). */
  consistency: (from: number, to: number) => Promise<ConsistencyProofJson>;
  log: (msg: string) => void;
  /** Search over the index (`GET /v1/events`); undefined: audit.index.enabled is false (503). */
  search: SearchService | undefined;
}

const FORMATS: Record<string, BodyFormat> = {
  "application/json": "json",
  "application/x-ndjson": "ndjson",
  "application/ndjson": "ndjson",
  "application/jsonl": "ndjson",
  "application/x-jsonlines": "ndjson",
};

declare module "fastify" {
  interface FastifyRequest {
    principal?: Principal;
  }
}

const REQUEST_TIMEOUT_MS = 60_000;
/** C2SP notes are served as plain UTF-8 text. */
const NOTE_TYPE = "text/plain; charset=utf-8";
const CHECKPOINT_LIST_LIMIT = 1000;

/** A tree size from a query parameter. */
function treeSize(value: string | undefined, field: string): number {
  const n = Number(value);
  if (value === undefined || !/^\d{1,15}$/.test(value) || !Number.isSafeInteger(n)) {
    throw new ValidationError("invalid_request", [
      { field, message: "must be a tree size (a whole number)" },
    ]);
  }
  return n;
}

function unauthorized(): VigilError {
  return new VigilError("unauthorized", "send Authorization: Bearer <token>");
}

function tooLarge(limit: number): VigilError {
  return new VigilError(
    "payload_too_large",
    `the body is over the ${limit}-byte limit (server.max_body_bytes)`,
  );
}

export function buildHttp(deps: HttpDeps): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: deps.maxBodyBytes,
    return503OnClosing: true,
    forceCloseConnections: "idle",
    // A request (headers and body) must arrive within this time: a slow upload cannot hold a connection open.
    requestTimeout: REQUEST_TIMEOUT_MS,
  });
  // A client that announces a body with `Expect: 100-continue` (curl does for large ones) is refused before it
  // uploads it when the body is too large or the token is not valid.
  app.server.on("checkContinue", (req, res) => {
    const refusal = !deps.auth.authenticate(req.headers.authorization)
      ? unauthorized()
      : Number(req.headers["content-length"] ?? 0) > deps.maxBodyBytes
        ? tooLarge(deps.maxBodyBytes)
        : undefined;
    if (refusal) {
      const body = problemBody(refusal);
      res.writeHead(body.status, { "content-type": "application/problem+json", connection: "close" });
      res.end(JSON.stringify(body));
      return;
    }
    res.writeContinue();
    app.server.emit("request", req, res);
  });
  // Bodies are decoded by us; Fastify's JSON parser (which rejects __proto__ with a generic error) is removed.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(Object.keys(FORMATS), { parseAs: "buffer" }, (_req, body, done) =>
    done(null, body),
  );

  const guard = (scope: TokenScope) => async (req: FastifyRequest, reply: FastifyReply) => {
    const principal = deps.auth.authenticate(req.headers.authorization);
    if (!principal) return sendProblem(reply, unauthorized());
    if (!principal.scopes.includes(scope) && !principal.scopes.includes("admin")) {
      return sendProblem(
        reply,
        new VigilError("forbidden", `this endpoint needs a token with the ${scope} scope`),
      );
    }
    req.principal = principal;
  };

  app.setErrorHandler((error: Error & { code?: string; statusCode?: number }, _req, reply) => {
    if (error instanceof VigilError) return sendProblem(reply, error, RETRY_AFTER_SECONDS);
    if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      return sendProblem(
        reply,
        new VigilError(
          "payload_too_large",
          `the body is over the ${deps.maxBodyBytes}-byte limit (server.max_body_bytes)`,
        ),
      );
    }
    if (
      error.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE" ||
      error.code === "FST_ERR_CTP_INVALID_CONTENT_LENGTH"
    ) {
      return sendProblem(
        reply,
        new VigilError(
          "unsupported_media_type",
          `send events as ${Object.keys(FORMATS).join(", ")}${error.code.endsWith("LENGTH") ? " with a correct Content-Length" : ""}`,
        ),
      );
    }
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return sendProblem(reply, new VigilError("usage", error.message));
    }
    deps.log(`internal error: ${error.stack ?? error.message}`);
    return sendProblem(reply, new VigilError("internal", "internal error; see the server log"));
  });

  app.setNotFoundHandler((req, reply) =>
    sendProblem(reply, new VigilError("not_found", `no route ${req.method} ${req.url.split("?")[0]}`)),
  );

  app.addHook("onResponse", async (req, reply) => {
    deps.metrics.requests.inc({ route: req.routeOptions.url ?? "unknown", status: String(reply.statusCode) });
  });

  app.get("/healthz", async () => ({ status: "ok" }));

  app.get("/readyz", async (_req, reply) => {
    if (deps.pipeline.ready) return { status: "ready" };
    return sendProblem(reply, new VigilError("journal_failed", "the journal has failed; restart Vigil"));
  });

  app.post("/v1/events", { onRequest: guard("ingest") }, async (req, reply) => {
    const started = process.hrtime.bigint();
    const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
    const format = FORMATS[type] ?? "json";
    const items = decodeBody(req.body as Buffer, format);
    const events = prepareEvents(
      items,
      { source: "http", address: req.ip, token: (req.principal as Principal).name },
      deps.limits,
    );
    const result = await deps.pipeline.ingest(events);
    deps.metrics.ackLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
    return reply.code(200).send(result);
  });

  // kube-apiserver's webhook audit backend (batch mode). It retries a batch that is not answered 2xx, so the
  // answer waits until the recorded events are durable.
  app.post("/v1/k8s/audit", { onRequest: guard("ingest") }, async (req, reply) => {
    const started = process.hrtime.bigint();
    const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
    if (type !== "application/json") {
      throw new VigilError("unsupported_media_type", "send the EventList as application/json");
    }
    const [item] = decodeBody(req.body as Buffer, "json");
    const batch = prepareKubernetesList(
      item?.value,
      deps.kubernetesPolicy,
      { source: "k8s-webhook", address: req.ip, token: (req.principal as Principal).name },
      deps.limits,
    );
    const result: IngestResult =
      batch.events.length === 0
        ? { accepted: 0, excluded: 0, dropped: 0, events: [] }
        : await deps.pipeline.ingest(batch.events);
    // Counted once the request succeeded, as the pipeline counts its own exclusions.
    if (batch.excluded.length > 0) deps.metrics.excluded("kubernetes_policy", batch.excluded.length);
    const events: EventOutcome[] = new Array(batch.total);
    for (const x of batch.excluded) events[x.index] = { event_id: x.event_id, status: "excluded" };
    result.events.forEach((outcome, j) => {
      events[batch.positions[j] as number] = outcome;
    });
    deps.metrics.ackLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
    return reply.code(200).send({
      accepted: result.accepted,
      excluded: result.excluded + batch.excluded.length,
      dropped: result.dropped,
      events,
    });
  });

  // Checkpoints and consistency proofs are public: anyone holding the log's public key can check them.
  app.get("/v1/checkpoints/latest", async (_req, reply) => {
    const latest = deps.checkpoints.latest();
    if (!latest) return sendProblem(reply, new VigilError("not_found", "no checkpoint has been signed yet"));
    return reply.type(NOTE_TYPE).send(latest.note);
  });

  app.get("/v1/checkpoints", async (req, reply) => {
    const { size } = req.query as { size?: string };
    if (size === undefined) {
      const sizes = deps.checkpoints.sizes();
      return { checkpoints: sizes.slice(-CHECKPOINT_LIST_LIMIT).map((s) => ({ size: s })) };
    }
    const n = treeSize(size, "size");
    const note = await deps.checkpoints.note(n);
    if (note === undefined)
      return sendProblem(reply, new VigilError("not_found", `no checkpoint of size ${n}`));
    return reply.type(NOTE_TYPE).send(note);
  });

  app.get("/v1/checkpoints/consistency", async (req, reply) => {
    const q = req.query as { from?: string; to?: string };
    const from = treeSize(q.from, "from");
    const to = treeSize(q.to, "to");
    if (from > to)
      throw new ValidationError("invalid_request", [{ field: "from", message: "must not exceed to" }]);
    return reply.send(await deps.consistency(from, to));
  });

  app.get("/metrics", { onRequest: guard("read") }, async (_req, reply) => {
    const body = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(body);
  });

  /** 503 problem+json: the index is off, not open yet or parked; ingest is not affected. */
  const unavailable = (reply: FastifyReply, detail: string) =>
    reply.code(503).type("application/problem+json").send({
      type: "urn:vigil:problem:index_unavailable",
      title: "Search index unavailable",
      status: 503,
      detail,
    });

  /**
   * Runs one search and records it as an `audit.read` event through the pipeline before answering (a query
   * that cannot be recorded is not answered). The record goes straight to the pipeline, never through these
   * routes, so recording does not recurse.
   */
  const searchRoute =
    <T>(
      endpoint: string,
      aggregate: boolean,
      run: (s: SearchService, p: SearchParams) => Promise<T>,
      count: (r: T) => number,
    ) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      if (!deps.search) {
        return unavailable(reply, "the search index is off: set audit.index.enabled: true (and restart)");
      }
      const params = parseSearchParams(req.query as Record<string, unknown>, aggregate);
      let result: T;
      try {
        result = await run(deps.search, params);
      } catch (e) {
        if (e instanceof SearchUnavailable) return unavailable(reply, e.message);
        throw e;
      }
      const name = (req.principal as Principal).name;
      const events = prepareEvents(
        [{ value: auditReadEvent(name, endpoint, params, count(result)) }],
        { source: "http", address: req.ip, token: name },
        deps.limits,
      );
      const recorded = await deps.pipeline.ingest(events);
      if (recorded.dropped > 0) {
        throw new VigilError(
          "queue_full",
          "the query could not be recorded (ingest queue full); retry later",
          {
            retryable: true,
          },
        );
      }
      return reply.send(result);
    };

  app.get(
    "/v1/events",
    { onRequest: guard("read") },
    searchRoute(
      "/v1/events",
      false,
      (s, p) => s.search(p),
      (r) => r.events.length,
    ),
  );
  app.get(
    "/v1/events/aggregate",
    { onRequest: guard("read") },
    searchRoute(
      "/v1/events/aggregate",
      true,
      (s, p) => s.aggregate(p),
      (r) => r.buckets.reduce((sum, b) => sum + b.count, 0),
    ),
  );

  app.get("/v1/status", { onRequest: guard("read") }, async () => deps.status());
  app.get("/v1/destinations", { onRequest: guard("read") }, async () => ({
    destinations: deps.destinations(),
  }));

  return app;
}
