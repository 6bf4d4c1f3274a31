/**
 * The Kafka wire protocol's primitive types: a bounds-checked `Reader` over a received frame and a growing
 * `Writer` for the frames Vigil encodes itself.
 *
 * Everything is big-endian, as Kafka writes it. Fixed-size integers: int8, int16, uint16, int32, uint32, int64
 * (read as bigint, because offsets and producer ids exceed 2^53). Variable-length integers: the unsigned varint
 * of flexible versions' lengths and tag numbers (at most 5 bytes, at most 2^32-1), and the zigzag varint/varlong
 * of record batches (at most 5 and 10 bytes). A uuid is 16 bytes, shown as Kafka prints a `Uuid`: URL-safe
 * base64 without padding (22 characters, e.g. a topic id as `kafka-topics.sh --describe` shows it).
 *
 * Strings, bytes and arrays come in two encodings: classic (int16 length for strings, int32 for bytes and
 * arrays, -1 for null) and compact (flexible versions: unsigned varint of length + 1, 0 for null). Bytes are
 * returned as slices of the frame, never copied, so a 1 MB record set costs nothing to "read".
 *
 * Hostile input: every read checks the bytes left first and throws `KafkaProtocolError`, naming what it read and
 * the offset, instead of Node's RangeError. A length is checked against the bytes left before anything is
 * allocated or looped over (an array of n elements of at least m bytes needs n * m bytes), and a varint that
 * does not end within its maximum size is refused, so a frame can neither allocate more than its own size nor
 * make a loop run longer than its length.
 */

/** Malformed or unsupported Kafka protocol data (or a value that cannot be encoded). */
export class KafkaProtocolError extends Error {
  override name = "KafkaProtocolError";
  /** Where in the message, as a path of field names and [indexes]; empty at the top. */
  #path = "";
  readonly #detail: string;

  constructor(detail: string) {
    super(detail);
    this.#detail = detail;
  }

  /** Prefixes a field name or an `[index]` to the path while the error unwinds out of a nested struct. */
  within(segment: string): this {
    this.#path =
      this.#path === "" || this.#path.startsWith("[") ? segment + this.#path : `${segment}.${this.#path}`;
    this.message = `${this.#path}: ${this.#detail}`;
    return this;
  }

  /** Prefixes the message name and version (the outermost context). */
  inMessage(what: string): this {
    this.message = `${what}: ${this.message}`;
    return this;
  }
}

const UINT32_MAX = 0xffff_ffff;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** 16 bytes in base64url: 21 characters, then one carrying the last 4 bits (its low 2 bits zero). */
const UUID_BASE64 = /^[A-Za-z0-9_-]{21}[AEIMQUYcgkosw048]$/;

/**
 * Reads Kafka primitives from `buf` between `pos` and `end`. `pos` advances as values are read; callers may
 * look at it (offsets in errors, body offsets) but move it only through the methods.
 */
export class Reader {
  readonly buf: Buffer;
  pos: number;
  readonly end: number;

  constructor(buf: Buffer, pos = 0, end = buf.length) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /** Throws unless `n` more bytes can be read. */
  need(n: number, what: string): void {
    if (this.end - this.pos < n) {
      throw new KafkaProtocolError(
        `truncated ${what} at offset ${this.pos}: needs ${n} bytes, ${this.end - this.pos} left`,
      );
    }
  }

  int8(): number {
    this.need(1, "int8");
    return this.buf.readInt8(this.pos++);
  }

