import { describe, expect, it } from "vitest";
import { compileQuery, QueryError } from "./cel.ts";
import { rewriteWordOperators } from "./rewrite.ts";

describe("rewriteWordOperators", () => {
  it("rewrites the spec's spelling", () => {
    expect(
      rewriteWordOperators("event_type == 'backup.failed' and context.environment == 'production'").text,
    ).toBe("event_type == 'backup.failed' && context.environment == 'production'");
    expect(rewriteWordOperators("not (a or b)").text).toBe("! (a || b)");
  });

  it("leaves string literals alone, both quote kinds, escapes, triple quotes", () => {
    const cases = [
      `x == 'a and b'`,
      `x == "not or and"`,
      `x == 'it\\'s and' `,
      `x == "say \\"or\\" and"`,
      `x == '''a ' and ' b'''`,
      `x == r'\\' `,
    ];
    for (const text of cases) expect(rewriteWordOperators(text).text).toBe(text);
    expect(rewriteWordOperators(`x == 'it\\'s' and y`).text).toBe(`x == 'it\\'s' && y`);
    expect(rewriteWordOperators(`x == r'\\' and y`).text).toBe(`x == r'\\' && y`);
  });

  it("does not touch identifiers containing the words, or member names", () => {
    for (const text of ["android == order", "details.and == 1", "notes or_else", "nothing"]) {
      expect(rewriteWordOperators(text).text).toBe(text);
    }
  });

  it("maps rewritten offsets back to the text as written", () => {
    const { text, origin } = rewriteWordOperators("a and not b");
    expect(text).toBe("a && ! b");
    expect(origin[text.indexOf("!")]).toBe(6);
    expect(origin[text.indexOf("b")]).toBe(10);
    expect(origin[text.length]).toBe(11);
  });

  it("reports errors at the column of the word as written", () => {
    const attempt = (text: string) => {
      try {
        compileQuery(text);
      } catch (error) {
        if (error instanceof QueryError) return error.column;
        throw error;
      }
      throw new Error("expected a QueryError");
    };
    // the second `and` is at column 25
    expect(attempt("event_type == 'x.y' and and event_id == 'a'")).toBe(25);
    expect(attempt("event_type == 'a and b' and not")).toBe(32);
  });
});
