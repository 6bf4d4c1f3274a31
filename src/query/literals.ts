/**
 * Compile-time checks of the literal arguments of `timestamp('…')`, `duration('…')` and `x.matches('…')`, so
 * that a bad literal is a QueryError with its column instead of an evaluation error on every event (which
 * would make the query silently match nothing). Each check returns the literal the evaluator (cel-js) is
 * given instead, spelled so that cel-js reads it as CEL (cel-go) does:
 *
 * - `timestamp`: RFC 3339 as Go's `time.Parse(time.RFC3339, …)` takes it (upper-case `T` and `Z`, seconds
 *   0–59, any number of fraction digits, years 0001–9999). cel-js instead takes whatever `new Date()` parses
 *   when it is 20 to 30 characters long (`2026-01-01T00:00:00.000` as local time, but not
 *   `2026-01-01T00:00:00.123456+02:00`), so it gets the instant as `toISOString()` (milliseconds: the
 *   precision of the events' own times, see fields.ts).
 * - `duration`: Go's `time.ParseDuration` syntax (`1h30m`, `-1.5s`, `300ms`, `0`), given to cel-js as
 *   nanoseconds (`5400000000000ns`), which it reads exactly.
 * - `matches`: CEL's regular expressions are RE2; cel-js runs `new RegExp(pattern)` (no flags). The pattern
 *   is translated to a JavaScript one that matches the same strings, construct by construct, and what has no
 *   exact translation is refused (see translateRegex). So is what JavaScript's backtracking engine could take
 *   exponential time over (RE2 takes linear time on everything): see checkBacktracking.
 */

/** A literal that CEL would refuse at evaluation; `message` says why. */
export class LiteralError extends Error {
  override readonly name = "LiteralError";
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:Z|([+-])(\d{2}):(\d{2}))$/;
/** CEL's timestamp range, 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z, in milliseconds. */
const MIN_MS = -62_135_596_800_000;
const MAX_MS = 253_402_300_799_999;

