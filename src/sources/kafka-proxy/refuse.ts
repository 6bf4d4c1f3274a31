/**
 * Failing closed (issue 7, point 4; `failure_policy: reject`): while the audit path cannot take another event,
 * the proxy forwards nothing it could not audit. Each request is answered by the proxy itself, in its turn on the
 * connection, with an error every client takes as retriable: it backs off and sends the request again, and the
 * request goes through once the audit path has room. Nothing is written, read or changed in the meantime.
 *
 * The answer is built from the API's response schema with every field of the version (protect.ts `defaults`,
 * tagged fields left out), mirroring the request's entries (topics and partitions, groups, resources) with the
 * error where the broker would put its own, the offsets, ids and epochs it cannot know at -1, `errorMessage`
 * saying why wherever the version has one. `throttleTimeMs` stays 0 except with THROTTLING_QUOTA_EXCEEDED: a Java
 * client mutes its whole connection for a throttle time (KIP-219), Metadata included, and with every connection
 * muted it keeps rebootstrapping; clients back off by themselves on a retriable error.
 *
 * The error, per API (checked against the Java client's response handlers and @platformatic/kafka's table of
 * retriable codes; Redpanda's own `reject` answers BROKER_NOT_AVAILABLE (8), which neither retries):
 * - Produce: NOT_ENOUGH_REPLICAS (19) on every partition: retriable everywhere, and it says the records were
 *   rejected before being appended (REQUEST_TIMED_OUT says they may have been, and librdkafka then marks them
 *   possibly persisted); it is no metadata error, so clients do not refresh metadata, and an idempotent producer
 *   sends the same batch with the same sequence again.
 * - Fetch: no error and no records: every partition asked for, empty, with its high watermark, last stable
 *   offset and log start offset unknown (-1) and no preferred read replica, answered after the request's own
 *   maxWaitMs (at most REFUSAL_BACKOFF_MS), as the broker answers when there is nothing to read, so consumers
 *   poll at their idle pace instead of spinning. Session id 0: a consumer with an incremental fetch session
 *   starts a new one. (An error would make most consumers refresh metadata, and @platformatic/kafka's stop.)
 * - The group coordinator's APIs (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
 *   OffsetFetch, TxnOffsetCommit, ConsumerGroupHeartbeat, DescribeGroups, ConsumerGroupDescribe, DeleteGroups,
 *   OffsetDelete) and the transaction coordinator's (AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
 *   DescribeTransactions): COORDINATOR_NOT_AVAILABLE (15), the one code every Java group handler retries (it
 *   finds the coordinator again, with backoff); COORDINATOR_LOAD_IN_PROGRESS (14) is an "unexpected error" to
 *   the Java Heartbeat and SyncGroup handlers.
 * - InitProducerId, ListGroups, ListTransactions: COORDINATOR_LOAD_IN_PROGRESS (14). Idempotent producers send
 *   InitProducerId to any broker, not to a coordinator (on 15 the Java producer would look one up for a null
 *   transactional id); ListGroups and ListTransactions go to every broker, and the Java admin client retries
 *   ListTransactions on 14 only.
 * - CreateTopics v6+, CreatePartitions v3+, DeleteTopics v5+: THROTTLING_QUOTA_EXCEEDED (89) per topic, which the
 *   Java admin client retries by itself after throttleTimeMs (KIP-599), here REFUSAL_BACKOFF_MS; older versions
 *   do not know the code.
 * - Everything else (the other admin and describe APIs, and ListOffsets, OffsetForLeaderEpoch, DeleteRecords,
 *   DescribeProducers per partition): REQUEST_TIMED_OUT (7), known to every client, retriable in Java and
 *   @platformatic/kafka, and no claim about leaders or coordinators. The Java consumer and the Java admin's
 *   ListOffsets retry it; other Java admin calls hand it to the caller as a TimeoutException (retriable), as
 *   they hand over a broker's timeout; @platformatic/kafka's admin retries it.
 *
 * Never refused (the proxy forwards them whatever the audit path's state, and the source counts their events if
 * it cannot keep them): ApiVersions, SaslHandshake and SaslAuthenticate, so a connection can always be set up
 * and a login is never made to look like a wrong password; and Metadata, which carries no record and no change,
 * and which the proxy itself needs: its answer names the brokers (the proxy binds their listeners from it) and
 * the topic ids, and no answer the proxy could make up would be right.
 *
 * No answer (`refusal` returns undefined; the proxy closes the connection, logged, which clients take as
 * retriable): Produce with acks=0 (no response is expected, so the broker itself closes the connection on an
 * error), ElectLeaders v0 for all partitions (no entry to put the error on), an API the codec does not know, a
 * request that cannot be decoded.
 */

