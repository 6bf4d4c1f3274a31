/**
 * Duplicate member names: the one I-JSON (RFC 7493) rule JSON.parse does not enforce. JSON.parse keeps the last
 * of duplicate names, while other readers keep the first or refuse the text, so a record with `{"a":1,"a":2}`
 * means different things to different tools. RFC 8785 canonicalizes I-JSON only; the verifier refuses such
 * records instead of letting the last occurrence decide what was sealed.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/**
 * Whether some object in `text` has two members with the same name, names compared after unescaping (`"a"` and
 * `"\u0061"` are one name); each object, however nested, has its own set of names. `text` must already be known
 * to be JSON (it is not validated here). Bytes are decoded as UTF-8 the way `Buffer#toString` does before
 * JSON.parse, so both see the same names.
 */
export function hasDuplicateMemberNames(text: string | Uint8Array): boolean {
  const s =
    typeof text === "string"
      ? text
      : Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString("utf8");
  // One entry per open container: the names seen so far in an object, null for an array.
  const open: (Set<string> | null)[] = [];
  const n = s.length;
  let i = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === QUOTE) {
      const start = i + 1;
      let end = start;
      let escaped = false;
      for (let d = s.charCodeAt(end); end < n && d !== QUOTE; d = s.charCodeAt(end)) {
        if (d === BACKSLASH) {
          escaped = true;
          end += 2;
        } else {
          end++;
        }
      }
      i = end + 1;
      while (i < n && isWhitespace(s.charCodeAt(i))) i++;
      // In JSON text a string followed by a colon is a member name, and never otherwise.
      if (s.charCodeAt(i) !== COLON) continue;
      const names = open.at(-1);
      const name = escaped ? (JSON.parse(s.slice(start - 1, end + 1)) as string) : s.slice(start, end);
      if (names?.has(name)) return true;
      names?.add(name);
    } else {
      if (c === OPEN_BRACE) open.push(new Set());
      else if (c === OPEN_BRACKET) open.push(null);
      else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) open.pop();
      i++;
    }
  }
  return false;
}
