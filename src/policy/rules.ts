/**
 * Policy v1: spec/000's `events` include list and `exclude_events`, as globs over event types (`backup.*`).
 * Compiled once into one regular expression per list; `*` matches any run of characters (dots included) and `?`
 * one character. An event is kept when it matches `events` (or `events` is absent) and no `exclude_events`.
 */
import type { PolicyConfig } from "../config/types.ts";

export interface PolicyDecision {
  keep: boolean;
  /** Why it was dropped, for counters and `policy test`. */
  reason?: "disabled" | "not_in_events" | "excluded";
}

export interface Policy {
  decide(eventType: string): PolicyDecision;
}

function globsToRegExp(globs: string[]): RegExp {
  const alternatives = globs.map((g) =>
    g
      .split("")
      .map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[\\^$.|+()[\]{}]/g, "\\$&")))
      .join(""),
  );
  return new RegExp(`^(?:${alternatives.join("|")})$`);
}

export function compilePolicy(config: PolicyConfig, enabled = true): Policy {
  if (!enabled) return { decide: () => ({ keep: false, reason: "disabled" }) };
  const include = config.events && config.events.length > 0 ? globsToRegExp(config.events) : undefined;
  const exclude = config.excludeEvents.length > 0 ? globsToRegExp(config.excludeEvents) : undefined;
  return {
    decide(eventType) {
      if (include && !include.test(eventType)) return { keep: false, reason: "not_in_events" };
      if (exclude?.test(eventType)) return { keep: false, reason: "excluded" };
      return { keep: true };
    },
  };
}
