import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileQuery, QueryError } from "./cel.ts";
import { QUERY_COLUMNS } from "./fields.ts";
import { durationLiteral, LiteralError, timestampLiteral, translateRegex } from "./literals.ts";

type Ev = Record<string, unknown> & { event_id: string };

const base = { version: "1.0", received_at: "2026-11-01T10:00:00.123Z", origin: { source: "http" } };
const EVENTS: Ev[] = [
  {
    ...base,
    event_id: "e1",
    event_type: "backup.failed",
    timestamp: "2026-11-01T09:00:00Z",
    actor: { type: "service", id: "system:serviceaccount:ops:backup", roles: ["admin", "ops"] },
    context: { environment: "production", cluster_id: "c1" },
    action: { operation: "create", result: "failure", duration_ms: 1500 },
    details: { code: 500, reason: "disk full", retry: true, nested: { level: "x_%" } },
  },
  {
    ...base,
    event_id: "e2",
    event_type: "access.denied",
    timestamp: "2026-10-31T23:59:59.999Z",
    actor: { type: "user", id: "bob@company.com", ip_address: "203.0.113.7", roles: [] },
    resource: { type: "secrets", id: "db-password", path: "/api/v1/namespaces/production/secrets/db" },
    action: { operation: "get", result: "denied" },
    context: { environment: "staging" },
    details: { code: "403", operation: "read", resource: "secrets", nested: null },
  },
  {
    ...base,
    event_id: "e3",
    event_type: "restore.completed",
    timestamp: "2026-11-02T00:00:00Z",
    resource: { type: "pods/exec", id: "web-1" },
    action: { operation: "create", duration_ms: 20 },
    details: {
      code: 200.5,
      kubernetes: { verb: "create", objectRef: { resource: "pods", subresource: "exec" } },
    },
  },
  {
    ...base,
    event_id: "e4",
    event_type: "rbac.role_changed",
    timestamp: "2026-11-01T00:00:00Z",
    actor: { id: "alice", ip_address: "10.0.0.5", roles: ["admin"] },
    resource: {
      type: "clusterrolebindings",
      path: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/x",
    },
    action: { operation: "delete", result: "success" },
    details: { kubernetes: { objectRef: { apiGroup: "rbac.authorization.k8s.io" } } },
  },
  { ...base, event_id: "e5", event_type: "auth.login", timestamp: "2026-11-01T00:00:00.0005Z" },
  {
    ...base,
    event_id: "e6",
    event_type: "note.added",
    timestamp: "2026-11-03T00:00:00Z",
    // Strings that JSON escapes or LIKE treats specially, a key reused at two depths, numbers, objects.
    details: {
      text: 'say "hi" \\ back\n100%_done café 😀',
      empty: "",
      num: 42,
      code: "x",
      obj: { text: "inner", code: "500" },
      nested: { level: "say" },
    },
  },
];

