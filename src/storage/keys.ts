import { tryParseDigest, type ParsedDigest } from '../oci/digest';

/**
 * What every BlobStore accepts as names, checked before any key or path is built from them, so that no
 * digest or upload id can reach outside the store's namespace.
 */
export const STAGE_ID = /^[A-Za-z0-9_-]{1,128}$/;

export function storedDigest(digest: string): ParsedDigest {
  const d = tryParseDigest(digest);
  if (!d) throw new Error(`invalid digest: ${digest.slice(0, 200)}`);
  return d;
}

export function assertStageId(id: string): void {
  if (!STAGE_ID.test(id)) throw new Error(`invalid upload id: ${id.slice(0, 200)}`);
}
