import Type from "typebox";
import { Settings } from "typebox/system";
import { describe, expect, it } from "vitest";
import { formatPath, schemaChecker, suggest } from "./schema.ts";

describe("formatPath", () => {
  it("writes keys dotted and list indices in brackets", () => {
    expect(formatPath(["enterprise", "audit", "destinations", 1, "path"])).toBe(
      "enterprise.audit.destinations[1].path",
    );
    expect(formatPath([])).toBe("");
  });
});

describe("suggest", () => {
  it("finds the key meant within two edits, a swap of neighbours counting as one", () => {
    expect(suggest("rotaiton", ["path", "rotation"])).toBe("rotation");
    expect(suggest("max_file", ["max_size_mb", "max_files", "compress"])).toBe("max_files");
    expect(suggest("Destination", ["destination", "destinations"])).toBe("destination");
  });

  it("suggests nothing when no candidate is close", () => {
    expect(suggest("colour_scheme", ["enabled", "events"])).toBeUndefined();
    expect(suggest("ab", ["cd"])).toBeUndefined();
  });
});

describe("schemaChecker", () => {
  const check = schemaChecker(
    Type.Object({ n: Type.Array(Type.Integer()) }, { additionalProperties: false }),
  );

  it("lists every problem, beyond TypeBox's default of 8, and leaves that default in place", () => {
    const before = Settings.Get().maxErrors;
    const problems = check({ n: Array.from({ length: 20 }, () => "x") }, ["root"]);
    expect(problems).toHaveLength(20);
    expect(problems[19]).toEqual({ path: ["root", "n", 19], message: "must be an integer" });
    expect(Settings.Get().maxErrors).toBe(before);
  });

  it("returns nothing for a valid value", () => {
    expect(check({ n: [1, 2] })).toEqual([]);
  });
});
