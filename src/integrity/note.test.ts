import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { VigilError } from "../errors.ts";
import {
  computeKeyHash,
  decodeBase64Strict,
  formatKeyId,
  generateNoteKey,
  isValidKeyName,
  MAX_NOTE_SIGNATURES,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  readSignerKey,
  readVerifierKeys,
  signNote,
  writeSignerKey,
  writeVerifierKey,
} from "./note.ts";

// Test vectors of golang.org/x/mod/sumdb/note (note.go, note_test.go).
const PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT =
  "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_B64 =
  "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=";
const PETER_SIG = `— PeterNeumann ${PETER_B64}\n`;
const ENOCH_SIG =
  "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";
const PETER = { name: "PeterNeumann", keyHash: 0xc74f20a3 };
const ENOCH = { name: "EnochRoot", keyHash: 0xaf0cfe78 };

// The example of c2sp.org/signed-note §Verifier keys.
const C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
const C2SP_NOTE =
  "This is an example message.\n\n— example.com/foo " +
  "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

function failure(f: () => unknown): VigilError {
  try {
    f();
  } catch (e) {
    if (e instanceof VigilError) return e;
    throw e;
  }
  throw new Error("expected a VigilError, but nothing was thrown");
}

function expectFailure(f: () => unknown, code: string, message: string | RegExp): void {
  const e = failure(f);
  expect(e.code).toBe(code);
  if (typeof message === "string") expect(e.message).toBe(message);
  else expect(e.message).toMatch(message);
}

describe("known answers", () => {
  it("signs the Go package's example note byte for byte", () => {
    expect(signNote(TEXT, [parseSignerKey(PETER_SKEY)])).toBe(`${TEXT}\n${PETER_SIG}`);
  });

  it("derives the published verifier key and key hash from the signer key", () => {
    const signer = parseSignerKey(PETER_SKEY);
    expect(signer.name).toBe("PeterNeumann");
    expect(signer.keyHash).toBe(0xc74f20a3);
    expect(signer.verifier.text).toBe(PETER_VKEY);
    expect(formatKeyId(signer)).toBe("PeterNeumann+c74f20a3");
  });

  it("computes key hashes as SHA-256(name ‖ LF ‖ 0x01 ‖ public key)[:4], big-endian", () => {
    for (const [vkey, hash] of [
      [PETER_VKEY, 0xc74f20a3],
      [ENOCH_VKEY, 0xaf0cfe78],
      [C2SP_VKEY, 0x530d903a],
    ] as const) {
      const name = vkey.slice(0, vkey.indexOf("+"));
      const typed = Buffer.from(vkey.slice(name.length + 10), "base64");
      expect(typed[0]).toBe(0x01);
      expect(computeKeyHash(name, typed)).toBe(hash);
      const direct = createHash("sha256").update(`${name}\n`).update(typed).digest().readUInt32BE(0);
      expect(direct).toBe(hash);
      expect(parseVerifierKey(vkey).keyHash).toBe(hash);
      expect(parseVerifierKey(vkey).publicKey).toEqual(typed.subarray(1));
    }
  });

  it("opens the Go example with one known and one unknown signature", () => {
    const opened = openNote(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`, [parseVerifierKey(PETER_VKEY)]);
    expect(opened).toEqual({ text: TEXT, verifiedBy: [PETER], unknown: [ENOCH] });
  });

  it("verifies both signatures when both keys are known (Enoch signed with a key we only know publicly)", () => {
    const opened = openNote(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`, [
      parseVerifierKey(ENOCH_VKEY),
      parseVerifierKey(PETER_VKEY),
    ]);
    expect(opened).toEqual({ text: TEXT, verifiedBy: [PETER, ENOCH], unknown: [] });
  });

  it("opens the C2SP signed-note example", () => {
    const opened = openNote(C2SP_NOTE, [parseVerifierKey(C2SP_VKEY)]);
    expect(opened).toEqual({
      text: "This is an example message.\n",
      verifiedBy: [{ name: "example.com/foo", keyHash: 0x530d903a }],
      unknown: [],
    });
  });

  it("accepts the C2SP example whose text holds an empty line, splitting at the last blank line", () => {
    const note =
      "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n" +
      "— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
    expectFailure(
      () => openNote(note, []),
      "unverified",
      "note has no signature by a known key; it is signed only by quasimodo.example/salvatore+367ba04b",
    );
  });
});

