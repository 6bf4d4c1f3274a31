/**
 * Syslog over TCP (RFC 6587) or TLS (RFC 5425): one persistent connection, each batch written as consecutive
 * frames (octet counting, `MSG-LEN SP MSG`, by default; or non-transparent, MSG then LF) in one write whose
 * completion is awaited before anything else is written (backpressure: a slow server slows delivery down, nothing
 * piles up in memory).
 *
 * Syslog has no acknowledgement: "written" means handed to the kernel, not received. The guarantee over TCP and
 * TLS is still at-least-once with no gap, across broken connections and restarts, through the replay window
 * (replay.ts): every frame written on the connection is kept, with its record's sequence, until a later write
 * completed more than `replay_window_secs` after it (it is then presumed received, "settled"). The connection's
 * end ('end': the server's FIN, 'close', 'error') is watched all the time, between batches too, and then:
 * - the frames kept are re-sent, in order, on the next connection before the next batch (however old they are:
 *   a connection whose writes blocked or that sat idle aged nothing);
 * - nothing more is written on it: the next delivery connects again. A delivery whose connection ended while its
 *   frames were being written, or that was abandoned (its write is then cut short and the socket destroyed),
 *   fails (retryable): they may have gone nowhere, and the consumer sends them again.
 * `oldestUnsettled` names the oldest record kept (in the window or waiting to be re-sent): the destination's
 * `settledSequence`, so the consumer's cursor never passes a record that may still be lost, and a restart sends
 * such records again from the journal. A write that would take the window past its byte cap waits until older
 * frames can age out (replay.ts); the wait ends early when the connection breaks, and is abandoned with the
 * delivery (retryable, the connection kept).
 *
 * Connection refused, reset, timed out (connect timeout CONNECT_TIMEOUT_MS) or abandoned: retryable. A TLS
 * certificate the settings do not accept: permanent (the destination parks; fix the certificate or `tls:`).
 *
 * `close`, within CLOSE_GRACE_MS: re-sends the frames waiting to be re-sent (on a fresh connection if need be),
 * then ends the connection gracefully and waits for the server to close its side, which it does once it has read
 * everything: only then is everything written known to be received. What is not is left unsettled, with a
 * warning: the cursor was never committed past it, so it is sent again after a restart.
 */
import { isIP, connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { DeliveryError } from "../destination.ts";
import { isTrustError } from "../tls.ts";
import type { SyslogFraming, SyslogTlsConfig } from "./config.ts";
import { ReplayWindow, type SentFrame } from "./replay.ts";

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
  /** Bytes that must follow a frame before it is presumed out of the socket buffers (see ReplayWindow). */
  socketBufferBytes: number;
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
  /**
   * Deliveries that waited for the replay window to make room (it held its byte cap of messages not yet
   * presumed received): delivery is faster than the window lets through; a lower `replay_window_secs` lets it go
   * faster.
   */
  replayWindowWaits: number;
}

/** One message to send, and the sequence of the record it carries. */
export interface OutgoingMessage {
  sequence: number;
  message: Buffer;
}

interface Connection {
  socket: Socket;
  /** Frames written on this connection and not presumed received yet (what to re-send if it breaks). */
  window: ReplayWindow;
  broken: boolean;
  /** The server closed its side (FIN). */
  ended: boolean;
  /** Called once when the connection breaks (deliveries waiting for its window to make room). */
  onBreak: Set<() => void>;
}

export class StreamTransport {
  readonly #opts: StreamTransportOptions;
  #connection: Connection | undefined;
  /** Frames written on a connection that broke since, to re-send first on the next one. */
  #replay: SentFrame[] = [];
  #connects = 0;
  #messagesSent = 0;
  #bytesSent = 0;
  #replayed = 0;
  #windowWaits = 0;

  constructor(opts: StreamTransportOptions) {
    this.#opts = opts;
  }

