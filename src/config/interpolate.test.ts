// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the ${VAR} syntax is what is under test
import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { InterpolationError, interpolate } from "./interpolate.ts";

function errorOf(text: string, env: NodeJS.ProcessEnv): InterpolationError {
  try {
    interpolate(text, env);
  } catch (e) {
    if (e instanceof InterpolationError) return e;
    throw e;
  }
  throw new Error("expected an InterpolationError");
}

describe("interpolate", () => {
  it("substitutes ${VAR} anywhere in the text, several times", () => {
    expect(interpolate("Bearer ${TOKEN}", { TOKEN: "abc" })).toBe("Bearer abc");
    expect(interpolate("${A}-${B}-${A}", { A: "1", B: "2" })).toBe("1-2-1");
  });

  it("leaves text without references, and a $ not followed by {, unchanged", () => {
    expect(interpolate("plain text", {})).toBe("plain text");
    expect(interpolate("cost: $5 or $HOME or $", {})).toBe("cost: $5 or $HOME or $");
  });

  it("uses the default when the variable is unset", () => {
    expect(interpolate("${REGION:-us-west-2}", {})).toBe("us-west-2");
    expect(interpolate("${REGION:-}", {})).toBe("");
  });

  it("uses the default when the variable is empty, as POSIX sh does for :-", () => {
    expect(interpolate("${REGION:-us-west-2}", { REGION: "" })).toBe("us-west-2");
  });

  it("uses the value when the variable is set and not empty", () => {
    expect(interpolate("${REGION:-us-west-2}", { REGION: "eu-central-1" })).toBe("eu-central-1");
  });

  it("substitutes an empty value for a set but empty variable without default", () => {
    expect(interpolate("a${EMPTY}b", { EMPTY: "" })).toBe("ab");
  });

  it("turns $${ into a literal ${ without looking the name up", () => {
    expect(interpolate("$${NOT_A_VAR}", {})).toBe("${NOT_A_VAR}");
    expect(interpolate("pre $${X} ${Y}", { Y: "y" })).toBe("pre ${X} y");
  });

  it("does not interpolate a substituted value again", () => {
    expect(interpolate("${A}", { A: "${B}", B: "no" })).toBe("${B}");
  });

  it("falls back to the machine's name for HOSTNAME when the environment has none", () => {
    expect(interpolate("${HOSTNAME}", {})).toBe(hostname());
    expect(interpolate("${HOSTNAME}", { HOSTNAME: "node-7" })).toBe("node-7");
  });

  it("names an unset variable, and every one when several are unset", () => {
    expect(errorOf("${AUDIT_KAFKA_PASSWORD}", {}).message).toBe(
      "environment variable AUDIT_KAFKA_PASSWORD is not set",
    );
    expect(errorOf("${A}:${B}:${A}", {}).message).toBe("environment variables A, B are not set");
    expect(errorOf("${A}", {}).code).toBe("invalid_config");
  });

  it("refuses malformed references instead of guessing", () => {
    const forms = "expected ${NAME} or ${NAME:-default}, or $${ for a literal ${";
    expect(errorOf("${A", {}).message).toBe(`unterminated \${ (${forms})`);
    expect(errorOf("${}", {}).message).toBe(`malformed variable reference (${forms})`);
    expect(errorOf("${1A}", {}).message).toBe(`malformed variable reference (${forms})`);
    expect(errorOf("${A-x}", {}).message).toBe(`malformed variable reference (${forms})`);
    expect(errorOf("${A:-${B}}", {}).message).toBe(
      "the default for A contains another ${...}, which is not supported",
    );
  });

  it("never puts a variable's value in an error", () => {
    const env = { SECRET: "hunter2-very-secret", OTHER: undefined };
    const error = errorOf("${SECRET}/${OTHER}", env);
    expect(error.message).toBe("environment variable OTHER is not set");
    expect(error.message).not.toContain("hunter2");
  });
});
