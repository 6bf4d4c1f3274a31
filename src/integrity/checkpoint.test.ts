import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { VigilError } from "../errors.ts";
import {
  type Checkpoint,
  formatCheckpoint,
  MAX_CHECKPOINT_BYTES,
  openCheckpoint,
  parseCheckpoint,
  signCheckpoint,
} from "./checkpoint.ts";
import { generateNoteKey, parseSignerKey, parseVerifierKey, signNote } from "./note.ts";

// Key vectors of golang.org/x/mod/sumdb/note.
const PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER = { name: "PeterNeumann", keyHash: 0xc74f20a3 };

// This checkpoint was signed by note.Sign of golang.org/x/mod/sumdb/note with PETER_SKEY.
const ROOT_0_TO_31 = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const GO_SIGNED =
  "vigil.example/chain-1\n3\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\nextension line one\n\n" +
  "— PeterNeumann x08go0mpHZrRCZVYRmek/xnh/9gfCb5lpIwEHGW4NZA0IKLVKYbmyCtd6ViJdx+akJfZIww66fCTXt58fA5r9fwQ6A0=\n";

// The example of c2sp.org/tlog-checkpoint (its key is not published).
const C2SP_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
const C2SP_NOTE =
  `${C2SP_BODY}\n— example.com/behind-the-sofa ` +
  "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

/** RFC 6962 root of the empty tree: SHA-256 of nothing. */
const EMPTY_ROOT = createHash("sha256").digest();

function expectFailure(f: () => unknown, code: string, message: string): void {
  let error: unknown;
  try {
    f();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(VigilError);
  expect((error as VigilError).code).toBe(code);
  expect((error as VigilError).message).toBe(message);
}

describe("checkpoint format", () => {
  it("formats and parses the C2SP example", () => {
    const rootHash = Buffer.from("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=", "base64");
    expect(formatCheckpoint({ origin: "example.com/behind-the-sofa", size: 20852163, rootHash })).toBe(
      C2SP_BODY,
    );
    expect(parseCheckpoint(C2SP_BODY)).toEqual({
      origin: "example.com/behind-the-sofa",
      size: 20852163,
      rootHash,
      extensions: [],
    });
  });

  it("formats the empty tree and keeps extension lines in order", () => {
    expect(formatCheckpoint({ origin: "vigil.example/c", size: 0, rootHash: EMPTY_ROOT })).toBe(
      "vigil.example/c\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
    );
    const cp: Checkpoint = {
      origin: "vigil.example/c",
      size: Number.MAX_SAFE_INTEGER,
      rootHash: ROOT_0_TO_31,
      extensions: ["first extension", "— second ü"],
    };
    const text = formatCheckpoint(cp);
    expect(text).toBe(
      "vigil.example/c\n9007199254740991\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\nfirst extension\n— second ü\n",
    );
    expect(parseCheckpoint(text)).toEqual(cp);
  });

  it("parses any non-empty origin the spec allows, but formats only origins usable as key names", () => {
    const text = "log with spaces+plus\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";
    expect(parseCheckpoint(text).origin).toBe("log with spaces+plus");
    for (const origin of ["", "log with spaces", "a+b", "tab\there"]) {
      expectFailure(
        () => formatCheckpoint({ origin, size: 1, rootHash: ROOT_0_TO_31 }),
        "bad_note",
        `checkpoint origin ${JSON.stringify(origin)} must be non-empty without spaces, "+" or control characters`,
      );
    }
  });

  it("refuses to format values the format cannot carry", () => {
    for (const size of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1]) {
      expectFailure(
        () => formatCheckpoint({ origin: "o", size, rootHash: ROOT_0_TO_31 }),
        "bad_note",
        `checkpoint tree size ${size} is not a non-negative safe integer`,
      );
    }
    for (const length of [0, 31, 33]) {
      expectFailure(
        () => formatCheckpoint({ origin: "o", size: 1, rootHash: Buffer.alloc(length) }),
        "bad_note",
        `checkpoint root hash is ${length} bytes; it must be 32`,
      );
    }
    for (const line of ["", "two\nlines"]) {
      expectFailure(
        () => formatCheckpoint({ origin: "o", size: 1, rootHash: ROOT_0_TO_31, extensions: ["ok", line] }),
        "bad_note",
        "checkpoint extension line 2 is empty or holds a newline",
      );
    }
    expectFailure(
      () => formatCheckpoint({ origin: "o", size: 1, rootHash: ROOT_0_TO_31, extensions: ["cr\r"] }),
      "bad_note",
      "checkpoint line 4 holds control character U+000D (line endings must be LF, not CRLF)",
    );
  });

  const root = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
  const malformed: [string, string, string][] = [
    ["an empty origin", `\n1\n${root}\n`, "checkpoint line 1 is empty"],
    ["two lines", "origin\n1\n", "checkpoint has 2 line(s); it needs origin, tree size and root hash"],
    ["no final newline", `origin\n1\n${root}`, "checkpoint must end with a newline"],
    ["an empty extension line", `origin\n1\n${root}\n\next\n`, "checkpoint line 4 is empty"],
    ["an empty last line", `origin\n1\n${root}\n\n`, "checkpoint line 4 is empty"],
    [
      "CRLF",
      `origin\r\n1\r\n${root}\r\n`,
      "checkpoint line 1 holds control character U+000D (line endings must be LF, not CRLF)",
    ],
    ...["007", "00", "-1", "+1", "1e3", "0x10", " 1", "1 ", "1.0", "١"].map(
      (size): [string, string, string] => [
        `tree size ${JSON.stringify(size)}`,
        `origin\n${size}\n${root}\n`,
        `checkpoint tree size ${JSON.stringify(size)} is not a decimal number without sign or leading zeros`,
      ],
    ),
    [
      "a tree size above 2^53 - 1",
      `origin\n9007199254740992\n${root}\n`,
      "checkpoint tree size 9007199254740992 exceeds 9007199254740991",
    ],
    [
      "a 31-byte root",
      `origin\n1\n${Buffer.alloc(31).toString("base64")}\n`,
      "checkpoint root hash is 31 bytes; it must be 32",
    ],
    [
      "a 33-byte root",
      `origin\n1\n${Buffer.alloc(33).toString("base64")}\n`,
      "checkpoint root hash is 33 bytes; it must be 32",
    ],
    ...[`${root} `, root.slice(0, -1), `-${root.slice(1)}`, "not base64!", `${root.slice(0, -2)}H=`].map(
      (r): [string, string, string] => [
        `root hash ${JSON.stringify(r)}`,
        `origin\n1\n${r}\n`,
        `checkpoint root hash ${JSON.stringify(r)} is not canonical base64`,
      ],
    ),
  ];
  for (const [what, text, message] of malformed) {
    it(`rejects a checkpoint with ${what}`, () => {
      expectFailure(() => parseCheckpoint(text), "bad_note", message);
    });
  }

  it("rejects a checkpoint longer than 1,000,000 bytes", () => {
    const text = `origin\n1\n${root}\n${"x".repeat(MAX_CHECKPOINT_BYTES)}\n`;
    expectFailure(() => parseCheckpoint(text), "bad_note", "checkpoint is longer than 1000000 bytes");
  });
});

