/**
 * The `type: cloudwatch` destination: each record is one log event (its `format:` encoding as the message) in
 * one CloudWatch Logs log stream, sent with PutLogEvents through the AWS SDK v3.
 *
 * Requests. A batch from the consumer becomes as many PutLogEvents requests as PutLogEvents' limits require
 * (batch.ts: 10,000 events, 1,048,576 bytes, 24 hours each), sent one after the other; `deliver` resolves only
 * once every one was answered without rejected events. A record whose event alone is over CloudWatch's
 * 1,048,576-byte limit is refused as too large before anything of the batch is sent (the consumer then truncates
 * or parks it, per `on_oversize`). The destination remembers the last sequence CloudWatch confirmed, so a batch
 * tried again after one of its requests failed resumes after the part already stored instead of repeating it.
 *
 * Timestamps. An event's timestamp is its record's `received_at` (the server's time), clamped into the window
 * CloudWatch accepts (14 days, or the log group's retention if shorter, read with DescribeLogGroups at start)
 * and never before the last timestamp sent (batch.ts). CloudWatch orders a stream by timestamp, so the stream
 * reads back in sequence order, and a record delivered after a long outage or imported from old logs is stored
 * rather than dropped; the real times stay in the message.
 *
 * Answers. `rejectedLogEventsInfo` means CloudWatch did not store some events: that is a (retryable) failure,
 * never a success. DataAlreadyAcceptedException is a success: CloudWatch answers it only to a request whose
 * events it already stored under the same sequence token (Vigil sends none, and CloudWatch ignores them since
 * 2023, but it would mean the batch is held). Every other failure is classified by errors.ts.
 *
 * SDK retries are off (`maxAttempts: 1`): the consumer retries every retryable failure itself, forever, with the
 * configured backoff and jitter, within its request timeout (also the SDK's `requestTimeout`, for `start`), and
 * each failure shows in the destination's status instead of being hidden inside one slow call. Resuming after
 * the confirmed part makes retrying a whole batch cheap.
 *
 * start(): creates the log group (setting `retention_in_days` on a group it creates) and the stream when
 * allowed (an existing one is fine), learns the group's retention, and reads the newest event of the stream
 * back (GetLogEvents from the tail, one event) to return its integrity block as `last`: records confirmed
 * before a crash are not repeated, and a stream holding another chain's records is recognised. CloudWatch makes
 * new events readable after a short delay, so right after a crash the newest ones may not show yet; those are
 * then sent again (at-least-once).
 *
 * Checkpoints go to the stream `<log_stream>.checkpoints` beside the records' (created like it), one note per
 * event, never mixed with records.
 *
 * Nothing secret is logged: messages name the region or endpoint, group and stream, never the credentials.
 */
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  DescribeLogGroupsCommand,
  GetLogEventsCommand,
  PutLogEventsCommand,
  PutRetentionPolicyCommand,
  type RejectedLogEventsInfo,
} from "@aws-sdk/client-cloudwatch-logs";
import type { NativeEvent } from "../../event/schema.ts";
import { integrityOfEncodedLine } from "../../formats/encoder.ts";
import { recordReceivedAt } from "../../integrity/chain.ts";
import { awsClientOptions } from "../aws.ts";
import {
  DeliveryError,
  type Destination,
  type DestinationStatus,
  type RecordBatch,
  type RecordRef,
} from "../destination.ts";
import { destinationOutput, type EncodedRecord, type RecordEncoding } from "../encoding.ts";
import type { DestinationContext } from "../registry.ts";
import {
  acceptanceWindow,
  eventBytes,
  type LogEvent,
  MAX_EVENT_BYTES,
  splitRequests,
  stampTimes,
} from "./batch.ts";
import { CHECKPOINT_STREAM_SUFFIX, type CloudWatchDestinationConfig, cloudWatchTarget } from "./config.ts";
import { type CallContext, cloudWatchError } from "./errors.ts";

export interface CloudWatchStatus extends DestinationStatus {
  /** PutLogEvents requests sent (answered or not). */
  requests: number;
  /** Log events CloudWatch confirmed storing. */
  events: number;
}

function errorName(e: unknown): string | undefined {
  return (e as { name?: string } | undefined)?.name;
}

/** The record's server time (`received_at`), else its own `timestamp`, in ms; undefined when neither parses. */
function recordTime(record: EncodedRecord): number | undefined {
  if (record.sealed === undefined) {
    // A native line: read received_at without parsing the whole record (the common case, and the costly one).
    const at = recordReceivedAt(record.text);
    if (at !== undefined) return at;
  }
  const event =
    record.sealed?.event ?? (JSON.parse(record.text) as { event?: Partial<NativeEvent> } | undefined)?.event;
  const at = event?.received_at ?? event?.timestamp;
  return typeof at === "string" ? Date.parse(at) : undefined;
}

