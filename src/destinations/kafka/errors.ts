/**
 * How a failure of @platformatic/kafka becomes a DeliveryError (retryable: the consumer backs off and tries again
 * forever; permanent: the destination parks, with a message saying what to fix).
 *
 * kafka/errors.ts judges it as for every Kafka client of Vigil (authentication, authorization, TLS, final
 * protocol errors: see there). What only a producer meets is decided here, first:
 * - MESSAGE_TOO_LARGE or RECORD_LIST_TOO_LARGE anywhere in the tree: `tooLarge` (the consumer splits the batch,
 *   then applies `on_oversize`).
 * - The idempotent producer's state (OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID, …), which the library does
 *   not retry: only "not now", since the library drops its producer id after a failed send and starts over with
 *   a new one.
 * - An unknown topic: retryable when Vigil creates topics (the topic is created again before the next attempt),
 *   permanent otherwise.
 * Every message starts with what was being done (`producing to topic audit-events (kafka:9092)`).
 */
import { apiIdOf, classifyKafkaError, errorNodes, scrub } from "../../kafka/errors.ts";
import { DeliveryError } from "../destination.ts";

/** Protocol errors an idempotent producer recovers from by starting over with a new producer id. */
const PRODUCER_TRANSIENT = new Set([
  "OUT_OF_ORDER_SEQUENCE_NUMBER",
  "DUPLICATE_SEQUENCE_NUMBER",
  "INVALID_PRODUCER_EPOCH",
  "INVALID_PRODUCER_ID_MAPPING",
  "UNKNOWN_PRODUCER_ID",
  "PRODUCER_FENCED",
  "TRANSACTION_ABORTABLE",
]);

export interface KafkaCallContext {
  /** What was being done, e.g. `producing to topic audit-events`. */
  action: string;
  topic: string;
  /** The ACLs this call needs, e.g. `WRITE and DESCRIBE on topic audit-events`. */
  grant: string;
  /** Vigil creates the topic when it is missing: an unknown topic is then retryable. */
  createTopic: boolean;
  /** Strings that must never appear in a message (the SASL password). */
  secrets: readonly string[];
}

/** The DeliveryError for a failed call of @platformatic/kafka. */
export function kafkaError(error: unknown, ctx: KafkaCallContext): DeliveryError {
  const tooLarge = errorNodes(error).find((n) =>
    ["MESSAGE_TOO_LARGE", "RECORD_LIST_TOO_LARGE"].includes(apiIdOf(n) ?? ""),
  );
  if (tooLarge) {
    const message =
      `${ctx.action}: the broker refused the batch as too large (${apiIdOf(tooLarge)}: over the topic's ` +
      "max.message.bytes)";
    return new DeliveryError(scrub(message, ctx.secrets), true, { cause: error, tooLarge: true });
  }
  const { retryable, message } = classifyKafkaError(error, {
    action: ctx.action,
    grant: ctx.grant,
    unknownTopic: ctx.createTopic
      ? {
          retryable: true,
          message: `topic ${ctx.topic} does not exist; it is created again before the next attempt`,
        }
      : {
          retryable: false,
          message: `topic ${ctx.topic} does not exist; create it, or set create_topic: true`,
        },
    transient: PRODUCER_TRANSIENT,
    secrets: ctx.secrets,
  });
  return new DeliveryError(message, retryable, { cause: error });
}
