/**
 * The `type: syslog` destination: each record becomes one RFC 5424 message (format.ts: facility and severity,
 * the event's timestamp and type, the record's sequence, key id and signature as structured data, the record in
 * the configured `format:` as MSG), sent over TCP or TLS (stream.ts: one persistent connection, octet-counted
 * frames, a replay window because syslog acknowledges nothing) or UDP (udp.ts: one datagram each, best effort).
 *
 * A record whose message would exceed `max_message_bytes` is refused as too large before anything of its batch
 * is sent: the consumer splits the batch and applies `on_oversize` to that record (truncate: sent without its
 * details; park). A server cannot be read back, so `start` reports nothing held, and a delivery is confirmed once
 * its messages were handed to the kernel.
 *
 * What that guarantees:
 * - TCP and TLS: at-least-once with no gap, across broken connections and restarts. A record confirmed is not yet
 *   settled: its message stays in the replay window until later writes kept completing for `replay_window_secs`
 *   after it, and is re-sent if the connection breaks before (stream.ts, replay.ts). `settledSequence` stops the
 *   consumer's cursor before the oldest record not settled, so a stop or crash meanwhile leaves it in the journal
 *   to be sent again after the restart. A receiver may see repeats (the sequence number tells them apart), never
 *   a gap. The window holds at most REPLAY_WINDOW_BYTES (or two batches, when batches are larger); a destination
 *   sending more than that per `replay_window_secs` is slowed down to that rate rather than settle messages early.
 *   `replay_window_secs: 0` turns this off: every record is settled once written, and a break can lose what the
 *   server had not read.
 * - UDP: best effort. Nothing is held back (`settledSequence` is undefined): what the network or the server drops
 *   is lost without anyone knowing.
 *
 * Status: messages and bytes sent, messages re-sent from the replay window, reconnects, deliveries that waited for
 * the replay window, and records the format could not represent (skipped).
 */
import { readSealedRecord } from "../../formats/encoder.ts";
import { DeliveryError, type Destination, type DestinationStatus, type RecordBatch } from "../destination.ts";
import { destinationOutput, type RecordEncoding } from "../encoding.ts";
import type { DestinationContext } from "../registry.ts";
import { displayServer, type SyslogDestinationConfig } from "./config.ts";
import { SyslogFormatter } from "./format.ts";
import { type OutgoingMessage, StreamTransport, type TransportCounters } from "./stream.ts";
import { DatagramTransport } from "./udp.ts";

/**
 * The replay window holds at most this much (or two batches, when batches are larger): the memory a TCP or TLS
 * destination may hold, and with the default 1 s window a sustained rate of about 64 MiB/s (some 90,000 records a
 * second), delivery being slowed down past that rather than dropping frames from the window.
 */
export const REPLAY_WINDOW_BYTES = 64 * 1024 * 1024;
/**
 * What the kernel's socket buffers may hold unread on both ends under Linux's default limits (tcp_wmem 4 MiB,
 * tcp_rmem 6 MiB), with room to spare: a frame stays in the window until this much was written after it, so a
 * server that stops reading at a low rate (seconds of writes still fit in those buffers) loses nothing.
 */
export const SOCKET_BUFFER_BYTES = 16 * 1024 * 1024;

export type SyslogStatus = DestinationStatus & TransportCounters;

export class SyslogDestination implements Destination {
  readonly name: string;
  readonly #config: SyslogDestinationConfig;
  readonly #log: (msg: string) => void;
  readonly #encoding: RecordEncoding;
  readonly #formatter: SyslogFormatter;
  readonly #transport: StreamTransport | DatagramTransport;
  /** The last sequence of the last batch delivered. */
  #delivered: number | undefined;

  constructor(config: SyslogDestinationConfig, context: DestinationContext) {
    this.name = config.name;
    this.#config = config;
    ({ log: this.#log, encoding: this.#encoding } = destinationOutput(config, context));
    this.#formatter = new SyslogFormatter({
      facility: config.facility,
      hostname: config.hostname,
      appName: config.appName,
      procId: String(process.pid),
    });
    const shown = `${config.protocol}://${displayServer(config.host, config.port)}`;
    this.#transport =
      config.protocol === "udp"
        ? new DatagramTransport(config.host, config.port, shown)
        : new StreamTransport({
            host: config.host,
            port: config.port,
            tls: config.protocol === "tls" ? config.tls : undefined,
            framing: config.framing,
            replayWindowMs: config.replayWindowMs,
            replayWindowBytes: Math.max(REPLAY_WINDOW_BYTES, 2 * config.delivery.maxBytes),
            socketBufferBytes: SOCKET_BUFFER_BYTES,
            shown,
            log: this.#log,
          });
  }

  async start(): Promise<{ last?: undefined }> {
    if (this.#config.protocol === "tls" && this.#config.tls.insecureSkipVerify) {
      this.#log("tls.insecure_skip_verify is on: the server's certificate is not checked");
    }
    if (this.#config.protocol === "udp") {
      this.#log("protocol udp confirms nothing: records the network or the server drops are lost silently");
    }
    return {};
  }

  status(): SyslogStatus {
    return { skippedRecords: this.#encoding.skipped, ...this.#transport.counters() };
  }

  async deliver(batch: RecordBatch, signal: AbortSignal): Promise<void> {
    const records = this.#encoding.encode(batch);
    const max = this.#config.maxMessageBytes;
    const messages = records.map((r): OutgoingMessage => {
      const sealed = r.sealed ?? readSealedRecord(batch.lines[r.sequence - batch.firstSequence] as Buffer);
      const message = this.#formatter.format(sealed.event, sealed.integrity, r.text);
      if (message.length > max) {
        throw new DeliveryError(
          `record ${r.sequence} makes a syslog message of ${message.length} bytes, over max_message_bytes ` +
            `(${max}); raise it together with the server's limit (rsyslog maxMessageSize) to send such records whole`,
          false,
          { tooLarge: true },
        );
      }
      return { sequence: r.sequence, message };
    });
    if (messages.length > 0) await this.#transport.send(messages, signal);
    this.#delivered = batch.firstSequence + batch.lines.length - 1;
  }

  /**
   * TCP and TLS: the sequence before the oldest record whose message is not presumed received yet (in the replay
   * window, or waiting to be re-sent), or the last delivered when there is none. UDP: undefined (best effort).
   */
  settledSequence(): number | undefined {
    if (this.#transport instanceof DatagramTransport) return undefined;
    const unsettled = this.#transport.oldestUnsettled();
    return unsettled === undefined ? this.#delivered : unsettled - 1;
  }

  async stop(): Promise<void> {
    await this.#transport.close();
  }
}
