/**
 * The `type: webhook` destination: each batch is one HTTP POST to `url`, confirmed by a 2xx answer.
 *
 * Body, by `format:`
 * - native, ocsf: a JSON array of the records (`application/json`), or one record per line with `body: ndjson`
 *   (`application/x-ndjson`);
 * - cloudevents: a CloudEvents JSON batch (`application/cloudevents-batch+json`);
 * - kubernetes: an `audit.k8s.io/v1` EventList, as the API server's webhook backend posts it (so one Vigil can
 *   forward to another's `/v1/k8s/audit`, or to any receiver of Kubernetes audit webhooks).
 *
 * Answers: 2xx confirms the batch. 413 means too large: the consumer splits the batch, and a single record that is
 * still too large gets `on_oversize`. 408, 429 and 5xx are retryable (Retry-After honoured, in seconds or as an
 * HTTP date); every other 4xx is permanent (bad URL, credentials, payload the receiver will never accept): the
 * destination parks with the status in its error rather than loop. Connection errors are retryable; certificate
 * errors are permanent. Each request is tried `retry_attempts` times (backoff between) before the failure goes
 * to the consumer, which keeps trying at its own slower pace. Every request carries `Idempotency-Key` (the first
 * and last sequence of the batch) so a receiver can drop a repeat after a lost answer.
 *
 * Nothing secret is ever logged: errors name the URL without its query string and never the headers.
 */
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { backoffDelay, sleep } from "../../pipeline/retry.ts";
import { VIGIL_VERSION } from "../../version.ts";
import { DeliveryError, type Destination, type DestinationStatus, type RecordBatch } from "../destination.ts";
import { destinationOutput, type EncodedRecord, type RecordEncoding } from "../encoding.ts";
import type { DestinationContext } from "../registry.ts";
import { isTrustError } from "../tls.ts";
import { displayUrl, isSecretLike, type WebhookDestinationConfig } from "./config.ts";

/** The request itself cannot be made (a header Node refuses): no retry fixes it. */
const REQUEST_ERRORS = /^ERR_(INVALID_CHAR|INVALID_HTTP_TOKEN|HTTP_INVALID_HEADER_VALUE)$/;
/** How much of an error answer's body is quoted in the status (receivers often explain a 4xx there). */
const QUOTED_BODY_BYTES = 300;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Strings of the config that may be secret, longest first (so a value containing another is removed whole). */
function secretsOf(config: WebhookDestinationConfig): string[] {
  const url = new URL(config.url);
  const query = url.search.slice(1);
  const parts = [
    ...Object.values(config.headers).flatMap((v) => [v, ...v.split(/\s+/)]),
    query,
    ...query.split("&").flatMap((kv) => kv.split("=")),
    ...url.pathname.split("/").filter(isSecretLike),
  ];
  return [...new Set(parts.filter((p) => p.length >= 6))].sort((a, b) => b.length - a.length);
}

