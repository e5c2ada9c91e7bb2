/** Who a request acts as, once authenticated. */
export type PrincipalKind = 'user' | 'robot' | 'federated' | 'anonymous';

export interface Principal {
  /** `user:<name>`, `robot:<name>`, `oidc:<rule>` or `anonymous`: the subject of tokens and role bindings. */
  id: string;
  kind: PrincipalKind;
  name: string;
  groups: string[];
  /** Authenticated with a second factor (directly, or through a token obtained with one). */
  mfa: boolean;
  /** The personal access token or refresh token used, so that revoking it stops what it minted. */
  credential?: string;
  /** For federated identities: the token's issuer and subject, kept for the audit trail. */
  federated?: { issuer: string; subject: string; claims?: Record<string, string> };
}

export const ANONYMOUS: Principal = { id: 'anonymous', kind: 'anonymous', name: 'anonymous', groups: [], mfa: false };

/** The actions policies decide on. */
export const ACTIONS = ['pull', 'push', 'delete', 'tag', 'approve', 'admin', 'read-audit'] as const;
export type Action = (typeof ACTIONS)[number];
/** The actions a repository scope in a token may carry. */
export const REPOSITORY_ACTIONS: Action[] = ['pull', 'push', 'delete', 'tag', 'approve'];

export interface AccessEntry {
  type: 'repository' | 'registry';
  name: string;
  actions: string[];
}
