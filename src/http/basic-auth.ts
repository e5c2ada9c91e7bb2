import type { IncomingMessage } from 'node:http';
import { OciError } from '../oci/errors';

/** The user name and password of an `Authorization: Basic` header, or undefined when there is none. */
export function basicCredentials(req: IncomingMessage): { username: string; password: string } | undefined {
  const h = req.headers.authorization;
  if (h === undefined) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=]{1,16384})\s*$/i.exec(h);
  if (!m)
    throw new OciError('UNAUTHORIZED', 'use Basic authentication here', undefined, {
      headers: { 'WWW-Authenticate': 'Basic realm="cairn"' },
    });
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i < 0)
    throw new OciError('UNAUTHORIZED', 'malformed Basic credentials', undefined, {
      headers: { 'WWW-Authenticate': 'Basic realm="cairn"' },
    });
  return { username: text.slice(0, i), password: text.slice(i + 1) };
}
