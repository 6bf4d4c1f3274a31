/**
 * The Kafka wire-protocol codec's public API, on which the Kafka audit proxy is built.
 *
 * A frame is what follows a message's 4-byte size prefix. A request frame starts with the request header:
 * api_key int16, api_version int16, correlation_id int32, client_id nullable string (always classic, header
 * v1), then in flexible versions a tagged-field section (header v2). A response frame starts with the response
 * header: correlation_id int32, then in flexible versions a tagged-field section (header v1), except that
 * ApiVersions responses always use header v0 (a client that sent a version the broker does not know must still
 * read the error). The body follows, as the API module's schema describes it for the version.
 *
 * The proxy reads every request's header (readRequestHeader; an unknown API key still has a readable v1 header,
 * and its body can be passed through), decodes the bodies it audits, decodes and re-encodes the responses
 * it rewrites (broker addresses), and counts records without decompressing them (countRecords). Decoding is
 * strict: a body must end exactly where the frame ends, and anything malformed throws KafkaProtocolError.
 *
 * Bodies are plain objects as schema.ts describes them (camelCase names, int64 as bigint, uuids as Kafka prints
 * them, bytes and records as slices of the frame, unknown tagged fields under `_tagged`), so encoding a decoded
 * body gives back its bytes. The headers' own tagged fields (none are defined) are skipped, and written empty.
 *
 * APIS holds one spec per API module: Kafka's name, its key, its versions as Kafka 4.4 defines them, its first
 * flexible version, and its Redpanda audit event type (spec/001: management, produce, consume, describe,
 * heartbeat, authenticate for the SASL APIs; ApiVersions is describe; APIs its table does not list are admin).
 * The versions are those of Kafka's message definitions; a 4.4 broker advertises the same, except Produce,
 * advertised from v0 for librdkafka's sake (KAFKA-18659) although v0-2 are refused: decodeRequest refuses them
 * too (the proxy can forward them and let the broker answer).
 */

import { AddOffsetsToTxn } from "./apis/add-offsets-to-txn.ts";
import { AddPartitionsToTxn } from "./apis/add-partitions-to-txn.ts";
import { AlterClientQuotas } from "./apis/alter-client-quotas.ts";
import { AlterConfigs } from "./apis/alter-configs.ts";
import { AlterPartitionReassignments } from "./apis/alter-partition-reassignments.ts";
import { AlterUserScramCredentials } from "./apis/alter-user-scram-credentials.ts";
import { ApiVersions } from "./apis/api-versions.ts";
import { ConsumerGroupDescribe } from "./apis/consumer-group-describe.ts";
import { ConsumerGroupHeartbeat } from "./apis/consumer-group-heartbeat.ts";
import { CreateAcls } from "./apis/create-acls.ts";
import { CreatePartitions } from "./apis/create-partitions.ts";
import { CreateTopics } from "./apis/create-topics.ts";
import { DeleteAcls } from "./apis/delete-acls.ts";
import { DeleteGroups } from "./apis/delete-groups.ts";
import { DeleteRecords } from "./apis/delete-records.ts";
import { DeleteTopics } from "./apis/delete-topics.ts";
import { DescribeAcls } from "./apis/describe-acls.ts";
import { DescribeClientQuotas } from "./apis/describe-client-quotas.ts";
import { DescribeCluster } from "./apis/describe-cluster.ts";
import { DescribeConfigs } from "./apis/describe-configs.ts";
import { DescribeGroups } from "./apis/describe-groups.ts";
import { DescribeLogDirs } from "./apis/describe-log-dirs.ts";
import { DescribeProducers } from "./apis/describe-producers.ts";
import { DescribeTopicPartitions } from "./apis/describe-topic-partitions.ts";
import { DescribeTransactions } from "./apis/describe-transactions.ts";
import { DescribeUserScramCredentials } from "./apis/describe-user-scram-credentials.ts";
import { ElectLeaders } from "./apis/elect-leaders.ts";
import { EndTxn } from "./apis/end-txn.ts";
import { Fetch } from "./apis/fetch.ts";
import { FindCoordinator } from "./apis/find-coordinator.ts";
import { Heartbeat } from "./apis/heartbeat.ts";
import { IncrementalAlterConfigs } from "./apis/incremental-alter-configs.ts";
import { InitProducerId } from "./apis/init-producer-id.ts";
import { JoinGroup } from "./apis/join-group.ts";
import { LeaveGroup } from "./apis/leave-group.ts";
import { ListGroups } from "./apis/list-groups.ts";
import { ListOffsets } from "./apis/list-offsets.ts";
import { ListPartitionReassignments } from "./apis/list-partition-reassignments.ts";
import { ListTransactions } from "./apis/list-transactions.ts";
import { Metadata } from "./apis/metadata.ts";
import { OffsetCommit } from "./apis/offset-commit.ts";
import { OffsetDelete } from "./apis/offset-delete.ts";
import { OffsetFetch } from "./apis/offset-fetch.ts";
import { OffsetForLeaderEpoch } from "./apis/offset-for-leader-epoch.ts";
import { Produce } from "./apis/produce.ts";
import { SaslAuthenticate } from "./apis/sasl-authenticate.ts";
import { SaslHandshake } from "./apis/sasl-handshake.ts";
import { SyncGroup } from "./apis/sync-group.ts";
import { TxnOffsetCommit } from "./apis/txn-offset-commit.ts";
import { KafkaProtocolError, Reader, Writer } from "./bytes.ts";
import type { ApiSpec } from "./schema.ts";

