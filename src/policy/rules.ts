/**
 * The policy the pipeline applies to every native event: one engine compiled once from the audit block.
 *
 * First spec/000's `events` include list and `exclude_events`, as globs over event types (`backup.*`), each list
 * compiled into one regular expression; `*` matches any run of characters (dots included) and `?` one character.
 * An event passes when it matches `events` (or `events` is absent) and no `exclude_events`. Then Redpanda's
 * `enabled_event_types`, `excluded_principals` and `excluded_topics` (redpanda.ts), compiled only when one is
 * set. Each drop names its own reason, which the excluded counter is labelled with.
 */
import type { PolicyConfig } from "../config/types.ts";
import { compileRedpandaFilters, type FilterableEvent, type RedpandaDecision } from "./redpanda.ts";

export interface PolicyDecision {
  keep: boolean;
  /** Why it was dropped, for counters and `policy test`. */
  reason?: "disabled" | "not_in_events" | "excluded" | NonNullable<RedpandaDecision["reason"]>;
}

export interface Policy {
  decide(event: FilterableEvent): PolicyDecision;
}

// Decisions are shared, never built per event.
const KEEP: PolicyDecision = Object.freeze({ keep: true });
const DISABLED: PolicyDecision = Object.freeze({ keep: false, reason: "disabled" });
const NOT_IN_EVENTS: PolicyDecision = Object.freeze({ keep: false, reason: "not_in_events" });
const EXCLUDED: PolicyDecision = Object.freeze({ keep: false, reason: "excluded" });

function globsToRegExp(globs: string[]): RegExp {
  const alternatives = globs.map((g) =>
    g
      .split("")
      .map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[\\^$.|+()[\]{}]/g, "\\$&")))
      .join(""),
  );
  return new RegExp(`^(?:${alternatives.join("|")})$`);
}

/**
 * @throws ValidationError("invalid_config") when the Redpanda settings are invalid (see compileRedpandaFilters);
 * a loaded configuration was already checked.
 */
export function compilePolicy(config: PolicyConfig, enabled = true): Policy {
  if (!enabled) return { decide: () => DISABLED };
  const include = config.events && config.events.length > 0 ? globsToRegExp(config.events) : undefined;
  const exclude = config.excludeEvents.length > 0 ? globsToRegExp(config.excludeEvents) : undefined;
  const redpanda = config.redpanda;
  const filters =
    redpanda &&
    (redpanda.enabled_event_types !== undefined ||
      (redpanda.excluded_topics?.length ?? 0) > 0 ||
      (redpanda.excluded_principals?.length ?? 0) > 0)
      ? compileRedpandaFilters(redpanda, { auditTopics: config.auditTopics ?? [] })
      : undefined;
  return {
    decide(event) {
      const type = event.event_type;
      if (include && !include.test(type)) return NOT_IN_EVENTS;
      if (exclude?.test(type)) return EXCLUDED;
      return filters ? filters.decide(event) : KEEP;
    },
  };
}
