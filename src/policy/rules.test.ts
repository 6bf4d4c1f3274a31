import { describe, expect, it } from "vitest";
import { compilePolicy } from "./rules.ts";

describe("policy v1 (spec/000 events / exclude_events)", () => {
  it("keeps everything without lists", () => {
    expect(compilePolicy({ excludeEvents: [] }).decide("anything.at_all")).toEqual({ keep: true });
  });

  it("applies the include list with globs, then the exclude list", () => {
    const p = compilePolicy({
      events: ["backup.*", "restore.*", "access.denied"],
      excludeEvents: ["backup.checkpoint"],
    });
    expect(p.decide("backup.started").keep).toBe(true);
    expect(p.decide("restore.failed").keep).toBe(true);
    expect(p.decide("access.denied").keep).toBe(true);
    expect(p.decide("access.granted")).toEqual({ keep: false, reason: "not_in_events" });
    expect(p.decide("backup.checkpoint")).toEqual({ keep: false, reason: "excluded" });
    expect(p.decide("backupXstarted").keep).toBe(false);
  });

  it("treats ? as one character and escapes regex syntax", () => {
    const p = compilePolicy({ events: ["auth.log?n", "a+b.c"], excludeEvents: [] });
    expect(p.decide("auth.login").keep).toBe(true);
    expect(p.decide("auth.logn").keep).toBe(false);
    expect(p.decide("a+b.c").keep).toBe(true);
    expect(p.decide("aab.c").keep).toBe(false);
  });

  it("drops everything when audit is disabled", () => {
    expect(compilePolicy({ excludeEvents: [] }, false).decide("backup.started")).toEqual({
      keep: false,
      reason: "disabled",
    });
  });
});
