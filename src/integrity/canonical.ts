/**
 * RFC 8785 JSON Canonicalization Scheme (JCS).
 *
 * Written in-house rather than taken from the `canonicalize` package because the sealer and verifier need the
 * stricter I-JSON input rules (no lone surrogates, no non-finite numbers, plain data only) enforced while
 * serializing, and this runs once per event on the hot path.
 *
 * Rules: object members sorted by the UTF-16 code units of their names; no whitespace; strings escaped as
 * ECMAScript JSON.stringify does (which is what RFC 8785 §3.2.2.2 prescribes); numbers in the ECMAScript
 * shortest round-trip form (§3.2.2.3), which is Number.prototype.toString.
 */
export function canonicalize(value: unknown): string {
  return write(value);
}

const LONE_SURROGATE = /\p{Surrogate}/u;

function str(s: string): string {
  if (LONE_SURROGATE.test(s)) throw new TypeError("string contains a lone surrogate (not I-JSON)");
  return JSON.stringify(s);
}

function write(value: unknown): string {
  switch (typeof value) {
    case "string":
      return str(value);
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`number ${value} cannot be represented in JSON`);
      // -0 serializes as 0, as JSON.stringify does.
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "object": {
      if (value === null) return "null";
      if (Array.isArray(value)) {
        let out = "[";
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ",";
          out += write(value[i]);
        }
        return `${out}]`;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new TypeError("only plain objects can be canonicalized");
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).sort();
      let out = "{";
      let first = true;
      for (const k of keys) {
        const v = obj[k];
        if (v === undefined) continue;
        if (!first) out += ",";
        first = false;
        out += `${str(k)}:${write(v)}`;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`${typeof value} cannot be represented in JSON`);
  }
}
