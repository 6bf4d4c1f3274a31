/**
 * The Kafka audit proxy (issue 7): clients connect to Vigil instead of the brokers; every request and response
 * is forwarded, and each exchange is handed to `emit` as a native audit event (audit.ts).
 *
 * Listeners: one bootstrap listener (its connections go to the first reachable bootstrap server), and one local
 * port per broker, taken from `brokerPorts` in the order brokers are first seen. Broker addresses in Metadata,
 * FindCoordinator and DescribeCluster responses, and the leader hints of Produce and Fetch responses
 * (nodeEndpoints), are rewritten to `advertisedHost` and the broker's local port before the client sees them,
 * so clients never bypass the proxy; a broker's listener is bound before the response naming it is forwarded.
 *
 * Per connection (ProxiedConnection): client bytes are split into frames (frames.ts); each request's header is
 * read (protocol/index.ts) and the frame forwarded unchanged at once, pipelined; requests wait in order for
 * their responses, which Kafka sends in request order on a connection; a response whose correlation id is not
 * the next one expected closes the connection. Responses are forwarded unchanged except the rewrites above and
 * ApiVersions, whose version ranges are narrowed to what the codec decodes (so every version a client then
 * negotiates is one the proxy reads; minimums are left as the broker says, see narrowApiVersions). A Fetch
 * response of STREAM_MIN_BYTES or more is forwarded as its bytes arrive, all but its last byte, and audited
 * once complete; one that turns out to carry leader hints (broker addresses, only sent beside partition errors)
 * closes the client's connection instead of reaching it, since its size went out before it could be rewritten.
 * Backpressure: a side whose peer's socket buffer is full is paused until it drains.
 *
 * Failure policy (issue 7, point 4): before a request is forwarded, `admit()` says whether the audit path can take
 * its event (the source's queue has room). When it cannot, `failurePolicy` decides: "permit" forwards the request
 * as usual (fail open: the source counts the events it cannot keep), "reject" forwards nothing and answers the
 * request itself, in its turn, with an error the client retries after backing off (fail closed, refuse.ts; a
 * request with no such answer closes its connection, logged), and audits it as refused. ApiVersions, the SASL
 * APIs and Metadata are always forwarded. The state is counted (`failure`: requests refused and forwarded while
 * the audit path was full, by API, the last refusal) and logged when the audit path fills and when it has room
 * again, not per request: the proxy learns it from admit(), so a state change is seen with the next request.
 *
 * SASL: the mechanism from SaslHandshake, the user from the first SaslAuthenticate token (PLAIN's authcid,
 * SCRAM's `n=`), never the password; the broker's answer decides: error 0 on the last round is `auth.login`,
 * any error `auth.failed`. Clients older than Kafka 1.0 send SaslHandshake v0 and then the SASL tokens raw,
 * framed by their size with no Kafka header, and the broker answers raw the same way; a failed login is told
 * by the broker closing the connection. After a successful v0 handshake for PLAIN, SCRAM or OAUTHBEARER the
 * proxy forwards that many raw rounds (one, two, one), taking the user from the first token as above, and
 * audits `auth.login` after the last answer or `auth.failed` when the connection closes before it; other
 * mechanisms (GSSAPI) over v0 have rounds the proxy cannot count, so such a connection is closed, audited. Requests that cannot be decoded are still forwarded (the broker answers them) and
 * audited with `decode_error`; a frame that is not a Kafka frame at all (bad size) closes the connection with a
 * logged reason, and the process lives on.
 */
import { createServer, isIP, type Server, type Socket, connect as tcpConnect } from "node:net";
import { type TLSSocket, connect as tlsConnect, createServer as tlsCreateServer } from "node:tls";
import type { FailurePolicy } from "../../config/types.ts";
import { authEvent, type Exchange, exchangeEvent, type Peer, principalActor } from "./audit.ts";
import { FrameReader } from "./frames.ts";
import { guards, type Refused, split } from "./protect.ts";
import {
  APIS,
  type ApiSpec,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  type RequestHeader,
  readRequestHeader,
} from "./protocol/index.ts";
import { exempt, REFUSED, type Refusal, refusal } from "./refuse.ts";

export interface HostPort {
  host: string;
  port: number;
}

export interface KafkaProxyOptions {
  /** Where the bootstrap listener binds (port 0: any free port). */
  listen: HostPort;
  /** The cluster's bootstrap servers. */
  bootstrap: HostPort[];
  /** The host clients are told to connect to for every broker (default: listen.host). */
  advertisedHost?: string;
  /** Local ports for the brokers: `first` to `first + count - 1` (first 0: any free port for each). */
  brokerPorts: { first: number; count: number };
  /**
   * TLS toward clients: the proxy's certificate and key (PEM); with `clientCa`, clients present a certificate
   * signed by it (required unless `requireClientCert` is false) and its subject is their principal, as Kafka's
   * SSL listener makes it (`User:CN=…,O=…`), until a SASL login names another.
   */
  clientTls?: { cert: string; key: string; clientCa?: string; requireClientCert?: boolean };
  /** TLS to the brokers (their listener is SSL or SASL_SSL): the CA that signed their certificates. */
  upstreamTls?: { ca?: string };
  /**
   * Vigil's own audit topics: producing to, deleting or altering them through the proxy is refused with
   * TOPIC_AUTHORIZATION_FAILED (protect.ts), except for `trustedPrincipals`.
   */
  protectedTopics?: readonly string[];
  trustedPrincipals?: readonly string[];
  /** Largest frame accepted from either side (default 100 MiB, the broker's socket.request.max.bytes). */
  maxFrameBytes?: number;
  /**
   * Asked before each request is forwarded: false while the audit path cannot take the request's event (the
   * source's queue is full). Default: always true.
   */
  admit?: () => boolean;
  /**
   * What becomes of a request while admit() is false: "reject" answers it with a retriable error and forwards
   * nothing (fail closed), "permit" forwards it (fail open). Default "reject", as `audit.failure_policy`.
   */
  failurePolicy?: FailurePolicy;
  /** Receives one native event per exchange and per authentication. */
  emit: (event: Record<string, unknown>) => void;
  log: (msg: string) => void;
}