/** Expressions: spec/000 and spec/002 jq questions in CEL form, plus edge cases. */
const EXPRESSIONS = [
  // spec/000 "Searching and Analysis"
  `event_type == 'backup.failed'`,
  `event_type == 'access.denied' and actor.id == 'bob@company.com'`,
  `timestamp >= timestamp('2026-11-01T00:00:00Z') and timestamp < timestamp('2026-11-02T00:00:00Z') and event_type.startsWith('backup')`,
  `timestamp >= timestamp('2026-11-01T00:00:00Z') and timestamp < timestamp('2026-11-03T00:00:00Z') and event_type.startsWith('restore')`,
  `timestamp >= timestamp('2026-10-01T00:00:00Z') and event_type == 'access.denied'`,
  `event_type == 'backup.failed' and context.environment == 'production'`,
  // spec/002 "Analyzing Audit Logs", over the native mapping of Kubernetes events
  `resource.type == 'secrets'`,
  `resource.type == 'pods/exec' or resource.type == 'pods/attach'`,
  `details.kubernetes.objectRef.apiGroup == 'rbac.authorization.k8s.io' and action.operation in ['create', 'update', 'delete']`,
  `not (actor.ip_address.startsWith('10.') or actor.ip_address.startsWith('192.168.'))`,
  `resource.type == 'secrets' or resource.type == 'serviceaccounts' or details.kubernetes.objectRef.apiGroup == 'rbac.authorization.k8s.io'`,
  `action.operation == 'create' or action.operation == 'update' or action.operation == 'delete' or action.operation == 'patch'`,
  `resource.path.contains('/namespaces/production/')`,
  `actor.id.startsWith('system:serviceaccount:')`,
  `actor.id == 'suspicious-user@example.com'`,
  // edge cases: missing fields, negation, types, details, lists
  `actor.id != 'bob@company.com'`,
  `!(actor.id == 'bob@company.com')`,
  `actor.id == 'alice' || event_type == 'auth.login'`,
  `'admin' in actor.roles`,
  `!('admin' in actor.roles)`,
  `action.duration_ms > 100`,
  `action.duration_ms <= 20.0`,
  `details.code == 500`,
  `details.code >= 200`,
  `details.code != 500`,
  `details.code == '403'`,
  `details.code != '403'`,
  `details.code < 300`,
  `details.code in [200.5, 500.0]`,
  `details.code in [500, 200]`,
  `details.code in ['403']`,
  `details.retry == true`,
  `details.retry != false`,
  `details.nested.level.endsWith('_%')`,
  `details.nested.level == 'x_%'`,
  `details.nested == 'x'`,
  `details.nested != 'x'`,
  `details.reason.contains('full')`,
  `details.reason.contains('%')`,
  `timestamp > timestamp('2026-11-01T00:00:00Z')`,
  `timestamp == timestamp('2026-11-01T00:00:00Z')`,
  `received_at != timestamp('2026-11-01T10:00:00.123Z')`,
  `event_type in ['auth.login', 'backup.failed'] and not (context.environment == 'production')`,
  `true`,
  `false or event_id == 'e3'`,
  // not translatable: in process only
  `size(actor.roles) > 1`,
  `actor.roles.exists(r, r == 'ops')`,
  `event_type > 'b'`,
  `details.code + 1 > 200`,
  `details.code in [200.5, 500]`,
  `has(actor.id)`,
  `has(details.code)`,
  `has(details.nested.level)`,
  `event_type.matches('(?i)^BACKUP[.]')`,
  `event_type.matches('^[a-z]+[.]\\\\w+$')`,
  // details strings: the raw-text prefilter (sql.ts detailsText) must not change any answer
  `details.text.contains('"hi"')`,
  `details.text.contains('\\\\ back')`,
  `details.text.contains('\\n100')`,
  `details.text.contains('100%_')`,
  `details.text.contains('%_d')`,
  `details.text.contains('café 😀')`,
  `details.text.contains('')`,
  `details.text.contains('zzz')`,
  `details.num.contains('4')`,
  `details.obj.contains('inner')`,
  `details.text.startsWith('say "')`,
  `details.text.startsWith('')`,
  `details.text.endsWith('😀')`,
  `details.text.endsWith('"')`,
  `details.text == 'say "hi" \\\\ back\\n100%_done café 😀'`,
  `details.empty == ''`,
  `details.empty.contains('')`,
  `details.code == '500'`,
  `details.code == 'x'`,
  `details.obj.code == '500'`,
  `details.obj == 'inner'`,
  `details.nested.level == 'say'`,
  `details.nested.level in ['say', 'x_%']`,
  `details.text in ['say', 'x']`,
  `not details.text.contains('zzz')`,
  `not details.reason.contains('disk')`,
  `!(details.code == 'x')`,
  `!(details.nested.level in ['say'])`,
  `not (not details.reason.contains('full'))`,
  `details.reason.contains('full') || actor.id == 'alice'`,
  `not (details.text.startsWith('zzz') and event_type == 'note.added')`,
  `timestamp >= timestamp('2026-11-01T01:00:00.000500+01:00') and timestamp < timestamp('2026-11-01T00:00:00.001Z')`,
];

