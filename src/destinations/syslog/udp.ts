/**
 * Syslog over UDP (RFC 5426): one datagram per message, from one socket connected to the server's address (looked
 * up once; again after a failure).
 *
 * UDP confirms nothing: the guarantee is best effort. A datagram the network, the server's receive buffer or a
 * stopped server drops is lost without anyone knowing, and a delivery "succeeds" once its datagrams left this
 * host. Vigil's journal keeps every record, but this destination cannot tell which ones the server missed: use
 * TCP or TLS where records must not be lost. The one failure UDP shows is an ICMP "port unreachable" answer to an
 * earlier datagram, reported by the next send as ECONNREFUSED; that delivery then fails (retryable) and is sent
 * again.
 *
 * A delivery abandoned (its signal aborted) while the socket is being opened (the server's name looked up) gives
 * up at once and sends nothing: it never sends its datagrams later, after those of the delivery that replaced it.
 * The lookup it started goes on, one at a time: the next delivery waits for that same one, and the socket it
 * opens is the only one.
 */
import { createSocket, type Socket } from "node:dgram";
import { lookup } from "node:dns/promises";
import { DeliveryError } from "../destination.ts";
import type { OutgoingMessage, TransportCounters } from "./stream.ts";

export class DatagramTransport {
  readonly #host: string;
  readonly #port: number;
  readonly #shown: string;
  #socket: Socket | undefined;
  /** The socket being opened, when there is none: shared by the deliveries that need it meanwhile. */
  #opening: Promise<Socket> | undefined;
  #messagesSent = 0;
  #bytesSent = 0;

  constructor(host: string, port: number, shown: string) {
    this.#host = host;
    this.#port = port;
    this.#shown = shown;
  }

  counters(): TransportCounters {
    return {
      messagesSent: this.#messagesSent,
      bytesSent: this.#bytesSent,
      replayedMessages: 0,
      reconnects: 0,
      replayWindowWaits: 0,
    };
  }

  /** Sends one datagram per message; resolves once all were handed to the kernel. */
  async send(messages: readonly OutgoingMessage[], signal: AbortSignal): Promise<void> {
    const abandoned = () => new DeliveryError(`sending to ${this.#shown} abandoned`, true);
    if (signal.aborted) throw abandoned();
    let socket: Socket;
    try {
      socket = this.#socket ?? (await this.#opened(signal));
    } catch (e) {
      if (signal.aborted) throw abandoned();
      throw new DeliveryError(`cannot reach ${this.#shown}: ${(e as Error).message}`, true, { cause: e });
    }
    try {
      await Promise.all(
        messages.map(
          ({ message }) =>
            new Promise<void>((resolve, reject) => socket.send(message, (e) => (e ? reject(e) : resolve()))),
        ),
      );
    } catch (e) {
      this.#drop(socket);
      throw new DeliveryError(`cannot send to ${this.#shown}: ${(e as Error).message}`, true, { cause: e });
    }
    this.#messagesSent += messages.length;
    for (const { message } of messages) this.#bytesSent += message.length;
  }

  /** The socket once opened (by this call or one before it); rejects as soon as `signal` aborts. */
  #opened(signal: AbortSignal): Promise<Socket> {
    this.#opening ??= this.#open().finally(() => {
      this.#opening = undefined;
    });
    const opening = this.#opening;
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(new Error("abandoned"));
      signal.addEventListener("abort", onAbort, { once: true });
      opening.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  async #open(): Promise<Socket> {
    const { address, family } = await lookup(this.#host);
    const socket = createSocket(family === 6 ? "udp6" : "udp4");
    // Errors surface through the send callbacks; an unheard 'error' event would end the process.
    socket.on("error", () => this.#drop(socket));
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once("error", reject);
        socket.connect(this.#port, address, () => {
          socket.off("error", reject);
          resolve();
        });
      });
    } catch (e) {
      this.#drop(socket);
      throw e;
    }
    this.#socket = socket; // only one #open runs at a time, and only when there is no socket
    return socket;
  }

  #drop(socket: Socket): void {
    if (this.#socket === socket) this.#socket = undefined;
    try {
      socket.close();
    } catch {
      // already closed
    }
  }

  /** Closes the socket, and the one being opened once it is. */
  async close(): Promise<void> {
    if (this.#socket !== undefined) this.#drop(this.#socket);
    this.#opening?.then(
      (socket) => this.#drop(socket),
      () => {},
    );
  }
}
