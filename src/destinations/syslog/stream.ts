/**
 * Syslog over TCP (RFC 6587) or TLS (RFC 5425): one persistent connection, each batch written as consecutive
 * frames (octet counting, `MSG-LEN SP MSG`, by default; or non-transparent, MSG then LF) in one write whose
 * completion is awaited before anything else is written (backpressure: a slow server slows delivery down, nothing
 * piles up in memory).
 *
 * Syslog has no acknowledgement: "written" means handed to the kernel, not received. The connection's end
 * ('end': the server's FIN, 'close', 'error') is watched all the time, between batches too, and then:
 * - the frames written on that connection during the last `replay_window_secs` (replay.ts) are re-sent, in
 *   order, on the next connection before the next batch: a server that stopped without reading what it was sent
 *   gets it again (at-least-once, never a gap, as long as the break shows within the window);
 * - nothing more is written on it: the next delivery connects again. A delivery whose connection ended while its
 *   frames were being written fails (retryable): they may have gone nowhere, and the consumer sends them again.
 * Connection refused, reset, timed out (connect timeout CONNECT_TIMEOUT_MS) or abandoned: retryable. A TLS
 * certificate the settings do not accept: permanent (the destination parks; fix the certificate or `tls:`).
 *
 * `close` ends the connection gracefully and waits (CLOSE_GRACE_MS at most) for the server to close its side,
 * which it does once it has read everything: only then is the last window known to be received. Otherwise the
 * window is lost with the process, and a warning says how many messages may not have arrived.
 */
