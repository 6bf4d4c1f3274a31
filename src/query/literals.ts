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
 *   exact translation is refused (see translateRegex).
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
  const js = new RegexTranslator(pattern).run();
  try {
    new RegExp(js);
  } catch (error) {
    // JavaScript's message quotes the translated pattern: keep only what it says about it.
    const reason = (error as Error).message.replace(/^.*: /, "");
    throw new LiteralError(`regular expression '${pattern}': ${reason}`);
  }
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

class RegexTranslator {
  private readonly p: string;
  private i = 0;
  private out = "";
  private readonly frames: Frame[] = [];

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
    this.frames.push({ flags: { i: false, m: false, s: false }, startI: false, wraps: 0 });
    while (this.i < this.p.length) {
      const c = this.p.charAt(this.i);
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
        case ")":
          if (this.frames.length === 1) this.fail("unmatched )");
          this.i++;
          this.out += `${")".repeat(this.frame.wraps)})`;
          this.frames.pop();
          break;
        case "|": {
          this.i++;
          const frame = this.frame;
          this.out += `${")".repeat(frame.wraps)}|`;
          frame.wraps = 0;
          if (frame.flags.i !== frame.startI) this.openWrap();
          break;
        }
        case ".":
          this.i++;
          this.out += `(?:${ASTRAL}|[^${this.frame.flags.s ? "" : "\\n"}${SURROGATES}])`;
          break;
        case "^":
          this.i++;
          this.out += this.frame.flags.m ? "(?<![^\\n])" : "^";
          break;
        case "$":
          this.i++;
          this.out += this.frame.flags.m ? "(?![^\\n])" : "$";
          break;
        case "{":
          this.repeat();
          break;
        default:
          this.literal();
      }
    }
    if (this.frames.length > 1) this.fail("missing )");
    return this.out + ")".repeat(this.frame.wraps);
  }

  /** A literal character; a surrogate pair becomes one group so that a quantifier after it takes both. */
  private literal(): void {
    const code = this.p.codePointAt(this.i) ?? 0;
    const ch = String.fromCodePoint(code);
    this.i += ch.length;
    if (code >= 0xd800 && code <= 0xdfff) this.fail("a lone surrogate is not a character");
    this.out += code > 0xffff ? `(?:${ch})` : ch;
  }

  /** `{n}`, `{n,}`, `{n,m}` (checked against RE2's limit of 1000); any other `{` is a literal in both. */
  private repeat(): void {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(this.p.slice(this.i));
    if (m === null) {
      this.i++;
      this.out += "\\{";
      return;
    }
    if (Number(m[1]) > 1000 || Number(m[3] ?? 0) > 1000) this.fail(`repeat count ${m[0]} over 1000`);
    this.i += m[0].length;
    this.out += m[0];
  }

  private openWrap(): void {
    const frame = this.frame;
    this.out += frame.flags.i ? "(?i:" : "(?-i:";
    frame.wraps++;
  }

  /** Emits `opening` and enters its group, with `flags`. */
  private open(opening: string, flags: Flags): void {
    this.out += opening;
    this.frames.push({ flags: { ...flags }, startI: flags.i, wraps: 0 });
  }

  private group(): void {
    const rest = this.p.slice(this.i);
    const flags = /^\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([):])/.exec(rest);
    const named = /^\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest);
    const frame = this.frame;
    if (named !== null) {
      this.i += named[0].length;
      this.open(`(?<${named[1]}>`, frame.flags);
    } else if (rest.startsWith("(?=") || rest.startsWith("(?!") || /^\(\?<[=!]/.test(rest)) {
      this.fail("lookahead and lookbehind are not in RE2 (CEL's regular expressions)");
    } else if (flags !== null && flags[0] === "(?:") {
      this.i += 3;
      this.open("(?:", frame.flags);
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
        this.open(next.i === frame.flags.i ? "(?:" : next.i ? "(?i:" : "(?-i:", next);
      }
    } else if (rest.startsWith("(?")) {
      this.fail(`unknown group ${rest.slice(0, 3)}`);
    } else {
      this.i++;
      this.open("(", frame.flags);
    }
  }

  /** An escape outside a class. */
  private escape(): void {
    const c = this.p.charAt(this.i + 1);
    switch (c) {
      case "d":
      case "w":
      case "b":
      case "B":
        this.i += 2;
        this.out += `\\${c}`;
        return;
      case "s":
        this.i += 2;
        this.out += `[${SPACE}]`;
        return;
      case "D":
      case "W":
      case "S":
        this.i += 2;
        this.out += `(?:${ASTRAL}|[^${c === "D" ? DIGIT : c === "W" ? WORD : SPACE}${SURROGATES}])`;
        return;
      case "A":
        this.i += 2;
        this.out += "(?<![\\s\\S])";
        return;
      case "z":
        this.i += 2;
        this.out += "(?![\\s\\S])";
        return;
      case "Q": {
        const end = this.p.indexOf("\\E", this.i + 2);
        const text = this.p.slice(this.i + 2, end === -1 ? this.p.length : end);
        this.i = end === -1 ? this.p.length : end + 2;
        for (const ch of text) {
          if (ch.length > 1) this.out += `(?:${ch})`;
          else if (/[\uD800-\uDFFF]/.test(ch)) this.fail("a lone surrogate is not a character");
          else this.out += SYNTAX.test(ch) ? `\\${ch}` : ch;
        }
        return;
      }
      default: {
        const code = this.escapedCode();
        if (code > 0xffff) this.out += `(?:${String.fromCodePoint(code)})`;
        else this.out += `\\u${code.toString(16).padStart(4, "0")}`;
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
    this.i++;
    const negated = this.p.charAt(this.i) === "^";
    if (negated) this.i++;
    let body = "";
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
        } else {
          body += set;
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
          } else {
            body += complementOf(set);
            complement = true;
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
      } else {
        body += code(low);
      }
    }
    this.i++;
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
