// The peer-metadata codec: a small string map stored as JSON in a slot, so a
// reader in any language can decode it. The writer (registry) and the readers
// (ClusterView) share it.
import { CommyError, ErrorCode } from '../errors.js';
import { layout } from './index.js';

/** Metadata is stored as JSON so any language can read it from the region. */
export function encodeMetadata(metadata: Record<string, string>): Buffer {
  const encoded = Buffer.from(JSON.stringify(metadata), 'utf8');
  if (encoded.length > layout.slot.metadataBytes)
    throw new CommyError(
      ErrorCode.MetadataTooLarge,
      `metadata encodes to ${encoded.length} bytes; the limit is ${layout.slot.metadataBytes}`,
    );
  return encoded;
}

/** Decodes untrusted region bytes; anything but a map of strings reads as empty. */
export function decodeMetadata(bytes: Buffer): Record<string, string> {
  if (bytes.length === 0) return {};
  try {
    const v: unknown = JSON.parse(bytes.toString('utf8'));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return {};
    return Object.fromEntries(Object.entries(v).filter(([, x]) => typeof x === 'string')) as Record<string, string>;
  } catch {
    return {};
  }
}
