/**
 * The native format: the sealed record line itself, byte for byte, so what a destination stores verifies with
 * `vigil verify` exactly as the journal does.
 */
import type { Encoder, SealedRecord } from "../encoder.ts";

export function createNativeEncoder(): Encoder {
  return {
    format: "native",
    mediaType: "application/json",
    encode: (record: SealedRecord) =>
      Buffer.from(record.line.buffer, record.line.byteOffset, record.line.byteLength).toString("utf8"),
  };
}