describe("compileQuery errors", () => {
  const error = (text: string): QueryError => {
    try {
      compileQuery(text);
    } catch (e) {
      if (e instanceof QueryError) return e;
      throw e;
    }
    throw new Error(`no error for ${text}`);
  };

  it("points at syntax errors", () => {
    expect(error("event_type == 'x").column).toBe(15);
    expect(error("event_type === 'x'").column).toBeGreaterThan(11);
    expect(error("").message).toMatch(/empty/);
  });

  it("names unknown fields with a suggestion", () => {
    const typo = error("event_typ == 'x'");
    expect(typo.column).toBe(1);
    expect(typo.message).toMatch(/unknown field event_typ; did you mean event_type\?/);
    const actr = error("event_type == 'x' and actr.id == 'bob'");
    expect(actr.column).toBe(23);
    expect(actr.message).toMatch(/actr; did you mean actor/);
    expect(error("actor.idd == 'x'").message).toMatch(/actor\.idd; did you mean actor\.id\?/);
    expect(error("nope == 1").message).toMatch(/unknown field nope/);
  });

  it("allows any details path and comprehension variables", () => {
    expect(() => compileQuery("details.a.b.c == 1 and actor.roles.exists(r, r == 'x')")).not.toThrow();
  });
});

describe("literal arguments", () => {
  const error = (text: string): QueryError => {
    try {
      compileQuery(text);
    } catch (e) {
      if (e instanceof QueryError) return e;
      throw e;
    }
    throw new Error(`no error for ${text}`);
  };

  it("refuses a literal CEL would refuse on every event, at its column", () => {
    const regex = error("event_type == 'x' or event_type.matches('[')");
    expect(regex.column).toBe(41);
    expect(regex.message).toMatch(/regular expression '\[': missing \]/);
    const time = error("timestamp < timestamp('2025-01-01')");
    expect(time.column).toBe(23);
    expect(time.message).toMatch(/timestamp '2025-01-01' is not an RFC 3339 time/);
    expect(error("timestamp < timestamp('2025-02-29T00:00:00Z')").message).toMatch(/day out of range/);
    const duration = error("timestamp - timestamp('2026-01-01T00:00:00Z') > duration('1d')");
    expect(duration.column).toBe(58);
    expect(duration.message).toMatch(/duration '1d' is not a duration/);
    expect(error("event_type.matches('(?=a)')").message).toMatch(/lookahead and lookbehind are not in RE2/);
  });

  it("refuses functions cel-js does not have, naming the method form", () => {
    expect(error("matches(event_type, 'x')").message).toMatch(/matches\(\) is a method: write x\.matches/);
    expect(error("event_type == 'a' or sizee(actor.roles) > 1").column).toBe(22);
    expect(error("event_type == 'a' or sizee(actor.roles) > 1").message).toMatch(
      /unknown function sizee\(\)/,
    );
    const method = error("event_type.timestamp() > timestamp(0)");
    expect(method.column).toBe(12);
    expect(method.message).toMatch(/timestamp\(\) is a function, not a method/);
  });

  it("refuses has() on a bare name, at its column", () => {
    for (const [text, column] of [
      ["has(actor)", 5],
      ["event_type == 'x' or has( details)", 27],
    ] as const) {
      const e = error(text);
      expect(e.column).toBe(column);
      expect(e.message).toMatch(/has\(\) takes a field selection/);
    }
    const ids = (text: string) => EVENTS.filter((e) => compileQuery(text).matches(e)).map((e) => e.event_id);
    // Present (even empty or null) is true; absent is false; absent parent (no actor, no details) unknown.
    expect(ids("has(actor.id)")).toEqual(["e1", "e2", "e4"]);
    expect(ids("!has(actor.ip_address)")).toEqual(["e1"]);
    expect(ids("has(details.nested)")).toEqual(["e1", "e2", "e6"]);
    expect(ids("!has(details.reason)")).toEqual(["e2", "e3", "e4", "e6"]);
  });

  it("reads timestamps as RFC 3339, to the millisecond, on both paths alike", () => {
    const cases: [string, string | undefined][] = [
      ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00.000Z"],
      ["2026-01-01T00:00:00.123456789Z", "2026-01-01T00:00:00.123Z"],
      ["2026-01-01T00:00:00.123456+02:00", "2025-12-31T22:00:00.123Z"],
      ["2026-01-01T00:00:00-05:30", "2026-01-01T05:30:00.000Z"],
      ["2024-02-29T00:00:00Z", "2024-02-29T00:00:00.000Z"],
      ["0050-06-01T12:00:00Z", "0050-06-01T12:00:00.000Z"],
      ["9999-12-31T23:59:59.999999999Z", "9999-12-31T23:59:59.999Z"],
      ["2026-01-01", undefined],
      ["2026-01-01T00:00:00", undefined],
      ["2026-01-01t00:00:00z", undefined],
      ["2026-01-01 00:00:00Z", undefined],
      ["2026-01-01T00:00:00.Z", undefined],
      ["Mon, 01 Jan 2026 00:00:00 GMT", undefined],
      ["2026-02-29T00:00:00Z", undefined],
      ["2026-04-31T00:00:00Z", undefined],
      ["2026-13-01T00:00:00Z", undefined],
      ["2026-01-01T24:00:00Z", undefined],
      ["2026-12-31T23:59:60Z", undefined],
      ["0000-01-01T00:00:00Z", undefined],
      ["9999-12-31T23:59:59-00:01", undefined],
    ];
    for (const [text, instant] of cases) {
      if (instant === undefined) expect(() => timestampLiteral(text), text).toThrow(/timestamp/);
      else expect(timestampLiteral(text), text).toBe(instant);
    }
    const query = compileQuery("timestamp == timestamp('2026-11-01T01:00:00.000999+01:00')");
    expect(query.sql?.params).toEqual(["2026-11-01T00:00:00.000Z"]);
    expect(EVENTS.filter((e) => query.matches(e)).map((e) => e.event_id)).toEqual(["e4", "e5"]);
  });

  it("reads durations as Go does", () => {
    const cases: [string, string | undefined][] = [
      ["1h30m", "5400000000000ns"],
      ["-1.5h", "-5400000000000ns"],
      ["+2s", "2000000000ns"],
      ["1.h", "3600000000000ns"],
      [".5s", "500000000ns"],
      ["1µs", "1000ns"],
      ["1μs", "1000ns"],
      ["1.0000000001s", "1000000000ns"],
      ["0", "0s"],
      ["-0", "0s"],
      ["9223372036854775807ns", "9223372036854775807ns"],
      ["9223372036854775808ns", undefined],
      ["2562048h", undefined],
      ["1d", undefined],
      ["1", undefined],
      [".s", undefined],
      ["", undefined],
      ["1h 30m", undefined],
    ];
    for (const [text, ns] of cases) {
      if (ns === undefined) expect(() => durationLiteral(text), text).toThrow(/duration/);
      else expect(durationLiteral(text), text).toBe(ns);
    }
    const query = compileQuery("duration('1h30m') == duration('90m') && duration('0') < duration('1ns')");
    expect(query.matches(EVENTS[0] as Ev)).toBe(true);
  });

  /** Pattern → input → whether RE2 matches (answers from Go's regexp, which is RE2), or "refused". */
  const RE2: [string, Record<string, boolean> | "refused"][] = [
    ["abc", { xabcx: true, ab: false }],
    ["^a.c$", { abc: true, "a\nc": false, "a\rc": true, "a\u2028c": true, "a😀c": true, "a😀😀c": false }],
    ["(?s)^a.c$", { "a\nc": true, "a\rc": true }],
    ["^..$", { "😀": false, ab: true, é: false }],
    ["^.$", { "😀": true }],
    ["\\s", { "\u00a0": false, " ": true, "\u000b": false, "\t": true, "\u2003": false }],
    ["^\\S$", { "😀": true, a: true, " ": false, "\u00a0": true }],
    ["^\\S\\S$", { "😀": false }],
    ["^[^a]$", { "😀": true, b: true, a: false, "\n": true }],
    ["^[^a][^a]$", { "😀": false }],
    ["^[\\D]$", { "😀": true, "1": false, x: true }],
    ["^[^\\D]$", { "😀": false, "1": true, x: false }],
    ["(?i)abc", { ABC: true, AbC: true, ab: false }],
    ["(?i)^a|^b", { A: true, B: true, xb: false }],
    ["a(?i)b|c", { aB: true, C: true, xC: true, AB: false }],
    ["(a(?i)b)c", { aBc: true, aBC: false }],
    ["(?i:a)b", { Ab: true, AB: false }],
    ["(?i)a(?-i)b", { Ab: true, AB: false }],
    ["(?i)a(?-i:b)c", { AbC: true, ABC: false }],
    ["(?m)^b$", { "a\nb\nc": true, "a\rb\rc": false, b: true }],
    ["^b$", { "a\nb\nc": false, b: true, "b\n": false }],
    ["(?m)a$", { "a\r\nb": false, "a\nb": true }],
    ["\\Aab\\z", { ab: true, "ab\n": false, xab: false }],
    ["(?m)\\Aab", { "x\nab": false, ab: true }],
    ["\\Qa.b*\\E+", { "a.bbb": false, axb: false, "a.b*": true }],
    ["\\x41\\x{42}", { AB: true, ab: false }],
    ["\\x{1F600}+$", { "😀😀": true, x: false }],
    ["😀+$", { "😀😀": true }],
    ["[[:alpha:]]+", { abc: true, "123": false }],
    ["^[[:^alpha:]]+$", { "123": true, a1: false }],
    ["^[[:space:]]$", { "\u000b": true, "\u00a0": false }],
    ["^[[:punct:]]+$", { "!-/:@[`{~": true, a: false }],
    ["[]a]", { "]": true, a: true, b: false }],
    ["[^]a]", { "]": false, b: true }],
    ["(?P<x>a)b", { ab: true }],
    ["(?<x>a)b", { ab: true }],
    ["a{2,3}", { aa: true, a: false }],
    ["a{,3}", { "a{,3}": true, aaa: false }],
    ["a{2", { "a{2": true, aa: false }],
    ["x*?y", { xxy: true }],
    ["\\a", { "\u0007": true, a: false }],
    ["\\0", { "\u0000": true }],
    ["\\012", { "\n": true }],
    ["\\.\\*\\-", { ".*-": true }],
    ["[a-c\\s]+", { "b \t": true, d: false }],
    ["[\\S]", { "😀": true, " ": false }],
    ["^[\\S]$", { "😀": true }],
    ["(?i)[^a]", { A: false, b: true }],
    ["(?i)k", { K: true }],
    ["[", "refused"],
    ["a)", "refused"],
    ["(a", "refused"],
    ["a**", "refused"],
    ["(?i", "refused"],
    ["(?:a|b)+c", { abc: true, c: false }],
    ["a|", { b: true }],
    ["\\bfoo\\b", { "a foo b": true, afoob: false }],
    ["\\w+@\\w+", { "a@b": true }],
    ["^\\W$", { "😀": true, "-": true }],
    ["^\\D$", { "😀": true }],
    ["^[a-z]+$", { abc: true, ABC: false }],
    ["(?i)^[a-z]+$", { ABC: true }],
    ["^[\\d\\-]+$", { "1-2": true }],
    ["[a\\]]", { "]": true }],
    ["^\\^$", { "^": true }],
    ["}", { "}": true }],
    ["]", { "]": true }],
    ["a{3}{2}", "refused"],
    ["\\z", { "": true }],
    ["(?s:.)", { "\n": true }],
    ["(?is)A.B", { "a\nb": true }],
    ["backup[.](failed|started)$", { "backup.failed": true, backupxfailed: false }],
    ["^system:serviceaccount:", { "system:serviceaccount:x": true }],
  ];

  it.each(RE2)("matches(%j) as RE2 does", (pattern, expected) => {
    if (expected === "refused") {
      expect(() => translateRegex(pattern)).toThrow(/regular expression/);
      return;
    }
    const re = new RegExp(translateRegex(pattern));
    for (const [input, match] of Object.entries(expected)) expect(re.test(input), input).toBe(match);
  });

  it("refuses what JavaScript cannot do the RE2 way, saying what", () => {
    const cases: [string, RegExp][] = [
      ["\\pL", /Unicode classes are not supported/],
      ["\\p{Greek}", /Unicode classes are not supported/],
      ["(?U)a+", /flag U \(ungreedy\) has no JavaScript equivalent/],
      ["[😀]", /outside the BMP in a class/],
      ["[\\x{0}-\\x{FFFF}]", /range over UTF-16 surrogates/],
      ["(?=a)", /lookahead and lookbehind are not in RE2/],
      ["(?<!a)b", /lookahead and lookbehind are not in RE2/],
      ["(a)\\1", /backreferences are not in RE2/],
      ["\\u0041", /invalid escape \\u/],
      ["\\é", /invalid escape/],
      ["a{1001}", /repeat count \{1001\} over 1000/],
      ["a(?x)b", /unknown flag x/],
      [`${"(?:".repeat(1001)}a${")".repeat(1001)}`, /expression nests too deeply/],
    ];
    for (const [pattern, message] of cases) expect(() => translateRegex(pattern), pattern).toThrow(message);
  });

  it("gives cel-js the translated pattern", () => {
    const query = compileQuery("event_type.matches('(?i)^BACKUP\\\\.FAILED$')");
    expect(query.cel).toMatch(/^event_type\.matches\("\(\?i:/);
    expect(EVENTS.filter((e) => query.matches(e)).map((e) => e.event_id)).toEqual(["e1"]);
  });
});

describe("regular expressions that could backtrack exponentially", () => {
  /** RE2 pattern → what the refusal says (after `regular expression '…': `). */
  const REFUSED: [string, string][] = [
    ["(a+)+", "nested repetition (a+)+ can take exponential time: a+ repeats inside a repeated group"],
    ["(a*)*", "nested repetition (a*)* can take exponential time: a* repeats inside a repeated group"],
    ["(?:a|b+)*", "nested repetition (?:a|b+)* can take exponential time: b+ repeats"],
    ["((ab)*c)*", "nested repetition ((ab)*c)* can take exponential time: (ab)* repeats"],
    ["^(\\w+\\.)+com$", "nested repetition (\\w+\\.)+ can take exponential time: \\w+ repeats"],
    ["(a+){2}", "nested repetition (a+){2} can take exponential time"],
    ["(?:x(?:a{1,3}b*)?)+", "nested repetition (?:x(?:a{1,3}b*)?)+ can take exponential time: b* repeats"],
    ["(a?)*", "repetition (a?)* can take exponential time: (a?) can match empty text"],
    ["(a|b?)+", "repetition (a|b?)+ can take exponential time: (a|b?) can match empty text"],
    ["(?:a|)+", "repetition (?:a|)+ can take exponential time: (?:a|) can match empty text"],
    ["(a|a)*", 'repeated alternation (a|a)* can take exponential time: a and a can both start with "a"'],
    ["(a|ab)*", 'repeated alternation (a|ab)* can take exponential time: a and ab can both start with "a"'],
    [
      "(\\w|\\d)+",
      'repeated alternation (\\w|\\d)+ can take exponential time: \\w and \\d can both start with "0"',
    ],
    [
      "x(?:.|\\s)+y",
      'repeated alternation (?:.|\\s)+ can take exponential time: . and \\s can both start with "\\t"',
    ],
    [
      "(?i)(?:a|A)+",
      'repeated alternation (?:a|A)+ can take exponential time: a and A can both start with "A"',
    ],
    ["(?:a|(?i)B|b)+", "repeated alternation (?:a|(?i)B|b)+ can take exponential time: (?i)B and b"],
    ["(?:ab|ac){2}", "repeated alternation (?:ab|ac){2} can take exponential time: ab and ac"],
    ["(?:(?:x|y)(?:a|ab))+", "repeated alternation (?:(?:x|y)(?:a|ab))+ can take exponential time: a and ab"],
    ["(?:[a-f]|\\d|[0-9A-F])*", '\\d and [0-9A-F] can both start with "0"'],
    ["(a?a)+", 'repetition (a?a)+ can take exponential time: a? and what follows it can both start with "a"'],
    [
      "(a{1,2})+",
      'repetition (a{1,2})+ can take exponential time: a{1,2} and what follows it can both start with "a"',
    ],
    ["(?:ab?b)*", 'b? and what follows it can both start with "b"'],
    ["(?:(?:ab){1,2}a)+", '(?:ab){1,2} and what follows it can both start with "a"'],
    ["((25[0-5]|1?\\d?\\d)\\.){3}", "can take exponential time"],
    [
      `${"a?".repeat(10)}${"a".repeat(10)}`,
      "combine in more than 1000 ways, which can take exponential time",
    ],
    ["(?:a|a)(?:b|b)(?:c|c)(?:d|d)(?:e|e)(?:f|f)(?:g|g)(?:h|h)(?:i|i)(?:j|j)", "more than 1000 ways"],
  ];

  it.each(REFUSED)("refuses %j, saying why", (pattern, message) => {
    let caught: unknown;
    try {
      translateRegex(pattern);
    } catch (error) {
      caught = error;
    }
    expect(caught, pattern).toBeInstanceOf(LiteralError);
    expect((caught as Error).message.startsWith(`regular expression '${pattern}': `)).toBe(true);
    expect((caught as Error).message).toContain(message);
  });

  /** Pattern → inputs → whether it matches: patterns close to refused ones that cannot backtrack exponentially. */
  const ACCEPTED: [string, Record<string, boolean>][] = [
    ["^(?:a|b)+$", { abba: true, abc: false }],
    ["^(?:ab|cd)*$", { abcdab: true, abc: false, "": true }],
    ["^(?:\\d|[a-f])+$", { "0af9": true, g: false }],
    ["^(?:failed|started)+$", { failedstarted: true, fail: false }],
    ["^(ab?)+$", { aabab: true, b: false }],
    ["^(?:,?\\w)+$", { "a,b,c": true, "a,,b": false }],
    ["^(\\d{1,3}\\.){3}\\d{1,3}$", { "10.0.0.255": true, "1.2.3": false }],
    ["^\\d{1,3}\\.\\d{1,3}$", { "1.22": true }],
    ["^(?:.|\\n)*$", { "a\nb": true }],
    ["(?i)^(?:a|B)+$", { AbBa: true, c: false }],
    ["^(?:[^,]|,)+$", { "a,b": true }],
    ["^\\w+\\.\\w+\\.\\w+$", { "a.b.c": true, "a.b": false }],
    ["^[\\w.]+$", { "a.b.c": true }],
    ["(?:a|a)(?:b|b)", { ab: true }],
    [`^${"a?".repeat(9)}${"a".repeat(9)}$`, { [`${"a".repeat(12)}`]: true, aaaaaaaa: false }],
    ["^(?:kube-system|kube-public|default)/(?:pods|pods/exec)$", { "kube-public/pods/exec": true }],
    ["^(?:(?:a|b){2})+$", { abba: true, aba: false }],
    ["\\Qa+b\\E+", { "a+bb": true }],
    ["x*?y|(?:\\b)+z", { xxy: true, z: true }],
  ];

  it.each(ACCEPTED)("accepts %j", (pattern, expected) => {
    const re = new RegExp(translateRegex(pattern));
    for (const [input, match] of Object.entries(expected)) expect(re.test(input), input).toBe(match);
  });

  it("refuses at the column of the pattern, in a query", () => {
    let caught: unknown;
    try {
      compileQuery("event_type == 'x' or details.x.matches('(a+)+$')");
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(QueryError);
    expect((caught as QueryError).column).toBe(40);
    expect((caught as QueryError).message).toBe(
      "column 40: regular expression '(a+)+$': nested repetition (a+)+ can take exponential time: a+ repeats " +
        "inside a repeated group; repeat one level only, e.g. [\\w.]+ rather than (\\w+\\.)+",
    );
  });

  it("evaluates an accepted pattern over a 50 KB adversarial value at once", () => {
    // `^(\w|\d)+$` is refused: `\w` and `\d` both take a digit, so a failing value of n digits has 2^n ways
    // to try. In `^(?:\w|-)+$` each character goes one way: a failing 50 KB value costs one pass.
    expect(() => compileQuery("details.x.matches('^(\\\\w|\\\\d)+$')")).toThrow(QueryError);
    const query = compileQuery("details.x.matches('^(?:\\\\w|-)+$')");
    const event = { ...EVENTS[0], details: { x: `${"a1-".repeat(16_667)}!` } } as Ev;
    expect(String((event.details as { x: string }).x).length).toBeGreaterThan(50_000);
    const started = performance.now();
    const matched = query.matches(event);
    const elapsed = performance.now() - started;
    expect(matched).toBe(false);
    expect(elapsed).toBeLessThan(200);
    expect(query.matches({ ...event, details: { x: "a1-".repeat(16_667) } })).toBe(true);
  });
});

describe("matches", () => {
  const ids = (text: string) => EVENTS.filter((e) => compileQuery(text).matches(e)).map((e) => e.event_id);

  it("answers the spec's questions", () => {
    expect(ids("event_type == 'backup.failed' and context.environment == 'production'")).toEqual(["e1"]);
    expect(ids("event_type == 'access.denied' and actor.id == 'bob@company.com'")).toEqual(["e2"]);
    expect(ids("actor.id.startsWith('system:serviceaccount:')")).toEqual(["e1"]);
  });

  it("treats a missing field as no match, also under negation", () => {
    expect(ids("actor.id != 'bob@company.com'")).toEqual(["e1", "e4"]);
    expect(ids("!(actor.id == 'bob@company.com')")).toEqual(["e1", "e4"]);
    expect(ids("actor.id == 'alice' || event_type == 'auth.login'")).toEqual(["e4", "e5"]);
  });
});

describe("SQL translation agrees with in-process evaluation", () => {
  let connection: Awaited<ReturnType<DuckDBInstance["connect"]>>;

  beforeAll(async () => {
    const instance = await DuckDBInstance.create(":memory:");
    connection = await instance.connect();
    const columns = Object.values(QUERY_COLUMNS).map((c) => `"${c.name}" ${c.type}`);
    await connection.run(`CREATE TABLE events (sequence BIGINT, ${columns.join(", ")})`);
    let sequence = 0;
    for (const event of EVENTS) {
      const values: unknown[] = [sequence++];
      for (const [path, column] of Object.entries(QUERY_COLUMNS)) {
        let value: unknown = path
          .split(".")
          .reduce<unknown>((v, k) => (v as Record<string, unknown>)?.[k], event);
        if (column.type === "TIMESTAMPTZ" && typeof value === "string") value = new Date(value).toISOString();
        if (column.type === "JSON" && value !== undefined) value = JSON.stringify(value);
        values.push(value ?? null);
      }
      const placeholders = values.map((_, i) => {
        const column = Object.values(QUERY_COLUMNS)[i - 1];
        if (column?.type === "VARCHAR[]") return `CAST($${i + 1} AS VARCHAR) :: JSON :: VARCHAR[]`;
        if (column?.type === "TIMESTAMPTZ") return `CAST($${i + 1} AS TIMESTAMPTZ)`;
        return `$${i + 1}`;
      });
      const bound = values.map((v, i) =>
        Object.values(QUERY_COLUMNS)[i - 1]?.type === "VARCHAR[]" && v !== null ? JSON.stringify(v) : v,
      );
      await connection.run(`INSERT INTO events VALUES (${placeholders.join(", ")})`, bound as never);
    }
  });

  afterAll(() => {
    connection?.closeSync();
  });

  it.each(EXPRESSIONS)("%s", async (text) => {
    const query = compileQuery(text);
    const expected = EVENTS.filter((e) => query.matches(e)).map((e) => e.event_id);
    if (query.sql === undefined) {
      expect(text).toMatch(/size|exists|> 'b'|\+ 1|200\.5, 500\]|has\(|matches/);
      return;
    }
    const reader = await connection.runAndReadAll(
      `SELECT event_id FROM events WHERE ${query.sql.where} ORDER BY sequence`,
      query.sql.params as never,
    );
    const actual = reader.getRowObjectsJS().map((row) => row.event_id);
    expect(actual).toEqual(expected);
  });

  it("looks for details strings in the raw JSON text first, outside negation only", () => {
    const prefilter = (text: string) => {
      const sql = compileQuery(text).sql;
      const needles = [...(sql?.where ?? "").matchAll(/contains\(CAST\("details" AS VARCHAR\), \$(\d+)\)/g)];
      return needles.map((m) => sql?.params[Number(m[1]) - 1]);
    };
    expect(prefilter("details.reason.contains('a\"b\\\\c')")).toEqual(['a\\"b\\\\c']);
    expect(prefilter("details.a.b == 'x'")).toEqual(['"b":"x"']);
    expect(prefilter("details.a.startsWith('x')")).toEqual(['"a":"x']);
    expect(prefilter("details.a.endsWith('x')")).toEqual(['x"']);
    expect(prefilter("details.a in ['x', 'y'] || event_type == 'z'")).toEqual(['"a":"x"', '"a":"y"']);
    expect(prefilter("!(!details.a.contains('x'))")).toEqual(["x"]);
    expect(prefilter("!details.a.contains('x')")).toEqual([]);
    expect(prefilter("!(details.a == 'x' && event_type == 'y')")).toEqual([]);
    expect(prefilter("details.a.contains('')")).toEqual([]);
    expect(prefilter("details.a != 'x'")).toEqual([]);
    expect(prefilter("details.a == 1")).toEqual([]);
  });

  it("never puts user text in the SQL", () => {
    const query = compileQuery(`actor.id == "x'; DROP TABLE events; --" and details.a.b == 'y'`);
    expect(query.sql?.where).not.toMatch(/DROP|\$\.a\.b/);
    expect(query.sql?.params).toContain("x'; DROP TABLE events; --");
  });
});
