/**
 * The `type: syslog` destination: each record becomes one RFC 5424 message (format.ts: facility and severity,
 * the event's timestamp and type, the record's sequence, key id and signature as structured data, the record in
 * the configured `format:` as MSG), sent over TCP or TLS (stream.ts: one persistent connection, octet-counted
 * frames, a replay window because syslog acknowledges nothing) or UDP (udp.ts: one datagram each, best effort).
 *
 * A record whose message would exceed `max_message_bytes` is refused as too large before anything of its batch
 * is sent: the consumer splits the batch and applies `on_oversize` to that record (truncate: sent without its
 * details; park). A server cannot be read back, so `start` reports nothing held, and a delivery is confirmed once
 * its messages were handed to the kernel: at-least-once over TCP and TLS within the replay window's reach (see
 * stream.ts), best effort over UDP.
 *
 * Status: messages and bytes sent, messages re-sent from the replay window, reconnects, and records the format
 * could not represent (skipped).
 */
import { readSealedRecord } from "../../formats/encoder.ts";
import { DeliveryError, type Destination, type DestinationStatus, type RecordBatch } from "../destination.ts";
import { RecordEncoding } from "../encoding.ts";
import type { DestinationContext } from "../registry.ts";
import { displayServer, type SyslogDestinationConfig } from "./config.ts";
import { SyslogFormatter } from "./format.ts";
import { StreamTransport, type TransportCounters } from "./stream.ts";
import { DatagramTransport } from "./udp.ts";

/** The replay window keeps at most this much (or two batches, when batches are larger). */
export const REPLAY_WINDOW_BYTES = 8 * 1024 * 1024;

export type SyslogStatus = DestinationStatus & TransportCounters;

export class SyslogDestination implements Destination {
  readonly name: string;
  readonly #config: SyslogDestinationConfig;
  readonly #log: (msg: string) => void;
  readonly #encoding: RecordEncoding;
  readonly #formatter: SyslogFormatter;
  readonly #transport: StreamTransport | DatagramTransport;

  constructor(config: SyslogDestinationConfig, context: DestinationContext) {
    this.name = config.name;
    this.#config = config;
    this.#log = (msg) => context.log(`destination ${config.name}: ${msg}`);
    this.#encoding = new RecordEncoding(
      config.format,
      { productVersion: context.productVersion, logOrigin: context.logOrigin },
      this.#log,
    );
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
    if (records.length === 0) return;
    const max = this.#config.maxMessageBytes;
    const messages = records.map((r) => {
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
      return message;
    });
    await this.#transport.send(messages, signal);
  }

  async stop(): Promise<void> {
    await this.#transport.close();
  }
}
