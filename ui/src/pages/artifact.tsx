import { useEffect, useState } from 'preact/hooks';
import { ApiError, call, json, pullScope } from '../api';
import { renderMarkdown } from '../markdown';
import { bytes, shortDigest, when } from '../format';
import { History, LineagePanel, ReceiptAndQuota, type LoggedEvent } from './artifact-panels';

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}
interface Edge {
  relation: string;
  repository?: string;
  digest: string;
  name?: string | null;
  hidden?: boolean;
}
interface Artifact {
  repository: string;
  digest: string;
  kind: string;
  name: string | null;
  version: string | null;
  family: string | null;
  framework: string | null;
  license: string | null;
  stage: string;
  stageReason?: string;
  stageChangedBy: string | null;
  stageChangedAt: string | null;
  pushedBy: string;
  pushedAt: string;
  size: number;
  tags: string[];
  /** Who has approved towards the next stage (identities). */
  approvals: string[];
  metadata: Record<string, unknown>;
  upstream: Edge[];
  downstream: Edge[];
  compromised?: { at: string; reason: string };
}
interface Verification {
  /** off (no trust policy applies), audit or enforce. */
  mode: string;
  satisfied: boolean;
  missing: string[];
  signatures: {
    digest: string;
    predicateType?: string;
    verified: boolean;
    accepted: boolean;
    why?: string;
    signer: { key?: string; fingerprint?: string; subject?: string; issuer?: string };
    builder?: string;
    signedAt?: string;
  }[];
}

const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');
const CARD_LIMIT = 1024 * 1024;

const titleOf = (d: Descriptor) =>
  d.annotations?.['org.opencontainers.image.title'] ?? d.annotations?.['org.cncf.model.filepath'] ?? '';
const isCard = (d: Descriptor) => /(^|\/)readme(\.md|\.markdown)?$/i.test(titleOf(d)) && d.size <= CARD_LIMIT;

/** The moves a reviewer may ask for from each stage; the server decides whether they may. */
const MOVES: Record<string, { to: string; label: string; needsReason?: boolean }[]> = {
  draft: [{ to: 'candidate', label: 'Submit for review' }],
  candidate: [
    { to: 'approved', label: 'Approve' },
    { to: 'draft', label: 'Reject', needsReason: true },
  ],
  approved: [{ to: 'deprecated', label: 'Deprecate', needsReason: true }],
  deprecated: [{ to: 'approved', label: 'Reinstate' }],
};

/** A plain link: the browser streams the file to disk itself, with the session cookie (docs/console.md). */
const downloadHref = (repository: string, d: Descriptor) =>
  `/ui/session/download/${repository}/blobs/${d.digest}?name=${encodeURIComponent(titleOf(d).split('/').pop() || '')}`;