/** The instant of an RFC 3339 time as cel-js should read it (`toISOString()`), or a LiteralError. */
export function timestampLiteral(text: string): string {
  const m = RFC3339.exec(text);
  if (m === null) {
    throw new LiteralError(
      `timestamp '${text}' is not an RFC 3339 time such as 2026-01-31T12:00:00Z or 2026-01-31T12:00:00.5+01:00`,
    );
  }
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0] = m.slice(1, 7).map(Number);
  const [fraction = "", sign, offsetHours = "00", offsetMinutes = "00"] = m.slice(7);
  const daysInMonth = [31, leap(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
  const out = (what: string) => new LiteralError(`timestamp '${text}': ${what} out of range`);
  if (month < 1 || month > 12) throw out("month");
  if (day < 1 || day > daysInMonth) throw out("day");
  if (hour > 23) throw out("hour");
  if (minute > 59) throw out("minute");
  if (second > 59) throw out("second");
  if (Number(offsetHours) > 23 || Number(offsetMinutes) > 59) throw out("time zone offset");
  const instant = new Date(0);
  instant.setUTCFullYear(year, month - 1, day);
  instant.setUTCHours(hour, minute, second, Number(fraction.slice(0, 3).padEnd(3, "0")));
  const offset = (Number(offsetHours) * 60 + Number(offsetMinutes)) * 60_000;
  const ms = instant.getTime() - (sign === "-" ? -offset : offset);
  if (ms < MIN_MS || ms > MAX_MS) throw out("year");
  return new Date(ms).toISOString();
}

function leap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

const DURATION = /^[-+]?(?:0|(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$/;
const DURATION_PART = /(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/g;
const UNIT_NS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n,
  μs: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const MAX_NS = 2n ** 63n - 1n;

/** A Go duration (`1h30m`) as cel-js should read it (`5400000000000ns`), or a LiteralError. */
export function durationLiteral(text: string): string {
  if (!DURATION.test(text)) {
    throw new LiteralError(`duration '${text}' is not a duration such as 90s, 1.5h or 1h30m`);
  }
  let ns = 0n;
  for (const [, whole = "", fraction = "", unit = ""] of text.matchAll(DURATION_PART)) {
    const scale = UNIT_NS[unit] ?? 1n;
    // Go truncates below a nanosecond.
    const digits = fraction.slice(0, 18);
    ns += BigInt(whole || "0") * scale + (BigInt(digits || "0") * scale) / 10n ** BigInt(digits.length);
  }
  if (ns > MAX_NS) throw new LiteralError(`duration '${text}' out of range`);
  return ns === 0n ? "0s" : `${text.startsWith("-") ? "-" : ""}${ns}ns`;
}

/**
 * The JavaScript pattern (for `new RegExp(p)`, no flags) that matches exactly the strings RE2 pattern
 * `pattern` matches, or a LiteralError naming what cannot be translated.
 *
 * Translated: `.` (RE2: any character but `\n`; JavaScript's also stops at `\r`, U+2028, U+2029),
 * `\s` (RE2: `[\t\n\f\r ]`; JavaScript's also takes `\v` and Unicode spaces), `\S`, `\D`, `\W`, negated
 * classes and characters outside the BMP (JavaScript without the `u` flag sees UTF-16 halves, RE2 whole
 * characters), `\A`, `\z`, `\Q…\E`, `\x{…}`, `\a`, octal `\0…`, `[[:alpha:]]`-style classes, `(?P<name>`,
 * `]` first in a class, and the flags `i`, `m`, `s` as a group `(?i)…` or `(?i:…)` anywhere (RE2's `(?i)`
 * lasts to the end of its group; `m` and `s` are applied to `^`, `$`, `.` here; `i` becomes JavaScript's
 * `(?i:…)` modifier). Refused: `\pL`/`\p{…}` classes, `\C`, flag `U`, repeat counts over 1000 (RE2's limit),
 * characters outside the BMP inside `[…]`, and what RE2 does not have: lookaround, backreferences, `\u`,
 * `\c`, `\k`. Left as a known difference: case folding of a few non-ASCII letters under `i` (RE2 folds
 * `ſ` with `s` and the Kelvin sign with `k`, JavaScript does not).
 */
export function translateRegex(pattern: string): string {
  const translator = new RegexTranslator(pattern);
  const js = translator.run();
  try {
    new RegExp(js);
  } catch (error) {
    // JavaScript's message quotes the translated pattern: keep only what it says about it.
    const reason = (error as Error).message.replace(/^.*: /, "");
    throw new LiteralError(`regular expression '${pattern}': ${reason}`);
  }
  checkBacktracking(pattern, translator.root);
  return js;
}

interface Flags {
  i: boolean;
  m: boolean;
  s: boolean;
}

interface Frame {
  /** RE2 flags in force at this point of the group. */
  flags: Flags;
  /** Whether `i` was on where the group opened: JavaScript's state before any modifier group we add. */
  readonly startI: boolean;
  /** `(?i:` / `(?-i:` groups opened in this group by a `(?i)` / `(?-i)` and still open. */
  wraps: number;
  /** Where the group opens in the RE2 pattern (its `(`). */
  readonly start: number;
  /** The group's alternatives so far, as read (for checkBacktracking). */
  readonly alternatives: Alternative[];
}

/**
 * The characters (code points, as RE2 reads them) an atom can match, as sorted, disjoint, inclusive ranges.
 * Under `i` this is a superset (both RE2's and JavaScript's case folding): it is only used to tell that two
 * atoms can never match the same character.
 */
type CharSet = readonly (readonly [number, number])[];

/** Where a node is in the RE2 pattern: `pattern.slice(start, end)`. */
interface Span {
  readonly start: number;
  end: number;
}

/** The RE2 pattern as read, for checkBacktracking. */
type Node = CharNode | EmptyNode | GroupNode | RepeatNode;
/** One character: a literal, `.`, an escape such as `\d`, or a class. */
interface CharNode extends Span {
  readonly kind: "char";
  readonly set: CharSet;
}
/** What matches no character: `^`, `$`, `\b`, `\B`, `\A`, `\z`. */
interface EmptyNode extends Span {
  readonly kind: "empty";
}
interface Alternative extends Span {
  readonly nodes: Node[];
}
interface GroupNode extends Span {
  readonly kind: "group";
  readonly alternatives: readonly Alternative[];
}
/** `node*` (0, ∞), `node+`, `node?`, `node{n,m}`; lazy or not alike. */
interface RepeatNode extends Span {
  readonly kind: "repeat";
  readonly node: Node;
  readonly min: number;
  readonly max: number;
}

/** A whole character outside the BMP (a surrogate pair). */
const ASTRAL = "[\\uD800-\\uDBFF][\\uDC00-\\uDFFF]";
const SURROGATES = "\\uD800-\\uDFFF";
const SPACE = "\\t\\n\\f\\r ";
const DIGIT = "0-9";
const WORD = "0-9A-Za-z_";
/** RE2's POSIX classes, as class contents. */
const POSIX: Readonly<Record<string, string>> = {
  alnum: "0-9A-Za-z",
  alpha: "A-Za-z",
  ascii: "\\x00-\\x7F",
  blank: "\\t ",
  cntrl: "\\x00-\\x1F\\x7F",
  digit: "0-9",
  graph: "!-~",
  lower: "a-z",
  print: " -~",
  punct: "!-\\/:-@\\[-`{-~",
  space: "\\t\\n\\v\\f\\r ",
  upper: "A-Z",
  word: "0-9A-Za-z_",
  xdigit: "0-9A-Fa-f",
};
const SYNTAX = /[\\^$.|?*+()[\]{}/-]/;
const MAX_CODE = 0x10ffff;
/** How deep groups may nest. */
const MAX_NESTING = 1000;
const DIGIT_SET: CharSet = [[0x30, 0x39]];
const WORD_SET: CharSet = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
];
const SPACE_SET: CharSet = [
  [9, 10],
  [12, 13],
  [32, 32],
];

class RegexTranslator {
  private readonly p: string;
  private i = 0;
  private out = "";
  private readonly frames: Frame[] = [];
  /** Whether the last thing read was a repetition (so a `?` after it makes it lazy). */
  private repeated = false;
  /** The pattern as read, once run() has returned. */
  root: GroupNode = { kind: "group", alternatives: [], start: 0, end: 0 };

  constructor(pattern: string) {
    this.p = pattern;
  }

  private fail(what: string): never {
    throw new LiteralError(`regular expression '${this.p}': ${what}`);
  }

  private get frame(): Frame {
    return this.frames[this.frames.length - 1] as Frame;
  }

  run(): string {
    const top: Frame = {
      flags: { i: false, m: false, s: false },
      startI: false,
      wraps: 0,
      start: 0,
      alternatives: [{ nodes: [], start: 0, end: 0 }],
    };
    this.frames.push(top);
    while (this.i < this.p.length) {
      const c = this.p.charAt(this.i);
      const repeated = this.repeated;
      this.repeated = false;
      const start = this.i;
      switch (c) {
        case "\\":
          this.escape();
          break;
        case "[":
          this.out += this.charClass();
          break;
        case "(":
          this.group();
          break;
        case ")": {
          if (this.frames.length === 1) this.fail("unmatched )");
          this.i++;
          this.out += `${")".repeat(this.frame.wraps)})`;
          const frame = this.frames.pop() as Frame;
          (frame.alternatives.at(-1) as Alternative).end = start;
          this.add({ kind: "group", alternatives: frame.alternatives, start: frame.start, end: this.i });
          break;
        }
        case "|": {
          this.i++;
          const frame = this.frame;
          this.out += `${")".repeat(frame.wraps)}|`;
          frame.wraps = 0;
          if (frame.flags.i !== frame.startI) this.openWrap();
          (frame.alternatives.at(-1) as Alternative).end = start;
          frame.alternatives.push({ nodes: [], start: this.i, end: this.i });
          break;
        }
        case ".":
          this.i++;
          this.out += `(?:${ASTRAL}|[^${this.frame.flags.s ? "" : "\\n"}${SURROGATES}])`;
          this.atom(start, this.frame.flags.s ? [[0, MAX_CODE]] : invert([[10, 10]]));
          break;
        case "^":
          this.i++;
          this.out += this.frame.flags.m ? "(?<![^\\n])" : "^";
          this.add({ kind: "empty", start, end: this.i });
          break;
        case "$":
          this.i++;
          this.out += this.frame.flags.m ? "(?![^\\n])" : "$";
          this.add({ kind: "empty", start, end: this.i });
          break;
        case "{":
          this.repeat();
          break;
        case "*":
        case "+":
        case "?":
          this.i++;
          this.out += c;
          if (c === "?" && repeated) {
            // Lazy: the same repetition, tried in the other order.
            const last = this.frame.alternatives.at(-1)?.nodes.at(-1);
            if (last !== undefined) last.end = this.i;
          } else {
            this.repeatLast(c === "+" ? 1 : 0, c === "?" ? 1 : Number.POSITIVE_INFINITY);
          }
          break;
        default:
          this.literal();
      }
    }
    if (this.frames.length > 1) this.fail("missing )");
    (top.alternatives.at(-1) as Alternative).end = this.p.length;
    this.root = { kind: "group", alternatives: top.alternatives, start: 0, end: this.p.length };
    return this.out + ")".repeat(this.frame.wraps);
  }

  /** Adds `node` to the alternative being read. */
  private add(node: Node): void {
    (this.frame.alternatives.at(-1) as Alternative).nodes.push(node);
  }

  /** Adds a character read from `start` to here, matching `set` (folded when `i` is on). */
  private atom(start: number, set: CharSet): void {
    this.add({ kind: "char", set: this.frame.flags.i ? fold(set) : set, start, end: this.i });
  }

  /**
   * Makes the last node read a repetition (when there is none, JavaScript refuses the pattern: `*a`, `a|*`).
   * `a**` and `a{2}{3}` too are refused by JavaScript, as by RE2.
   */
  private repeatLast(min: number, max: number): void {
    const nodes = (this.frame.alternatives.at(-1) as Alternative).nodes;
    const node = nodes.pop();
    if (node === undefined) return;
    nodes.push({ kind: "repeat", node, min, max, start: node.start, end: this.i });
    this.repeated = true;
  }

  /** A literal character; a surrogate pair becomes one group so that a quantifier after it takes both. */
  private literal(): void {
    const start = this.i;
    const code = this.p.codePointAt(this.i) ?? 0;
    const ch = String.fromCodePoint(code);
    this.i += ch.length;
    if (code >= 0xd800 && code <= 0xdfff) this.fail("a lone surrogate is not a character");
    this.out += code > 0xffff ? `(?:${ch})` : ch;
    this.atom(start, [[code, code]]);
  }

  /** `{n}`, `{n,}`, `{n,m}` (checked against RE2's limit of 1000); any other `{` is a literal in both. */
  private repeat(): void {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(this.p.slice(this.i));
    if (m === null) {
      this.i++;
      this.out += "\\{";
      this.atom(this.i - 1, [[0x7b, 0x7b]]);
      return;
    }
    if (Number(m[1]) > 1000 || Number(m[3] ?? 0) > 1000) this.fail(`repeat count ${m[0]} over 1000`);
    this.i += m[0].length;
    this.out += m[0];
    const min = Number(m[1]);
    this.repeatLast(min, m[2] === undefined ? min : m[3] === "" ? Number.POSITIVE_INFINITY : Number(m[3]));
  }

  private openWrap(): void {
    const frame = this.frame;
    this.out += frame.flags.i ? "(?i:" : "(?-i:";
    frame.wraps++;
  }

  /** Emits `opening` and enters its group (its `(` at `start`), with `flags`. */
  private open(opening: string, flags: Flags, start: number): void {
    // RE2's (Go's) limit, which also bounds the recursion of checkBacktracking.
    if (this.frames.length > MAX_NESTING) this.fail("expression nests too deeply");
    this.out += opening;
    this.frames.push({
      flags: { ...flags },
      startI: flags.i,
      wraps: 0,
      start,
      alternatives: [{ nodes: [], start: this.i, end: this.i }],
    });
  }

  private group(): void {
    const start = this.i;
    const rest = this.p.slice(this.i);
    const flags = /^\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([):])/.exec(rest);
    const named = /^\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest);
    const frame = this.frame;
    if (named !== null) {
      this.i += named[0].length;
      this.open(`(?<${named[1]}>`, frame.flags, start);
    } else if (rest.startsWith("(?=") || rest.startsWith("(?!") || /^\(\?<[=!]/.test(rest)) {
      this.fail("lookahead and lookbehind are not in RE2 (CEL's regular expressions)");
    } else if (flags !== null && flags[0] === "(?:") {
      this.i += 3;
      this.open("(?:", frame.flags, start);
    } else if (flags !== null) {
      const [all, on = "", off, end] = flags;
      if ((on === "" && !off) || off === "") this.fail(`missing flags in ${all}`);
      if (all.includes("U")) this.fail("flag U (ungreedy) has no JavaScript equivalent");
      const bad = /[^ims]/.exec(on + (off ?? ""));
      if (bad !== null) this.fail(`unknown flag ${bad[0]}`);
      this.i += all.length;
      const next: Flags = { ...frame.flags };
      for (const f of on) next[f as keyof Flags] = true;
      for (const f of off ?? "") next[f as keyof Flags] = false;
      if (end === ")") {
        // RE2: the flags hold to the end of the enclosing group (across `|`).
        const wasI = frame.flags.i;
        frame.flags = next;
        if (next.i !== wasI) this.openWrap();
      } else {
        this.open(next.i === frame.flags.i ? "(?:" : next.i ? "(?i:" : "(?-i:", next, start);
      }
    } else if (rest.startsWith("(?")) {
      this.fail(`unknown group ${rest.slice(0, 3)}`);
    } else {
      this.i++;
      this.open("(", frame.flags, start);
    }
  }

  /** An escape outside a class. */
  private escape(): void {
    const start = this.i;
    const c = this.p.charAt(this.i + 1);
    const sets: Readonly<Record<string, CharSet>> = { d: DIGIT_SET, w: WORD_SET, s: SPACE_SET };
    switch (c) {
      case "d":
      case "w":
        this.i += 2;
        this.out += `\\${c}`;
        this.atom(start, sets[c] as CharSet);
        return;
      case "b":
      case "B":
        this.i += 2;
        this.out += `\\${c}`;
        this.add({ kind: "empty", start, end: this.i });
        return;
      case "s":
        this.i += 2;
        this.out += `[${SPACE}]`;
        this.atom(start, SPACE_SET);
        return;
      case "D":
      case "W":
      case "S":
        this.i += 2;
        this.out += `(?:${ASTRAL}|[^${c === "D" ? DIGIT : c === "W" ? WORD : SPACE}${SURROGATES}])`;
        this.atom(start, invert(sets[c.toLowerCase()] as CharSet));
        return;
      case "A":
        this.i += 2;
        this.out += "(?<![\\s\\S])";
        this.add({ kind: "empty", start, end: this.i });
        return;
      case "z":
        this.i += 2;
        this.out += "(?![\\s\\S])";
        this.add({ kind: "empty", start, end: this.i });
        return;
      case "Q": {
        const end = this.p.indexOf("\\E", this.i + 2);
        const text = this.p.slice(this.i + 2, end === -1 ? this.p.length : end);
        this.i = end === -1 ? this.p.length : end + 2;
        let at = start + 2;
        for (const ch of text) {
          if (ch.length > 1) this.out += `(?:${ch})`;
          else if (/[\uD800-\uDFFF]/.test(ch)) this.fail("a lone surrogate is not a character");
          else this.out += SYNTAX.test(ch) ? `\\${ch}` : ch;
          const code = ch.codePointAt(0) ?? 0;
          // A repetition after \E takes the last character: its span runs to here.
          this.add({
            kind: "char",
            set: this.frame.flags.i ? fold([[code, code]]) : [[code, code]],
            start: at,
            end: this.i,
          });
          at += ch.length;
        }
        return;
      }
      default: {
        const code = this.escapedCode();
        if (code > 0xffff) this.out += `(?:${String.fromCodePoint(code)})`;
        else this.out += `\\u${code.toString(16).padStart(4, "0")}`;
        this.atom(start, [[code, code]]);
      }
    }
  }

  /**
   * The character of a single-character escape at `this.i` (`\n`, `\x41`, `\x{1F600}`, `\0`, `\.`), as in
   * RE2; consumes it.
   */
  private escapedCode(): number {
    const c = this.p.charAt(this.i + 1);
    const simple: Readonly<Record<string, number>> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11 };
    if (c === "") this.fail("trailing \\");
    if (simple[c] !== undefined) {
      this.i += 2;
      return simple[c];
    }
    if (c === "x") {
      const m = /^\\x(?:\{([0-9A-Fa-f]{1,6})\}|([0-9A-Fa-f]{2}))/.exec(this.p.slice(this.i));
      const code = m === null ? Number.NaN : Number.parseInt(m[1] ?? m[2] ?? "", 16);
      if (m === null || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
        this.fail(`invalid escape ${this.p.slice(this.i, this.i + 4)}`);
      }
      this.i += m[0].length;
      return code;
    }
    if (c === "0") {
      const m = /^\\0[0-7]{0,2}/.exec(this.p.slice(this.i)) as RegExpExecArray;
      this.i += m[0].length;
      return Number.parseInt(m[0].slice(1), 8);
    }
    if (/[1-9]/.test(c)) this.fail(`\\${c}: backreferences are not in RE2 (CEL's regular expressions)`);
    if (c === "p" || c === "P") this.fail(`\\${c}: Unicode classes are not supported`);
    if (/[A-Za-z]/.test(c) || c.charCodeAt(0) > 0x7f) this.fail(`invalid escape \\${c}`);
    this.i += 2;
    return c.charCodeAt(0);
  }

  /** A class `[…]`, as a JavaScript class, wrapped in a group with ASTRAL when it matches such characters. */
  private charClass(): string {
    const start = this.i;
    this.i++;
    const negated = this.p.charAt(this.i) === "^";
    if (negated) this.i++;
    let body = "";
    // The same characters as code point ranges (for checkBacktracking).
    const ranges: (readonly [number, number])[] = [];
    // Whether the class holds \D, \W, \S or a negated POSIX class: every character outside the BMP.
    let complement = false;
    let first = true;
    for (;;) {
      if (this.i >= this.p.length) this.fail("missing ]");
      const c = this.p.charAt(this.i);
      if (c === "]" && !first) break;
      first = false;
      const posix = /^\[:(\^?)([a-z]+):\]/.exec(this.p.slice(this.i));
      if (posix !== null) {
        const set = POSIX[posix[2] ?? ""];
        if (set === undefined) this.fail(`unknown class ${posix[0]}`);
        this.i += posix[0].length;
        if (posix[1] === "^") {
          body += complementOf(set);
          complement = true;
          ranges.push(...invert(asciiSet(set)));
        } else {
          body += set;
          ranges.push(...asciiSet(set));
        }
        continue;
      }
      if (c === "\\") {
        const e = this.p.charAt(this.i + 1);
        const sets: Readonly<Record<string, string>> = { d: DIGIT, w: WORD, s: SPACE };
        const set = sets[e.toLowerCase()];
        if (set !== undefined) {
          this.i += 2;
          if (e === e.toLowerCase()) {
            body += set;
            ranges.push(...asciiSet(set));
          } else {
            body += complementOf(set);
            complement = true;
            ranges.push(...invert(asciiSet(set)));
          }
          continue;
        }
        if (e === "b" || e === "B" || e === "A" || e === "z" || e === "Q") {
          this.fail(`\\${e} inside a class`);
        }
      }
      const low = this.classChar();
      if (this.p.charAt(this.i) === "-" && this.p.charAt(this.i + 1) !== "]" && this.i + 1 < this.p.length) {
        this.i++;
        const high = this.classChar();
        if (high < low) this.fail("a range out of order in a class");
        if (low <= 0xdfff && high >= 0xd800) this.fail("a range over UTF-16 surrogates in a class");
        body += `${code(low)}-${code(high)}`;
        ranges.push([low, high]);
      } else {
        body += code(low);
        ranges.push([low, low]);
      }
    }
    this.i++;
    // Under `i`, a negated class is taken unfolded: a superset of what it matches.
    const set = normalize(ranges);
    if (negated) this.add({ kind: "char", set: invert(set), start, end: this.i });
    else this.atom(start, set);
    const js = negated ? `[^${body}${SURROGATES}]` : `[${body}]`;
    if (body === "" && !negated) return js;
    return negated !== complement ? `(?:${ASTRAL}|${js})` : js;
  }

  /** One character of a class (literal or escape); refuses what is not a single BMP character. */
  private classChar(): number {
    if (this.p.charAt(this.i) === "\\") {
      const e = this.p.charAt(this.i + 1);
      if (/[dswDSW]/.test(e)) this.fail(`\\${e} as the end of a range in a class`);
      const c = this.escapedCode();
      if (c > 0xffff) this.fail("a character outside the BMP in a class");
      return c;
    }
    const c = this.p.charCodeAt(this.i);
    if (c >= 0xd800 && c <= 0xdfff) this.fail("a character outside the BMP in a class");
    this.i++;
    return c;
  }
}

/** A class character as a JavaScript escape (so `]`, `\`, `^`, `-` are never read as syntax). */
function code(c: number): string {
  return `\\u${c.toString(16).padStart(4, "0")}`;
}

/** The BMP characters (without surrogates) not in `set`, a class body of ASCII ranges and escapes. */
function complementOf(set: string): string {
  const members = new Set<number>();
  const re = new RegExp(`[${set}]`);
  for (let c = 0; c < 0x80; c++) if (re.test(String.fromCharCode(c))) members.add(c);
  let out = "";
  let start = -1;
  for (let c = 0; c <= 0x80; c++) {
    const inside = c < 0x80 && !members.has(c);
    if (inside && start < 0) start = c;
    if (!inside && start >= 0) {
      out += start === c - 1 ? code(start) : `${code(start)}-${code(c - 1)}`;
      start = -1;
    }
  }
  return `${out}\\u0080-\\uD7FF\\uE000-\\uFFFF`;
}

/** `ranges` sorted, with overlapping and adjacent ranges merged. */
function normalize(ranges: readonly (readonly [number, number])[]): CharSet {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [low, high] of sorted) {
    const last = out.at(-1);
    if (last !== undefined && low <= last[1] + 1) last[1] = Math.max(last[1], high);
    else out.push([low, high]);
  }
  return out;
}