describe("keys", () => {
  it("generates keys whose texts parse back to the same key", () => {
    const k = generateNoteKey("vigil.example/chain-1");
    expect(k.signerText).toMatch(
      /^PRIVATE\+KEY\+vigil\.example\/chain-1\+[0-9a-f]{8}\+A[Q-Za-f][A-Za-z0-9+/]{42}$/,
    );
    expect(k.verifierText).toMatch(/^vigil\.example\/chain-1\+[0-9a-f]{8}\+A[Q-Za-f][A-Za-z0-9+/]{42}$/);
    expect(k.verifierText).toBe(k.verifier.text);
    expect(k.signerText.split("+")[3]).toBe(k.verifierText.split("+")[1]);
    expect(k.verifier.keyHash).toBe(
      computeKeyHash(k.verifier.name, Buffer.concat([Buffer.of(1), k.verifier.publicKey])),
    );
    const signer = parseSignerKey(k.signerText);
    expect(signer.keyHash).toBe(k.signer.keyHash);
    expect(signer.verifier.text).toBe(k.verifierText);
    const msg = Buffer.from("hi");
    const sig = signer.sign(msg);
    expect(sig).toHaveLength(64);
    expect(sig).toEqual(k.signer.sign(msg));
    expect(parseVerifierKey(k.verifierText).verify(msg, sig)).toBe(true);
    sig[0] = (sig[0] ?? 0) ^ 1;
    expect(k.verifier.verify(msg, sig)).toBe(false);
    expect(k.verifier.verify(msg, sig.subarray(0, 63))).toBe(false);
  });

  it("keeps private key material out of the signer object", () => {
    const k = generateNoteKey("a");
    const seed = Buffer.from(k.signerText.split("+").slice(4).join("+"), "base64").subarray(1);
    expect(seed).toHaveLength(32);
    expect(JSON.stringify(k.signer)).not.toContain(seed.join(","));
    expect(inspect(k.signer, { depth: null, showHidden: true })).not.toContain(
      seed.toString("hex").replace(/(..)(?!$)/g, "$1 "),
    );
  });

  it("refuses invalid key names", () => {
    for (const name of ["", "a b", "a+b", "a\u00a0b", "a\u3000b", "tab\tname", "a\u0001b", "\ud800"]) {
      expect(isValidKeyName(name)).toBe(false);
      expectFailure(() => generateNoteKey(name), "bad_key", /^invalid key name /);
    }
    expect(isValidKeyName("vigil.example/ü-1")).toBe(true);
  });

  it("rejects every truncation and every one-byte change of the Go verifier key (as note_test.go)", () => {
    for (let i = 0; i <= PETER_VKEY.length; i++) {
      for (let j = i + 1; j <= PETER_VKEY.length; j++) {
        if (i === 0 && j === PETER_VKEY.length) continue;
        expect(failure(() => parseVerifierKey(PETER_VKEY.slice(i, j))).code).toBe("bad_key");
      }
    }
    for (let i = 0; i < PETER_VKEY.length; i++) {
      const mangled =
        PETER_VKEY.slice(0, i) + String.fromCharCode(PETER_VKEY.charCodeAt(i) + 1) + PETER_VKEY.slice(i + 1);
      expect(failure(() => parseVerifierKey(mangled)).code).toBe("bad_key");
    }
  });

  it("rejects every truncation and every one-byte change of the Go signer key, never quoting the key", () => {
    const secret = PETER_SKEY.split("+")[4] ?? "";
    const check = (text: string) => {
      const e = failure(() => parseSignerKey(text));
      expect(e.code).toBe("bad_key");
      expect(e.message).not.toContain(secret.slice(4, 16));
    };
    for (let i = 0; i <= PETER_SKEY.length; i++) {
      for (let j = i + 1; j <= PETER_SKEY.length; j++) {
        if (i !== 0 || j !== PETER_SKEY.length) check(PETER_SKEY.slice(i, j));
      }
    }
    for (let i = 0; i < PETER_SKEY.length; i++) {
      check(
        PETER_SKEY.slice(0, i) + String.fromCharCode(PETER_SKEY.charCodeAt(i) + 1) + PETER_SKEY.slice(i + 1),
      );
    }
  });

  it("explains each verifier key problem", () => {
    expectFailure(
      () => parseVerifierKey("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
      "bad_key",
      "verifier key PeterNeumann+c74f20a4 does not match its key, which hashes to PeterNeumann+c74f20a3",
    );
    // From note_test.go: a longer key (its base64 has non-zero padding bits, which Go accepts and we do not)
    // and an unknown algorithm, each with a matching key hash.
    expectFailure(
      () => parseVerifierKey("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="),
      "bad_key",
      "the verifier key PeterNeumann: its key is not canonical base64",
    );
    expectFailure(
      () => parseVerifierKey(`PeterNeumann+c74f20a3+${Buffer.alloc(32, 1).toString("base64")}`),
      "bad_key",
      "the verifier key PeterNeumann holds a 31-byte key; Ed25519 keys are 32 bytes",
    );
    expectFailure(
      () => parseVerifierKey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
      "bad_key",
      "the verifier key PeterNeumann has signature type 0x65; only Ed25519 (0x01) is supported",
    );
    expectFailure(
      () => parseVerifierKey("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
      "bad_key",
      "the verifier key PeterNeumann has a key hash that is not 8 lowercase hex digits",
    );
    expectFailure(
      () => parseVerifierKey("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq_LDE4izWy10TW"),
      "bad_key",
      "the verifier key PeterNeumann: its key is not canonical base64",
    );
    expectFailure(
      () => parseVerifierKey("PeterNeumann"),
      "bad_key",
      "a verifier key must have the form <name>+<key hash>+<key>",
    );
    expectFailure(() => parseSignerKey(PETER_VKEY), "bad_key", "a signer key must begin with PRIVATE+KEY+");
  });

  it("names the wrong key hash of a signer key without revealing the key", () => {
    expectFailure(
      () => parseSignerKey("PRIVATE+KEY+PeterNeumann+00000000+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"),
      "bad_key",
      "signer key PeterNeumann+00000000 does not match its key, whose public key hashes to PeterNeumann+c74f20a3",
    );
  });

  it("decodes only canonical padded standard base64", () => {
    expect(decodeBase64Strict("AQID")).toEqual(Buffer.of(1, 2, 3));
    expect(decodeBase64Strict("AQI=")).toEqual(Buffer.of(1, 2));
    expect(decodeBase64Strict("")).toEqual(Buffer.alloc(0));
    for (const bad of ["AQI", "AQJ=", "AQ==A", "AQ-_", " AQID", "AQID ", "AQ\nID", "A===", "AQ=", "AQ==="]) {
      expect(decodeBase64Strict(bad)).toBeUndefined();
    }
  });
});

describe("signNote and openNote", () => {
  const peter = () => parseVerifierKey(PETER_VKEY);

  it("round-trips a note signed by several keys, text with empty lines included", () => {
    const a = generateNoteKey("a.example/log");
    const b = generateNoteKey("b.example/witness");
    const text = "line one\n\nline — three ü\n";
    const note = signNote(text, [a.signer, b.signer]);
    expect(note.startsWith(`${text}\n— a.example/log `)).toBe(true);
    expect(note.split("\n")).toHaveLength(7);
    expect(openNote(note, [b.verifier, a.verifier])).toEqual({
      text,
      verifiedBy: [
        { name: "a.example/log", keyHash: a.verifier.keyHash },
        { name: "b.example/witness", keyHash: b.verifier.keyHash },
      ],
      unknown: [],
    });
    expect(openNote(Buffer.from(note, "utf8"), [b.verifier]).unknown).toEqual([
      { name: "a.example/log", keyHash: a.verifier.keyHash },
    ]);
  });

  it("invalidates the note when any byte of the text changes", () => {
    const k = generateNoteKey("log");
    const note = Buffer.from(signNote("origin\n42\n", [k.signer]), "utf8");
    const textBytes = Buffer.byteLength("origin\n42\n");
    for (let i = 0; i < textBytes; i++) {
      if (note[i] === 0x0a) continue;
      const tampered = Buffer.from(note);
      tampered[i] = (tampered[i] ?? 0) ^ 0x01;
      expectFailure(
        () => openNote(tampered, [k.verifier]),
        "bad_signature",
        "the signature by log+" +
          k.verifier.keyHash.toString(16).padStart(8, "0") +
          " (note line 4) does not verify",
      );
    }
  });

  it("fails the whole note when a known key's signature does not verify, even next to a valid one", () => {
    const forged = `— PeterNeumann ${PETER_B64.slice(0, 40)}ABCD${PETER_B64.slice(40)}\n`;
    expectFailure(
      () => openNote(`${TEXT}\n${forged}`, [peter()]),
      "bad_signature",
      "the signature by PeterNeumann+c74f20a3 (note line 4) does not verify",
    );
    expectFailure(
      () => openNote(`${TEXT}\n${PETER_SIG}${forged}`, [peter()]),
      "bad_signature",
      "the signature by PeterNeumann+c74f20a3 (note line 5) does not verify",
    );
    const flipped = Buffer.from(PETER_B64, "base64");
    flipped[10] = (flipped[10] ?? 0) ^ 0x80;
    expectFailure(
      () => openNote(`${TEXT}\n— PeterNeumann ${flipped.toString("base64")}\n`, [peter()]),
      "bad_signature",
      "the signature by PeterNeumann+c74f20a3 (note line 4) does not verify",
    );
  });

  it("requires a signature by a known key", () => {
    expectFailure(
      () => openNote(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`, []),
      "unverified",
      "note has no signature by a known key; it is signed only by PeterNeumann+c74f20a3, EnochRoot+af0cfe78",
    );
    // A wrong key hash makes the signature one by an unknown key, which is ignored.
    const otherHash = Buffer.from(PETER_B64, "base64");
    otherHash[3] = 0xa4;
    expectFailure(
      () => openNote(`${TEXT}\n— PeterNeumann ${otherHash.toString("base64")}\n`, [peter()]),
      "unverified",
      "note has no signature by a known key; it is signed only by PeterNeumann+c74f20a4",
    );
    // So does another name with the right key hash.
    expectFailure(
      () => openNote(`${TEXT}\n— PeterNeuman ${PETER_B64}\n`, [peter()]),
      "unverified",
      "note has no signature by a known key; it is signed only by PeterNeuman+c74f20a3",
    );
  });

  it("reports repeated signatures once", () => {
    const enochABCD = `${ENOCH_SIG.slice(0, 58)}ABCD${ENOCH_SIG.slice(58)}`;
    const opened = openNote(`${TEXT}\n${PETER_SIG}${PETER_SIG}${ENOCH_SIG}${ENOCH_SIG}${enochABCD}`, [
      peter(),
    ]);
    expect(opened).toEqual({ text: TEXT, verifiedBy: [PETER], unknown: [ENOCH] });
  });

  it("accepts 100 signature lines and refuses 101", () => {
    expect(openNote(`${TEXT}\n${PETER_SIG.repeat(MAX_NOTE_SIGNATURES)}`, [peter()]).verifiedBy).toEqual([
      PETER,
    ]);
    for (const verifiers of [[peter()], []]) {
      expectFailure(
        () => openNote(`${TEXT}\n${PETER_SIG.repeat(101)}`, verifiers),
        "bad_note",
        "note has 101 signature lines; at most 100 are accepted",
      );
    }
  });

  it("refuses two different verifier keys with the same name and key hash when the note names them", () => {
    const fake = { ...parseVerifierKey(ENOCH_VKEY), name: "PeterNeumann", keyHash: 0xc74f20a3 };
    expectFailure(
      () => openNote(`${TEXT}\n${PETER_SIG}`, [peter(), fake]),
      "bad_key",
      "the verifier keys hold 2 different keys named PeterNeumann+c74f20a3",
    );
    expect(openNote(`${TEXT}\n${PETER_SIG}`, [peter(), peter()]).verifiedBy).toEqual([PETER]);
    expect(openNote(`${TEXT}\n${PETER_SIG}`, [peter(), { ...fake, name: "EnochRoot" }]).verifiedBy).toEqual([
      PETER,
    ]);
  });

  const malformed: [string, string | Uint8Array, string][] = [
    ["no blank line", `${TEXT}${PETER_SIG}`, "note has no blank line between its text and its signatures"],
    ["text only", TEXT, "note has no blank line between its text and its signatures"],
    ["blank line but no signature", `${TEXT}\n`, "note has no signature line after its last blank line"],
    ["missing final newline", `${TEXT}\n${PETER_SIG.slice(0, -1)}`, "note does not end with a newline"],
    ["control character", `\u0001${TEXT}\n${PETER_SIG}`, "note line 1 holds control character U+0001"],
    [
      "CRLF",
      `${TEXT.replaceAll("\n", "\r\n")}\r\n${PETER_SIG.replace("\n", "\r\n")}`,
      "note line 1 holds control character U+000D (line endings must be LF, not CRLF)",
    ],
    ["tab", `${TEXT}\n— PeterNeumann\t${PETER_B64}\n`, "note line 4 holds control character U+0009"],
    [
      "non-UTF-8 byte",
      Buffer.concat([Buffer.of(0xff), Buffer.from(`${TEXT}\n${PETER_SIG}`)]),
      "note is not valid UTF-8",
    ],
    ["lone surrogate", `\ud800${TEXT}\n${PETER_SIG}`, "note is not valid UTF-8"],
    [
      "hyphen instead of em dash",
      `${TEXT}\n- PeterNeumann ${PETER_B64}\n`,
      'note line 4 is not a signature line: it must begin with "— " (U+2014, space)',
    ],
    [
      "en dash instead of em dash",
      `${TEXT}\n\u2013 PeterNeumann ${PETER_B64}\n`,
      'note line 4 is not a signature line: it must begin with "— " (U+2014, space)',
    ],
    [
      "em dash without space",
      `${TEXT}\n—PeterNeumann ${PETER_B64}\n`,
      'note line 4 is not a signature line: it must begin with "— " (U+2014, space)',
    ],
    [
      "text after the signatures",
      `${TEXT}\n${PETER_SIG}Unexpected line.\n`,
      'note line 5 is not a signature line: it must begin with "— " (U+2014, space)',
    ],
    [
      "no signature after the name",
      `${TEXT}\n— PeterNeumann\n`,
      "note line 4 has no space between key name and signature",
    ],
    ["empty key name", `${TEXT}\n—  ${PETER_B64}\n`, "note line 4 has an invalid key name"],
    ["plus in key name", `${TEXT}\n— Peter+Neumann ${PETER_B64}\n`, "note line 4 has an invalid key name"],
    [
      "space in key name",
      `${TEXT}\n— Bad Name ${PETER_B64}\n`,
      "note line 4: the signature is not canonical base64",
    ],
    [
      "trailing space",
      `${TEXT}\n${PETER_SIG.slice(0, -1)} \n`,
      "note line 4: the signature is not canonical base64",
    ],
    [
      "unpadded base64",
      `${TEXT}\n${PETER_SIG.replace("=\n", "\n")}`,
      "note line 4: the signature is not canonical base64",
    ],
    [
      "URL-safe base64",
      `${TEXT}\n— PeterNeumann ${PETER_B64.replaceAll("/", "_")}\n`,
      "note line 4: the signature is not canonical base64",
    ],
    [
      "non-zero padding bits",
      `${TEXT}\n${PETER_SIG.replace("AM=\n", "AN=\n")}`,
      "note line 4: the signature is not canonical base64",
    ],
    ["empty signature", `${TEXT}\n— PeterNeumann \n`, "note line 4: the signature is shorter than 5 bytes"],
    [
      "key hash only",
      `${TEXT}\n— PeterNeumann x08gow==\n`,
      "note line 4: the signature is shorter than 5 bytes",
    ],
  ];
  for (const [what, note, message] of malformed) {
    it(`rejects a note with ${what}`, () => {
      expectFailure(() => openNote(note, [peter()]), "bad_note", message);
    });
  }

  it("refuses to sign what it could not open", () => {
    const k = generateNoteKey("log");
    expectFailure(() => signNote("abc", [k.signer]), "bad_note", "note text must end with a newline");
    expectFailure(() => signNote("", [k.signer]), "bad_note", "note text must end with a newline");
    expectFailure(() => signNote("a\r\n", [k.signer]), "bad_note", /U\+000D/);
    expectFailure(() => signNote("a\n", []), "bad_note", "a note needs 1 to 100 signers, got 0");
    expectFailure(
      () => signNote("a\n", [{ ...k.signer, name: "bad name" }]),
      "bad_key",
      /^invalid key name "bad name"/,
    );
    expectFailure(() => signNote("a\n", [{ ...k.signer, keyHash: 2 ** 32 }]), "bad_key", /unsigned 32-bit/);
  });
});

describe("key files", () => {
  let dir = "";
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "vigil-note-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes the signer key with mode 0600 and the verifier key with 0644, and reads them back", async () => {
    const k = generateNoteKey("vigil.example/c1");
    const skPath = join(dir, "signer.key");
    const vkPath = join(dir, "verifier.pub");
    await writeSignerKey(skPath, k.signerText);
    await writeVerifierKey(vkPath, k.verifierText);
    expect((await stat(skPath)).mode & 0o777).toBe(0o600);
    expect((await stat(vkPath)).mode & 0o777).toBe(0o644);
    expect(await readFile(skPath, "utf8")).toBe(`${k.signerText}\n`);
    expect(await readFile(vkPath, "utf8")).toBe(`${k.verifierText}\n`);
    const signer = await readSignerKey(skPath);
    const [verifier] = await readVerifierKeys(vkPath);
    expect(verifier?.text).toBe(k.verifierText);
    expect(openNote(signNote("x\n", [signer]), verifier ? [verifier] : []).verifiedBy).toEqual([
      { name: "vigil.example/c1", keyHash: k.verifier.keyHash },
    ]);
  });

  it("reads several verifier keys, one per line, and names the file in errors", async () => {
    const path = join(dir, "trusted.pub");
    await writeFile(path, `${PETER_VKEY}\n\n  ${ENOCH_VKEY}  \n`);
    expect((await readVerifierKeys(path)).map((v) => v.text)).toEqual([PETER_VKEY, ENOCH_VKEY]);
    await writeFile(path, "\n");
    await expect(readVerifierKeys(path)).rejects.toThrow(`${path}: holds no verifier key`);
    await writeFile(path, `${PETER_VKEY.replace("c74f20a3", "c74f20a4")}\n`);
    await expect(readVerifierKeys(path)).rejects.toMatchObject({
      code: "bad_key",
      message: `${path}: verifier key PeterNeumann+c74f20a4 does not match its key, which hashes to PeterNeumann+c74f20a3`,
    });
  });

  it("refuses to write a malformed key and does not leave a file", async () => {
    const path = join(dir, "signer.key");
    await expect(writeSignerKey(path, PETER_VKEY)).rejects.toMatchObject({ code: "bad_key" });
    await expect(stat(path)).rejects.toMatchObject({ code: "ENOENT" });
    await writeFile(path, "PRIVATE+KEY+x+00000000+AQAA\n");
    await expect(readSignerKey(path)).rejects.toThrow(
      `${path}: the signer key x holds a 2-byte key; Ed25519 keys are 32 bytes`,
    );
  });
});