/** One model or dataset: its card, metadata, files, stage and approvals, signatures and lineage. */
export function ArtifactPage(props: { repository: string; reference: string }) {
  const { repository, reference } = props;
  const [artifact, setArtifact] = useState<Artifact | undefined>();
  const [layers, setLayers] = useState<Descriptor[]>([]);
  const [card, setCard] = useState<string | undefined>();
  const [verification, setVerification] = useState<Verification | undefined>();
  const [error, setError] = useState('');
  const [actionError, setActionError] = useState('');
  const [notice, setNotice] = useState('');
  const [reason, setReason] = useState('');
  const [version, setVersion] = useState(0);
  const [history, setHistory] = useState<LoggedEvent[]>([]);

  useEffect(() => {
    let live = true;
    (async () => {
      try {
        const scopes = pullScope(repository);
        const a = await json<Artifact>(`/v2/${repository}/_cairn/artifacts/${reference}`, { scopes });
        if (!live) return;
        setArtifact(a);
        const m = await json<{ layers?: Descriptor[] }>(`/v2/${repository}/manifests/${a.digest}`, {
          scopes,
          accept: MANIFEST_TYPES,
        });
        if (!live) return;
        const files = m.layers ?? [];
        setLayers(files);
        const readme = files.find(isCard);
        if (readme) {
          const text = await (await call(`/v2/${repository}/blobs/${readme.digest}`, { scopes })).text();
          if (live) setCard(renderMarkdown(text));
        } else setCard(undefined);
        const v = await json<Verification>(`/v2/${repository}/_cairn/verify/${a.digest}`, { scopes }).catch(
          () => undefined,
        );
        if (live) setVerification(v);
      } catch (err) {
        if (live) setError(err instanceof Error ? err.message : String(err));
      }
    })();
    return () => {
      live = false;
    };
  }, [repository, reference, version]);

  const move = async (to: string, needsReason?: boolean) => {
    setActionError('');
    setNotice('');
    if (needsReason && !reason.trim()) {
      setActionError('Say why in the reason field first.');
      return;
    }
    try {
      const r = await call(`/v2/${repository}/_cairn/lifecycle/${artifact!.digest}?to=${to}`, {
        method: 'POST',
        scopes: [`repository:${repository}:pull,push,approve`],
        ...(reason.trim() ? { body: { reason: reason.trim() } } : {}),
      });
      const body = (await r.json()) as { approvals?: unknown[]; approvalsRequired?: number };
      setNotice(
        r.status === 202
          ? `Approval recorded: ${body.approvals?.length ?? '?'} of ${body.approvalsRequired ?? '?'} needed.`
          : `Moved to ${to}.`,
      );
      setReason('');
      setVersion(version + 1);
    } catch (err) {
      const rule = err instanceof ApiError && typeof err.detail?.rule === 'string' ? ` (rule: ${err.detail.rule})` : '';
      setActionError(`Refused: ${err instanceof Error ? err.message : String(err)}${rule}`);
    }
  };

  if (error)
    return (
      <main>
        <p class="error" role="alert">
          {error}
        </p>
      </main>
    );
  if (!artifact) return <main aria-busy="true">Loading…</main>;
  const a = artifact;
  const meta = Object.entries(a.metadata ?? {}).filter(([, v]) => v !== null && v !== undefined && v !== '');

  return (
    <main class="artifact">
      <h1>
        {a.name ?? a.repository} {a.version && <span class="muted">{a.version}</span>}
      </h1>
      <p>
        <span class={`stage stage-${a.stage}`}>{a.stage}</span> {a.kind} in <code>{a.repository}</code>, pushed by{' '}
        {a.pushedBy} on {when(a.pushedAt)}
      </p>
      {a.compromised && (
        <p class="error" role="alert">
          Marked compromised on {when(a.compromised.at)}: {a.compromised.reason}
        </p>
      )}
      <div class="columns">
        <article class="card" aria-label="Model card">
          <h2>Card</h2>
          {card === undefined ? (
            <p class="muted">No README was pushed with this artifact.</p>
          ) : (
            <div class="markdown" dangerouslySetInnerHTML={{ __html: card }} />
          )}
        </article>
        <aside>
          <section>
            <h2>Stage</h2>
            <p>
              <span class={`stage stage-${a.stage}`}>{a.stage}</span>
              {a.stageChangedBy && (
                <span class="muted">
                  {' '}
                  since {when(a.stageChangedAt)} by {a.stageChangedBy}
                </span>
              )}
            </p>
            {a.stageReason && <p class="muted">“{a.stageReason}”</p>}
            {a.approvals.length > 0 && (
              <ul aria-label="Approvals">
                {a.approvals.map((x) => (
                  <li>approval by {x}</li>
                ))}
              </ul>
            )}
            {(MOVES[a.stage] ?? []).length > 0 && (
              <div class="actions">
                <label>
                  Reason
                  <input
                    name="reason"
                    value={reason}
                    onInput={(e) => setReason((e.target as HTMLInputElement).value)}
                  />
                </label>
                {(MOVES[a.stage] ?? []).map((m) => (
                  <button type="button" onClick={() => void move(m.to, m.needsReason)}>
                    {m.label}
                  </button>
                ))}
              </div>
            )}
            {actionError && (
              <p class="error" role="alert">
                {actionError}
              </p>
            )}
            {notice && (
              <p class="notice" role="status">
                {notice}
              </p>
            )}
          </section>
          <section>
            <h2>Signatures</h2>
            {verification === undefined ? (
              <p class="muted">Not checked.</p>
            ) : (
              <>
                <p>
                  {verification.mode === 'off' ? (
                    'No trust policy applies to this repository.'
                  ) : (
                    <>
                      Trust policy ({verification.mode}):{' '}
                      <strong class={verification.satisfied ? 'ok' : 'error'}>
                        {verification.satisfied ? 'satisfied' : 'not satisfied'}
                      </strong>
                      {verification.missing.length > 0 && (
                        <span class="muted"> — missing {verification.missing.join('; ')}</span>
                      )}
                    </>
                  )}
                </p>
                {verification.signatures.length === 0 ? (
                  <p class="muted">No signatures or attestations.</p>
                ) : (
                  <ul aria-label="Signatures and attestations">
                    {verification.signatures.map((x) => (
                      <li>
                        {x.predicateType?.includes('cosign/sign') || !x.predicateType
                          ? 'signature'
                          : `attestation ${x.predicateType}`}
                        {': '}
                        <strong class={x.verified && x.accepted ? 'ok' : 'error'}>
                          {x.verified
                            ? x.accepted
                              ? 'verified and accepted'
                              : 'verified, signer not accepted'
                            : 'not verified'}
                        </strong>
                        {x.why && <span class="muted"> ({x.why})</span>}
                        <div class="muted">
                          {x.signer.key ? `key ${x.signer.key}` : ''}
                          {x.signer.subject ? `${x.signer.subject} (${x.signer.issuer ?? ''})` : ''}
                          {x.signedAt ? `, signed ${when(x.signedAt)}` : ''}
                        </div>
                      </li>
                    ))}
                  </ul>
                )}
              </>
            )}
          </section>
        </aside>
      </div>
      <section>
        <h2>Files</h2>
        <table>
          <thead>
            <tr>
              <th scope="col">File</th>
              <th scope="col">Type</th>
              <th scope="col">Size</th>
              <th scope="col">
                <span class="visually-hidden">Download</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {layers.map((d) => (
              <tr>
                <td>{titleOf(d) || <code>{shortDigest(d.digest)}</code>}</td>
                <td class="muted">{d.mediaType}</td>
                <td>{bytes(d.size)}</td>
                <td>
                  <a
                    class="button"
                    href={downloadHref(repository, d)}
                    download={titleOf(d).split('/').pop() || undefined}
                    aria-label={`Download ${titleOf(d) || d.digest}`}
                  >
                    Download
                  </a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section>
        <h2>Tags and digest</h2>
        <p>
          Digest: <code>{a.digest}</code>
        </p>
        <p>Tags: {a.tags.length ? a.tags.map((t) => <code class="tag">{t}</code>) : <span class="muted">none</span>}</p>
        <p>Size: {bytes(a.size)}</p>
      </section>
      {meta.length > 0 && (
        <section>
          <h2>Metadata</h2>
          <dl class="metadata">
            {meta.map(([k, v]) => (
              <>
                <dt>{k}</dt>
                <dd>{typeof v === 'object' ? JSON.stringify(v) : String(v)}</dd>
              </>
            ))}
          </dl>
        </section>
      )}
      <History events={history} />
      <LineagePanel
        repository={repository}
        digest={a.digest}
        compromised={a.compromised !== undefined}
        onMarked={() => setVersion(version + 1)}
        onHistory={setHistory}
      />
      <ReceiptAndQuota repository={repository} digest={a.digest} />
    </main>
  );
}
