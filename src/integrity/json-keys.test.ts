import { describe, expect, it } from "vitest";
import { hasDuplicateMemberNames } from "./json-keys.ts";

/** The scanner's answer, after checking the case is JSON at all (the scanner assumes it). */
function dup(text: string): boolean {
  JSON.parse(text);
  return hasDuplicateMemberNames(text);
}

describe("hasDuplicateMemberNames", () => {
  it("finds a repeated name, wherever it is in the object", () => {
    expect(dup('{"a":1,"a":2}')).toBe(true);
    expect(dup('{"i":999,"x":[1,2],"i":4}')).toBe(true);
    expect(dup('{"a":1,"b":2,"c":{"d":3},"b":4}')).toBe(true);
  });

  it("accepts distinct names, scalars, arrays and empty containers", () => {
    expect(dup('{"a":1,"b":2,"ab":3,"A":4}')).toBe(false);
    expect(dup("{}")).toBe(false);
    expect(dup("[]")).toBe(false);
    expect(dup('"a"')).toBe(false);
    expect(dup("42")).toBe(false);
    expect(dup('[{"a":1},{"a":2},[{"a":3}]]')).toBe(false);
  });

  it("compares names after unescaping", () => {
    expect(dup('{"a":1,"\\u0061":2}')).toBe(true);
    expect(dup('{"\\u0061":1,"a":2}')).toBe(true);
    expect(dup('{"\\"":1,"\\u0022":2}')).toBe(true);
    expect(dup('{"\\ud83d\\ude00":1,"😀":2}')).toBe(true);
    expect(dup('{"a\\\\":1,"a\\\\\\\\":2}')).toBe(false);
    expect(dup('{"\\/":1,"/":2}')).toBe(true);
  });

  it("gives each object, however nested, its own names", () => {
    expect(dup('{"a":{"a":{"a":1}},"b":{"a":2}}')).toBe(false);
    expect(dup('{"a":{"b":1,"c":{"d":1,"d":2}}}')).toBe(true);
    expect(dup('{"a":{"b":1},"c":{"b":2,"b":3}}')).toBe(true);
    expect(dup('{"x":{"a":1},"a":2}')).toBe(false);
  });

  it("checks objects inside arrays, each on its own", () => {
    expect(dup('[{"a":1},{"a":1}]')).toBe(false);
    expect(dup('{"list":[{"a":1},{"b":1,"b":2}]}')).toBe(true);
    expect(dup('{"a":[1,{"a":2}],"b":[[{"c":1,"c":1}]]}')).toBe(true);
    expect(dup('{"a":[{"x":1}],"b":[{"x":2}],"x":3}')).toBe(false);
  });

  it("does not count names, quotes or braces inside string values", () => {
    expect(dup('{"a":"\\"a\\":1,","b":"{\\"a\\":2}"}')).toBe(false);
    expect(dup('{"a":"}","b":"{","c":"]"}')).toBe(false);
    expect(dup('{"a":"x\\\\","a":"y"}')).toBe(true);
    expect(dup('{"a":"\\\\\\"a\\":","b":["a:","a"]}')).toBe(false);
    expect(dup('{"s":"{\\"k\\":1,\\"k\\":2}"}')).toBe(false);
  });

  it("allows whitespace between a name and its colon", () => {
    expect(dup('{ "a" : 1 ,\n\t"a"\r\n: 2 }')).toBe(true);
    expect(dup('{ "a" : "a" , "b" : [ "a" ] }')).toBe(false);
  });

  it("reads bytes as UTF-8, like JSON.parse of their decoded text", () => {
    expect(hasDuplicateMemberNames(Buffer.from('{"é":1,"\\u00e9":2}'))).toBe(true);
    expect(hasDuplicateMemberNames(Buffer.from('{"é":1,"e":2}'))).toBe(false);
    const line = Buffer.from('xx{"k":1,"k":2}yy');
    expect(hasDuplicateMemberNames(line.subarray(2, line.length - 2))).toBe(true);
  });
});