import { defaults } from "./protect.ts";
import type { ApiSpec } from "./protocol/index.ts";
import { type FieldDef, inRange } from "./protocol/schema.ts";

type Json = Record<string, unknown>;

const REQUEST_TIMED_OUT = 7;
const COORDINATOR_LOAD_IN_PROGRESS = 14;
const COORDINATOR_NOT_AVAILABLE = 15;
const NOT_ENOUGH_REPLICAS = 19;
const THROTTLING_QUOTA_EXCEEDED = 89;

/** The longest a refused Fetch is held, and the throttle time of THROTTLING_QUOTA_EXCEEDED answers. */
export const REFUSAL_BACKOFF_MS = 1000;
/** `details.kafka.refused` of a refused request's audit event. */
export const REFUSED = "audit path full (failure_policy: reject)";
const MESSAGE = "Vigil's Kafka audit proxy cannot audit this request now (audit path full): retry later";
/** authorizedOperations when not asked for (Kafka's Integer.MIN_VALUE). */
const NOT_ASKED = -(2 ** 31);

const API_VERSIONS = 18;
const SASL_HANDSHAKE = 17;
const SASL_AUTHENTICATE = 36;
const METADATA = 3;
const FETCH = 1;
const EXEMPT = new Set([API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE, METADATA]);

/** Whether requests of this API are forwarded even when the audit path is full (see above). */
export function exempt(apiKey: number): boolean {
  return EXEMPT.has(apiKey);
}

/** The proxy's own answer to a refused request, and how long to hold it before answering. */
export interface Refusal {
  body: Json;
  delayMs: number;
}

/** The answer to a refused request at `version`, or undefined when it has none (the connection is closed). */
export function refusal(api: ApiSpec, version: number, request: Json): Refusal | undefined {
  const partial = ANSWERS.get(api.key)?.(request, version);
  if (!partial) return undefined;
  const body = complete(api.response.fields, version, partial);
  const wait = api.key === FETCH ? Number(request.maxWaitMs) : 0;
  return { body, delayMs: Math.min(Math.max(wait, 0), REFUSAL_BACKOFF_MS) };
}

/**
 * A struct with every regular field of `version`: the zero value where `partial` has none, its value where it
 * has one (arrays of structs and structs completed the same way). Keys the version does not have are ignored, so
 * an answer can name a field of every version (`name` and `topicId`) and each version keeps its own.
 */
function complete(fields: readonly FieldDef[], version: number, partial: Json): Json {
  const out = defaults(fields, version);
  for (const f of fields) {
    const v = partial[f.name];
    if (v === undefined || !inRange(f.versions, version)) continue;
    const t = f.type;
    if (v !== null && typeof t !== "string" && t.kind === "array" && typeof t.of !== "string") {
      const of = t.of;
      out[f.name] = (v as Json[]).map((e) => complete(of.fields, version, e));
    } else if (v !== null && typeof t !== "string" && t.kind === "struct") {
      out[f.name] = complete(t.fields, version, v as Json);
    } else {
      out[f.name] = v;
    }
  }
  return out;
}

const list = (o: Json, key: string): Json[] => (o[key] as Json[] | null | undefined) ?? [];
const names = (o: Json, key: string): string[] => (o[key] as string[] | null | undefined) ?? [];
const ints = (o: Json, key: string): number[] => (o[key] as number[] | null | undefined) ?? [];
const failed = (errorCode: number) => ({ errorCode, errorMessage: MESSAGE });
/**
 * CreateTopics, DeleteTopics, CreatePartitions: `entries` under `key`, each THROTTLING_QUOTA_EXCEEDED with a
 * throttle time from the version that knows the code (`since`), else REQUEST_TIMED_OUT.
 */
function quota(version: number, since: number, key: string, entries: Json[]): Json {
  const known = version >= since;
  const error = failed(known ? THROTTLING_QUOTA_EXCEEDED : REQUEST_TIMED_OUT);
  return {
    throttleTimeMs: known && entries.length > 0 ? REFUSAL_BACKOFF_MS : 0,
    [key]: entries.map((e) => ({ ...e, ...error })),
  };
}

const T = REQUEST_TIMED_OUT;
const CNA = COORDINATOR_NOT_AVAILABLE;
const CLIP = COORDINATOR_LOAD_IN_PROGRESS;

