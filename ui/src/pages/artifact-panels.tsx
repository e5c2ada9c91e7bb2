import { useEffect, useState } from 'preact/hooks';
import { ApiError, call, json, pullScope } from '../api';
import { LineageGraph, type Lineage } from '../lineage-graph';
import { artifactHref, bytes, shortDigest, when } from '../format';

export interface LoggedEvent {
  seq: number;
  time: string;
  type: string;
  identity?: string;
  tag?: string;
  detail?: Record<string, unknown>;
}
interface Affected {
  repository?: string;
  digest: string;
  name?: string | null;
  version?: string | null;
  kind?: string;
  stage?: string;
  depth: number;
  hidden?: boolean;
  via?: { relation: string }[];
  events?: LoggedEvent[];
}
interface Impact {
  artifact: { events: LoggedEvent[] };
  models: number;
  affected: Affected[];
  truncated: boolean;
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

function describeEvent(e: LoggedEvent): string {
  const d = e.detail ?? {};
  if (e.type === 'lifecycle.stage')
    return `stage ${String(d.from)} → ${String(d.to)}${d.reason ? `: ${String(d.reason)}` : ''}`;
  if (e.type === 'lifecycle.approve') return `approval recorded${d.reason ? `: ${String(d.reason)}` : ''}`;
  if (e.type === 'governance.denied') return `refused by rule ${String(d.rule ?? '')}`;
  if (e.type === 'manifest.push') return `pushed${e.tag ? ` as ${e.tag}` : ''}`;
  if (e.type === 'artifact.compromised') return `marked compromised: ${String(d.reason ?? '')}`;
  return e.type;
}

/** The stage history, from the audit events the impact query returns for the artifact itself. */
export function History(props: { events: LoggedEvent[] }) {
  const shown = props.events.filter((e) => e.type !== 'pull');
  return (
    <section>
      <h2>History</h2>
      {shown.length === 0 ? (
        <p class="muted">No events.</p>
      ) : (
        <ol class="history">
          {shown.map((e) => (
            <li>
              {when(e.time)} <strong>{e.identity ?? ''}</strong> {describeEvent(e)}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

/** Lineage graph, impact list and "mark compromised", which needs `approve` (the server decides). */
export function LineagePanel(props: {
  repository: string;
  digest: string;
  compromised: boolean;
  onMarked: () => void;
  onHistory: (events: LoggedEvent[]) => void;
}) {
  const { repository, digest } = props;
  const [lineage, setLineage] = useState<Lineage | undefined>();
  const [impact, setImpact] = useState<Impact | undefined>();
  const [depth, setDepth] = useState(3);
  const [reason, setReason] = useState('');
  const [message, setMessage] = useState('');

  useEffect(() => {
    const scopes = pullScope(repository);
    json<Lineage>(`/v2/${repository}/_cairn/lineage/${digest}?direction=both&depth=${depth}`, { scopes })
      .then(setLineage)
      .catch((err) => setMessage(errorText(err)));
    json<Impact>(`/v2/${repository}/_cairn/impact/${digest}`, { scopes })
      .then((i) => {
        setImpact(i);
        props.onHistory(i.artifact.events);
      })
      .catch((err) => setMessage(errorText(err)));
  }, [repository, digest, depth, props.compromised]);

  const mark = async () => {
    setMessage('');
    if (!reason.trim()) return setMessage('Say why it is compromised first.');
    try {
      await call(`/v2/${repository}/_cairn/compromised/${digest}`, {
        method: 'POST',
        scopes: [`repository:${repository}:pull,approve`],
        body: { reason: reason.trim() },
      });
      setReason('');
      props.onMarked();
    } catch (err) {
      setMessage(
        `Refused: ${errorText(err)}${err instanceof ApiError && err.detail?.rule ? ` (rule: ${String(err.detail.rule)})` : ''}`,
      );
    }
  };

  return (
    <section>
      <h2>Lineage</h2>
      <label class="inline">
        Depth
        <select value={String(depth)} onChange={(e) => setDepth(Number((e.target as HTMLSelectElement).value))}>
          {[1, 2, 3, 5, 10].map((d) => (
            <option value={String(d)}>{d}</option>
          ))}
        </select>
      </label>
      {lineage && (
        <div class="graph-scroll">
          <LineageGraph lineage={lineage} digest={digest} />
        </div>
      )}
      {impact && (
        <>
          <h3>Impact: what was built on it</h3>
          {impact.affected.length === 0 ? (
            <p class="muted">Nothing was built on this artifact.</p>
          ) : (
            <ul aria-label="Impact">
              {impact.affected.map((x) => (
                <li>
                  {x.hidden || !x.repository ? (
                    <code>{shortDigest(x.digest)}</code>
                  ) : (
                    <a href={artifactHref(x.repository, x.digest)}>
                      {x.name ?? x.repository} {x.version ?? ''}
                    </a>
                  )}{' '}
                  <span class="muted">
                    {x.kind ?? ''} {x.stage ?? ''} · {x.via?.map((v) => v.relation).join(', ')} · depth {x.depth} ·{' '}
                    {x.events?.filter((e) => e.type === 'pull').length ?? 0} pulls logged
                  </span>
                </li>
              ))}
            </ul>
          )}
          {impact.truncated && <p class="muted">The walk stopped at its depth limit.</p>}
        </>
      )}
      {!props.compromised && (
        <div class="actions">
          <label>
            Why it is compromised
            <input
              name="compromised-reason"
              value={reason}
              onInput={(e) => setReason((e.target as HTMLInputElement).value)}
            />
          </label>
          <button type="button" class="danger" onClick={() => void mark()}>
            Mark compromised
          </button>
        </div>
      )}
      {message && (
        <p class="error" role="alert">
          {message}
        </p>
      )}
    </section>
  );
}

interface Quota {
  namespace: string;
  maxBytes: number | null;
  usedBytes: number;
  maxArtifacts: number | null;
  usedArtifacts: number;
}

/** The registry's signed receipts of this push, and the quota of its namespace. */
export function ReceiptAndQuota(props: { repository: string; digest: string }) {
  const { repository, digest } = props;
  const [receipts, setReceipts] = useState<{ digest: string; annotations?: Record<string, string> }[] | undefined>();
  const [quota, setQuota] = useState<Quota | null | undefined>();
  const [statement, setStatement] = useState('');
  useEffect(() => {
    const scopes = pullScope(repository);
    json<{ manifests: { digest: string; annotations?: Record<string, string> }[] }>(
      `/v2/${repository}/_cairn/receipts/${digest}`,
      { scopes },
    )
      .then((r) => setReceipts(r.manifests))
      .catch(() => setReceipts([]));
    json<{ quota: Quota | null }>(`/v2/${repository}/_cairn/quota`, { scopes })
      .then((r) => setQuota(r.quota))
      .catch(() => setQuota(null));
  }, [repository, digest]);

  const show = async (manifestDigest: string) => {
    const scopes = pullScope(repository);
    const m = await json<{ layers: { digest: string }[] }>(`/v2/${repository}/manifests/${manifestDigest}`, {
      scopes,
      accept: 'application/vnd.oci.image.manifest.v1+json',
    });
    const bundle = await json<{ dsseEnvelope?: { payload: string } }>(
      `/v2/${repository}/blobs/${m.layers[0]!.digest}`,
      {
        scopes,
      },
    );
    const payload = bundle.dsseEnvelope?.payload;
    setStatement(payload ? JSON.stringify(JSON.parse(atob(payload)), null, 2) : JSON.stringify(bundle, null, 2));
  };

  return (
    <section>
      <h2>Receipt and quota</h2>
      {receipts === undefined ? null : receipts.length === 0 ? (
        <p class="muted">No receipt yet.</p>
      ) : (
        <ul aria-label="Receipts">
          {receipts.map((r) => (
            <li>
              receipt <code>{shortDigest(r.digest)}</code>{' '}
              {r.annotations?.['org.opencontainers.image.created']
                ? when(r.annotations['org.opencontainers.image.created'])
                : ''}{' '}
              <button
                type="button"
                class="link"
                onClick={() => void show(r.digest).catch((e) => setStatement(errorText(e)))}
              >
                Show statement
              </button>
            </li>
          ))}
        </ul>
      )}
      {statement && <pre aria-label="Receipt statement">{statement}</pre>}
      {quota === null ? (
        <p class="muted">No quota applies to this repository.</p>
      ) : quota ? (
        <p>
          Quota of <code>{quota.namespace}</code>: {bytes(quota.usedBytes)}
          {quota.maxBytes !== null ? ` of ${bytes(quota.maxBytes)}` : ''}, {quota.usedArtifacts}
          {quota.maxArtifacts !== null ? ` of ${quota.maxArtifacts}` : ''} artifacts
        </p>
      ) : null}
    </section>
  );
}
