import type { IncomingMessage, ServerResponse } from 'node:http';
import { OciError } from '../../oci/errors';
import { readLimitedBody } from '../../http/body';
import { sendJson } from '../../http/respond';
import type { RequestContext } from '../../http/context';
import type { ArtifactApiDeps } from './deps';
import { auditChange } from '../../audit/actor-events';
import { governanceDenied } from '../../policy/governance-checks';
import { actorOf } from '../../http/actor';
import { STAGES, type Stage } from '../../policy/governance';
import { evaluateTransition } from '../../policy/lifecycle-rules';
import type { ArtifactMetadata } from '../metadata';
import { describeArtifact, resolveArtifact } from './resolve';
import { trustReport } from '../../signing/enforce';
import { evidenceOf } from '../../signing/trust-evaluation';

export function targetStage(ctx: RequestContext): Stage {
  const to = ctx.query.get('to') ?? '';
  if (!(STAGES as readonly string[]).includes(to))
    throw new OciError('PARAMETER_INVALID', `?to= must be one of ${STAGES.join(', ')}`, { to: to.slice(0, 50) });
  return to as Stage;
}

async function reasonOf(req: IncomingMessage): Promise<string | undefined> {
  const body = await readLimitedBody(req, 16 * 1024, 'request');
  if (body.length === 0) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw new OciError('PARAMETER_INVALID', 'the body must be JSON: {"reason": "…"}', undefined);
  }
  const reason = (doc as { reason?: unknown })?.reason;
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > 1000))
    throw new OciError('PARAMETER_INVALID', 'reason must be a string of at most 1000 characters', undefined);
  return reason as string | undefined;
}

/** The sensitivity label of the repository or, failing that, of its nearest labelled namespace. */
async function sensitivityOf(s: ArtifactApiDeps, repository: string): Promise<string | undefined> {
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
 * POST /v2/<name>/_cairn/lifecycle/<reference>?to=<stage> with an optional {"reason"}: moves an artifact
 * through draft → candidate → approved → deprecated → retired. The access gate has already decided that
 * the caller may take the move's action (push to publish, approve for the rest); the governance rules
 * decide the rest here, and every outcome (a move, an approval short of the number required, a refusal)
 * is in the audit log.
 */
export async function moveLifecycle(
  s: ArtifactApiDeps,
  repository: string,
  reference: string,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  const to = targetStage(ctx);
  const reason = await reasonOf(req);
  const a = await resolveArtifact(s, repository, reference);
  const from = a.stage as Stage;
  const actor = ctx.auth?.principal.id ?? 'anonymous';
  const approvals = from === 'candidate' ? await s.artifacts.approvals(a.id) : [];
  const trust = await trustReport(s, repository, a.digest);
  const verdict = evaluateTransition(s.governance.current(), {
    repository,
    from,
    to,
    metadata: a.metadata as unknown as ArtifactMetadata,
    actor,
    publisher: a.pushedBy,
    approvals,
    sensitivity: await sensitivityOf(s, repository),
    now: new Date(),
    evidence: evidenceOf(trust),
  });
  // A repository whose trust policy is enforced approves only what satisfies it.
  if (verdict.ok && to === 'approved' && from === 'candidate' && trust.mode === 'enforce' && !trust.satisfied) {
    throw await governanceDenied(s.audit, actorOf(ctx, s.config.auth.trustProxy), {
      rule: 'trust-policy',
      action: 'approve',
      repository,
      digest: a.digest,
      message: `cannot approve ${repository}@${a.digest}: the trust policy requires ${trust.missing.join('; ')}`,
      detail: { from, to, missing: trust.missing.join('; ').slice(0, 1000) },
    });
  }
  if (!verdict.ok) {
    throw await governanceDenied(s.audit, actorOf(ctx, s.config.auth.trustProxy), {
      rule: verdict.problems[0]!.rule,
      action: to === 'draft' || to === 'candidate' ? 'push' : 'approve',
      repository,
      digest: a.digest,
      message: `cannot move ${repository}@${a.digest} from ${from} to ${to}: ${verdict.problems.map((p) => p.message).join('; ')}`,
      detail: { from, to, rules: [...new Set(verdict.problems.map((p) => p.rule))].join(',') },
    });
  }
  const approving = to === 'approved' && from === 'candidate';
  const done = await s.artifacts
    .transition(repository, a.digest, {
      from,
      to: verdict.stage,
      by: actor,
      ...(reason ? { reason } : {}),
      ...(approving ? { approval: actor } : {}),
      clearApprovals: verdict.stage === 'draft',
    })
    .catch(() => false);
  if (!done)
    throw new OciError('CONFLICT', 'the artifact changed stage meanwhile; read it again and retry', {
      repository,
      digest: a.digest,
    });

  const moved = verdict.stage !== from;
  await auditChange(s.audit, actorOf(ctx, s.config.auth.trustProxy), {
    type: moved ? 'lifecycle.stage' : 'lifecycle.approve',
    action: to === 'draft' || to === 'candidate' ? 'push' : 'approve',
    repository,
    digest: a.digest,
    decision: 'allow',
    detail: {
      from,
      to: verdict.stage,
      ...(reason ? { reason: reason.slice(0, 500) } : {}),
      ...(approving ? { approvals: verdict.approvals.join(','), required: verdict.required } : {}),
    },
  });
  const after = await s.artifacts.get(repository, a.digest);
  sendJson(
    res,
    moved ? 200 : 202,
    describeArtifact(after ?? a, {
      previousStage: from,
      ...(approving ? { approvals: verdict.approvals, approvalsRequired: verdict.required } : {}),
    }),
  );
}

/** POST /v2/<name>/_cairn/compromised/<reference> {"reason"}: flags an artifact; see the impact query. */
export async function markCompromised(
  s: ArtifactApiDeps,
  repository: string,
  reference: string,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  const reason = await reasonOf(req);
  if (!reason) throw new OciError('PARAMETER_INVALID', 'say why: {"reason": "…"}', undefined);
  const a = await resolveArtifact(s, repository, reference);
  await s.artifacts.markCompromised(repository, a.digest, reason, Date.now());
  await auditChange(s.audit, actorOf(ctx, s.config.auth.trustProxy), {
    type: 'artifact.compromised',
    action: 'approve',
    repository,
    digest: a.digest,
    decision: 'allow',
    detail: { reason: reason.slice(0, 500) },
  });
  const after = await s.artifacts.get(repository, a.digest);
  sendJson(res, 200, describeArtifact(after ?? a, { impact: `/v2/${repository}/_cairn/impact/${a.digest}` }));
}