/** The code points not in `set`. */
function invert(set: CharSet): CharSet {
  const out: [number, number][] = [];
  let next = 0;
  for (const [low, high] of set) {
    if (low > next) out.push([next, low - 1]);
    next = high + 1;
  }
  if (next <= MAX_CODE) out.push([next, MAX_CODE]);
  return out;
}

/** The ASCII characters of a class body of ASCII ranges and escapes (POSIX, `\d`, `\w`, `\s`), as ranges. */
function asciiSet(body: string): CharSet {
  const re = new RegExp(`[${body}]`);
  const out: [number, number][] = [];
  for (let c = 0; c < 0x80; c++) if (re.test(String.fromCharCode(c))) out.push([c, c]);
  return normalize(out);
}

function contains(set: CharSet, c: number): boolean {
  let low = 0;
  let high = set.length - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    const [a, b] = set[mid] as readonly [number, number];
    if (c < a) high = mid - 1;
    else if (c > b) low = mid + 1;
    else return true;
  }
  return false;
}

/** The first code point in both `a` and `b`, or undefined. */
function common(a: CharSet, b: CharSet): number | undefined {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const [aLow, aHigh] = a[i] as readonly [number, number];
    const [bLow, bHigh] = b[j] as readonly [number, number];
    if (aHigh < bLow) i++;
    else if (bHigh < aLow) j++;
    else return Math.max(aLow, bLow);
  }
  return undefined;
}