export class CloudWatchDestination implements Destination {
  /** Creations CloudWatch refused for lack of permission: tried once, then the resource is assumed to exist. */
  readonly #createDenied = new Set<string>();
  readonly name: string;
  readonly #config: CloudWatchDestinationConfig;
  readonly #client: CloudWatchLogsClient;
  readonly #encoding: RecordEncoding;
  readonly #log: (msg: string) => void;
  readonly #now: () => number;
  readonly #secrets: string[];
  readonly #checkpointStream: string;
  /** The log group's retention as CloudWatch has it (or as configured, when it cannot be read). */
  #retentionDays: number | undefined;
  /** Vigil created the group with `retention_in_days` but has not set the retention yet. */
  #retentionPending = false;
  /** Highest sequence the stream is known to hold (or skipped): what a batch tried again resumes after. */
  #confirmed = 0;
  /** Newest timestamp sent to the records' stream, and to the checkpoints' (timestamps never go back). */
  #lastTimestamp = 0;
  #lastCheckpointTimestamp = 0;
  #checkpointStreamReady = false;
  #requests = 0;
  #events = 0;

  /** `now` is the clock event timestamps are clamped with (tests move it). */
  constructor(
    config: CloudWatchDestinationConfig,
    context: DestinationContext,
    now: () => number = Date.now,
  ) {
    this.name = config.name;
    this.#config = config;
    this.#now = now;
    ({ log: this.#log, encoding: this.#encoding } = destinationOutput(config, context));
    this.#checkpointStream = `${config.logStream}${CHECKPOINT_STREAM_SUFFIX}`;
    this.#secrets = config.credentials
      ? [config.credentials.secretAccessKey, config.credentials.accessKeyId]
      : [];
    this.#retentionDays = config.retentionInDays;
    this.#client = new CloudWatchLogsClient(awsClientOptions(config, config.delivery.requestTimeoutMs, 1));
  }

  status(): CloudWatchStatus {
    return { skippedRecords: this.#encoding.skipped, requests: this.#requests, events: this.#events };
  }

  async start(): Promise<{ last?: RecordRef }> {
    try {
      await this.#client.config.region();
    } catch {
      throw new DeliveryError(
        `no AWS region for ${cloudWatchTarget(this.#config)}: set region in the destination (or AWS_REGION)`,
        false,
      );
    }
    await this.#prepare(this.#config.logStream);
    this.#retentionDays = await this.#groupRetention();
    let newest: { timestamp?: number; message?: string } | undefined;
    try {
      const answer = await this.#client.send(
        new GetLogEventsCommand({
          logGroupName: this.#config.logGroup,
          logStreamName: this.#config.logStream,
          startFromHead: false,
          limit: 1,
        }),
      );
      newest = answer.events?.[0];
    } catch (e) {
      throw this.#error(e, "GetLogEvents", this.#config.logStream);
    }
    if (newest?.message === undefined) return {};
    this.#lastTimestamp = newest.timestamp ?? 0;
    const integrity = integrityOfEncodedLine(this.#config.format, Buffer.from(newest.message, "utf8"));
    if (integrity === undefined) {
      this.#log(
        `warning: the newest event of log stream ${this.#config.logStream} is not a sealed record in the ` +
          `${this.#config.format} format; resuming from the consumer's cursor, which may repeat records already there`,
      );
      return {};
    }
    this.#confirmed = integrity.sequence_number;
    return { last: { sequence: integrity.sequence_number, signature: integrity.signature } };
  }

  async deliver(batch: RecordBatch, signal: AbortSignal): Promise<void> {
    const skip = Math.max(0, this.#confirmed - batch.firstSequence + 1);
    if (skip >= batch.lines.length) return;
    const records = this.#encoding.encode(
      skip === 0 ? batch : { firstSequence: batch.firstSequence + skip, lines: batch.lines.slice(skip) },
    );
    const end = batch.firstSequence + batch.lines.length - 1;
    if (records.length === 0) {
      this.#confirmed = end;
      return;
    }
    const sized = records.map((r) => ({ sequence: r.sequence, message: r.text, bytes: eventBytes(r.text) }));
    const big = sized.find((e) => e.bytes > MAX_EVENT_BYTES);
    if (big !== undefined) {
      throw new DeliveryError(
        `record ${big.sequence} is ${big.bytes} bytes as a log event, over CloudWatch's ${MAX_EVENT_BYTES}-byte limit`,
        true,
        { tooLarge: true },
      );
    }
    const stamps = stampTimes(
      records.map(recordTime),
      this.#lastTimestamp,
      acceptanceWindow(this.#now(), this.#retentionDays),
    );
    const events: LogEvent[] = sized.map((e, i) => ({ ...e, timestamp: stamps[i] as number }));
    for (const request of splitRequests(events)) {
      if (signal.aborted) throw new DeliveryError(`delivery to ${this.#where()} abandoned`, true);
      const last = request[request.length - 1] as LogEvent;
      // "Sent" rather than "confirmed": a request given up on may still be stored, and nothing may go before it.
      this.#lastTimestamp = Math.max(this.#lastTimestamp, last.timestamp);
      await this.#put(this.#config.logStream, request, signal);
      this.#confirmed = last.sequence;
      this.#events += request.length;
    }
    // Records the format could not represent are done with too: a retry need not encode (and count) them again.
    this.#confirmed = end;
  }

  /** One note per event in `<log_stream>.checkpoints`; a republished checkpoint is simply there twice. */
  async publishCheckpoint(checkpoint: { size: number; note: string }): Promise<void> {
    const stream = this.#checkpointStream;
    if (!this.#checkpointStreamReady) {
      if (this.#config.createLogStream) await this.#prepare(stream);
      this.#checkpointStreamReady = true;
    }
    const now = this.#now();
    const [timestamp] = stampTimes(
      [now],
      this.#lastCheckpointTimestamp,
      acceptanceWindow(now, this.#retentionDays),
    );
    const event = {
      sequence: checkpoint.size,
      timestamp: timestamp as number,
      message: checkpoint.note,
      bytes: eventBytes(checkpoint.note),
    };
    this.#lastCheckpointTimestamp = event.timestamp;
    await this.#put(stream, [event]);
  }

  async stop(): Promise<void> {
    this.#client.destroy();
  }

  #where(stream = this.#config.logStream): string {
    const at = this.#config.endpoint ?? this.#config.region ?? "the default region";
    return `log stream ${stream} of log group ${this.#config.logGroup} (${at})`;
  }

  #error(e: unknown, operation: string, stream: string | undefined): DeliveryError {
    const context: CallContext = {
      operation,
      resource: stream === undefined ? `log group ${this.#config.logGroup}` : this.#where(stream),
      secrets: this.#secrets,
    };
    const missing: string[] = [];
    const keys: string[] = [];
    if (!this.#config.createLogGroup) {
      missing.push(`log group ${this.#config.logGroup}`);
      keys.push("create_log_group");
    }
    if (!this.#config.createLogStream) {
      missing.push(`log stream ${stream ?? this.#config.logStream}`);
      keys.push("create_log_stream");
    }
    if (missing.length > 0) {
      context.missingHint = `create ${missing.join(" and ")} if missing, or set ${keys.join(" and ")} to true`;
    }
    return cloudWatchError(e, context);
  }

  /** The SDK's options for one call: aborted with `signal`, when there is one. */
  #options(signal: AbortSignal | undefined): { abortSignal?: AbortSignal } {
    return signal === undefined ? {} : { abortSignal: signal };
  }

  /**
   * Creates the log group and `stream` where allowed; an existing one is fine. Sets `retention_in_days` on a
   * group this destination created (only then: an existing group's retention is its owner's choice).
   */
  async #prepare(stream: string, signal?: AbortSignal): Promise<void> {
    const group = this.#config.logGroup;
    if (this.#config.createLogGroup) {
      if (
        await this.#create("CreateLogGroup", undefined, () =>
          this.#client.send(new CreateLogGroupCommand({ logGroupName: group }), this.#options(signal)),
        )
      ) {
        this.#log(`created log group ${group}`);
        this.#retentionPending = this.#config.retentionInDays !== undefined;
      }
      if (this.#retentionPending) {
        const days = this.#config.retentionInDays as number;
        try {
          await this.#client.send(
            new PutRetentionPolicyCommand({ logGroupName: group, retentionInDays: days }),
            this.#options(signal),
          );
        } catch (e) {
          throw this.#error(e, "PutRetentionPolicy", undefined);
        }
        this.#retentionPending = false;
        this.#log(`set the retention of log group ${group} to ${days} days`);
      }
    }
    if (this.#config.createLogStream) {
      const command = new CreateLogStreamCommand({ logGroupName: group, logStreamName: stream });
      if (
        await this.#create("CreateLogStream", stream, () => this.#client.send(command, this.#options(signal)))
      )
        this.#log(`created log stream ${stream}`);
    }
  }

  /** Sends a Create* command: true when it created, false when the resource already existed. */
  async #create(
    operation: string,
    stream: string | undefined,
    send: () => Promise<unknown>,
  ): Promise<boolean> {
    try {
      await send();
      return true;
    } catch (e) {
      const name = errorName(e);
      if (name === "ResourceAlreadyExistsException") return false;
      if (
        (name === "AccessDeniedException" || name === "AccessDenied") &&
        !this.#createDenied.has(operation)
      ) {
        // Least-privilege policies often grant only PutLogEvents on an existing group and stream: go on, and
        // let a missing one be reported (with what to create or grant) when the first request needs it.
        this.#createDenied.add(operation);
        this.#log(`note: not allowed to ${operation} (logs:${operation}); assuming it exists`);
        return false;
      }
      throw this.#error(e, operation, stream);
    }
  }

  /**
   * The group's retention in days, as CloudWatch has it (events older are refused as expired), or the configured
   * one when it cannot be read: DescribeLogGroups is optional in Vigil's IAM policy.
   */
  async #groupRetention(signal?: AbortSignal): Promise<number | undefined> {
    const group = this.#config.logGroup;
    try {
      const answer = await this.#client.send(
        new DescribeLogGroupsCommand({ logGroupNamePrefix: group }),
        this.#options(signal),
      );
      return answer.logGroups?.find((g) => g.logGroupName === group)?.retentionInDays;
    } catch (e) {
      const name = errorName(e);
      if (name === "AccessDeniedException" || name === "AccessDenied") {
        this.#log(
          `note: cannot read the retention of log group ${group} (no logs:DescribeLogGroups); assuming ` +
            `${this.#config.retentionInDays ?? "none"}`,
        );
        return this.#config.retentionInDays;
      }
      throw this.#error(e, "DescribeLogGroups", undefined);
    }
  }

  /**
   * One PutLogEvents request to `stream`. A stream or group gone missing since start is created again (once per
   * request) where allowed. Rejected events make it fail.
   */
  async #put(stream: string, events: LogEvent[], signal?: AbortSignal): Promise<void> {
    const command = new PutLogEventsCommand({
      logGroupName: this.#config.logGroup,
      logStreamName: stream,
      logEvents: events.map(({ timestamp, message }) => ({ timestamp, message })),
    });
    for (let recreated = false; ; recreated = true) {
      this.#requests++;
      let rejected: RejectedLogEventsInfo | undefined;
      try {
        ({ rejectedLogEventsInfo: rejected } = await this.#client.send(command, this.#options(signal)));
      } catch (e) {
        const name = errorName(e);
        if (name === "DataAlreadyAcceptedException") return;
        if (
          name === "ResourceNotFoundException" &&
          this.#config.createLogStream &&
          !recreated &&
          !signal?.aborted
        ) {
          this.#log(`${this.#where(stream)} is missing; creating it again`);
          await this.#prepare(stream, signal);
          continue;
        }
        throw this.#error(e, "PutLogEvents", stream);
      }
      if (rejected !== undefined) await this.#rejected(rejected, events, stream, signal);
      return;
    }
  }

  /** Throws for an answer that says some events were not stored, if it does. */
  async #rejected(
    info: RejectedLogEventsInfo,
    events: LogEvent[],
    stream: string,
    signal?: AbortSignal,
  ): Promise<void> {
    const reasons: string[] = [];
    if (info.tooOldLogEventEndIndex !== undefined) reasons.push("too old");
    if (info.tooNewLogEventStartIndex !== undefined) reasons.push("too far in the future");
    if (info.expiredLogEventEndIndex !== undefined) {
      reasons.push("older than the log group's retention");
      // The group's retention changed since start: learn it, so the next attempt clamps to it.
      this.#retentionDays = await this.#groupRetention(signal).catch(() => this.#retentionDays);
    }
    if (reasons.length === 0) return;
    const first = (events[0] as LogEvent).sequence;
    const last = (events[events.length - 1] as LogEvent).sequence;
    const what = stream === this.#checkpointStream ? `checkpoint ${first}` : `records ${first}-${last}`;
    throw new DeliveryError(
      `CloudWatch did not store some events of ${what} in ${this.#where(stream)} ` +
        `(${reasons.join(", ")}); check this host's clock against AWS's. They are sent again`,
      true,
    );
  }
}
