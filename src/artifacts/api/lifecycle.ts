import type { IncomingMessage, ServerResponse } from 'node:http';
import { OciError } from '../../oci/errors';
import { readLimitedBody } from '../../http/body';
import { sendJson } from '../../http/respond';
import type { RequestContext } from '../../http/context';
import type { ArtifactApiDeps } from './deps';
import { actorOf } from '../../http/actor';
import { STAGES, type Stage } from '../../policy/governance';
import { describeArtifact, resolveArtifact } from './resolve';

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
  const done = await s.core.lifecycle.move(actorOf(ctx, s.config.auth.trustProxy), a, to, reason);
  const { moved, approving, verdict } = done;
  const from = a.stage;
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
  await s.core.lifecycle.markCompromised(actorOf(ctx, s.config.auth.trustProxy), a, reason);
  const after = await s.artifacts.get(repository, a.digest);
  sendJson(res, 200, describeArtifact(after ?? a, { impact: `/v2/${repository}/_cairn/impact/${a.digest}` }));
}
