import type { Request } from 'express';
import { OciError } from '../oci/errors';

/** One query parameter as a string; a repeated parameter is ambiguous and refused. */
export function queryParam(req: Request, name: string): string | undefined {
  const v = (req.query as Record<string, unknown>)[name];
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v;
  throw new OciError('UNSUPPORTED', `query parameter "${name}" given more than once`, { parameter: name }, { status: 400 });
}
