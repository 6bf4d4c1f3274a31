import { describe, expect, it } from "vitest";
import { canonicalize } from "./canonical.ts";

describe("canonicalize (RFC 8785)", () => {
  it("sorts members by UTF-16 code units, recursively (RFC 8785 §3.2.3 example)", () => {
    const input = {
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis",
    };
    const expected =
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
      '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}';
    expect(canonicalize(input)).toBe(expected);
  });

  it("serializes the RFC 8785 §3.2.2 sample exactly", () => {
    const input = JSON.parse(
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
        '"string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",' +
        '"literals": [null, true, false]}',
    );
    expect(canonicalize(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it("formats numbers as ECMAScript does (RFC 8785 Appendix B samples)", () => {
    const cases: [number, string][] = [
      [0, "0"],
      [-0, "0"],
      [5e-324, "5e-324"],
      [1.7976931348623157e308, "1.7976931348623157e+308"],
      [9007199254740992, "9007199254740992"],
      [295147905179352830000, "295147905179352830000"],
      [1e21, "1e+21"],
      [0.000001, "0.000001"],
      [1e-7, "1e-7"],
    ];
    for (const [n, s] of cases) expect(canonicalize(n)).toBe(s);
  });

  it("refuses what is not I-JSON", () => {
    expect(() => canonicalize(Number.NaN)).toThrow(TypeError);
    expect(() => canonicalize({ a: Number.POSITIVE_INFINITY })).toThrow(TypeError);
    expect(() => canonicalize(JSON.parse('"\\ud800"'))).toThrow(/surrogate/);
    expect(() => canonicalize({ [JSON.parse('"\\udc00"')]: 1 })).toThrow(/surrogate/);
    expect(() => canonicalize(new Date(0))).toThrow(TypeError);
    expect(() => canonicalize(() => 1)).toThrow(TypeError);
  });

  it("keeps a __proto__ member as plain data", () => {
    const parsed = JSON.parse('{"b":1,"__proto__":{"polluted":true}}');
    expect(canonicalize(parsed)).toBe('{"__proto__":{"polluted":true},"b":1}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("canonicalize with integer-like member names", () => {
  it("orders them by code units, not numerically as V8 enumerates them", () => {
    expect(canonicalize({ b: 1, "10": 2, "2": 3, "!": 4, a: { "1": true, "0": false } })).toBe(
      '{"!":4,"10":2,"2":3,"a":{"0":false,"1":true},"b":1}',
    );
  });

  it("treats long digit strings and leading zeros as ordinary names", () => {
    expect(canonicalize({ "01": 1, "0": 2, "99999999999": 3, "1a": 4 })).toBe(
      '{"0":2,"01":1,"1a":4,"99999999999":3}',
    );
  });
});
