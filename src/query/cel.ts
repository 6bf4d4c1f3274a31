/**
 * One query language for search and alert conditions: CEL (`@marcbachmann/cel-js`) over the native event,
 * accepting spec/000's spelling (`and`, `or`, `not`, see rewrite.ts).
 *
 * `compileQuery(text)` checks the expression once: syntax errors and fields that do not exist in the native
 * model (`actr.id`, `event_typ`) are `QueryError`s with a 1-based column in the text as written. Any path
 * under `details` is allowed. So is what would fail on every event rather than on some: unknown functions,
 * `has()` on a bare name, and invalid literal arguments of `timestamp()`, `duration()` and `matches()`
 * (literals.ts, which also respells those literals so that cel-js reads them as CEL does: RE2 patterns,
 * RFC 3339 times).
 *
 * Missing fields: naming a field the event does not have is, in CEL, an error; here that error makes the
 * comparison *unknown*, exactly like SQL NULL. `a || b` is true if either side is true, `a && b` false if
 * either side is false, and an expression that ends unknown does not match — also under `!`:
 * `!(actor.id == 'bob')` does not match an event with no actor. A search never fails on an event that lacks a
 * field. Type mismatches follow CEL: `details.code == 'x'` on a number is false, `details.code < 'x'` unknown.
 *
 * `CompiledQuery.sql` is the same question as a DuckDB WHERE clause over the index (fields.ts) when the
 * expression is in the translatable subset (sql.ts), else undefined: evaluate `matches` in process instead.
 */
import { type ASTNode, Environment, ParseError, parse } from "@marcbachmann/cel-js";
import { suggest } from "../config/schema.ts";
import type { NativeEvent } from "../event/schema.ts";
import { KNOWN_PATHS } from "./fields.ts";
import { durationLiteral, LiteralError, timestampLiteral, translateRegex } from "./literals.ts";
import { rewriteWordOperators } from "./rewrite.ts";
import { type SqlWhere, toSql } from "./sql.ts";

export class QueryError extends Error {
  override readonly name = "QueryError";
  /** 1-based column in the query as written. */
  readonly column: number;
  constructor(message: string, column: number) {
    super(`column ${column}: ${message}`);
    this.column = column;
  }
}

export interface CompiledQuery {
  /** The query as written. */
  readonly text: string;
  /** The query in CEL's own spelling. */
  readonly cel: string;
  /** Whether `event` matches; never throws. */
  matches(event: NativeEvent | Record<string, unknown>): boolean;
  /** The query as a DuckDB WHERE clause with positional parameters, or undefined if it must run in process. */
  readonly sql: SqlWhere | undefined;
}

const COMPREHENSIONS = new Set(["all", "exists", "exists_one", "map", "filter"]);
const DEFINITIONS = new Environment().getDefinitions().functions;
/** cel-js's functions (`size(x)`, `timestamp(s)`, the macro `has(a.b)`) and methods (`s.matches(p)`). */
const FUNCTIONS = new Set(DEFINITIONS.filter((f) => f.receiverType === null).map((f) => f.name));
const METHODS = new Set(DEFINITIONS.filter((f) => f.receiverType !== null).map((f) => f.name));
const ROOTS = new Set(KNOWN_PATHS.map((path) => path.split(".")[0] ?? path));

export function compileQuery(text: string): CompiledQuery {
  const rewritten = rewriteWordOperators(text);
  const origin = rewritten.origin;
  let cel = rewritten.text;
  const column = (offset: number): number =>
    (origin[Math.min(Math.max(offset, 0), rewritten.text.length)] ?? text.length) + 1;
  if (cel.trim() === "") throw new QueryError("empty query", 1);
  let program: ReturnType<typeof parse>;
  try {
    program = parse(cel);
  } catch (error) {
    if (error instanceof ParseError) {
      throw new QueryError(
        error.summary || firstLine(error.message),
        column(error.range?.start ?? error.node?.pos ?? 0),
      );
    }
    throw error;
  }
  checkFields(program.ast, new Set(), column);
  const replacements: Replacement[] = [];
  checkCalls(program.ast, cel, column, replacements);
  if (replacements.length > 0) {
    cel = replaceLiterals(cel, replacements);
    program = parse(cel);
  }
  const sql = toSql(program.ast);
  return {
    text,
    cel,
    sql,
    matches(event) {
      try {
        return program(evaluationContext(event)) === true;
      } catch {
        // CEL error (missing field, no such overload): unknown, which does not match.
        return false;
      }
    },
  };
}

function firstLine(message: string): string {
  return message.split("\n")[0] ?? message;
}

/** The event as CEL sees it: `timestamp` and `received_at` are timestamps, everything else as in the JSON. */
function evaluationContext(event: Record<string, unknown>): Record<string, unknown> {
  const context: Record<string, unknown> = { ...event };
  for (const key of ["timestamp", "received_at"]) {
    const value = event[key];
    if (typeof value !== "string") continue;
    const instant = new Date(value);
    if (Number.isNaN(instant.getTime())) delete context[key];
    else context[key] = instant;
  }
  return context;
}

/** The dotted path of `node` if it is a plain field reference (`actor.id`, `details.a.b`). */
export function fieldPath(node: ASTNode): string[] | undefined {
  if (node.op === "id") return [node.args];
  if (node.op === ".") {
    const base = fieldPath(node.args[0]);
    return base === undefined ? undefined : [...base, node.args[1]];
  }
  return undefined;
}

