/**
 * Translates the exactly-translatable subset of a CEL query into a DuckDB WHERE clause over the index
 * columns of fields.ts, with positional parameters ($1, $2 …): no user text is ever part of the SQL.
 *
 * Translated: `==` `!=` on string fields; all six comparisons on `action.duration_ms`; all six on
 * `timestamp`/`received_at` against `timestamp('…')`; `==` `!=` `<` `<=` `>` `>=` on `details.<path>` against
 * string (`==`/`!=` only), number and bool literals; `&&` `||` `!`; `field in [literals]`;
 * `'x' in actor.roles`; `startsWith` / `endsWith` / `contains` with a string literal; `true`/`false`.
 * Anything else (ternaries, arithmetic, macros, string ordering, field-to-field comparisons, `size`, …)
 * gives undefined and the caller evaluates in process. CEL's "error" (missing field, no such overload) is
 * SQL NULL, so the three-valued logic of both agrees (see cel.ts).
 *
 * Tests of a string under `details` (`==`, `in`, `startsWith`, `endsWith`, `contains`) first look for the
 * literal in the raw JSON text of `details`, which is much cheaper than extracting the path from every row's
 * JSON, and only then extract it (see detailsText).
 */
import { type ASTNode, evaluate } from "@marcbachmann/cel-js";
import { QUERY_COLUMNS } from "./fields.ts";

export interface SqlWhere {
  /** Boolean SQL expression; `$n` refers to `params[n - 1]`. */
  readonly where: string;
  readonly params: unknown[];
}

type Literal =
  | { kind: "string"; value: string }
  | { kind: "number"; value: number }
  | { kind: "bool"; value: boolean }
  | { kind: "timestamp"; value: string };

type Operand =
  | { kind: "column"; name: string; type: string }
  | { kind: "details"; path: string; key: string }
  | { kind: "literal"; literal: Literal };

const COMPARISONS = new Set(["==", "!=", "<", "<=", ">", ">="]);
const FLIP: Readonly<Record<string, string>> = {
  "<": ">",
  "<=": ">=",
  ">": "<",
  ">=": "<=",
  "==": "==",
  "!=": "!=",
};
const SQL_OP: Readonly<Record<string, string>> = {
  "==": "=",
  "!=": "<>",
  "<": "<",
  "<=": "<=",
  ">": ">",
  ">=": ">=",
};
const SEGMENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function toSql(ast: ASTNode): SqlWhere | undefined {
  const params: unknown[] = [];
  const where = new Translator(params).bool(ast);
  return where === undefined ? undefined : { where, params };
}

class Translator {
  private readonly params: unknown[];
  constructor(params: unknown[]) {
    this.params = params;
  }

  private param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  /**
   * `node` as SQL; `positive` is false under an odd number of `!`, where a NULL (unknown) must stay NULL
   * rather than become FALSE, so no prefilter (see detailsText) is added there.
   */
  bool(node: ASTNode, positive = true): string | undefined {
    switch (node.op) {
      case "value":
        return typeof node.args === "boolean" ? (node.args ? "TRUE" : "FALSE") : undefined;
      case "&&":
      case "||": {
        const left = this.bool(node.args[0], positive);
        const right = left === undefined ? undefined : this.bool(node.args[1], positive);
        return right === undefined ? undefined : `(${left} ${node.op === "&&" ? "AND" : "OR"} ${right})`;
      }
      case "!_": {
        const inner = this.bool(node.args, !positive);
        return inner === undefined ? undefined : `(NOT ${inner})`;
      }
      case "in":
        return this.membership(node.args[0], node.args[1], positive);
      case "rcall":
        return this.stringCall(node.args[0], node.args[1], node.args[2], positive);
      default:
        if (COMPARISONS.has(node.op)) {
          const [a, b] = node.args as [ASTNode, ASTNode];
          return this.comparison(node.op, a, b, positive);
        }
        return undefined;
    }
  }

