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
 *
 * Speed: the value is copied once into objects whose keys were inserted in sorted order (checking the I-JSON
 * rules on the way), and V8's native JSON.stringify, which keeps insertion order, writes it — about twice as fast
 * as concatenating the output in JavaScript. V8 always enumerates integer-like keys ("7", "42") first, in
 * numeric order, whatever the insertion order; a value holding such a key is written by the plain recursive
 * writer instead.
 */
export function canonicalize(value: unknown): string {
  const state = { indexKey: false };
  const sorted = sortedCopy(value, state);
  return state.indexKey ? write(value) : JSON.stringify(sorted);
}

/** Keys V8 treats as array indices (and so enumerates before all others). */
const INDEX_KEY = /^(?:0|[1-9]\d{0,9})$/;

function checkString(s: string): string {
  if (!s.isWellFormed()) throw new TypeError("string contains a lone surrogate (not I-JSON)");
  return s;
}

function checkPlain(value: object): void {
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null)
    throw new TypeError("only plain objects can be canonicalized");
}

function sortedCopy(value: unknown, state: { indexKey: boolean }): unknown {
  switch (typeof value) {
    case "string":
      return checkString(value);
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`number ${value} cannot be represented in JSON`);
      return value;
    case "boolean":
      return value;
    case "object": {
      if (value === null) return null;
      if (Array.isArray(value)) {
        const out = new Array(value.length);
        for (let i = 0; i < value.length; i++) out[i] = sortedCopy(value[i], state);
        return out;
      }
      checkPlain(value);
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).sort();
      // A plain object literal (V8's JSON.stringify is much faster on those than on null-prototype objects).
      const out: Record<string, unknown> = {};
      for (const k of keys) {
        const v = obj[k];
        if (v === undefined) continue;
        if (INDEX_KEY.test(checkString(k))) state.indexKey = true;
        if (k === "__proto__") {
          // Assignment would set the prototype; define it as the plain data member it is.
          Object.defineProperty(out, k, { value: sortedCopy(v, state), enumerable: true, writable: true });
        } else {
          out[k] = sortedCopy(v, state);
        }
      }
      return out;
    }
    default:
      throw new TypeError(`${typeof value} cannot be represented in JSON`);
  }
}

/** The plain recursive writer, for values whose keys V8 would reorder. Inputs were checked by sortedCopy. */
function write(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(write).join(",")}]`;
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of Object.keys(obj).sort()) {
    if (obj[k] !== undefined) parts.push(`${JSON.stringify(k)}:${write(obj[k])}`);
  }
  return `{${parts.join(",")}}`;
}