function checkFields(node: ASTNode, bound: ReadonlySet<string>, column: (offset: number) => number): void {
  const path = fieldPath(node);
  if (path !== undefined) {
    const [root = ""] = path;
    if (bound.has(root)) return;
    if (root === "details") return;
    const joined = path.join(".");
    if (!ROOTS.has(root)) throw unknownField(root, [...ROOTS], column(node.start));
    if (!KNOWN_PATHS.includes(joined)) {
      throw unknownField(joined, KNOWN_PATHS, column(node.start));
    }
    return;
  }
  switch (node.op) {
    case "value":
      return;
    case ".":
    case ".?":
      checkFields(node.args[0], bound, column);
      return;
    case "call":
      for (const arg of node.args[1]) checkFields(arg, bound, column);
      return;
    case "rcall": {
      const [name, target, args] = node.args;
      checkFields(target, bound, column);
      const [first, ...rest] = args;
      if (COMPREHENSIONS.has(name) && first?.op === "id") {
        const inner = new Set(bound).add(first.args);
        for (const arg of rest) checkFields(arg, inner, column);
        return;
      }
      for (const arg of args) checkFields(arg, bound, column);
      return;
    }
    case "list":
      for (const item of node.args) checkFields(item, bound, column);
      return;
    case "map":
      for (const [key, value] of node.args) {
        checkFields(key, bound, column);
        checkFields(value, bound, column);
      }
      return;
    case "!_":
    case "-_":
      checkFields(node.args, bound, column);
      return;
    default:
      for (const arg of node.args as ASTNode[]) checkFields(arg, bound, column);
  }
}

/** A string literal of the query, by its offsets in the CEL text, and the value cel-js is given instead. */
interface Replacement {
  readonly start: number;
  readonly end: number;
  readonly value: string;
}

/**
 * Refuses what would fail on every event: a function cel-js does not have (`foo(x)`, `matches(s, p)` — a
 * method), `has()` on anything but a field selection (`has(actor)`: CEL's has() tests a field *of* something),
 * and literal arguments of timestamp(), duration() and matches() that CEL would refuse (literals.ts). Records
 * in `replacements` the literals to give cel-js in another spelling.
 */
function checkCalls(
  node: ASTNode,
  cel: string,
  column: (offset: number) => number,
  replacements: Replacement[],
): void {
  if (node.op === "call" || node.op === "rcall") {
    const method = node.op === "rcall";
    const name = node.args[0];
    const args = method ? node.args[2] : node.args[1];
    const at = column(method ? cel.indexOf(name, node.args[1].end) : node.start);
    if (!(method ? METHODS : FUNCTIONS).has(name)) {
      if (method && FUNCTIONS.has(name)) {
        throw new QueryError(`${name}() is a function, not a method: write ${name}(x)`, at);
      }
      if (!method && METHODS.has(name)) {
        throw new QueryError(`${name}() is a method: write x.${name}(…)`, at);
      }
      throw new QueryError(`unknown function ${name}()`, at);
    }
    const [arg] = args;
    if (!method && name === "has" && !(args.length === 1 && arg !== undefined && isSelection(arg))) {
      const bare = arg?.op === "id" ? `, not a bare name (${arg.args})` : "";
      throw new QueryError(
        `has() takes a field selection such as has(actor.id) or has(details.error)${bare}`,
        column(arg?.start ?? node.start),
      );
    }
    const check = method
      ? name === "matches"
        ? translateRegex
        : undefined
      : name === "timestamp"
        ? timestampLiteral
        : name === "duration"
          ? durationLiteral
          : undefined;
    if (check !== undefined && args.length === 1 && arg?.op === "value" && typeof arg.args === "string") {
      let value: string;
      try {
        value = check(arg.args);
      } catch (error) {
        if (error instanceof LiteralError) throw new QueryError(error.message, column(arg.start));
        throw error;
      }
      if (value !== arg.args) replacements.push({ start: arg.start, end: arg.end, value });
    }
  }
  for (const child of children(node)) checkCalls(child, cel, column, replacements);
}

/** `a.b`, `a.b.c`: what CEL's has() takes (a select on a chain of selects ending in a name). */
function isSelection(node: ASTNode): boolean {
  if (node.op !== ".") return false;
  let current: ASTNode = node;
  while (current.op === "." || current.op === ".?") current = current.args[0];
  return current.op === "id";
}

function children(node: ASTNode): ASTNode[] {
  switch (node.op) {
    case "value":
    case "id":
      return [];
    case ".":
    case ".?":
      return [node.args[0]];
    case "call":
      return node.args[1];
    case "rcall":
      return [node.args[1], ...node.args[2]];
    case "list":
      return node.args;
    case "map":
      return node.args.flat();
    case "!_":
    case "-_":
      return [node.args];
    default:
      return node.args as ASTNode[];
  }
}

/** `cel` with each replaced literal written as a double-quoted CEL string of its new value. */
function replaceLiterals(cel: string, replacements: readonly Replacement[]): string {
  let out = "";
  let at = 0;
  for (const r of [...replacements].sort((a, b) => a.start - b.start)) {
    out += cel.slice(at, r.start) + celString(r.value);
    at = r.end;
  }
  return out + cel.slice(at);
}

/** `value` as a double-quoted CEL string literal. */
function celString(value: string): string {
  let out = '"';
  for (const c of value) {
    const code = c.charCodeAt(0);
    if (c === "\\" || c === '"') out += `\\${c}`;
    else if (code < 0x20 || code === 0x7f) out += `\\u${code.toString(16).padStart(4, "0")}`;
    else out += c;
  }
  return `${out}"`;
}

function unknownField(field: string, known: readonly string[], column: number): QueryError {
  const hint = suggest(field, known);
  return new QueryError(
    hint
      ? `unknown field ${field}; did you mean ${hint}?`
      : `unknown field ${field} (not in the event model)`,
    column,
  );
}