  private comparison(op: string, a: ASTNode, b: ASTNode, positive: boolean): string | undefined {
    let left = operand(a);
    let right = operand(b);
    if (left === undefined || right === undefined) return undefined;
    if (left.kind === "literal" && right.kind !== "literal") {
      [left, right] = [right, left];
      op = FLIP[op] ?? op;
    }
    if (right.kind !== "literal" || left.kind === "literal") return undefined;
    const literal = right.literal;
    const sqlOp = SQL_OP[op] ?? "=";
    const equality = op === "==" || op === "!=";
    if (left.kind === "column") {
      if (left.type === "VARCHAR" && literal.kind === "string" && equality) {
        return `(${quoteIdent(left.name)} ${sqlOp} ${this.param(literal.value)})`;
      }
      if (left.type === "DOUBLE" && literal.kind === "number") {
        return `(${quoteIdent(left.name)} ${sqlOp} CAST(${this.param(literal.value)} AS DOUBLE))`;
      }
      if (left.type === "TIMESTAMPTZ" && literal.kind === "timestamp") {
        return `(${quoteIdent(left.name)} ${sqlOp} CAST(${this.param(literal.value)} AS TIMESTAMPTZ))`;
      }
      return undefined;
    }
    // details.<path>: dispatch on the JSON type of the value, as CEL does on the dynamic type.
    const path = this.param(left.path);
    const jsonType = `json_type("details", ${path})`;
    // CEL: == across types is false, != true, ordering an error (unknown).
    const mismatch = op === "==" ? "FALSE" : op === "!=" ? "TRUE" : "NULL";
    let test: string;
    if (literal.kind === "string" && equality) {
      test = `${jsonType} = 'VARCHAR' THEN json_extract_string("details", ${path}) ${sqlOp} ${this.param(literal.value)}`;
    } else if (literal.kind === "number") {
      test = `${jsonType} IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN CAST(json_extract("details", ${path}) AS DOUBLE) ${sqlOp} CAST(${this.param(literal.value)} AS DOUBLE)`;
    } else if (literal.kind === "bool") {
      test = `${jsonType} = 'BOOLEAN' THEN CAST(json_extract("details", ${path}) AS BOOLEAN) ${sqlOp} CAST(${this.param(literal.value)} AS BOOLEAN)`;
    } else {
      return undefined;
    }
    const exact = `(CASE WHEN ${jsonType} IS NULL THEN NULL WHEN ${test} ELSE ${mismatch} END)`;
    if (!positive || op !== "==" || literal.kind !== "string") return exact;
    return this.detailsText([memberText(left.key, literal.value)], exact);
  }

  /**
   * `exact` (a test of one `details.<path>` value) behind a cheap necessary condition on the raw JSON text of
   * `details`: it contains one of `needles` (undefined: no condition known). The stored text is
   * `JSON.stringify(event.details)` (fields.ts), in which a string value `v` is `JSON.stringify(v)`, written
   * character by character: a value that contains `w` is stored containing `JSON.stringify(w)` without its
   * quotes, as long as `w` has no lone surrogate (whose escaping depends on the character next to it).
   *
   * `contains` finds a needle without parsing the JSON, which `json_type`/`json_extract` do on every row. When
   * no needle is found, `exact` is FALSE or NULL: the condition turns NULL into FALSE, so it is only added
   * where that changes no answer, outside any `!` (Kleene logic: a result that is TRUE with an unknown stays
   * TRUE whatever the unknown turns out to be, and `&&`/`||` never turn FALSE into TRUE).
   */
  private detailsText(needles: (string | undefined)[], exact: string): string {
    if (needles.length === 0 || needles.some((n) => n === undefined)) return exact;
    const found = needles.map((n) => `contains(CAST("details" AS VARCHAR), ${this.param(n)})`);
    return `(${found.length === 1 ? found[0] : `(${found.join(" OR ")})`} AND ${exact})`;
  }

  private membership(a: ASTNode, b: ASTNode, positive: boolean): string | undefined {
    const left = operand(a);
    if (left === undefined) return undefined;
    if (b.op === "list") {
      const items = b.args.map(literalOf);
      // CEL list literals are homogeneous: [200.5, 500] (double and int) is an error, not a number list.
      const kinds = new Set(b.args.map((item) => (item.op === "value" ? typeof item.args : item.op)));
      if (items.length === 0 || kinds.size !== 1) return undefined;
      const kind = items[0]?.kind;
      if (kind !== "string" && kind !== "number") return undefined;
      const values = items.map((item) => item?.value);
      if (left.kind === "column") {
        if (kind === "string" && left.type === "VARCHAR") {
          return `(${quoteIdent(left.name)} IN (${values.map((v) => this.param(v)).join(", ")}))`;
        }
        if (kind === "number" && left.type === "DOUBLE") {
          return `(${quoteIdent(left.name)} IN (${values.map((v) => `CAST(${this.param(v)} AS DOUBLE)`).join(", ")}))`;
        }
        return undefined;
      }
      if (left.kind === "details") {
        const path = this.param(left.path);
        const jsonType = `json_type("details", ${path})`;
        const test =
          kind === "string"
            ? `${jsonType} = 'VARCHAR' THEN json_extract_string("details", ${path}) IN (${values.map((v) => this.param(v)).join(", ")})`
            : `${jsonType} IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN CAST(json_extract("details", ${path}) AS DOUBLE) IN (${values.map((v) => `CAST(${this.param(v)} AS DOUBLE)`).join(", ")})`;
        const exact = `(CASE WHEN ${jsonType} IS NULL THEN NULL WHEN ${test} ELSE FALSE END)`;
        if (!positive || kind !== "string") return exact;
        return this.detailsText(
          values.map((v) => memberText(left.key, String(v))),
          exact,
        );
      }
      return undefined;
    }
    const right = operand(b);
    if (left.kind === "literal" && left.literal.kind === "string" && right?.kind === "column") {
      if (right.type !== "VARCHAR[]") return undefined;
      return `list_contains(${quoteIdent(right.name)}, ${this.param(left.literal.value)})`;
    }
    return undefined;
  }