  int16(): number {
    this.need(2, "int16");
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  uint16(): number {
    this.need(2, "uint16");
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    this.need(4, "int32");
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint32(): number {
    this.need(4, "uint32");
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  int64(): bigint {
    this.need(8, "int64");
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  float64(): number {
    this.need(8, "float64");
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  /** Any non-zero byte is true, as Kafka reads it. */
  bool(): boolean {
    this.need(1, "bool");
    return this.buf[this.pos++] !== 0;
  }

  uuid(): string {
    this.need(16, "uuid");
    const v = this.buf.toString("base64url", this.pos, this.pos + 16);
    this.pos += 16;
    return v;
  }

  /** Unsigned varint (lengths and tags of flexible versions): at most 5 bytes, at most 2^32-1. */
  uvarint(): number {
    const start = this.pos;
    let value = 0;
    for (let i = 0; i < 5; i++) {
      if (this.pos >= this.end) {
        throw new KafkaProtocolError(`truncated unsigned varint at offset ${start}`);
      }
      const b = this.buf[this.pos++] as number;
      value += (b & 0x7f) * 2 ** (7 * i);
      if (b < 0x80) {
        if (value > UINT32_MAX) break;
        return value;
      }
    }
    throw new KafkaProtocolError(`unsigned varint at offset ${start} exceeds 32 bits`);
  }

  /** Zigzag varint (record fields): at most 5 bytes, an int32. */
  varint(): number {
    const u = this.uvarint();
    return (u >>> 1) ^ -(u & 1);
  }

  /** Zigzag varlong (record fields): at most 10 bytes, an int64. */
  varlong(): bigint {
    const start = this.pos;
    let value = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new KafkaProtocolError(`truncated varlong at offset ${start}`);
      const b = this.buf[this.pos++] as number;
      value |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) {
        if (value > 0xffff_ffff_ffff_ffffn) break;
        return (value >> 1n) ^ -(value & 1n);
      }
    }
    throw new KafkaProtocolError(`varlong at offset ${start} exceeds 64 bits`);
  }

  /** The length of a classic string: int16, -1 for null (when allowed). */
  #stringLength(nullable: boolean): number {
    const at = this.pos;
    const n = this.int16();
    if (n < 0 && !(n === -1 && nullable)) throw badLength("string", n, at, nullable);
    return n;
  }

  /** The length of a compact string or bytes: unsigned varint of length + 1, 0 for null (when allowed). */
  #compactLength(what: string, nullable: boolean): number {
    const at = this.pos;
    const n = this.uvarint() - 1;
    if (n < 0 && !nullable) throw badLength(what, n, at, nullable);
    return n;
  }

  #utf8(n: number, what: string): string {
    this.need(n, what);
    const v = this.buf.toString("utf8", this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  #slice(n: number, what: string): Buffer {
    this.need(n, what);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  string(): string {
    return this.#utf8(this.#stringLength(false), "string");
  }

  nullableString(): string | null {
    const n = this.#stringLength(true);
    return n < 0 ? null : this.#utf8(n, "string");
  }

  compactString(): string {
    return this.#utf8(this.#compactLength("compact string", false), "compact string");
  }

  compactNullableString(): string | null {
    const n = this.#compactLength("compact string", true);
    return n < 0 ? null : this.#utf8(n, "compact string");
  }

  /** int32 length and the bytes, as a slice of the frame (no copy). */
  bytes(): Buffer {
    const at = this.pos;
    const n = this.int32();
    if (n < 0) throw badLength("bytes", n, at, false);
    return this.#slice(n, "bytes");
  }

  nullableBytes(): Buffer | null {
    const at = this.pos;
    const n = this.int32();
    if (n < -1) throw badLength("bytes", n, at, true);
    return n < 0 ? null : this.#slice(n, "bytes");
  }

  compactBytes(): Buffer {
    return this.#slice(this.#compactLength("compact bytes", false), "compact bytes");
  }

  compactNullableBytes(): Buffer | null {
    const n = this.#compactLength("compact bytes", true);
    return n < 0 ? null : this.#slice(n, "compact bytes");
  }

  /** `n` raw bytes as a slice of the frame. */
  raw(n: number): Buffer {
    return this.#slice(n, "bytes");
  }

  /**
   * A classic array's length (int32; -1 for null when `nullable`, returned as -1), checked against the bytes
   * left: `n` elements of at least `minSize` bytes (at least 1) must fit.
   */
  arrayLength(minSize: number, nullable: boolean): number {
    const at = this.pos;
    const n = this.int32();
    if (n < 0) {
      if (n === -1 && nullable) return -1;
      throw badLength("array", n, at, nullable);
    }
    this.#fits(n, minSize, at);
    return n;
  }

  /** A compact array's length (unsigned varint of n + 1, 0 for null returned as -1), checked like arrayLength. */
  compactArrayLength(minSize: number, nullable: boolean): number {
    const at = this.pos;
    const n = this.uvarint() - 1;
    if (n < 0) {
      if (nullable) return -1;
      throw badLength("compact array", n, at, nullable);
    }
    this.#fits(n, minSize, at);
    return n;
  }

  #fits(n: number, minSize: number, at: number): void {
    if (n * Math.max(minSize, 1) > this.end - this.pos) {
      throw new KafkaProtocolError(
        `array of ${n} elements at offset ${at} cannot fit in the ${this.end - this.pos} bytes left`,
      );
    }
  }

  /**
   * A tagged-field section (flexible versions): the count, then per field its tag, size and value. `visit` gets
   * each field with a Reader bounded to its value and must read all of it. Tags may come in any order, as Kafka's own reader accepts them.
   */
  taggedFields(visit: (tag: number, field: Reader) => void): void {
    const at = this.pos;
    const count = this.uvarint();
    if (count * 2 > this.end - this.pos) {
      throw new KafkaProtocolError(
        `${count} tagged fields at offset ${at} cannot fit in the ${this.end - this.pos} bytes left`,
      );
    }
    for (let i = 0; i < count; i++) {
      const tag = this.uvarint();
      const size = this.uvarint();
      this.need(size, `tagged field ${tag}`);
      const field = new Reader(this.buf, this.pos, this.pos + size);
      visit(tag, field);
      if (field.pos !== field.end) {
        throw new KafkaProtocolError(
          `tagged field ${tag} at offset ${this.pos} has ${size} bytes but its value took ${field.pos - this.pos}`,
        );
      }
      this.pos += size;
    }
  }
}

function badLength(what: string, n: number, at: number, nullable: boolean): KafkaProtocolError {
  return new KafkaProtocolError(
    `${what} length ${n} at offset ${at} is invalid${n === -1 && !nullable ? " (null where not nullable)" : ""}`,
  );
}

/**
 * Writes Kafka primitives into a buffer that doubles as needed. Values are checked (an int16 must be an integer
 * in range, an int64 a bigint in range, a uuid 22 base64url characters …): a wrong value throws
 * KafkaProtocolError naming the type, never writes garbage.
 */
export class Writer {
  #buf: Buffer;
  pos = 0;

