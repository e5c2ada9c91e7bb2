import type { ServerResponse } from 'node:http';
import { sendJson } from '../../http/respond';
import type { ArtifactApiDeps } from './deps';
import { trustReport } from '../../signing/enforce';
import { resolveArtifact } from './resolve';

/** GET /v2/<name>/_cairn/verify/<reference>: every signature and attestation, how each verified, and the policy's verdict. */
export async function getVerification(
  s: ArtifactApiDeps,
  repository: string,
  reference: string,
  res: ServerResponse,
): Promise<void> {
  const a = await resolveArtifact(s, repository, reference);
  const r = await trustReport(s, repository, a.digest);
  sendJson(res, 200, {
    repository,
    digest: a.digest,
    mode: r.mode,
    satisfied: r.satisfied,
    missing: r.missing,
    signatures: r.signatures.map((x) => ({
      digest: x.digest,
      predicateType: x.predicateType,
      verified: x.verified,
      accepted: x.accepted,
      ...(x.why ? { why: x.why } : {}),
      signer: {
        ...(x.keyName ? { key: x.keyName, fingerprint: x.keyFingerprint } : {}),
        ...(x.subject ? { subject: x.subject, issuer: x.issuer } : {}),
      },
      ...(x.builder ? { builder: x.builder } : {}),
      ...(x.signedAt ? { signedAt: new Date(x.signedAt).toISOString() } : {}),
      checkedAt: new Date(x.checkedAt).toISOString(),
    })),
  });
}
