/**
 * Rewrites the word operators of spec/000's spelling (`and`, `or`, `not`) to CEL's (`&&`, `||`, `!`) outside
 * string literals, keeping a map from every position of the rewritten text back to the text as written, so
 * errors point at the user's column.
 *
 * String literals skipped: '…' and "…" (backslash escapes), '''…''' and """…""", and raw strings (r'…', with
 * no escapes). A word is only rewritten when it is a whole identifier (`android`, `order` are left alone) and
 * not a member name (`x.and`).
 */

export interface Rewritten {
  /** The text in CEL's spelling. */
  readonly text: string;
  /** `origin[i]` is the offset in the original text of rewritten offset `i`; `origin[text.length]` is the end. */
  readonly origin: readonly number[];
}

const WORDS: Readonly<Record<string, string>> = { and: "&&", or: "||", not: "!" };
const IDENT_START = /[A-Za-z_]/;
const IDENT_PART = /[A-Za-z0-9_]/;

export function rewriteWordOperators(input: string): Rewritten {
  let text = "";
  const origin: number[] = [];
  const copy = (from: number, to: number): void => {
    text += input.slice(from, to);
    for (let k = from; k < to; k++) origin.push(k);
  };
  let i = 0;
  let lastSignificant = "";
  while (i < input.length) {
    const ch = input.charAt(i);
    if (ch === "'" || ch === '"') {
      const raw = i > 0 && /[rR]/.test(input.charAt(i - 1)) && !IDENT_PART.test(input.charAt(i - 2) || " ");
      const end = stringEnd(input, i, raw);
      copy(i, end);
      i = end;
      lastSignificant = ch;
      continue;
    }
    if (IDENT_START.test(ch)) {
      let end = i + 1;
      while (end < input.length && IDENT_PART.test(input.charAt(end))) end++;
      const word = input.slice(i, end);
      const replacement = WORDS[word];
      if (replacement !== undefined && lastSignificant !== ".") {
        text += replacement;
        for (let k = 0; k < replacement.length; k++) origin.push(i);
      } else {
        copy(i, end);
      }
      i = end;
      lastSignificant = "a";
      continue;
    }
    copy(i, i + 1);
    if (!/\s/.test(ch)) lastSignificant = ch;
    i++;
  }
  origin.push(input.length);
  return { text, origin };
}

/** Offset just past the string literal opening at `start` (or the end of input if unterminated). */
function stringEnd(input: string, start: number, raw: boolean): number {
  const quote = input.charAt(start);
  const triple = input.startsWith(quote.repeat(3), start);
  const closing = triple ? quote.repeat(3) : quote;
  let i = start + closing.length;
  while (i < input.length) {
    if (!raw && input.charAt(i) === "\\") {
      i += 2;
      continue;
    }
    if (input.startsWith(closing, i)) return i + closing.length;
    if (!triple && (input.charAt(i) === "\n" || input.charAt(i) === "\r")) return i;
    i++;
  }
  return input.length;
}