  constructor(initialSize = 256) {
    this.#buf = Buffer.allocUnsafe(initialSize);
  }

  #ensure(n: number): void {
    if (this.pos + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.#buf.copy(grown, 0, 0, this.pos);
    this.#buf = grown;
  }

  /** The bytes written so far (a view of the internal buffer; the writer must not be used afterwards). */
  finish(): Buffer {
    return this.#buf.subarray(0, this.pos);
  }

  int8(v: unknown): void {
    const n = integer(v, "int8", -0x80, 0x7f);
    this.#ensure(1);
    this.#buf.writeInt8(n, this.pos++);
  }

  int16(v: unknown): void {
    const n = integer(v, "int16", -0x8000, 0x7fff);
    this.#ensure(2);
    this.pos = this.#buf.writeInt16BE(n, this.pos);
  }

  uint16(v: unknown): void {
    const n = integer(v, "uint16", 0, 0xffff);
    this.#ensure(2);
    this.pos = this.#buf.writeUInt16BE(n, this.pos);
  }

  int32(v: unknown): void {
    const n = integer(v, "int32", -0x8000_0000, 0x7fff_ffff);
    this.#ensure(4);
    this.pos = this.#buf.writeInt32BE(n, this.pos);
  }

  uint32(v: unknown): void {
    const n = integer(v, "uint32", 0, UINT32_MAX);
    this.#ensure(4);
    this.pos = this.#buf.writeUInt32BE(n, this.pos);
  }

  /** Overwrites an int32 written earlier (a size prefix). */
  int32At(at: number, v: number): void {
    this.#buf.writeInt32BE(v, at);
  }

  int64(v: unknown): void {
    if (typeof v !== "bigint" || v < INT64_MIN || v > INT64_MAX) throw wrongValue("int64 (a bigint)", v);
    this.#ensure(8);
    this.pos = this.#buf.writeBigInt64BE(v, this.pos);
  }

