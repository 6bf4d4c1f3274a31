/**
 * Syslog over UDP (RFC 5426): one datagram per message, from one socket connected to the server's address (looked
 * up once; again after a failure).
 *
 * UDP confirms nothing: a datagram the network, the server's receive buffer or a stopped server drops is lost
 * without anyone knowing, and a delivery "succeeds" once its datagrams left this host. Vigil's journal keeps every
 * record, but this destination cannot tell which ones the server missed: use TCP or TLS where records must not be
 * lost. The one failure UDP shows is an ICMP "port unreachable" answer to an earlier datagram, reported by the
 * next send as ECONNREFUSED; that delivery then fails (retryable) and is sent again.
 */
import { createSocket, type Socket } from "node:dgram";
import { lookup } from "node:dns/promises";
import { DeliveryError } from "../destination.ts";
import type { TransportCounters } from "./stream.ts";

export class DatagramTransport {
  readonly #host: string;
  readonly #port: number;
  readonly #shown: string;
  #socket: Socket | undefined;
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
    };
  }

  /** Sends one datagram per message; resolves once all were handed to the kernel. */
  async send(messages: readonly Buffer[], signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw new DeliveryError(`sending to ${this.#shown} abandoned`, true);
    let socket: Socket;
    try {
      socket = this.#socket ?? (await this.#open());
    } catch (e) {
      throw new DeliveryError(`cannot reach ${this.#shown}: ${(e as Error).message}`, true, { cause: e });
    }
    try {
      await Promise.all(
        messages.map(
          (m) => new Promise<void>((resolve, reject) => socket.send(m, (e) => (e ? reject(e) : resolve()))),
        ),
      );
    } catch (e) {
      this.#drop(socket);
      throw new DeliveryError(`cannot send to ${this.#shown}: ${(e as Error).message}`, true, { cause: e });
    }
    this.#messagesSent += messages.length;
    for (const m of messages) this.#bytesSent += m.length;
  }

  async #open(): Promise<Socket> {
    const { address, family } = await lookup(this.#host);
    const socket = createSocket(family === 6 ? "udp6" : "udp4");
    // Errors surface through the send callbacks; an unheard 'error' event would end the process.
    socket.on("error", () => this.#drop(socket));
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.connect(this.#port, address, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    this.#socket = socket;
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

  async close(): Promise<void> {
    if (this.#socket !== undefined) this.#drop(this.#socket);
  }
}