export { KafkaProtocolError, Reader, Writer } from "./bytes.ts";
export type { ApiSpec, MessageSchema, RedpandaCategory } from "./schema.ts";
export { UNKNOWN_TAGS } from "./schema.ts";

/** Every API module, by key. */
export const APIS: ReadonlyMap<number, ApiSpec> = new Map(
  [
    AddOffsetsToTxn,
    AddPartitionsToTxn,
    AlterClientQuotas,
    AlterConfigs,
    AlterPartitionReassignments,
    AlterUserScramCredentials,
    ApiVersions,
    ConsumerGroupDescribe,
    ConsumerGroupHeartbeat,
    CreateAcls,
    CreatePartitions,
    CreateTopics,
    DeleteAcls,
    DeleteGroups,
    DeleteRecords,
    DeleteTopics,
    DescribeAcls,
    DescribeClientQuotas,
    DescribeCluster,
    DescribeConfigs,
    DescribeGroups,
    DescribeLogDirs,
    DescribeProducers,
    DescribeTopicPartitions,
    DescribeTransactions,
    DescribeUserScramCredentials,
    ElectLeaders,
    EndTxn,
    Fetch,
    FindCoordinator,
    Heartbeat,
    IncrementalAlterConfigs,
    InitProducerId,
    JoinGroup,
    LeaveGroup,
    ListGroups,
    ListOffsets,
    ListPartitionReassignments,
    ListTransactions,
    Metadata,
    OffsetCommit,
    OffsetDelete,
    OffsetFetch,
    OffsetForLeaderEpoch,
    Produce,
    SaslAuthenticate,
    SaslHandshake,
    SyncGroup,
    TxnOffsetCommit,
  ].map((api) => [api.key, api]),
);

const API_VERSIONS_KEY = 18;

export interface RequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
  /** Where the body starts in the frame. */
  bodyOffset: number;
}

/**
 * Reads a request frame's header. Header v2 (with tagged fields, skipped) when the API is known and the version is
 * at or past its first flexible version, else v1: an unknown API key or version still gives its header, so the
 * caller can answer or pass the body through.
 */
export function readRequestHeader(frame: Buffer): RequestHeader {
  const r = new Reader(frame);
  try {
    const apiKey = r.int16();
    const apiVersion = r.int16();
    const correlationId = r.int32();
    const clientId = r.nullableString();
    const spec = APIS.get(apiKey);
    if (spec !== undefined && apiVersion >= spec.flexibleFrom)
      r.taggedFields((_tag, f) => f.raw(f.remaining));
    return { apiKey, apiVersion, correlationId, clientId, bodyOffset: r.pos };
  } catch (e) {
    throw e instanceof KafkaProtocolError ? e.inMessage("request header") : e;
  }
}

/** 1 (with tagged fields) for flexible versions, except ApiVersions, whose responses always use v0. */
export function responseHeaderVersion(apiKey: number, apiVersion: number): 0 | 1 {
  const spec = APIS.get(apiKey);
  return spec !== undefined && apiKey !== API_VERSIONS_KEY && apiVersion >= spec.flexibleFrom ? 1 : 0;
}

function spec(apiKey: number): ApiSpec {
  const api = APIS.get(apiKey);
  if (api === undefined) throw new KafkaProtocolError(`API key ${apiKey} is not supported`);
  return api;
}

function end(r: Reader, what: string): void {
  if (r.remaining !== 0) {
    throw new KafkaProtocolError(`${what}: ${r.remaining} bytes left over at offset ${r.pos} after the body`);
  }
}

/** Decodes a request's body (the frame read by readRequestHeader). */
export function decodeRequest(header: RequestHeader, frame: Buffer): Record<string, unknown> {
  const api = spec(header.apiKey);
  const r = new Reader(frame, header.bodyOffset);
  const body = api.request.decode(r, header.apiVersion);
  end(r, `${api.request.name} v${header.apiVersion}`);
  return body;
}