/** Sets of characters that are one another's case under RE2's or JavaScript's `i`; computed when first needed. */
let caseOrbits: readonly (readonly number[])[] | undefined;

function orbits(): readonly (readonly number[])[] {
  if (caseOrbits !== undefined) return caseOrbits;
  const parent = new Map<number, number>();
  const find = (c: number): number => {
    let root = c;
    while (parent.has(root) && parent.get(root) !== root) root = parent.get(root) as number;
    return root;
  };
  // The BMP, and the blocks outside it that have case (Deseret to Adlam).
  const blocks = [
    [0, 0xd7ff],
    [0xe000, 0xffff],
    [0x10400, 0x104ff],
    [0x10570, 0x105bf],
    [0x10c80, 0x10cff],
    [0x118a0, 0x118df],
    [0x16e40, 0x16e9f],
    [0x1e900, 0x1e95f],
  ] as const;
  for (const [low, high] of blocks) {
    for (let c = low; c <= high; c++) {
      const ch = String.fromCodePoint(c);
      for (const other of [ch.toLowerCase(), ch.toUpperCase()]) {
        const d = other.codePointAt(0) ?? c;
        if (d === c || String.fromCodePoint(d) !== other) continue;
        const [x, y] = [find(c), find(d)];
        if (x !== y) parent.set(x, y);
        parent.set(c, find(y));
      }
    }
  }
  const groups = new Map<number, number[]>();
  for (const c of parent.keys()) {
    const root = find(c);
    const group = groups.get(root) ?? [root];
    if (c !== root) group.push(c);
    groups.set(root, group);
  }
  caseOrbits = [...groups.values()].filter((g) => g.length > 1);
  return caseOrbits;
}