/** Per API key: the fields of the answer that are not zero, or undefined when there is no answer. */
const ANSWERS = new Map<number, (request: Json, version: number) => Json | undefined>([
  [
    0, // Produce
    (r) =>
      r.acks === 0
        ? undefined
        : {
            responses: list(r, "topicData").map((t) => ({
              name: t.name,
              topicId: t.topicId,
              partitionResponses: list(t, "partitionData").map((p) => ({
                index: p.index,
                ...failed(NOT_ENOUGH_REPLICAS),
                baseOffset: -1n,
                logAppendTimeMs: -1n,
                logStartOffset: -1n,
              })),
            })),
          },
  ],
  [
    1, // Fetch
    (r) => ({
      responses: list(r, "topics").map((t) => ({
        topic: t.topic,
        topicId: t.topicId,
        partitions: list(t, "partitions").map((p) => ({
          partitionIndex: p.partition,
          highWatermark: -1n,
          lastStableOffset: -1n,
          logStartOffset: -1n,
          preferredReadReplica: -1,
        })),
      })),
    }),
  ],
  [
    2, // ListOffsets
    (r) => ({
      topics: list(r, "topics").map((t) => ({
        name: t.name,
        partitions: list(t, "partitions").map((p) => ({
          partitionIndex: p.partitionIndex,
          errorCode: T,
          timestamp: -1n,
          offset: -1n,
          leaderEpoch: -1,
        })),
      })),
    }),
  ],
  [
    8, // OffsetCommit
    (r) => ({
      topics: list(r, "topics").map((t) => ({
        name: t.name,
        topicId: t.topicId,
        partitions: list(t, "partitions").map((p) => ({ partitionIndex: p.partitionIndex, errorCode: CNA })),
      })),
    }),
  ],
  [
    9, // OffsetFetch: v1-7 one group (a top-level error from v2), v8+ a list of groups
    (r) => ({
      errorCode: CNA,
      topics: list(r, "topics").map((t) => ({
        name: t.name,
        partitions: ints(t, "partitionIndexes").map((partitionIndex) => ({
          partitionIndex,
          committedOffset: -1n,
          committedLeaderEpoch: -1,
          errorCode: CNA,
        })),
      })),
      groups: list(r, "groups").map((g) => ({ groupId: g.groupId, errorCode: CNA })),
    }),
  ],
  [
    10, // FindCoordinator: v0-3 one key, v4+ a list
    (r) => ({
      ...failed(CNA),
      nodeId: -1,
      port: -1,
      coordinators: names(r, "coordinatorKeys").map((key) => ({ key, nodeId: -1, port: -1, ...failed(CNA) })),
    }),
  ],
  [11, (r) => ({ errorCode: CNA, generationId: -1, memberId: r.memberId })], // JoinGroup
  [12, () => ({ errorCode: CNA })], // Heartbeat
  [13, () => ({ errorCode: CNA })], // LeaveGroup
  [14, () => ({ errorCode: CNA })], // SyncGroup
  [
    15, // DescribeGroups
    (r) => ({
      groups: names(r, "groups").map((groupId) => ({
        ...failed(CNA),
        groupId,
        authorizedOperations: NOT_ASKED,
      })),
    }),
  ],
  [16, () => ({ errorCode: CLIP })], // ListGroups
  [
    19, // CreateTopics
    (r, v) =>
      quota(
        v,
        6,
        "topics",
        list(r, "topics").map((t) => ({
          name: t.name,
          numPartitions: -1,
          replicationFactor: -1,
          configs: null,
        })),
      ),
  ],
  [
    20, // DeleteTopics: v1-5 by name, v6 by name or id
    (r, v) =>
      quota(
        v,
        5,
        "responses",
        v < 6
          ? names(r, "topicNames").map((name) => ({ name }))
          : list(r, "topics").map((t) => ({ name: t.name, topicId: t.topicId })),
      ),
  ],
  [
    21, // DeleteRecords
    (r) => ({
      topics: list(r, "topics").map((t) => ({
        name: t.name,
        partitions: list(t, "partitions").map((p) => ({
          partitionIndex: p.partitionIndex,
          lowWatermark: -1n,
          errorCode: T,
        })),
      })),
    }),
  ],
  [
    22, // InitProducerId
    () => ({
      errorCode: CLIP,
      producerId: -1n,
      producerEpoch: -1,
      ongoingTxnProducerId: -1n,
      ongoingTxnProducerEpoch: -1,
    }),
  ],
  [
    23, // OffsetForLeaderEpoch
    (r) => ({
      topics: list(r, "topics").map((t) => ({
        topic: t.topic,
        partitions: list(t, "partitions").map((p) => ({
          errorCode: T,
          partition: p.partition,
          leaderEpoch: -1,
          endOffset: -1n,
        })),
      })),
    }),
  ],
  [
    24, // AddPartitionsToTxn: v0-3 per partition (clients), v4+ a top-level error (brokers' batches)
    (r) => ({
      errorCode: CNA,
      resultsByTopicV3AndBelow: list(r, "v3AndBelowTopics").map((t) => ({
        name: t.name,
        resultsByPartition: ints(t, "partitions").map((partitionIndex) => ({
          partitionIndex,
          partitionErrorCode: CNA,
        })),
      })),
    }),
  ],
  [25, () => ({ errorCode: CNA })], // AddOffsetsToTxn
  [26, () => ({ errorCode: CNA, producerId: -1n, producerEpoch: -1 })], // EndTxn
  [
    28, // TxnOffsetCommit
    (r) => ({
      topics: list(r, "topics").map((t) => ({
        name: t.name,
        topicId: t.topicId,
        partitions: list(t, "partitions").map((p) => ({ partitionIndex: p.partitionIndex, errorCode: CNA })),
      })),
    }),
  ],
  [29, () => failed(T)], // DescribeAcls
  [30, (r) => ({ results: list(r, "creations").map(() => failed(T)) })], // CreateAcls
  [31, (r) => ({ filterResults: list(r, "filters").map(() => failed(T)) })], // DeleteAcls
  [32, (r) => ({ results: resources(r) })], // DescribeConfigs
  [33, (r) => ({ responses: resources(r) })], // AlterConfigs
  [
    35, // DescribeLogDirs: a top-level error from v3; before, an empty answer reads as "not authorized"
    (_r, v) =>
      v >= 3
        ? { errorCode: T }
        : { results: [{ errorCode: T, logDir: "", totalBytes: -1n, usableBytes: -1n }] },
  ],
  [
    37, // CreatePartitions
    (r, v) =>
      quota(
        v,
        3,
        "results",
        list(r, "topics").map((t) => ({ name: t.name })),
      ),
  ],
  [
    42, // DeleteGroups
    (r) => ({ results: names(r, "groupsNames").map((groupId) => ({ groupId, ...failed(CNA) })) }),
  ],
  [
    43, // ElectLeaders: a top-level error from v1; v0 only per partition
    (r, v) =>
      v >= 1
        ? { errorCode: T }
        : r.topicPartitions === null
          ? undefined
          : {
              replicaElectionResults: list(r, "topicPartitions").map((t) => ({
                topic: t.topic,
                partitionResult: ints(t, "partitions").map((partitionId) => ({ partitionId, ...failed(T) })),
              })),
            },
  ],
  [44, (r) => ({ responses: resources(r) })], // IncrementalAlterConfigs
  [
    45, // AlterPartitionReassignments
    (r) => ({ ...failed(T), allowReplicationFactorChange: r.allowReplicationFactorChange }),
  ],
  [46, () => failed(T)], // ListPartitionReassignments
  [47, () => ({ errorCode: CNA })], // OffsetDelete
  [48, () => ({ ...failed(T), entries: null })], // DescribeClientQuotas
  [
    49, // AlterClientQuotas
    (r) => ({ entries: list(r, "entries").map((e) => ({ ...failed(T), entity: list(e, "entity") })) }),
  ],
  [50, () => failed(T)], // DescribeUserScramCredentials
  [
    51, // AlterUserScramCredentials: one result per user named
    (r) => {
      const users = new Set([...list(r, "deletions"), ...list(r, "upsertions")].map((c) => c.name as string));
      return { results: [...users].map((user) => ({ user, ...failed(T) })) };
    },
  ],
  [
    60, // DescribeCluster
    (r) => ({
      ...failed(T),
      endpointType: r.endpointType,
      controllerId: -1,
      clusterAuthorizedOperations: NOT_ASKED,
    }),
  ],
  [
    61, // DescribeProducers
    (r) => ({
      topics: list(r, "topics").map((t) => ({
        name: t.name,
        partitions: ints(t, "partitionIndexes").map((partitionIndex) => ({ partitionIndex, ...failed(T) })),
      })),
    }),
  ],
  [
    65, // DescribeTransactions
    (r) => ({
      transactionStates: names(r, "transactionalIds").map((transactionalId) => ({
        errorCode: CNA,
        transactionalId,
        transactionStartTimeMs: -1n,
        producerId: -1n,
        producerEpoch: -1,
      })),
    }),
  ],
  [66, () => ({ errorCode: CLIP })], // ListTransactions
  [68, () => failed(CNA)], // ConsumerGroupHeartbeat
  [
    69, // ConsumerGroupDescribe
    (r) => ({
      groups: names(r, "groupIds").map((groupId) => ({
        ...failed(CNA),
        groupId,
        authorizedOperations: NOT_ASKED,
      })),
    }),
  ],
  [
    75, // DescribeTopicPartitions
    (r) => ({
      topics: list(r, "topics").map((t) => ({
        errorCode: T,
        name: t.name,
        topicAuthorizedOperations: NOT_ASKED,
      })),
    }),
  ],
]);

/** DescribeConfigs, AlterConfigs, IncrementalAlterConfigs: one answer per resource. */
function resources(r: Json): Json[] {
  return list(r, "resources").map((c) => ({
    ...failed(T),
    resourceType: c.resourceType,
    resourceName: c.resourceName,
  }));
}
