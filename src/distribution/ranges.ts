import { OciError } from '../oci/errors';
import type { ByteRange } from '../storage/blob-store';

/**
 * The Content-Range of a chunk PATCH: `<start>-<end>` as the spec writes it; the `bytes ` prefix and a
 * `/total` suffix that some clients add by habit from RFC 9110 are accepted too.
 */
export function parseChunkRange(header: string): ByteRange {
  const m = /^(?:bytes[ =])?(\d{1,16})-(\d{1,16})(?:\/(?:\d{1,16}|\*))?$/.exec(header.trim());
  if (!m) {
    throw new OciError('BLOB_UPLOAD_INVALID', 'malformed Content-Range', {
      contentRange: header,
      expected: '<start>-<end>',
    });
  }
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start) {
    throw new OciError(
      'BLOB_UPLOAD_INVALID',
      'Content-Range ends before it starts',
      { contentRange: header },
      { status: 416 },
    );
  }
  return { start, end };
}

export type RangeRequest = ByteRange | 'unsatisfiable' | undefined;

/**
 * A blob GET's Range header against a blob of `size` bytes. Undefined means "send it all" (no header, a
 * unit we do not serve, or several ranges, which RFC 9110 lets a server ignore).
 */
export function parseRangeHeader(header: string | undefined, size: number): RangeRequest {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || (m[2] !== '' && Number(m[2]) < start)) return 'unsatisfiable';
  return { start, end };
}