/** `set` with the other case of each of its characters (a superset of RE2's and JavaScript's `i`). */
function fold(set: CharSet): CharSet {
  const extra: [number, number][] = [];
  for (const orbit of orbits()) {
    if (orbit.some((c) => contains(set, c))) for (const c of orbit) extra.push([c, c]);
  }
  return extra.length === 0 ? set : normalize([...set, ...extra]);
}

/**
 * How many ways alternatives and optional parts outside any repetition may combine to match the same text
 * (each place where k of them can start with the same character counts k) before a pattern is refused:
 * `a?a?a?a?a?a?a?a?a?a?aaaaaaaaaa` takes 2^10 tries on a failing 20-character text, each further `a?a` doubles.
 */
const MAX_WAYS = 1000;

/**
 * Refuses an RE2 pattern whose JavaScript translation can take exponential time to fail to match (RE2 takes
 * linear time on everything; JavaScript backtracks: it tries each way to match, one after another). That is
 * what repeats something that can match the same text in more than one way; refused, conservatively:
 *
 * - nested repetition: a group repeated more than once (`*`, `+`, `{n,}`, `{n}` or `{n,m}` with n or m > 1)
 *   holding an unbounded repetition, `(a+)+`, `(a*)*`, `(?:a|b+)*`, `((ab)*c)*`, `(\w+\.)+`, `(a+){2}`;
 * - a repeated group that can match empty text, `(a?)*`, `(a|b?)+`;
 * - within a repeated group, alternatives that can start with the same character, `(a|a)*`, `(a|ab)*`,
 *   `(\w|\d)+` (`(?:a|b)+`, `(?:\d|[a-f])+`, `(?:ab|cd)*` are fine);
 * - within a repeated group, an optional or repeated part whose characters can also start what comes next
 *   (the next repetition, looping around), `(a?a)+`, `(a{1,2})+`, `(?:ab?b)*` (`(ab?)+`, `(\d{1,3}\.){3}`
 *   are fine);
 * - outside repetitions, more than MAX_WAYS combinations of such choices, `a?a?a?…aaa…`.
 *
 * This looks one character ahead (`(?:ab|ac)+` is refused though it cannot backtrack far). Characters are
 * compared as sets (a class, `.`, `\d`; both cases under `i`); `^`, `$`, `\b` are taken as matching anywhere;
 * inside a repeated group, what follows each repetition of `x{n}` is taken as what may follow any of them. What
 * a repetition is followed by (outside it) is left out: that makes the time grow with a power of the text's
 * length at most (`\d+\d+x`, `.*a.*b`), not exponentially.
 */
