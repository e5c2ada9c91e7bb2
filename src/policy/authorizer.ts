import type { Action, Principal } from '../auth/principal';

/** What a policy decision is about. */
export type AuthzResource =
  { type: 'repository'; name: string } | { type: 'namespace'; name: string } | { type: 'registry' };

export interface AuthzRequest {
  principal: Principal;
  action: Action;
  resource: AuthzResource;
  /** targetStage: for lifecycle moves, the stage asked for (policies may allow some moves and not others). */
  context: { sourceIp: string; now?: Date; targetStage?: string };
}

export interface Decision {
  allowed: boolean;
  /** The ids of the policies that decided (the permits that allowed, or the forbids that denied). */
  policies: string[];
  /** Policies that could not be evaluated for this request (they count as not applying). */
  errors: string[];
}

/** Authorization: default deny; every implementation answers from policy, never from a hard-coded rule. */
export interface Authorizer {
  authorize(request: AuthzRequest): Decision;
}
