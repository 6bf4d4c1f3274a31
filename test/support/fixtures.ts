/** Test support: the shared fixtures (`../shared/fixtures`, read-only) and the first problem of a ValidationError. */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type FieldProblem, ValidationError } from "../../src/errors.ts";

export function fixturePath(name: string): string {
  return fileURLToPath(new URL(`../../../shared/fixtures/${name}`, import.meta.url));
}

/** The JSON objects of an NDJSON fixture, blank lines skipped. */
export function ndjsonFixture(name: string): Record<string, unknown>[] {
  return readFileSync(fixturePath(name), "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The first problem of the invalid_event ValidationError `fn` throws; fails the test when it throws nothing. */
export function firstProblem(fn: () => unknown): FieldProblem | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof ValidationError && e.code === "invalid_event") return e.problems[0];
    throw e;
  }
  throw new Error("expected a ValidationError");
}