function checkBacktracking(pattern: string, root: GroupNode): void {
  new Backtracking(pattern).check(root);
}

/** What can match next: the characters that can come first, and whether nothing at all can. */
interface Starts {
  readonly first: readonly CharNode[];
  readonly nullable: boolean;
}

class Backtracking {
  private readonly p: string;
  private readonly starts = new Map<Node, Starts>();
  private ways = 1;

  constructor(pattern: string) {
    this.p = pattern;
  }

  check(root: GroupNode): void {
    this.nested(root, undefined);
    this.next(root, [], undefined);
  }

  private fail(what: string): never {
    throw new LiteralError(`regular expression '${this.p}': ${what}`);
  }

  private text(span: Span): string {
    return this.p.slice(span.start, span.end);
  }

  /** Refuses an unbounded repetition inside `outer`, the outermost group repeated more than once around it. */
  private nested(node: Node, outer: RepeatNode | undefined): void {
    if (node.kind === "group") {
      for (const alternative of node.alternatives) for (const n of alternative.nodes) this.nested(n, outer);
    } else if (node.kind === "repeat") {
      if (outer !== undefined && node.max === Number.POSITIVE_INFINITY) {
        this.fail(
          `nested repetition ${this.text(outer)} can take exponential time: ${this.text(node)} repeats inside ` +
            `a repeated group; repeat one level only, e.g. [\\w.]+ rather than (\\w+\\.)+`,
        );
      }
      this.nested(node.node, outer ?? (node.max > 1 ? node : undefined));
    }
  }

