import type { Action, Principal } from '../auth/principal';

/** What the access gate established about a request, for the handlers that refine it. */
export interface AuthState {
  principal: Principal;
  /** A token past its expiry, accepted only to continue an upload its principal opened. */
  expired: boolean;
  /** Whether the principal may take `action` on another repository (mount sources, catalog entries). */
  can(action: Action, repository: string): boolean;
}
