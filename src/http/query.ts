import { OciError } from '../oci/errors';
import type { RequestContext } from './context';

/** One query parameter; a repeated parameter is ambiguous and refused. */
export function queryParam(ctx: RequestContext, name: string): string | undefined {
  const all = ctx.query.getAll(name);
  if (all.length === 0) return undefined;
  if (all.length > 1) {
    throw new OciError('PARAMETER_INVALID', `query parameter "${name}" given more than once`, { parameter: name });
  }
  return all[0];
}