  /** Where `node` can start, and whether it can match empty text (memoized: no checks). */
  private startsOf(node: Node): Starts {
    const known = this.starts.get(node);
    if (known !== undefined) return known;
    let starts: Starts;
    if (node.kind === "char") starts = { first: [node], nullable: false };
    else if (node.kind === "empty") starts = { first: [], nullable: true };
    else if (node.kind === "repeat") {
      const inner = this.startsOf(node.node);
      starts =
        node.max === 0
          ? { first: [], nullable: true }
          : { ...inner, nullable: inner.nullable || node.min === 0 };
    } else {
      const first = new Set<CharNode>();
      let nullable = false;
      for (const alternative of node.alternatives) {
        let all = true;
        for (const n of alternative.nodes) {
          const s = this.startsOf(n);
          for (const c of s.first) first.add(c);
          if (!s.nullable) {
            all = false;
            break;
          }
        }
        nullable ||= all;
      }
      starts = { first: [...first], nullable };
    }
    this.starts.set(node, starts);
    return starts;
  }

  /**
   * The characters that can come first from `node` on, given `after`, those that can follow it; checks each
   * choice inside it. `loop` is the outermost group repeated more than once around `node`, if any: inside one,
   * any choice that is not decided by the next character is refused; outside, such choices are counted.
   */
  private next(node: Node, after: readonly CharNode[], loop: RepeatNode | undefined): readonly CharNode[] {
    switch (node.kind) {
      case "char":
        return [node];
      case "empty":
        return after;
      case "group": {
        const parts = node.alternatives.map((a) => this.sequence(a.nodes, after, loop));
        if (parts.length === 1) return parts[0] as readonly CharNode[];
        return this.choose(parts, loop, (i, j, c) => {
          const name = (k: number) => {
            const alternative = node.alternatives[k] as Alternative;
            return alternative.start === alternative.end ? "an empty alternative" : this.text(alternative);
          };
          return (
            `repeated alternation ${this.text(loop as RepeatNode)} can take exponential time: ${name(i)} and ` +
            `${name(j)} can both start with ${c}; make the alternatives start with different characters`
          );
        });
      }
      case "repeat": {
        if (node.max === 0) return after;
        if (node.max === 1) {
          const inner = this.next(node.node, after, loop);
          return node.min === 1 ? inner : this.choose([inner, after], loop, this.skippable(node, loop));
        }
        const outer = loop ?? node;
        const { first, nullable } = this.startsOf(node.node);
        if (nullable && first.length > 0) {
          this.fail(
            `repetition ${this.text(outer)} can take exponential time: ${this.text(node.node)} can match ` +
              "empty text; make what repeats match at least one character",
          );
        }
        // Outside any repetition, what follows this one is left out (see checkBacktracking).
        const exit = loop === undefined ? [] : after;
        this.next(node.node, union([first, exit]), outer);
        if (loop !== undefined && node.min < node.max)
          this.choose([first, exit], loop, this.skippable(node, loop));
        return node.min === 0 || nullable ? union([first, after]) : first;
      }
    }
  }