import { isIP, connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { DeliveryError } from "../destination.ts";
import { isTrustError } from "../tls.ts";
import type { SyslogFraming, SyslogTlsConfig } from "./config.ts";
import { ReplayWindow } from "./replay.ts";

export const CONNECT_TIMEOUT_MS = 10_000;
export const CLOSE_GRACE_MS = 2_000;
const LF = 0x0a;

export interface StreamTransportOptions {
  host: string;
  port: number;
  /** TLS settings; undefined for plain TCP. */
  tls: SyslogTlsConfig | undefined;
  framing: SyslogFraming;
  replayWindowMs: number;
  replayWindowBytes: number;
  /** The server as errors and logs name it. */
  shown: string;
  log: (msg: string) => void;
}

export interface TransportCounters {
  /** Messages written (re-sent ones included), and their bytes with framing. */
  messagesSent: number;
  bytesSent: number;
  /** Messages re-sent from the replay window after a connection broke. */
  replayedMessages: number;
  /** Connections opened after the first. */
  reconnects: number;
}

interface Connection {
  socket: Socket;
  /** Frames written on this connection recently (what to re-send if it breaks). */
  window: ReplayWindow;
  broken: boolean;
  /** The server closed its side (FIN). */
  ended: boolean;
}

export class StreamTransport {
  readonly #opts: StreamTransportOptions;
  #connection: Connection | undefined;
  /** Frames written on a connection that broke since, to re-send first on the next one. */
  #replay: Buffer[] = [];
  #connects = 0;
  #messagesSent = 0;
  #bytesSent = 0;
  #replayed = 0;

  constructor(opts: StreamTransportOptions) {
    this.#opts = opts;
  }

  counters(): TransportCounters {
    return {
      messagesSent: this.#messagesSent,
      bytesSent: this.#bytesSent,
      replayedMessages: this.#replayed,
      reconnects: Math.max(0, this.#connects - 1),
    };
  }

  /** Writes the messages as frames (after what is to be replayed); resolves once all were handed to the kernel. */
  async send(messages: readonly Buffer[], signal: AbortSignal): Promise<void> {
    const { data: framed, frames } = this.#frame(messages);
    const connection = this.#connection ?? (await this.#connect(signal));
    const replay = this.#replay;
    const all = replay.length === 0 ? frames : [...replay, ...frames];
    const data = replay.length === 0 ? framed : Buffer.concat([...replay, framed]);
    await this.#write(connection, data, signal);
    this.#replay = [];
    connection.window.add(all, Date.now());
    this.#messagesSent += all.length;
    this.#bytesSent += data.length;
    if (replay.length > 0) {
      this.#replayed += replay.length;
      this.#opts.log(`re-sent ${replay.length} messages written before the connection broke`);
    }
  }

  /** The messages framed, in one buffer (one write), and each frame as a view of it (for the replay window). */
  #frame(messages: readonly Buffer[]): { data: Buffer; frames: Buffer[] } {
    const octetCounting = this.#opts.framing === "octet_counting";
    const heads = messages.map((m) => (octetCounting ? `${m.length} ` : ""));
    let size = 0;
    messages.forEach((m, i) => {
      size += (heads[i] as string).length + m.length + (octetCounting ? 0 : 1);
    });
    const data = Buffer.allocUnsafe(size);
    const frames: Buffer[] = [];
    let at = 0;
    messages.forEach((m, i) => {
      const start = at;
      at += data.write(heads[i] as string, at, "latin1");
      at += m.copy(data, at);
      if (!octetCounting) data[at++] = LF;
      frames.push(data.subarray(start, at));
    });
    return { data, frames };
  }

  #write(connection: Connection, data: Buffer, signal: AbortSignal): Promise<void> {
    const { shown } = this.#opts;
    return new Promise((resolve, reject) => {
      if (connection.broken) {
        reject(new DeliveryError(`the connection to ${shown} closed before the write`, true));
        return;
      }
      if (signal.aborted) {
        reject(new DeliveryError(`write to ${shown} abandoned`, true));
        return;
      }
      const onAbort = () => {
        this.#broke(connection, "a delivery was abandoned while writing");
        reject(new DeliveryError(`write to ${shown} abandoned`, true));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      connection.socket.write(data, (err) => {
        signal.removeEventListener("abort", onAbort);
        if (err) {
          this.#broke(connection, err.message);
          reject(new DeliveryError(`cannot write to ${shown}: ${err.message}`, true, { cause: err }));
        } else if (connection.broken) {
          // Handed to the kernel, but the connection ended meanwhile: the frames may have gone nowhere.
          reject(new DeliveryError(`the connection to ${shown} closed while writing`, true));
        } else {
          resolve();
        }
      });
    });
  }

  async #connect(signal: AbortSignal): Promise<Connection> {
    const { host, port, tls, shown } = this.#opts;
    if (signal.aborted) throw new DeliveryError(`connection to ${shown} abandoned`, true);
    const socket =
      tls === undefined
        ? netConnect({ host, port })
        : tlsConnect({
            host,
            port,
            ...(isIP(host) === 0 ? { servername: host } : {}),
            ...(tls.ca === undefined ? {} : { ca: tls.ca }),
            ...(tls.cert === undefined ? {} : { cert: tls.cert, key: tls.key }),
            rejectUnauthorized: !tls.insecureSkipVerify,
          });
    const connection: Connection = {
      socket,
      window: new ReplayWindow(this.#opts.replayWindowMs, this.#opts.replayWindowBytes),
      broken: false,
      ended: false,
    };
    // Watched for the connection's whole life: an idle connection that breaks is noticed before the next write.
    socket.on("error", (e) => this.#broke(connection, e.message));
    socket.on("end", () => {
      connection.ended = true;
      this.#broke(connection, "the server closed it");
    });
    socket.on("close", () => this.#broke(connection, "closed"));
    try {
      await new Promise<void>((resolve, reject) => {
        const settle = (e?: Error) => {
          clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
          socket.off("error", settle);
          socket.off("close", onClose);
          socket.off(tls === undefined ? "connect" : "secureConnect", onConnect);
          if (e === undefined) resolve();
          else reject(e);
        };
        const onConnect = () => settle();
        const onAbort = () => settle(new Error("abandoned"));
        const onClose = () => settle(new Error("the server closed the connection while it was being set up"));
        const timer = setTimeout(
          () => settle(new Error(`no connection within ${CONNECT_TIMEOUT_MS / 1000} s`)),
          CONNECT_TIMEOUT_MS,
        );
        socket.once(tls === undefined ? "connect" : "secureConnect", onConnect);
        socket.once("error", settle);
        socket.once("close", onClose);
        signal.addEventListener("abort", onAbort, { once: true });
      });
    } catch (e) {
      connection.broken = true;
      socket.destroy();
      const code = (e as NodeJS.ErrnoException).code ?? "";
      const permanent = isTrustError(code);
      throw new DeliveryError(
        `cannot connect to ${shown}: ${(e as Error).message}${permanent ? " (fix the certificate or tls settings)" : ""}`,
        !permanent,
        { cause: e },
      );
    }
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    // Servers send nothing, but the FIN only surfaces ('end') once the readable side is consumed.
    socket.resume();
    this.#connects++;
    this.#connection = connection;
    return connection;
  }

  /** The connection is done for: never written to again; what it carried recently is to be re-sent. */
  #broke(connection: Connection, reason: string): void {
    if (connection.broken) return;
    connection.broken = true;
    connection.socket.destroy();
    if (this.#connection !== connection) return;
    this.#connection = undefined;
    const recent = connection.window.take(Date.now());
    // While frames wait to be re-sent nothing else was confirmed on a later connection, so one of the two is empty.
    this.#replay = [...this.#replay, ...recent];
    this.#opts.log(
      `connection to ${this.#opts.shown} lost (${reason})` +
        (recent.length > 0 ? `; the ${recent.length} messages written last will be re-sent first` : ""),
    );
  }

  /**
   * Ends the connection gracefully; waits until the server has closed its side (it has read everything), at
   * most CLOSE_GRACE_MS, and warns about what may not have arrived otherwise.
   */
  async close(): Promise<void> {
    const connection = this.#connection;
    this.#connection = undefined;
    let unconfirmed = this.#replay.length;
    this.#replay = [];
    if (connection !== undefined && !connection.broken) {
      const { socket } = connection;
      const closed = new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          socket.destroy();
          resolve();
        }, CLOSE_GRACE_MS);
        socket.once("close", () => {
          clearTimeout(timer);
          resolve();
        });
      });
      socket.end();
      await closed;
      if (!connection.ended) unconfirmed += connection.window.size;
    }
    if (unconfirmed > 0) {
      this.#opts.log(
        `stopped without knowing whether the server received the last ${unconfirmed} messages ` +
          "(syslog has no acknowledgement; they stay in the journal)",
      );
    }
  }
}