  float64(v: unknown): void {
    if (typeof v !== "number") throw wrongValue("float64", v);
    this.#ensure(8);
    this.pos = this.#buf.writeDoubleBE(v, this.pos);
  }

  bool(v: unknown): void {
    if (typeof v !== "boolean") throw wrongValue("bool", v);
    this.#ensure(1);
    this.#buf[this.pos++] = v ? 1 : 0;
  }

  uuid(v: unknown): void {
    if (typeof v !== "string" || !UUID_BASE64.test(v)) throw wrongValue("uuid (22 base64url characters)", v);
    this.#ensure(16);
    this.pos += this.#buf.write(v, this.pos, 16, "base64url");
  }

  uvarint(v: number): void {
    const n = integer(v, "unsigned varint", 0, UINT32_MAX);
    this.#ensure(5);
    let rest = n;
    while (rest >= 0x80) {
      this.#buf[this.pos++] = (rest & 0x7f) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.#buf[this.pos++] = rest;
  }

  varint(v: unknown): void {
    const n = integer(v, "varint", -0x8000_0000, 0x7fff_ffff);
    this.uvarint(((n << 1) ^ (n >> 31)) >>> 0);
  }

  varlong(v: unknown): void {
    if (typeof v !== "bigint" || v < INT64_MIN || v > INT64_MAX) throw wrongValue("varlong (a bigint)", v);
    let rest = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
    this.#ensure(10);
    while (rest >= 0x80n) {
      this.#buf[this.pos++] = Number(rest & 0x7fn) | 0x80;
      rest >>= 7n;
    }
    this.#buf[this.pos++] = Number(rest);
  }

  #text(v: unknown, what: string, nullable: boolean, compact: boolean): void {
    if (v === null && nullable) {
      if (compact) this.uvarint(0);
      else this.int16(-1);
      return;
    }
    if (typeof v !== "string") throw wrongValue(nullable ? `nullable ${what}` : what, v);
    const n = Buffer.byteLength(v);
    if (compact) this.uvarint(n + 1);
    else if (n > 0x7fff) throw new KafkaProtocolError(`string of ${n} bytes exceeds the int16 length`);
    else this.int16(n);
    this.#ensure(n);
    this.pos += this.#buf.write(v, this.pos, n, "utf8");
  }

  string(v: unknown): void {
    this.#text(v, "string", false, false);
  }

  nullableString(v: unknown): void {
    this.#text(v, "string", true, false);
  }

  compactString(v: unknown): void {
    this.#text(v, "string", false, true);
  }

  compactNullableString(v: unknown): void {
    this.#text(v, "string", true, true);
  }

  #binary(v: unknown, nullable: boolean, compact: boolean): void {
    if (v === null && nullable) {
      if (compact) this.uvarint(0);
      else this.int32(-1);
      return;
    }
    if (!Buffer.isBuffer(v)) throw wrongValue(nullable ? "nullable bytes (a Buffer)" : "bytes (a Buffer)", v);
    if (compact) this.uvarint(v.length + 1);
    else this.int32(v.length);
    this.raw(v);
  }

  bytes(v: unknown): void {
    this.#binary(v, false, false);
  }

  nullableBytes(v: unknown): void {
    this.#binary(v, true, false);
  }

  compactBytes(v: unknown): void {
    this.#binary(v, false, true);
  }

  compactNullableBytes(v: unknown): void {
    this.#binary(v, true, true);
  }

  raw(v: Buffer): void {
    this.#ensure(v.length);
    this.pos += v.copy(this.#buf, this.pos);
  }

  /** A classic array's length, -1 for null. */
  arrayLength(n: number): void {
    this.int32(n);
  }

  /** A compact array's length: n + 1, 0 for null (n = -1). */
  compactArrayLength(n: number): void {
    this.uvarint(n + 1);
  }
}

function integer(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) throw wrongValue(what, v);
  return v;
}

function wrongValue(what: string, v: unknown): KafkaProtocolError {
  const shown = typeof v === "bigint" ? `${v}n` : typeof v === "string" ? JSON.stringify(v) : String(v);
  return new KafkaProtocolError(`expected ${what}, got ${typeof v} ${shown.slice(0, 40)}`);
}