/** What the failure policy did: readable by the source for its status and alerts. */
export interface FailureStatus {
  policy: FailurePolicy;
  /** Whether admit() said no to the latest request: the audit path is full. */
  auditPathFull: boolean;
  /** Since when (ms since the epoch) it has been full, while it is. */
  fullSince: number | undefined;
  /** Requests the proxy answered itself with a retriable error (failure_policy reject), by API name. */
  refused: Record<string, number>;
  /**
   * Requests forwarded while admit() said no, by API name: all of them under failure_policy permit, those never
   * refused under reject. Their events may have been lost (the source counts those it dropped).
   */
  forwardedUnaudited: Record<string, number>;
  /** When (ms since the epoch) the latest request was refused. */
  lastRefusalAt: number | undefined;
}

interface BrokerRoute {
  nodeId: number;
  upstream: HostPort;
  local: HostPort;
  server: Server;
}

const API_VERSIONS = 18;
const SASL_HANDSHAKE = 17;
const SASL_AUTHENTICATE = 36;
const PRODUCE = 0;
const FETCH = 1;
/**
 * Fetch responses at least this large are forwarded as their bytes arrive, not once complete: waiting for a
 * whole response of megabytes before sending its first byte on held every fetch of a consumer back by as long.
 */
const STREAM_MIN_BYTES = 256 * 1024;
/** Responses whose broker addresses are rewritten. */
const REWRITTEN = new Set([3, 10, 60, 0, 1]);
const DEFAULT_MAX_FRAME = 100 * 1024 * 1024;
/** Raw token rounds after a SaslHandshake v0, by mechanism: client token, broker answer, that many times. */
const RAW_SASL_ROUNDS = new Map([
  ["PLAIN", 1],
  ["SCRAM-SHA-256", 2],
  ["SCRAM-SHA-512", 2],
  ["OAUTHBEARER", 1],
]);

export class KafkaProxy {
  readonly #opts: KafkaProxyOptions;
  readonly #routes = new Map<number, BrokerRoute>();
  readonly #binding = new Map<number, Promise<BrokerRoute>>();
  readonly #connections = new Set<ProxiedConnection>();
  readonly #topicNames = new Map<string, string>();
  #bootstrap: Server | undefined;
  #bootstrapAddress: HostPort | undefined;
  #nextPort: number;
  #closed = false;
  readonly #refused = new Map<string, number>();
  readonly #unaudited = new Map<string, number>();
  #lastRefusalAt: number | undefined;
  #fullSince: number | undefined;
  /** Requests refused, and forwarded unaudited, since the audit path was last found full. */
  #spell = { refused: 0, unaudited: 0 };

  constructor(opts: KafkaProxyOptions) {
    this.#opts = opts;
    this.#nextPort = opts.brokerPorts.first;
  }

