import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthRuntime } from './auth-runtime';
import type { Principal } from '../auth/principal';

/** What every administration route shares: the check that the caller may administer, and the audit of a change. */
export interface AdminContext {
  auth: AuthRuntime;
  /** The registry's service name: an OIDC rule's audience unless it names another. */
  service: string;
  allowHttpIssuers: boolean;
  /** Checks the caller may administer (policy: `admin`, which the built-in roles give MFA sessions only). */
  admin(req: IncomingMessage, res: ServerResponse): Promise<Principal>;
  /** Logs and audits a change, attributed to the administrator. */
  changed(req: IncomingMessage, who: Principal, type: string, detail: Record<string, string | number>): Promise<void>;
}