  counters(): TransportCounters {
    return {
      messagesSent: this.#messagesSent,
      bytesSent: this.#bytesSent,
      replayedMessages: this.#replayed,
      reconnects: Math.max(0, this.#connects - 1),
      replayWindowWaits: this.#windowWaits,
    };
  }

  /**
   * The sequence of the oldest record written but not presumed received (waiting to be re-sent, or in the
   * current connection's window); undefined when every record written is.
   */
  oldestUnsettled(): number | undefined {
    return this.#replay[0]?.sequence ?? this.#connection?.window.oldestSequence;
  }

  /**
   * Writes the messages as frames (after what is to be re-sent); resolves once all were handed to the kernel.
   * Waits first, when the replay window is full, until it can take them.
   */
  async send(messages: readonly OutgoingMessage[], signal: AbortSignal): Promise<void> {
    const { data: framed, frames } = this.#frame(messages);
    let waited = false;
    for (;;) {
      const connection = this.#connection ?? (await this.#connect(signal));
      // A connection with frames waiting to be re-sent has written nothing yet: its window is empty.
      const wait = connection.window.waitMs(framed.length, Date.now());
      if (wait > 0) {
        if (!waited) this.#windowWaits++;
        waited = true;
        await this.#waitForRoom(connection, wait, signal);
        continue;
      }
      const replay = this.#replay;
      const all = replay.length === 0 ? frames : [...replay, ...frames];
      const data = replay.length === 0 ? framed : Buffer.concat([...replay.map((f) => f.frame), framed]);
      await this.#write(connection, data, signal);
      this.#replay = [];
      connection.window.add(all, Date.now());
      this.#messagesSent += all.length;
      this.#bytesSent += data.length;
      if (replay.length > 0) {
        this.#replayed += replay.length;
        this.#opts.log(`re-sent ${replay.length} messages written before the connection broke`);
      }
      return;
    }
  }

  /** The messages framed, in one buffer (one write), and each frame as a view of it (for the replay window). */
  #frame(messages: readonly OutgoingMessage[]): { data: Buffer; frames: SentFrame[] } {
    const octetCounting = this.#opts.framing === "octet_counting";
    const heads = messages.map(({ message }) => (octetCounting ? `${message.length} ` : ""));
    let size = 0;
    messages.forEach(({ message }, i) => {
      size += (heads[i] as string).length + message.length + (octetCounting ? 0 : 1);
    });
    const data = Buffer.allocUnsafe(size);
    const frames: SentFrame[] = [];
    let at = 0;
    messages.forEach(({ sequence, message }, i) => {
      const start = at;
      at += data.write(heads[i] as string, at, "latin1");
      at += message.copy(data, at);
      if (!octetCounting) data[at++] = LF;
      frames.push({ frame: data.subarray(start, at), sequence });
    });
    return { data, frames };
  }

  /** Waits `ms`, or until the connection breaks (its window is then emptied); rejects when `signal` aborts. */
  #waitForRoom(connection: Connection, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        connection.onBreak.delete(onBreak);
        signal.removeEventListener("abort", onAbort);
      };
      const onBreak = () => {
        done();
        resolve();
      };
      const onAbort = () => {
        done();
        reject(
          new DeliveryError(
            `delivery to ${this.#opts.shown} abandoned while waiting for the replay window to make room`,
            true,
          ),
        );
      };
      const timer = setTimeout(() => {
        done();
        resolve();
      }, ms);
      connection.onBreak.add(onBreak);
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    });
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
      window: new ReplayWindow(
        this.#opts.replayWindowMs,
        this.#opts.replayWindowBytes,
        this.#opts.socketBufferBytes,
      ),
      broken: false,
      ended: false,
      onBreak: new Set(),
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

  /** The connection is done for: never written to again; what it carried unsettled is to be re-sent. */
  #broke(connection: Connection, reason: string): void {
    if (connection.broken) return;
    connection.broken = true;
    connection.socket.destroy();
    if (this.#connection === connection) {
      this.#connection = undefined;
      // Everything kept, however old: its age stopped counting when writes stopped completing.
      const unsettled = connection.window.take();
      // While frames wait to be re-sent nothing was written on a later connection: one of the two is empty.
      this.#replay = [...this.#replay, ...unsettled];
      this.#opts.log(
        `connection to ${this.#opts.shown} lost (${reason})` +
          (unsettled.length > 0
            ? `; the ${unsettled.length} messages not known to be received will be re-sent first`
            : ""),
      );
    }
    for (const waiter of connection.onBreak) waiter();
  }

  /**
   * Re-sends what waits to be re-sent, ends the connection gracefully and waits until the server has closed its
   * side (it has read everything), within CLOSE_GRACE_MS; warns about what may not have arrived otherwise (it is
   * left unsettled: sent again after a restart).
   */
  async close(): Promise<void> {
    const grace = new AbortController();
    const timer = setTimeout(() => grace.abort(), CLOSE_GRACE_MS);
    try {
      if (this.#replay.length > 0) {
        // On the open connection, or a fresh one; what cannot be re-sent now stays unsettled.
        await this.send([], grace.signal).catch(() => {});
      }
      const connection = this.#connection;
      if (connection !== undefined) {
        // A connection still open is not broken: its end below is no break, what it carried is settled or not.
        this.#connection = undefined;
        const closed = new Promise<void>((resolve) => {
          connection.socket.once("close", () => resolve());
          if (grace.signal.aborted) resolve();
          else grace.signal.addEventListener("abort", () => resolve(), { once: true });
        });
        connection.socket.end();
        await closed;
        connection.socket.destroy();
        // The server closed its side after our end: it read everything written on the connection.
        const unsettled = connection.window.take();
        if (!connection.ended) this.#replay = [...this.#replay, ...unsettled];
      }
    } finally {
      clearTimeout(timer);
    }
    const first = this.#replay[0];
    if (first !== undefined) {
      this.#opts.log(
        `stopped without knowing whether the server received the last ${this.#replay.length} messages ` +
          `(syslog has no acknowledgement): records from sequence ${first.sequence} on are sent again after a restart`,
      );
    }
  }
}