  private stringCall(name: string, target: ASTNode, args: ASTNode[], positive: boolean): string | undefined {
    if (name !== "startsWith" && name !== "endsWith" && name !== "contains") return undefined;
    const subject = operand(target);
    const [arg] = args;
    const literal = args.length === 1 && arg !== undefined ? literalOf(arg) : undefined;
    if (subject === undefined || literal?.kind !== "string") return undefined;
    const escaped = literal.value.replace(/[\\%_]/g, (c) => `\\${c}`);
    const pattern =
      name === "startsWith" ? `${escaped}%` : name === "endsWith" ? `%${escaped}` : `%${escaped}%`;
    if (subject.kind === "column" && subject.type === "VARCHAR") {
      return `(${quoteIdent(subject.name)} LIKE ${this.param(pattern)} ESCAPE '\\')`;
    }
    if (subject.kind === "details") {
      const path = this.param(subject.path);
      const exact = `(CASE WHEN json_type("details", ${path}) = 'VARCHAR' THEN json_extract_string("details", ${path}) LIKE ${this.param(pattern)} ESCAPE '\\' ELSE NULL END)`;
      if (!positive || literal.value === "") return exact;
      // startsWith: the value's text begins `"key":"<prefix>`; endsWith: it ends `<suffix>"`.
      const inner = jsonInner(literal.value);
      const needle =
        inner === undefined
          ? undefined
          : name === "startsWith"
            ? `${JSON.stringify(subject.key)}:"${inner}`
            : name === "endsWith"
              ? `${inner}"`
              : inner;
      return this.detailsText([needle], exact);
    }
    return undefined;
  }
}

/** `JSON.stringify(s)` without its quotes, or undefined if `s` has a lone surrogate (see detailsText). */
function jsonInner(s: string): string | undefined {
  return s.isWellFormed() ? JSON.stringify(s).slice(1, -1) : undefined;
}

/** The text of member `key` holding string `value` in JSON.stringify's output: `"key":"value"`. */
function memberText(key: string, value: string): string | undefined {
  const inner = jsonInner(value);
  return inner === undefined ? undefined : `${JSON.stringify(key)}:"${inner}"`;
}

function quoteIdent(name: string): string {
  return `"${name}"`;
}

function operand(node: ASTNode): Operand | undefined {
  const literal = literalOf(node);
  if (literal !== undefined) return { kind: "literal", literal };
  const path: string[] = [];
  let current: ASTNode = node;
  while (current.op === ".") {
    path.unshift(current.args[1]);
    current = current.args[0];
  }
  if (current.op !== "id") return undefined;
  path.unshift(current.args);
  if (path[0] === "details") {
    const rest = path.slice(1);
    if (rest.length === 0 || !rest.every((segment) => SEGMENT.test(segment))) return undefined;
    return { kind: "details", path: `$.${rest.join(".")}`, key: rest[rest.length - 1] ?? "" };
  }
  const column = QUERY_COLUMNS[path.join(".")];
  if (column === undefined || column.type === "JSON") return undefined;
  return { kind: "column", name: column.name, type: column.type };
}

function literalOf(node: ASTNode): Literal | undefined {
  if (node.op === "value") {
    const value = node.args;
    if (typeof value === "string") return { kind: "string", value };
    if (typeof value === "boolean") return { kind: "bool", value };
    if (typeof value === "number" && Number.isFinite(value)) return { kind: "number", value };
    if (
      typeof value === "bigint" &&
      value <= BigInt(Number.MAX_SAFE_INTEGER) &&
      value >= -BigInt(Number.MAX_SAFE_INTEGER)
    ) {
      return { kind: "number", value: Number(value) };
    }
    return undefined;
  }
  if (node.op === "-_" && node.args.op === "value") {
    const inner = literalOf(node.args);
    return inner?.kind === "number" ? { kind: "number", value: -inner.value } : undefined;
  }
  if (node.op === "call" && node.args[0] === "timestamp" && node.args[1].length === 1) {
    const [arg] = node.args[1];
    if (arg?.op !== "value" || typeof arg.args !== "string") return undefined;
    try {
      // The same parser the in-process path uses, so both see the same instant.
      const instant: unknown = evaluate("timestamp(t)", { t: arg.args });
      if (instant instanceof Date && !Number.isNaN(instant.getTime())) {
        return { kind: "timestamp", value: instant.toISOString() };
      }
    } catch {
      return undefined;
    }
  }
  return undefined;
}