describe("signed checkpoints", () => {
  it("signs exactly what the Go note package signs", () => {
    const cp = {
      origin: "vigil.example/chain-1",
      size: 3,
      rootHash: ROOT_0_TO_31,
      extensions: ["extension line one"],
    };
    expect(signCheckpoint(cp, [parseSignerKey(PETER_SKEY)])).toBe(GO_SIGNED);
    expect(openCheckpoint(GO_SIGNED, [parseVerifierKey(PETER_VKEY)])).toEqual({
      checkpoint: { ...cp, rootHash: ROOT_0_TO_31 },
      verifiedBy: [PETER],
      unknown: [],
    });
  });

  it("round-trips with a generated key and reports other signers as unknown", () => {
    const log = generateNoteKey("vigil.example/chain-7");
    const witness = generateNoteKey("witness.example");
    const cp = { origin: "vigil.example/chain-7", size: 0, rootHash: EMPTY_ROOT, extensions: [] };
    const note = signCheckpoint(cp, [log.signer, witness.signer]);
    expect(
      note.startsWith(`vigil.example/chain-7\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— `),
    ).toBe(true);
    expect(openCheckpoint(Buffer.from(note), [log.verifier], { origin: "vigil.example/chain-7" })).toEqual({
      checkpoint: cp,
      verifiedBy: [{ name: "vigil.example/chain-7", keyHash: log.verifier.keyHash }],
      unknown: [{ name: "witness.example", keyHash: witness.verifier.keyHash }],
    });
  });

  it("rejects a checkpoint of another origin when the origin is expected", () => {
    expectFailure(
      () => openCheckpoint(GO_SIGNED, [parseVerifierKey(PETER_VKEY)], { origin: "vigil.example/chain-2" }),
      "unverified",
      'checkpoint is for origin "vigil.example/chain-1", not "vigil.example/chain-2"',
    );
  });

  it("rejects every change to the signed text", () => {
    const peter = [parseVerifierKey(PETER_VKEY)];
    const badSignature = "the signature by PeterNeumann+c74f20a3 (note line 6) does not verify";
    expectFailure(
      () => openCheckpoint(GO_SIGNED.replace("\n3\n", "\n4\n"), peter),
      "bad_signature",
      badSignature,
    );
    expectFailure(
      () => openCheckpoint(GO_SIGNED.replace("AAEC", "AAED"), peter),
      "bad_signature",
      badSignature,
    );
    expectFailure(
      () => openCheckpoint(GO_SIGNED.replace("chain-1", "chain-2"), peter),
      "bad_signature",
      badSignature,
    );
    expectFailure(
      () => openCheckpoint(GO_SIGNED.replace("extension line one\n", ""), peter),
      "bad_signature",
      "the signature by PeterNeumann+c74f20a3 (note line 5) does not verify",
    );
    expectFailure(
      () => openCheckpoint(GO_SIGNED.replace("one\n", "one\nadded line\n"), peter),
      "bad_signature",
      "the signature by PeterNeumann+c74f20a3 (note line 7) does not verify",
    );
  });

  it("rejects a checkpoint without signature or without a known signer", () => {
    expectFailure(
      () => openCheckpoint(GO_SIGNED.slice(0, GO_SIGNED.indexOf("—")), [parseVerifierKey(PETER_VKEY)]),
      "bad_note",
      "note has no signature line after its last blank line",
    );
    expectFailure(
      () => openCheckpoint(C2SP_NOTE, [parseVerifierKey(PETER_VKEY)]),
      "unverified",
      "note has no signature by a known key; it is signed only by example.com/behind-the-sofa+033de0ae",
    );
  });

  it("checks the body after the signature: a validly signed malformed checkpoint is refused", () => {
    const k = generateNoteKey("log");
    const note = signNote(`log\n01\n${EMPTY_ROOT.toString("base64")}\n`, [k.signer]);
    expectFailure(
      () => openCheckpoint(note, [k.verifier]),
      "bad_note",
      'checkpoint tree size "01" is not a decimal number without sign or leading zeros',
    );
  });
});