  /** The bootstrap listener's address (clients' bootstrap.servers). */
  get address(): HostPort {
    if (!this.#bootstrapAddress) throw new Error("the proxy is not started");
    return this.#bootstrapAddress;
  }

  get advertisedHost(): string {
    return this.#opts.advertisedHost ?? this.#opts.listen.host;
  }

  get maxFrameBytes(): number {
    return this.#opts.maxFrameBytes ?? DEFAULT_MAX_FRAME;
  }

  get upstreamTls(): { ca?: string } | undefined {
    return this.#opts.upstreamTls;
  }

  get topicNames(): ReadonlyMap<string, string> {
    return this.#topicNames;
  }

  isProtected(topic: string): boolean {
    return this.#opts.protectedTopics?.includes(topic) ?? false;
  }

  /** Whether requests from `principal` are checked against the protected topics. */
  protects(principal: string | undefined): boolean {
    if (!this.#opts.protectedTopics?.length) return false;
    return principal === undefined || !(this.#opts.trustedPrincipals ?? []).includes(principal);
  }

  /** Topic ids seen in a Metadata response, for Produce and Fetch requests that name topics by id. */
  learnTopic(id: string, name: string): void {
    this.#topicNames.set(id, name);
  }

  emit(event: Record<string, unknown>): void {
    this.#opts.emit(event);
  }

  log(msg: string): void {
    this.#opts.log(msg);
  }

  get failurePolicy(): FailurePolicy {
    return this.#opts.failurePolicy ?? "reject";
  }

  get failure(): FailureStatus {
    return {
      policy: this.failurePolicy,
      auditPathFull: this.#fullSince !== undefined,
      fullSince: this.#fullSince,
      refused: Object.fromEntries(this.#refused),
      forwardedUnaudited: Object.fromEntries(this.#unaudited),
      lastRefusalAt: this.#lastRefusalAt,
    };
  }

  /**
   * Asks admit() about a request about to be forwarded: true when it must be refused instead (the audit path is
   * full, failure_policy reject, an API that is not always forwarded). Counts it, and logs a change of state.
   */
  refuses(apiKey: number, api: string): boolean {
    if (this.#opts.admit?.() ?? true) {
      if (this.#fullSince !== undefined) this.#hasRoom();
      return false;
    }
    if (this.#fullSince === undefined) {
      this.#fullSince = Date.now();
      this.log(
        this.failurePolicy === "reject"
          ? "kafka proxy: the audit path is full: refusing requests with retriable errors until it has room " +
              "(failure_policy reject; ApiVersions, SASL and Metadata requests are still forwarded)"
          : "kafka proxy: the audit path is full: forwarding requests whose events may be lost until it has room " +
              "(failure_policy permit)",
      );
    }
    if (this.failurePolicy === "reject" && !exempt(apiKey)) {
      this.#refused.set(api, (this.#refused.get(api) ?? 0) + 1);
      this.#lastRefusalAt = Date.now();
      this.#spell.refused++;
      return true;
    }
    this.#unaudited.set(api, (this.#unaudited.get(api) ?? 0) + 1);
    this.#spell.unaudited++;
    return false;
  }

  #hasRoom(): void {
    const seconds = ((Date.now() - (this.#fullSince ?? 0)) / 1000).toFixed(1);
    const { refused, unaudited } = this.#spell;
    this.log(
      `kafka proxy: the audit path has room again after ${seconds} s: ${refused} requests refused, ` +
        `${unaudited} forwarded while it was full (failure_policy ${this.failurePolicy})`,
    );
    this.#fullSince = undefined;
    this.#spell = { refused: 0, unaudited: 0 };
  }

  async start(): Promise<void> {
    this.#bootstrap = this.#server("bootstrap", () => this.#opts.bootstrap, "bootstrap");
    this.#bootstrapAddress = await listen(this.#bootstrap, this.#opts.listen);
  }

  /**
   * The local address clients get for broker `nodeId` (at `host:port` upstream): its listener, bound now if it
   * is the first time the broker is seen. The upstream address is updated when the cluster moves a broker.
   */
  async route(nodeId: number, upstream: HostPort): Promise<HostPort> {
    const known = this.#routes.get(nodeId);
    if (known) {
      known.upstream = upstream;
      return known.local;
    }
    let binding = this.#binding.get(nodeId);
    if (!binding) {
      binding = this.#bind(nodeId, upstream);
      this.#binding.set(nodeId, binding);
    }
    return (await binding).local;
  }

  async #bind(nodeId: number, upstream: HostPort): Promise<BrokerRoute> {
    const { first, count } = this.#opts.brokerPorts;
    if (first !== 0 && this.#nextPort >= first + count) {
      throw new Error(
        `broker ${nodeId} needs a local port, but all ${count} of broker_ports (from ${first}) are taken`,
      );
    }
    const port = first === 0 ? 0 : this.#nextPort++;
    const route = { nodeId, upstream } as BrokerRoute;
    route.server = this.#server(`broker ${nodeId}`, () => [route.upstream], String(nodeId));
    const bound = await listen(route.server, { host: this.#opts.listen.host, port });
    route.local = { host: this.advertisedHost, port: bound.port };
    this.#routes.set(nodeId, route);
    return route;
  }

  #server(listener: string, upstreams: () => HostPort[], broker: string): Server {
    const accept = (client: Socket) => {
      if (this.#closed) {
        client.destroy();
        return;
      }
      const conn = new ProxiedConnection(this, client, upstreams(), listener, broker);
      this.#connections.add(conn);
      conn.closed.then(() => this.#connections.delete(conn));
    };
    const tls = this.#opts.clientTls;
    if (!tls) return createServer({ noDelay: true }, accept);
    const server = tlsCreateServer(
      {
        cert: tls.cert,
        key: tls.key,
        ...(tls.clientCa
          ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: tls.requireClientCert ?? true }
          : {}),
      },
      (client) => {
        client.setNoDelay(true);
        accept(client);
      },
    );
    // A handshake refused (no certificate, one the CA did not sign): an authentication failure, audited.
    server.on("tlsClientError", (e, socket) => {
      const peer: Peer = {
        address: socket.remoteAddress ?? "unknown",
        port: socket.remotePort ?? 0,
        listener,
        broker,
        mechanism: "SSL",
      };
      this.emit(authEvent(peer, false, { message: e.message }));
      socket.destroy();
    });
    return server;
  }

  /** Closes every listener and connection. */
  async stop(): Promise<void> {
    this.#closed = true;
    const servers = [this.#bootstrap, ...[...this.#routes.values()].map((r) => r.server)];
    for (const conn of this.#connections) conn.destroy();
    await Promise.all(
      servers.map((s) => (s ? new Promise<void>((resolve) => s.close(() => resolve())) : undefined)),
    );
  }
}

function listen(server: Server, at: HostPort): Promise<HostPort> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(at.port, at.host, () => {
      server.off("error", reject);
      const a = server.address();
      if (a === null || typeof a === "string") reject(new Error("no TCP address"));
      else resolve({ host: a.address, port: a.port });
    });
  });
}

/** A response being forwarded as it arrives (STREAM_MIN_BYTES). */
interface Streaming {
  pending: Pending;
  /** The frame's size (without its 4-byte prefix). */
  size: number;
  /** The pooled buffer the frame is assembled in (takeFrameBuffer), given back once the response went out. */
  buffer: Buffer;
  /** The whole frame, size prefix included, filled as its bytes arrive (read for the audit once complete). */
  frame: Buffer;
  /** Bytes of it received so far. */
  got: number;
  /** Bytes forwarded to the client: all but the frame's last until the response is read. */
  sent: number;
}

/**
 * Where the broker connections of this thread read (net's `onread`): one buffer for all of them, since each read
 * is handled, and what is kept of it copied, before the next one. Fewer, larger reads, and no new buffer per read
 * for the garbage collector to follow (the data path's largest cost at hundreds of MB/s).
 */
const sharedReadBuffer = Buffer.allocUnsafeSlow(1024 * 1024);

/**
 * The buffers streamed responses are assembled in, reused once a response went out (its last write done) and
 * was audited: a consumer at hundreds of MB/s made a new buffer of megabytes per response, and V8 answers that
 * much external memory with a full collection every few tens of milliseconds. Capacities are powers of two from
 * STREAM_MIN_BYTES; at most FRAME_POOL_BYTES are kept.
 */
const FRAME_POOL_BYTES = 64 * 1024 * 1024;
const framePool = new Map<number, Buffer[]>();
let framePoolBytes = 0;

function takeFrameBuffer(size: number): Buffer {
  let capacity = STREAM_MIN_BYTES;
  while (capacity < size) capacity *= 2;
  const reused = framePool.get(capacity)?.pop();
  if (reused) {
    framePoolBytes -= capacity;
    return reused;
  }
  return Buffer.allocUnsafeSlow(capacity);
}

function giveFrameBuffer(buffer: Buffer): void {
  if (framePoolBytes + buffer.length > FRAME_POOL_BYTES) return;
  const list = framePool.get(buffer.length) ?? [];
  list.push(buffer);
  framePool.set(buffer.length, list);
  framePoolBytes += buffer.length;
}

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** Raw SASL tokens being exchanged after a SaslHandshake v0. */
interface RawSasl {
  /** Client token and broker answer pairs the mechanism has (RAW_SASL_ROUNDS). */
  rounds: number;
  sent: number;
  answered: number;
  /** The broker refused in its last answer (audited); raw frames pass until it closes the connection. */
  failed: boolean;
}

/**
 * Whether the broker's last raw answer is a success: empty for PLAIN and OAUTHBEARER (which answer an error
 * as a JSON token), SCRAM's server-final-message `v=…` rather than `e=…` (RFC 5802).
 */
function rawLoginSucceeded(mechanism: string | undefined, answer: Buffer): boolean {
  if (mechanism?.startsWith("SCRAM-")) return answer.subarray(0, 2).toString("latin1") === "v=";
  return answer.length === 0;
}

interface Pending {
  header: RequestHeader;
  api: ApiSpec | undefined;
  /** The request as the client sent it (what is audited). */
  frame: Buffer;
  startedAt: number;
  started: number;
  /** Entries on protected topics taken out of the request (protect.ts), answered by the proxy. */
  refused?: Refused;
  /** Nothing was forwarded: the proxy answers alone, in its turn. */
  answerAlone?: boolean;
  /** Refused under failure_policy reject (refuse.ts); `refusal` is the answer, when there is one. */
  rejected?: boolean;
  refusal?: Refusal;
  /** The request decoded, once, by whichever step needed it first (`decoded`). */
  decoded?: { body: Record<string, unknown> } | { error: string };
}

/** The request's body, decoded on first use and kept (Produce is read for acks, protection and the audit). */
function decoded(p: Pending): { body: Record<string, unknown> } | { error: string } {
  if (!p.decoded) {
    try {
      p.decoded = { body: decodeRequest(p.header, p.frame.subarray(4)) };
    } catch (e) {
      p.decoded = { error: (e as Error).message };
    }
  }
  return p.decoded;
}

/** One client connection and its connection to a broker. */
class ProxiedConnection {
  readonly closed: Promise<void>;
  readonly #proxy: KafkaProxy;
  readonly #client: Socket;
  readonly #upstream: Socket;
  readonly #peer: Peer;
  readonly #requests: FrameReader;
  readonly #responses: FrameReader;
  readonly #pending: Pending[] = [];
  /** Responses are handled one after the other (a rewrite may wait for a listener to be bound). */
  #responseChain: Promise<void> = Promise.resolve();
  #saslRounds = 0;
  #authenticated = false;
  #done = false;
  #streaming: Streaming | undefined;
  /** Raw SASL tokens are being exchanged (after a SaslHandshake v0): rounds the mechanism has, and answered. */
  #raw: RawSasl | undefined;

  constructor(proxy: KafkaProxy, client: Socket, upstreams: HostPort[], listener: string, broker: string) {
    this.#proxy = proxy;
    this.#client = client;
    this.#peer = {
      address: client.remoteAddress ?? "unknown",
      port: client.remotePort ?? 0,
      listener,
      broker,
    };
    this.#requests = new FrameReader(proxy.maxFrameBytes);
    this.#responses = new FrameReader(proxy.maxFrameBytes);
    const subject = certificateSubject(client);
    if (subject !== undefined) {
      this.#peer.principal = subject;
      this.#peer.mechanism = "SSL";
      proxy.emit(authEvent(this.#peer, true, {}));
    }
    const target = upstreams[0] as HostPort;
    const tls = proxy.upstreamTls;
    this.#upstream = tls
      ? tlsConnect({
          host: target.host,
          port: target.port,
          ...(isIP(target.host) ? {} : { servername: target.host }),
          ...tls,
        }).setNoDelay(true)
      : tcpConnect({
          host: target.host,
          port: target.port,
          noDelay: true,
          // Read into one buffer shared by the thread's connections, copied out at once (#onResponseBytes).
          onread: {
            buffer: sharedReadBuffer,
            callback: (n: number, buffer: Uint8Array) => {
              this.#onResponseBytes(buffer.subarray(0, n) as Buffer, true);
              return true;
            },
          },
        });
    let resolveClosed: () => void = () => {};
    this.closed = new Promise((r) => {
      resolveClosed = r;
    });
    const onClose = () => {
      if (this.#raw && !this.#raw.failed && !this.#done) {
        this.#proxy.emit(
          authEvent(this.#peer, false, {
            message:
              "the broker closed the connection during SASL authentication (SaslHandshake v0, raw tokens)",
          }),
        );
      }
      this.destroy();
      resolveClosed();
    };
    // Nothing is read from the client before the broker connection is up (it would have nowhere to go).
    client.pause();
    this.#upstream.once(tls ? "secureConnect" : "connect", () => client.resume());
    client.on("data", (chunk: Buffer) => this.#onRequestBytes(chunk));
    if (tls) this.#upstream.on("data", (chunk: Buffer) => this.#onResponseBytes(chunk, false));
    client.on("error", (e) => this.#fail(`client ${this.#peer.address}:${this.#peer.port}: ${e.message}`));
    this.#upstream.on("error", (e) => this.#fail(`broker ${target.host}:${target.port}: ${e.message}`));
    client.on("close", onClose);
    this.#upstream.on("close", onClose);
  }

  /** Writes to one side; while that side's socket buffer is full, the other side is not read. */
  #send(to: Socket, from: Socket, bytes: Buffer, written?: () => void): void {
    if (!to.write(bytes, written) && !from.isPaused()) {
      from.pause();
      to.once("drain", () => {
        if (!this.#done) from.resume();
      });
    }
  }

  destroy(): void {
    if (this.#done) return;
    this.#done = true;
    this.#client.destroy();
    this.#upstream.destroy();
  }

  #fail(reason: string): void {
    if (!this.#done) this.#proxy.log(`kafka proxy: closing a connection: ${reason}`);
    this.destroy();
  }

  #onRequestBytes(chunk: Buffer): void {
    let frames: Buffer[];
    try {
      frames = this.#requests.push(chunk);
    } catch (e) {
      this.#fail(`client ${this.#peer.address}:${this.#peer.port} sent ${(e as Error).message}`);
      return;
    }
    // The requests of one read go to the broker in one write.
    const corked = frames.length > 1;
    if (corked) this.#upstream.cork();
    try {
      this.#onRequests(frames);
    } finally {
      if (corked) this.#upstream.uncork();
    }
  }

  #onRequests(frames: Buffer[]): void {
    for (const frame of frames) {
      if (this.#raw) {
        this.#rawToken(frame);
        continue;
      }
      let header: RequestHeader;
      try {
        header = readRequestHeader(frame.subarray(4));
      } catch (e) {
        this.#fail(
          `client ${this.#peer.address}:${this.#peer.port} sent a bad request header: ${(e as Error).message}`,
        );
        return;
      }
      const pending: Pending = {
        header,
        api: APIS.get(header.apiKey),
        frame,
        startedAt: Date.now(),
        started: performance.now(),
      };
      if (this.#proxy.refuses(header.apiKey, pending.api?.name ?? `api ${header.apiKey}`)) {
        if (this.#reject(pending)) continue;
        return;
      }
      const refused = this.#refuse(pending);
      if (refused) pending.refused = refused;
      if (!refused) this.#send(this.#upstream, this.#client, frame);
      else if (refused.kept) {
        const { bodyOffset: _, ...h } = header;
        this.#send(this.#upstream, this.#client, encodeRequest(h, refused.kept));
      } else pending.answerAlone = true;
      if (header.apiKey === PRODUCE && this.#acksZero(pending)) {
        this.#audit(pending, undefined, undefined);
      } else {
        this.#pending.push(pending);
        if (pending.answerAlone && this.#pending.length === 1) this.#answerAlone();
      }
    }
  }

  /** A raw SASL token from the client (SaslHandshake v0): forwarded; the first names the user. */
  #rawToken(frame: Buffer): void {
    const raw = this.#raw as RawSasl;
    if (raw.sent++ === 0) {
      const user = saslUser(this.#peer.mechanism, frame.subarray(4));
      if (user !== undefined) this.#peer.principal = user;
    }
    this.#send(this.#upstream, this.#client, frame);
  }

  /** The broker's raw answer to a token: forwarded in order; after the last round the client is logged in. */
  #rawAnswer(frame: Buffer): void {
    const raw = this.#raw as RawSasl;
    this.#responseChain = this.#responseChain.then(() => {
      if (this.#done) return;
      this.#send(this.#client, this.#upstream, frame);
      if (++raw.answered < raw.rounds) return;
      if (!rawLoginSucceeded(this.#peer.mechanism, frame.subarray(4))) {
        // The broker said no in a token (SCRAM's `e=`, OAUTHBEARER's error): it closes the connection next.
        if (!raw.failed) this.#proxy.emit(authEvent(this.#peer, false, { message: "refused by the broker" }));
        raw.failed = true;
        return;
      }
      this.#raw = undefined;
      this.#requests.raw = false;
      this.#responses.raw = false;
      this.#authenticated = true;
      this.#proxy.emit(authEvent(this.#peer, true, {}));
    });
  }

  /**
   * A SaslHandshake v0 the broker accepted: the client now sends raw tokens. Set before the answer is forwarded,
   * so the client's first token is read as one.
   */
  #startRaw(): boolean {
    const rounds = RAW_SASL_ROUNDS.get(this.#peer.mechanism ?? "");
    if (rounds === undefined) return false;
    this.#raw = { rounds, sent: 0, answered: 0, failed: false };
    this.#requests.raw = true;
    this.#responses.raw = true;
    return true;
  }

  /** Takes protected topics out of a request from anyone but Vigil (protect.ts); undefined when none. */
  #refuse(p: Pending): Refused | undefined {
    const api = p.api;
    if (!api || !guards(api.key) || !this.#proxy.protects(this.#peer.principal)) return undefined;
    const request = decoded(p);
    // Not decodable: the broker answers it (and the audit event says why it was not read).
    if (!("body" in request)) return undefined;
    return split(
      api,
      p.header.apiVersion,
      request.body,
      (topic) => this.#proxy.isProtected(topic),
      (id) => this.#proxy.topicNames.get(id),
    );
  }

  /**
   * Queues the proxy's own answer to a request refused while the audit path is full (refuse.ts); false when it
   * has none, and the connection is closed instead (as the broker closes it when acks=0 meets an error).
   */
  #reject(p: Pending): boolean {
    p.rejected = true;
    // Without the request there is nothing to mirror: no answer.
    const d = p.api ? decoded(p) : undefined;
    const request = d && "body" in d ? d.body : undefined;
    const answer = p.api && request ? refusal(p.api, p.header.apiVersion, request) : undefined;
    if (!answer) {
      this.#audit(p, undefined, performance.now() - p.started);
      this.#fail(
        `${p.api?.name ?? `API key ${p.header.apiKey}`} v${p.header.apiVersion} from ` +
          `${this.#peer.address}:${this.#peer.port} was refused (${REFUSED}) and has no answer a client retries`,
      );
      return false;
    }
    p.refusal = answer;
    p.answerAlone = true;
    this.#pending.push(p);
    if (this.#pending.length === 1) this.#answerAlone();
    return true;
  }

  /** Answers, in order, the requests at the head of the queue that the proxy answers alone. */
  #answerAlone(): void {
    while (this.#pending[0]?.answerAlone) {
      const p = this.#pending.shift() as Pending;
      this.#responseChain = this.#responseChain
        .then(() => this.#respond(p, undefined))
        .catch((e: unknown) => this.#fail(`answering ${p.api?.name}: ${(e as Error).message}`));
    }
  }

  /** A Produce request with acks=0 gets no response. */
  #acksZero(p: Pending): boolean {
    const request = decoded(p);
    return "body" in request && request.body.acks === 0;
  }

  /**
   * Bytes from the broker. `transient`: a view of the shared read buffer, valid only during this call, so what
   * is kept is copied (a streamed response straight into its frame).
   */
  #onResponseBytes(bytes: Buffer, transient: boolean): void {
    let chunk = bytes;
    const streaming = this.#streaming;
    if (streaming) {
      const need = 4 + streaming.size - streaming.got;
      this.#streamPart(streaming, chunk.length > need ? chunk.subarray(0, need) : chunk);
      if (chunk.length <= need) return;
      chunk = chunk.subarray(need);
    }
    if (transient) chunk = Buffer.from(chunk);
    let frames: Buffer[];
    try {
      frames = this.#responses.push(chunk);
    } catch (e) {
      this.#fail(`the broker sent ${(e as Error).message}`);
      return;
    }
    for (const frame of frames) {
      if (this.#raw && this.#pending.length === 0) {
        this.#rawAnswer(frame);
        continue;
      }
      const pending = this.#pending.shift();
      const correlationId = frame.readInt32BE(4);
      if (!pending || pending.header.correlationId !== correlationId) {
        this.#fail(
          `the broker answered correlation id ${correlationId}, expected ${pending?.header.correlationId ?? "none"}`,
        );
        return;
      }
      this.#responseChain = this.#responseChain
        .then(() => this.#respond(pending, frame))
        .catch((e: unknown) =>
          this.#fail(`answering ${pending.api?.name ?? pending.header.apiKey}: ${(e as Error).message}`),
        );
      this.#answerAlone();
    }
    this.#startStreaming();
  }

  /** When the response coming in is a large Fetch response, starts forwarding it as it arrives. */
  #startStreaming(): void {
    const head = this.#pending[0];
    if (this.#done || this.#raw || head?.header.apiKey !== FETCH || head.answerAlone) return;
    const partial = this.#responses.takePartial(STREAM_MIN_BYTES);
    if (!partial) return;
    this.#pending.shift();
    const correlationId = partial.head.readInt32BE(4);
    if (correlationId !== head.header.correlationId) {
      this.#fail(
        `the broker answered correlation id ${correlationId}, expected ${head.header.correlationId}`,
      );
      return;
    }
    const buffer = takeFrameBuffer(4 + partial.size);
    const frame = buffer.subarray(0, 4 + partial.size);
    const streaming: Streaming = { pending: head, size: partial.size, buffer, frame, got: 0, sent: 0 };
    this.#streaming = streaming;
    this.#streamPart(streaming, partial.head);
  }

  /**
   * Bytes of a streamed response: forwarded in their turn after earlier responses, all but the frame's last byte.
   * A client reads a frame only once it is complete, so the response can still be withheld when it is read (a
   * leader hint naming a broker, which cannot be rewritten once the frame's size went out: #respond).
   */
  #streamPart(s: Streaming, part: Buffer): void {
    part.copy(s.frame, s.got);
    s.got += part.length;
    const total = 4 + s.size;
    const upTo = Math.min(s.got, total - 1);
    if (upTo > s.sent) {
      const slice = s.frame.subarray(s.sent, upTo);
      s.sent = upTo;
      this.#responseChain = this.#responseChain.then(() => {
        if (!this.#done) this.#send(this.#client, this.#upstream, slice);
      });
    }
    if (s.got < total) return;
    this.#streaming = undefined;
    const frame = s.frame;
    const p = s.pending;
    this.#responseChain = this.#responseChain
      .then(() => this.#respond(p, frame, s.buffer))
      .catch((e: unknown) => this.#fail(`answering ${p.api?.name}: ${(e as Error).message}`));
    this.#answerAlone();
  }

  /**
   * Forwards (or, for a request answered alone, makes) the response to one request, and audits it. `streamed`:
   * all of `frame` but its last byte was forwarded already (#streamPart), from this pooled buffer.
   */
  async #respond(p: Pending, frame: Buffer | undefined, streamed?: Buffer): Promise<void> {
    const hold = p.refusal?.delayMs ?? 0;
    if (hold > 0) await new Promise((resolve) => setTimeout(resolve, hold).unref());
    const durationMs = performance.now() - p.started;
    let response: Record<string, unknown> | undefined;
    let decodeError: string | undefined;
    if (p.refusal) response = p.refusal.body;
    else if (p.api && frame) {
      try {
        response = decodeResponse(p.header.apiKey, p.header.apiVersion, frame.subarray(4)).body;
      } catch (e) {
        decodeError = `response: ${(e as Error).message}`;
      }
    }
    let out = frame;
    if (p.refusal) {
      out = encodeResponse(p.header.apiKey, p.header.apiVersion, p.header.correlationId, p.refusal.body);
    } else if (p.refused && (response || !frame)) {
      response = p.refused.answer(response);
      out = encodeResponse(p.header.apiKey, p.header.apiVersion, p.header.correlationId, response);
    } else if (response && p.api) {
      const rewritten = await this.#rewrite(p, response);
      if (rewritten)
        out = encodeResponse(p.header.apiKey, p.header.apiVersion, p.header.correlationId, rewritten);
    }
    if (this.#done || !out) return;
    if (streamed && frame) {
      this.#audit(p, response, durationMs, decodeError);
      // Writes complete in order: once the last one is done, the buffer is no longer read.
      if (out === frame) {
        this.#send(this.#client, this.#upstream, frame.subarray(frame.length - 1), () =>
          giveFrameBuffer(streamed),
        );
      } else {
        this.#fail(
          `a ${mib(frame.length)} Fetch response to ${this.#peer.address}:${this.#peer.port}, forwarded as it ` +
            "came, named brokers at its end (leader hints), which cannot be rewritten once it is under way: the " +
            "client reconnects through the proxy and asks again",
        );
      }
      return;
    }
    if (p.header.apiKey === SASL_HANDSHAKE && p.header.apiVersion === 0 && response?.errorCode === 0) {
      this.#audit(p, response, durationMs, decodeError);
      if (!this.#startRaw()) {
        this.#proxy.emit(
          authEvent(this.#peer, false, {
            message: `SASL mechanism ${this.#peer.mechanism} over SaslHandshake v0 cannot be audited`,
          }),
        );
        this.#fail(
          `client ${this.#peer.address}:${this.#peer.port} chose ${this.#peer.mechanism} with SaslHandshake v0, ` +
            "whose raw token rounds the proxy cannot follow (PLAIN, SCRAM and OAUTHBEARER can be)",
        );
        return;
      }
      this.#send(this.#client, this.#upstream, out);
      return;
    }
    this.#send(this.#client, this.#upstream, out);
    this.#audit(p, response, durationMs, decodeError);
  }

  /** The response as the client must see it, or undefined to forward it unchanged. */
  async #rewrite(p: Pending, body: Record<string, unknown>): Promise<Record<string, unknown> | undefined> {
    const key = p.header.apiKey;
    if (key === API_VERSIONS) return narrowApiVersions(body);
    if (!REWRITTEN.has(key)) return undefined;
    if (key === 3) {
      for (const t of (body.topics as Record<string, unknown>[] | undefined) ?? []) {
        if (typeof t.topicId === "string" && typeof t.name === "string")
          this.#proxy.learnTopic(t.topicId, t.name);
      }
    }
    let changed = false;
    const visit = async (entry: Record<string, unknown>, idKey: string) => {
      const nodeId = entry[idKey];
      if (
        typeof nodeId !== "number" ||
        nodeId < 0 ||
        typeof entry.host !== "string" ||
        typeof entry.port !== "number"
      )
        return;
      const local = await this.#proxy.route(nodeId, { host: entry.host, port: entry.port });
      entry.host = local.host;
      entry.port = local.port;
      changed = true;
    };
    const list = (name: string) => (body[name] as Record<string, unknown>[] | undefined) ?? [];
    if (key === 3) for (const b of list("brokers")) await visit(b, "nodeId");
    if (key === 60) for (const b of list("brokers")) await visit(b, "brokerId");
    if (key === 10) {
      await visit(body, "nodeId");
      for (const c of list("coordinators")) await visit(c, "nodeId");
    }
    if (key === 0 || key === 1) for (const b of list("nodeEndpoints")) await visit(b, "nodeId");
    return changed ? body : undefined;
  }

  #audit(
    p: Pending,
    response: Record<string, unknown> | undefined,
    durationMs: number | undefined,
    responseError?: string,
  ): void {
    if (!p.api) {
      this.#emit(p, {
        event_type: "kafka.unknown",
        actor: principalActor(this.#peer),
        resource: { type: "cluster", id: this.#peer.broker },
        action: { operation: `api ${p.header.apiKey}`, result: "unknown" },
        details: {
          kafka: { api_key: p.header.apiKey, api_version: p.header.apiVersion, client_id: p.header.clientId },
        },
      });
      return;
    }
    const d = decoded(p);
    const request = "body" in d ? d.body : undefined;
    const decodeError = "error" in d ? `request: ${d.error}` : responseError;
    if (p.header.apiKey === SASL_HANDSHAKE && request && typeof request.mechanism === "string") {
      this.#peer.mechanism = request.mechanism;
    }
    if (p.header.apiKey === SASL_AUTHENTICATE) {
      this.#sasl(request, response);
      return;
    }
    const x: Exchange = {
      api: p.api,
      apiVersion: p.header.apiVersion,
      correlationId: p.header.correlationId,
      clientId: p.header.clientId,
      request,
      response,
      startedAt: p.startedAt,
      durationMs,
      ...(decodeError === undefined ? {} : { decodeError }),
      ...(p.refused ? { refusedTopics: p.refused.topics } : {}),
    };
    this.#emit(p, exchangeEvent(x, this.#peer, this.#proxy.topicNames));
  }

  /** Emits a request's event; a refused request's says so, and that it failed. */
  #emit(p: Pending, event: Record<string, unknown>): void {
    if (p.rejected) {
      (event.action as Record<string, unknown>).result = "failure";
      ((event.details as Record<string, unknown>).kafka as Record<string, unknown>).refused = REFUSED;
    }
    this.#proxy.emit(event);
  }

  /** A SaslAuthenticate round: the user from the first token; the broker's answer decides the outcome. */
  #sasl(request: Record<string, unknown> | undefined, response: Record<string, unknown> | undefined): void {
    this.#saslRounds++;
    const token = request?.authBytes;
    if (this.#saslRounds === 1 && Buffer.isBuffer(token)) {
      const user = saslUser(this.#peer.mechanism, token);
      if (user !== undefined) this.#peer.principal = user;
    }
    const code = typeof response?.errorCode === "number" ? response.errorCode : undefined;
    if (code !== undefined && code !== 0) {
      this.#proxy.emit(
        authEvent(this.#peer, false, {
          errorCode: code,
          message: typeof response?.errorMessage === "string" ? response.errorMessage : null,
        }),
      );
      return;
    }
    const rounds = this.#peer.mechanism?.startsWith("SCRAM-") ? 2 : 1;
    if (code === 0 && this.#saslRounds === rounds && !this.#authenticated) {
      this.#authenticated = true;
      this.#proxy.emit(authEvent(this.#peer, true, {}));
    }
  }
}