/** Decodes a response frame: its header's correlation id and its body. */
export function decodeResponse(
  apiKey: number,
  apiVersion: number,
  frame: Buffer,
): { correlationId: number; body: Record<string, unknown> } {
  const api = spec(apiKey);
  const r = new Reader(frame);
  let correlationId: number;
  try {
    correlationId = r.int32();
    if (responseHeaderVersion(apiKey, apiVersion) === 1) r.taggedFields((_tag, f) => f.raw(f.remaining));
  } catch (e) {
    throw e instanceof KafkaProtocolError ? e.inMessage("response header") : e;
  }
  const body = api.response.decode(r, apiVersion);
  end(r, `${api.response.name} v${apiVersion}`);
  return { correlationId, body };
}

/** Encodes a response, with its size prefix and header. */
export function encodeResponse(
  apiKey: number,
  apiVersion: number,
  correlationId: number,
  body: Record<string, unknown>,
): Buffer {
  const api = spec(apiKey);
  const w = new Writer();
  w.int32(0);
  w.int32(correlationId);
  if (responseHeaderVersion(apiKey, apiVersion) === 1) w.uvarint(0);
  api.response.encode(w, apiVersion, body);
  w.int32At(0, w.pos - 4);
  return w.finish();
}

/** Encodes a request, with its size prefix and header (v2 for flexible versions, else v1). */
export function encodeRequest(
  header: Omit<RequestHeader, "bodyOffset">,
  body: Record<string, unknown>,
): Buffer {
  const api = spec(header.apiKey);
  const w = new Writer();
  w.int32(0);
  w.int16(header.apiKey);
  w.int16(header.apiVersion);
  w.int32(header.correlationId);
  w.nullableString(header.clientId);
  if (header.apiVersion >= api.flexibleFrom) w.uvarint(0);
  api.request.encode(w, header.apiVersion, body);
  w.int32At(0, w.pos - 4);
  return w.finish();
}

/** Size of a record batch's header (magic 2), up to and including its records count. */
const BATCH_HEADER = 61;
/** baseOffset int64 and batchLength int32, which batchLength does not count. */
const LOG_OVERHEAD = 12;
/** Where a record batch's magic byte is (after baseOffset, batchLength, partitionLeaderEpoch). */
const MAGIC_AT = 16;
/** Where a record batch's recordsCount is. */
const RECORDS_COUNT_AT = 57;
/** The smallest legacy message's size: crc, magic, attributes, key and value lengths (+ timestamp in v1). */
const LEGACY_MIN_SIZE = [14, 22];

/**
 * Counts the record batches and records of a `records` field without decompressing anything: it walks the
 * batch headers (baseOffset int64, batchLength int32, partitionLeaderEpoch int32, magic int8, …, recordsCount
 * int32 at byte 57) from one batch to the next. A legacy message set (magic 0 or 1) counts each message as one
 * batch of one record (a compressed wrapper message as one: its inner messages are not decompressed).
 *
 * A batch cut short at the end is not counted, since a Fetch response may end with a partial batch that the
 * consumer ignores: `bytes` is the size of the complete batches counted, so `bytes < records.length` tells the
 * caller that a partial batch followed. A batch whose length is below its header's, a negative records count or
 * an unknown magic throws KafkaProtocolError.
 */
export function countRecords(records: Buffer | null): { batches: number; records: number; bytes: number } {
  if (records === null) return { batches: 0, records: 0, bytes: 0 };
  let pos = 0;
  let batches = 0;
  let count = 0;
  while (records.length - pos > MAGIC_AT) {
    const size = records.readInt32BE(pos + 8);
    const magic = records.readInt8(pos + MAGIC_AT);
    const min = magic === 2 ? BATCH_HEADER - LOG_OVERHEAD : LEGACY_MIN_SIZE[magic];
    if (min === undefined)
      throw new KafkaProtocolError(`record batch at offset ${pos} has unknown magic ${magic}`);
    if (size < min) {
      throw new KafkaProtocolError(
        `record batch at offset ${pos} has length ${size}, less than its header's ${min}`,
      );
    }
    if (records.length - pos - LOG_OVERHEAD < size) break;
    if (magic === 2) {
      const n = records.readInt32BE(pos + RECORDS_COUNT_AT);
      if (n < 0) throw new KafkaProtocolError(`record batch at offset ${pos} has a records count of ${n}`);
      count += n;
    } else {
      count += 1;
    }
    batches++;
    pos += LOG_OVERHEAD + size;
  }
  return { batches, records: count, bytes: pos };
}
