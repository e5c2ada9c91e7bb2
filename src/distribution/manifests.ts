import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config/config';
import type { Metrics } from '../observability/metrics';
import type { RegistryCore } from '../core/registry-core';
import type { ReadFindings } from '../core/intents';
import { parseReference } from '../core/references';
import { readLimitedBody } from '../http/body';
import { sendEmpty } from '../http/respond';
import { actorOf } from '../http/actor';
import type { RequestContext } from '../http/context';

/** What the manifest handlers use: the core does the work, they translate HTTP to and from it. */
export interface ManifestHandlerDeps {
  config: Pick<Config, 'manifests' | 'auth'>;
  core: Pick<RegistryCore, 'manifests'>;
  metrics: Pick<Metrics, 'bytesSent' | 'bytesReceived'>;
}

const printable = (s: string, max: number) => s.replace(/[^\x20-\x7e]/g, '?').slice(0, max);

/** Deprecated (and, for approvers, retired) artifacts carry their stage; the trust verdict in audit mode. */
function findingHeaders(f: ReadFindings, res: ServerResponse): void {
  if (f.lifecycle) {
    res.setHeader('Warning', `299 cairn "${f.lifecycle.stage}${f.lifecycle.reason ? `: ${f.lifecycle.reason}` : ''}"`);
    res.setHeader('Cairn-Lifecycle-Stage', f.lifecycle.stage);
  }
  if (f.trust)
    res.setHeader(
      'Cairn-Trust',
      f.trust.satisfied ? 'satisfied' : `unsatisfied; ${printable(f.trust.missing.join('; '), 500)}`,
    );
}

/** GET and HEAD /v2/<name>/manifests/<reference>. */
export async function getManifest(
  s: ManifestHandlerDeps,
  repository: string,
  reference: string,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  const head = req.method === 'HEAD';
  const { manifest: m, findings } = await s.core.manifests.get(
    actorOf(ctx, s.config.auth.trustProxy),
    repository,
    reference,
    head,
  );
  findingHeaders(findings, res);
  res.statusCode = 200;
  res.setHeader('Content-Type', m.mediaType);
  res.setHeader('Content-Length', String(m.size));
  res.setHeader('Docker-Content-Digest', m.digest);
  res.setHeader('ETag', `"${m.digest}"`);
  if (head) {
    res.end();
    return;
  }
  s.metrics.bytesSent.labels('manifest').inc(m.size);
  res.end(m.content);
}

/** PUT /v2/<name>/manifests/<reference>. */
export async function putManifest(
  s: ManifestHandlerDeps,
  repository: string,
  reference: string,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  // A malformed reference is refused before the body is read.
  parseReference(reference);
  const content = await readLimitedBody(req, s.config.manifests.maxBytes, 'manifest');
  s.metrics.bytesReceived.labels('manifest').inc(content.length);
  const contentType = req.headers['content-type'];
  const pushed = await s.core.manifests.put(actorOf(ctx, s.config.auth.trustProxy), {
    repository,
    reference,
    content,
    ...(contentType ? { contentType } : {}),
  });
  res.setHeader('Location', `/v2/${repository}/manifests/${pushed.digest}`);
  res.setHeader('Docker-Content-Digest', pushed.digest);
  if (pushed.parsed.subject) res.setHeader('OCI-Subject', pushed.parsed.subject.digest);
  sendEmpty(res, 201);
}

/** DELETE /v2/<name>/manifests/<reference>: by digest, the manifest and its tags; by tag, only the tag. */
export async function deleteManifest(
  s: ManifestHandlerDeps,
  repository: string,
  reference: string,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  await s.core.manifests.delete(actorOf(ctx, s.config.auth.trustProxy), repository, reference);
  sendEmpty(res, 202);
}
