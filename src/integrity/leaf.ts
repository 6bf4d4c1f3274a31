/**
 * The Merkle leaf of a sealed record (issue 3): the RFC 6962 leaf hash of the record's RFC 8785 canonical form,
 *   {"event":<canonical event>,"integrity":{"key_id":…,"previous_signature":…,"sequence_number":n,"signature":…}}
 * Leaf index = sequence_number − 1. The event bytes are taken as parseRecord found them (canonical for a line in
 * the sealer's own layout, re-canonicalized otherwise), so the leaf is the same whoever re-serialized the line.
 */
import type { Integrity, ParsedRecord } from "./chain.ts";
import { leafHash } from "./merkle.ts";

function integrityTail(i: Integrity): string {
  return (
    `,"integrity":{"key_id":${JSON.stringify(i.key_id)},"previous_signature":${JSON.stringify(i.previous_signature)},` +
    `"sequence_number":${i.sequence_number},"signature":${JSON.stringify(i.signature)}}}`
  );
}

/** The canonical bytes of a sealed record. */
export function canonicalRecord(record: ParsedRecord): Buffer {
  return Buffer.concat([
    Buffer.from('{"event":'),
    record.event,
    Buffer.from(integrityTail(record.integrity)),
  ]);
}

/** The record's RFC 6962 leaf hash. */
export function recordLeafHash(record: ParsedRecord): Buffer {
  return leafHash(canonicalRecord(record));
}
