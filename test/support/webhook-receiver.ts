/**
 * A local HTTP(S) receiver standing in for a SIEM's webhook endpoint in the webhook destination's tests: it keeps
 * every request (method, path, headers, body) in arrival order, refuses bodies over a size limit with 413, can be
 * scripted to answer the next requests with given statuses (and Retry-After), and can be taken away (the port
 * refuses connections) and brought back on the same port.
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Socket } from "node:net";

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

export interface ScriptedAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export interface WebhookReceiver {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  /** Requests answered 2xx, in arrival order. */
  accepted: ReceivedRequest[];
  /** Every request, whatever its answer. */
  all: ReceivedRequest[];
  /** Answers for the next requests, in order, before the normal 200. */
  script: ScriptedAnswer[];
  /** Bodies larger than this get 413 (default: unlimited). */
  maxBodyBytes: number;
  /** Closes the listener and every connection: new connections are refused until `resume`. */
  interrupt(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(
  opts: { tls?: { key: string; cert: string }; maxBodyBytes?: number } = {},
): Promise<WebhookReceiver> {
  const sockets = new Set<Socket>();
  const receiver: WebhookReceiver = {
    url: "",
    accepted: [],
    all: [],
    script: [],
    maxBodyBytes: opts.maxBodyBytes ?? Number.POSITIVE_INFINITY,
    interrupt: async () => {},
    resume: async () => {},
    close: async () => {},
  };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const got: ReceivedRequest = {
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      receiver.all.push(got);
      const scripted = receiver.script.shift();
      if (scripted) {
        res.writeHead(scripted.status, scripted.headers ?? {}).end(scripted.body ?? "");
      } else if (got.body.length > receiver.maxBodyBytes) {
        res.writeHead(413, { "content-type": "text/plain" }).end("payload too large");
      } else {
        receiver.accepted.push(got);
        res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
      }
    });
  };
  const make = (): Server => {
    const server = opts.tls ? createHttpsServer(opts.tls, handler) : createHttpServer(handler);
    server.on("connection", (s: Socket) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    });
    return server;
  };
  let server = make();
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: "127.0.0.1", port }, () => {
        const address = server.address();
        resolve(typeof address === "object" && address !== null ? address.port : 0);
      });
    });
  const port = await listen(0);
  receiver.url = `${opts.tls ? "https" : "http"}://127.0.0.1:${port}`;
  let listening = true;
  const stop = async () => {
    if (!listening) return;
    listening = false;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of sockets) s.destroy();
    await closed;
  };
  receiver.interrupt = stop;
  receiver.resume = async () => {
    if (listening) return;
    server = make();
    await listen(port);
    listening = true;
  };
  receiver.close = stop;
  return receiver;
}
