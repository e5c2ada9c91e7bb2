/**
 * Who performs a registry operation. The core never sees an HTTP request: the HTTP layer, the CLI and
 * the registry's own background work each describe their caller with this value.
 */
export interface Actor {
  /** The principal: `user:<name>`, `robot:<name>`, `oidc:<rule>`, `anonymous`, or `system` for the registry itself. */
  id: string;
  kind: 'user' | 'robot' | 'federated' | 'anonymous' | 'system';
  /** How the caller proved who it is: `token`, `basic`, `none` (anonymous), `local` (the CLI, the registry). */
  authenticatedBy: 'token' | 'basic' | 'none' | 'local';
  /** The client's address, as the trusted proxy chain gives it. */
  source?: string;
  userAgent?: string;
  /** The request id that ties the operation to its log line and audit events. */
  requestId?: string;
  /** For an OIDC-federated CI job: the token's issuer, subject and claims, recorded as the push's provenance. */
  federated?: { issuer: string; subject: string; claims?: Record<string, string> };
  /**
   * The registries (their `audit.origin`) a replicated change passed through before it reached this one,
   * from the `Cairn-Replicated-Via` header: it is never sent back to any of them.
   */
  replicatedVia?: string[];
  /** Whether the actor may take `action` on another repository than the one it was let in for. */
  can(action: string, repository: string): boolean;
}

/** The registry acting on its own behalf (receipts, re-checks, retention): may do everything. */
export function systemActor(requestId?: string): Actor {
  return {
    id: 'system',
    kind: 'system',
    authenticatedBy: 'local',
    ...(requestId ? { requestId } : {}),
    can: () => true,
  };
}

/** The part of an audit event the actor gives: who, from where, with what, under which request. */
export function actorFields(actor: Actor): {
  identity: string;
  source?: string;
  userAgent?: string;
  requestId?: string;
} {
  return {
    identity: actor.id,
    ...(actor.source ? { source: actor.source } : {}),
    ...(actor.userAgent ? { userAgent: actor.userAgent } : {}),
    ...(actor.requestId ? { requestId: actor.requestId } : {}),
  };
}