/**
 * The subject of a TLS client's verified certificate as Kafka's SSL principal builder writes it (RFC 2253: the
 * most specific attribute first, `CN=client,O=Example`); undefined for a plain socket or no verified certificate.
 */
function certificateSubject(socket: Socket): string | undefined {
  const tls = socket as TLSSocket;
  if (typeof tls.getPeerX509Certificate !== "function" || !tls.authorized) return undefined;
  const cert = tls.getPeerX509Certificate();
  if (!cert) return undefined;
  // Node lists the attributes one per line in the certificate's order (least specific first).
  return cert.subject
    .split("\n")
    .filter((l) => l !== "")
    .reverse()
    .map((l) => l.replace(/,/g, "\\,"))
    .join(",");
}

/** The user a SASL client names in its first token, never its password. */
export function saslUser(mechanism: string | undefined, token: Buffer): string | undefined {
  if (mechanism === "PLAIN") {
    // [authzid] NUL authcid NUL passwd (RFC 4616): the authcid is who logs in.
    const parts = token.toString("utf8").split("\0");
    return parts.length === 3 && parts[1] ? parts[1] : undefined;
  }
  if (mechanism?.startsWith("SCRAM-")) {
    // client-first-message: gs2-header "n,," (or "y,,", "n,a=authzid,") then "n=user,r=nonce" (RFC 5802).
    const text = token.toString("utf8");
    const m = /^[nyp][^,]*,[^,]*,n=([^,]*),/.exec(text);
    return m?.[1]?.replace(/=2C/g, ",").replace(/=3D/g, "=");
  }
  return undefined;
}

/** ApiVersions as the client must see it: each known API's range narrowed to what the codec decodes. */
function narrowApiVersions(body: Record<string, unknown>): Record<string, unknown> | undefined {
  if (body.errorCode !== 0 || !Array.isArray(body.apiKeys)) return undefined;
  const keys: Record<string, unknown>[] = [];
  for (const k of body.apiKeys as Record<string, unknown>[]) {
    const spec = APIS.get(k.apiKey as number);
    if (!spec) {
      keys.push(k);
      continue;
    }
    // Only the maximum is lowered: clients read a range's minimum as "this feature exists" (librdkafka wants
    // SaslHandshake v0 and Produce v0 advertised, KAFKA-18659) and then use the highest version both know.
    const max = Math.min(k.maxVersion as number, spec.maxVersion);
    keys.push(max >= (k.minVersion as number) ? { ...k, maxVersion: max } : k);
  }
  return { ...body, apiKeys: keys };
}
