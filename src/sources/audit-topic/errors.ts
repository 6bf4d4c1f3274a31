/**
 * How a failure of @platformatic/kafka while consuming an audit topic is judged: retryable (the source keeps
 * trying with backoff, its status `retrying`) or permanent (the source stops, its status `failed`, with a message
 * saying what to fix).
 *
 * kafka/errors.ts judges it as for every Kafka client of Vigil (authentication, authorization, TLS, final
 * protocol errors: see there). What only a consumer in a group meets is decided here:
 * - FENCED_INSTANCE_ID, first: permanent: another consumer took this source's static group membership (another
 *   Vigil with the same origin and source name, reading the same group).
 * - A rebalance and the group protocol's "start over" answers (REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID, …),
 *   which the library does not retry: only "not now", the session starts over.
 * - An unknown topic: retryable, and said so: Redpanda creates `_redpanda.audit_log` only once auditing is enabled.
 * The ACLs named on an authorization failure are the topic's READ and DESCRIBE and the group's READ. Messages
 * never hold the password: it is scrubbed from every one.
 */
import { classifyKafkaError, findApiError, scrub } from "../../kafka/errors.ts";

/** Protocol errors of a consumer group that only mean "not now": the consumer joins again. */
const GROUP_TRANSIENT = new Set([
  "ILLEGAL_GENERATION",
  "UNKNOWN_MEMBER_ID",
  "REBALANCE_IN_PROGRESS",
  "MEMBER_ID_REQUIRED",
  "GROUP_MAX_SIZE_REACHED",
  "INCONSISTENT_GROUP_PROTOCOL",
]);

export interface ConsumeFailure {
  permanent: boolean;
  message: string;
}

/**
 * Judges a failure of consuming `topic` in `groupId`.
 * @param secrets strings never to appear in the message (the SASL password)
 */
export function classifyConsumeError(
  error: unknown,
  ctx: { topic: string; groupId: string; secrets: readonly string[] },
): ConsumeFailure {
  if (findApiError(error, "FENCED_INSTANCE_ID")) {
    const message =
      `another consumer joined group ${ctx.groupId} with this source's instance id: another Vigil with the same ` +
      "log origin and source name reads this group; give one of them another group_id";
    return { permanent: true, message: scrub(message, ctx.secrets) };
  }
  const { retryable, message } = classifyKafkaError(error, {
    grant: `READ and DESCRIBE on topic ${ctx.topic} and READ on group ${ctx.groupId}`,
    unknownTopic: { retryable: true, message: `topic ${ctx.topic} does not exist (yet)` },
    transient: GROUP_TRANSIENT,
    secrets: ctx.secrets,
  });
  return { permanent: !retryable, message };
}