/** Milliseconds a Retry-After header asks for (seconds or an HTTP date), undefined without a usable one. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === "") return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export class WebhookDestination implements Destination {
  readonly name: string;
  readonly #config: WebhookDestinationConfig;
  readonly #url: URL;
  readonly #shownUrl: string;
  readonly #agent: HttpAgent | HttpsAgent;
  readonly #encoding: RecordEncoding;
  readonly #log: (msg: string) => void;
  #requests = 0;
  #retries = 0;
  /** What an error message must never quote: header values, the query string, long path segments. */
  readonly #secrets: string[];

  constructor(config: WebhookDestinationConfig, context: DestinationContext) {
    this.name = config.name;
    this.#config = config;
    this.#url = new URL(config.url);
    this.#shownUrl = displayUrl(config.url);
    this.#secrets = secretsOf(config);
    ({ log: this.#log, encoding: this.#encoding } = destinationOutput(config, context));
    const tls = config.tls;
    this.#agent =
      this.#url.protocol === "https:"
        ? new HttpsAgent({
            keepAlive: true,
            ...(tls.ca === undefined ? {} : { ca: tls.ca }),
            ...(tls.cert === undefined ? {} : { cert: tls.cert, key: tls.key }),
            rejectUnauthorized: !tls.insecureSkipVerify,
          })
        : new HttpAgent({ keepAlive: true });
  }

  async start(): Promise<{ last?: undefined }> {
    if (this.#config.tls.insecureSkipVerify) {
      this.#log("tls.insecure_skip_verify is on: the receiver's certificate is not checked");
    }
    return {};
  }

  status(): DestinationStatus & { requests: number; retries: number } {
    return { skippedRecords: this.#encoding.skipped, requests: this.#requests, retries: this.#retries };
  }

  async deliver(batch: RecordBatch, signal: AbortSignal): Promise<void> {
    const records = this.#encoding.encode(batch);
    if (records.length === 0) return;
    const { body, contentType } = this.#body(records);
    const last = batch.firstSequence + batch.lines.length - 1;
    const headers: Record<string, string> = {
      "user-agent": `vigil/${VIGIL_VERSION}`,
      ...this.#config.headers,
      "content-type": contentType,
      "content-length": String(body.length),
      "idempotency-key": `${encodeURIComponent(this.name)}:${batch.firstSequence}-${last}`,
    };
    // The consumer abandons the delivery after its request timeout; a wait that would not fit in what is left
    // goes to the consumer instead (with the server's Retry-After), so it is honoured rather than cut short.
    const deadline = Date.now() + this.#config.delivery.requestTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#post(body, headers, signal);
        return;
      } catch (e) {
        const retryable = e instanceof DeliveryError && e.retryable && !e.tooLarge;
        if (!retryable || attempt >= this.#config.retryAttempts || signal.aborted) throw e;
        const wait = Math.max(backoffDelay(attempt - 1, this.#config.delivery.backoff), e.retryAfterMs ?? 0);
        if (Date.now() + wait >= deadline) throw e;
        this.#retries++;
        if (!(await sleep(wait, signal))) throw e;
      }
    }
  }

  #body(records: EncodedRecord[]): { body: Buffer; contentType: string } {
    const texts = records.map((r) => r.text);
    switch (this.#config.format) {
      case "cloudevents":
        return {
          body: Buffer.from(`[${texts.join(",")}]`),
          contentType: "application/cloudevents-batch+json",
        };
      case "kubernetes":
        return {
          body: Buffer.from(
            `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[${texts.join(",")}]}`,
          ),
          contentType: "application/json",
        };
      default:
        return this.#config.body === "ndjson"
          ? { body: Buffer.from(`${texts.join("\n")}\n`), contentType: "application/x-ndjson" }
          : { body: Buffer.from(`[${texts.join(",")}]`), contentType: "application/json" };
    }
  }

  /** One POST; resolves on 2xx, throws a classified DeliveryError otherwise. */
  async #post(body: Buffer, headers: Record<string, string>, signal: AbortSignal): Promise<void> {
    this.#requests++;
    let answer: Answer;
    try {
      answer = await this.#send(body, headers, signal);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? "";
      if (signal.aborted)
        throw new DeliveryError(`request to ${this.#shownUrl} abandoned`, true, { cause: e });
      if (REQUEST_ERRORS.test(code)) {
        throw new DeliveryError(
          `cannot send to ${this.#shownUrl}: a header name or value is not valid HTTP (${code})`,
          false,
          { cause: e },
        );
      }
      const permanent = isTrustError(code);
      throw new DeliveryError(
        `cannot reach ${this.#shownUrl}: ${(e as Error).message}${permanent ? " (fix the certificate or tls settings)" : ""}`,
        !permanent,
        { cause: e },
      );
    }
    const { status } = answer;
    if (status >= 200 && status < 300) return;
    // Receivers often explain a refusal in the body, and some echo the request: quote it only for statuses that
    // are not about credentials, without anything configured that may be secret.
    const said =
      status === 401 || status === 403 || status === 407
        ? ""
        : this.#scrub(answer.body.trim().slice(0, QUOTED_BODY_BYTES).replace(/\s+/g, " "));
    const message = `${this.#shownUrl} answered ${status}${said === "" ? "" : `: ${said}`}`;
    if (status === 413) throw new DeliveryError(message, true, { tooLarge: true });
    const retryable = status === 408 || status === 429 || status >= 500;
    const wait = retryAfterMs(answer.headers["retry-after"]);
    throw new DeliveryError(
      retryable ? message : `${message} (permanent: the request will not succeed as it is)`,
      retryable,
      {
        ...(wait === undefined ? {} : { retryAfterMs: wait }),
      },
    );
  }

  /** The text without the configured header values or the URL's secret parts (query, long path segments). */
  #scrub(text: string): string {
    let out = text;
    for (const secret of this.#secrets) out = out.split(secret).join("<redacted>");
    return out;
  }

  #send(body: Buffer, headers: Record<string, string>, signal: AbortSignal): Promise<Answer> {
    const send = this.#url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(this.#url, { method: "POST", headers, agent: this.#agent, signal }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          // Only the start of the answer is of interest; the rest is read and dropped to free the connection.
          if (size < QUOTED_BODY_BYTES) chunks.push(chunk);
          size += chunk.length;
        });
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  async stop(): Promise<void> {
    this.#agent.destroy();
  }
}
