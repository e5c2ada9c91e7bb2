import type { ArtifactIndex } from '../catalog/artifact-index';
import type { AuditLog } from '../audit/audit-log';
import type { IdentityStore } from '../auth/identity-store';
import type { ArtifactMetadata } from '../artifacts/metadata';
import type { RegistryHooks } from '../core/hooks';
import type { Governance, Stage } from './governance';
import { governanceDenied } from './governance-checks';
import { evaluateTransition } from './lifecycle-rules';

export interface LifecycleCheckDeps {
  governance: Pick<Governance, 'current'>;
  artifacts: Pick<ArtifactIndex, 'approvals'>;
  /** The resource labels: a sensitive repository needs more approvals. */
  identities: Pick<IdentityStore, 'listLabels'>;
  audit: Pick<AuditLog, 'append'>;
}

/** The sensitivity label of the repository or, failing that, of its nearest labelled namespace. */
async function sensitivityOf(s: LifecycleCheckDeps, repository: string): Promise<string | undefined> {
  const labels = new Map((await s.identities.listLabels()).map((l) => [l.name, l]));
  const own = labels.get(repository)?.sensitivity;
  if (own) return own;
  const parts = repository.split('/');
  for (let i = parts.length - 1; i >= 1; i--) {
    const l = labels.get(`${parts.slice(0, i).join('/')}/`)?.sensitivity;
    if (l) return l;
  }
  return undefined;
}

/**
 * The governance rules of a lifecycle move: allowed transitions, four eyes (the publisher never approves
 * their own artifact), the number of approvals, metrics and evidence required before approval. A refusal
 * is in the audit log with the rule that said no.
 */
export function registerLifecycleChecks(hooks: RegistryHooks, s: LifecycleCheckDeps): void {
  hooks.stageMove.check('lifecycle-rules', 'governance', async (m, actor) => {
    const a = m.artifact;
    const from = a.stage as Stage;
    const to = m.to as Stage;
    const verdict = evaluateTransition(s.governance.current(), {
      repository: a.repository,
      from,
      to,
      metadata: a.metadata as unknown as ArtifactMetadata,
      actor: actor.id,
      publisher: a.pushedBy,
      approvals: from === 'candidate' ? await s.artifacts.approvals(a.id) : [],
      sensitivity: await sensitivityOf(s, a.repository),
      now: new Date(),
      ...(m.trust ? { evidence: { signatures: m.trust.signatures, attestations: m.trust.attestations } } : {}),
    });
    if (!verdict.ok) {
      throw await governanceDenied(s.audit, actor, {
        rule: verdict.problems[0]!.rule,
        action: to === 'draft' || to === 'candidate' ? 'push' : 'approve',
        repository: a.repository,
        digest: a.digest,
        message: `cannot move ${a.repository}@${a.digest} from ${from} to ${to}: ${verdict.problems.map((p) => p.message).join('; ')}`,
        detail: { from, to, rules: [...new Set(verdict.problems.map((p) => p.rule))].join(',') },
      });
    }
    m.verdict = { stage: verdict.stage, approvals: verdict.approvals, required: verdict.required };
  });
}
