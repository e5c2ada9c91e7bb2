import type { Requirement } from '../http/access-gate';
import type { Action } from '../auth/principal';

/** A route's requirement on its repository (the first path parameter). */
export const repo =
  (actions: Action[], upload = false) =>
  (_m: string, p: string[]): Requirement => ({ kind: 'repository', name: p[0]!, actions, upload });

/** A read that also lists artifacts of other repositories, each shown only where policy allows pull. */
export const browse =
  (actions: Action[]) =>
  (_m: string, p: string[]): Requirement => ({ kind: 'repository', name: p[0]!, actions, browse: true });