  private sequence(nodes: readonly Node[], after: readonly CharNode[], loop: RepeatNode | undefined) {
    let next = after;
    for (let k = nodes.length - 1; k >= 0; k--) next = this.next(nodes[k] as Node, next, loop);
    return next;
  }

  /** The refusal of `node`, optional or repeated, whose characters can also start what follows it. */
  private skippable(node: RepeatNode, loop: RepeatNode | undefined) {
    return (_i: number, _j: number, c: string) =>
      `repetition ${this.text(loop as RepeatNode)} can take exponential time: ${this.text(node)} and what ` +
      `follows it can both start with ${c}; make them start with different characters`;
  }

  /**
   * The characters that can come first from any of `parts`, each the ones of one way to go on. Inside a
   * repeated group, two ways that can start with the same character are refused, with `refusal` (the two
   * parts, the character); outside, they are counted.
   */
  private choose(
    parts: readonly (readonly CharNode[])[],
    loop: RepeatNode | undefined,
    refusal: (i: number, j: number, c: string) => string,
  ): readonly CharNode[] {
    const sets = parts.map((part) => normalize(part.flatMap((n) => n.set)));
    const overlapping = new Set<number>();
    for (let i = 0; i < sets.length; i++) {
      for (let j = i + 1; j < sets.length; j++) {
        const c = common(sets[i] as CharSet, sets[j] as CharSet);
        if (c === undefined) continue;
        if (loop !== undefined) this.fail(refusal(i, j, JSON.stringify(String.fromCodePoint(c))));
        overlapping.add(i).add(j);
      }
    }
    if (overlapping.size > 0) {
      this.ways *= overlapping.size;
      if (this.ways > MAX_WAYS) {
        this.fail(
          `alternatives and optional parts that can match the same text combine in more than ${MAX_WAYS} ways, ` +
            "which can take exponential time; make alternatives start with different characters",
        );
      }
    }
    return union(parts);
  }
}

/** The characters of all of `lists`, each once. */
function union(lists: readonly (readonly CharNode[])[]): readonly CharNode[] {
  if (lists.length === 1) return lists[0] as readonly CharNode[];
  return [...new Set(lists.flat())];
}
