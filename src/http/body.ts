import type { IncomingMessage } from 'node:http';
import { OciError } from '../oci/errors';

/**
 * Reads a small request body (a manifest) into memory, refusing it as soon as it passes `max` bytes so
 * that an oversized or endless body cannot exhaust memory.
 */
export async function readLimitedBody(req: IncomingMessage, max: number, what: string): Promise<Buffer> {
  const tooLarge = () => new OciError('MANIFEST_INVALID', `${what} too large`, { limit: max }, { status: 413 });
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > max) throw tooLarge();
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > max) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}
