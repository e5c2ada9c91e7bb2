import { useEffect, useState } from 'preact/hooks';
import { call, json } from '../api';
import {
  fromBase64,
  leafHash,
  openCheckpoint,
  toBase64,
  verifyConsistency,
  verifyInclusion,
  type Checkpoint,
} from '../audit-proofs';
import { artifactHref, shortDigest, when } from '../format';

interface AuditEvent {
  seq: number;
  time: string;
  type: string;
  identity?: string;
  source?: string;
  action?: string;
  repository?: string;
  digest?: string;
  tag?: string;
  decision?: string;
  detail?: Record<string, unknown>;
}

interface Step {
  what: string;
  ok: boolean;
  detail?: string;
}

// Registry-wide reads: any token of the session will do, policy decides (`read-audit`).
const AUDIT: string[] = [];
// Checkpoints are not secrets: the last one verified is remembered, so the next check proves the log only grew.
const REMEMBERED = 'cairn.audit.verified-checkpoint';

/** JSON with sorted keys, to compare an event as listed with the exact bytes the log hashed. */
function sorted(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(sorted).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${sorted((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/**
 * Proves in the browser that `event` is in the log the registry signed: the checkpoint signature against
 * the published key, the event's bytes against its leaf hash, the inclusion proof against the signed root,
 * and, when a checkpoint was verified here before, the consistency proof from it to this one.
 */
export async function verifyEvent(event: AuditEvent, report: (s: Step) => void): Promise<boolean> {
  const key = await json<{ origin: string; publicKey: string; verifierKey: string }>('/audit/key', { scopes: AUDIT });
  report({ what: 'Fetched the published checkpoint key', ok: true, detail: key.verifierKey });
  const note = await (await call('/audit/checkpoint', { scopes: AUDIT })).text();
  let cp: Checkpoint;
  try {
    cp = await openCheckpoint(note, key.origin, fromBase64(key.publicKey));
  } catch (err) {
    report({ what: 'Checkpoint signature (Ed25519, WebCrypto)', ok: false, detail: (err as Error).message });
    return false;
  }
  report({
    what: 'Checkpoint signature (Ed25519, WebCrypto)',
    ok: true,
    detail: `log ${cp.origin}, ${cp.size} entries, root ${toBase64(cp.root)}`,
  });
  if (event.seq >= cp.size) {
    report({
      what: 'Event covered by the checkpoint',
      ok: false,
      detail: 'newer than the checkpoint: try again shortly',
    });
    return false;
  }
  const entries = await json<{ entries: { index: number; canonical: string; leafHash: string }[] }>(
    `/audit/entries?start=${event.seq}&end=${event.seq + 1}`,
    { scopes: AUDIT },
  );
  const entry = entries.entries[0];
  const bytes = new TextEncoder().encode(entry?.canonical ?? '');
  const leaf = await leafHash(bytes);
  const same = entry !== undefined && sorted(JSON.parse(entry.canonical)) === sorted(event);
  report({
    what: 'The event as listed is the one logged (its canonical bytes hashed here)',
    ok: same,
    detail: same ? `leaf ${toBase64(leaf)}` : 'the listed event differs from the logged bytes',
  });
  if (!same) return false;
  const proof = await json<{ proof: string[] }>(`/audit/proof/inclusion?index=${event.seq}&size=${cp.size}`, {
    scopes: AUDIT,
  });
  const included = await verifyInclusion(leaf, event.seq, cp.size, proof.proof.map(fromBase64), cp.root);
  report({
    what: 'Inclusion proof up to the signed root',
    ok: included,
    detail: `${proof.proof.length} hashes`,
  });
  if (!included) return false;
  const before = localStorage.getItem(REMEMBERED);
  if (before) {
    const old = JSON.parse(before) as { origin: string; size: number; root: string };
    if (old.origin === cp.origin && old.size <= cp.size) {
      const c = await json<{ proof: string[] }>(`/audit/proof/consistency?from=${old.size}&to=${cp.size}`, {
        scopes: AUDIT,
      });
      const consistent = await verifyConsistency(
        old.size,
        cp.size,
        c.proof.map(fromBase64),
        fromBase64(old.root),
        cp.root,
      );
      report({
        what: `Consistency with the checkpoint verified here before (${old.size} entries)`,
        ok: consistent,
        detail: consistent ? 'the log only grew' : 'the log was rewritten since',
      });
      if (!consistent) return false;
    }
  } else
    report({
      what: 'Consistency',
      ok: true,
      detail: 'no earlier checkpoint verified in this browser: this one is kept',
    });
  localStorage.setItem(REMEMBERED, JSON.stringify({ origin: cp.origin, size: cp.size, root: toBase64(cp.root) }));
  return true;
}

function Verification(props: { event: AuditEvent }) {
  const [steps, setSteps] = useState<Step[]>([]);
  const [result, setResult] = useState<boolean | undefined>();
  useEffect(() => {
    const seen: Step[] = [];
    verifyEvent(props.event, (s) => {
      seen.push(s);
      setSteps([...seen]);
    })
      .then(setResult)
      .catch((err) => {
        seen.push({ what: 'Verification', ok: false, detail: String(err.message ?? err) });
        setSteps([...seen]);
        setResult(false);
      });
  }, [props.event]);
  return (
    <section class="verification" aria-label={`Verification of event ${props.event.seq}`} aria-live="polite">
      <ol>
        {steps.map((s) => (
          <li class={s.ok ? 'ok' : 'error'}>
            <span aria-hidden="true">{s.ok ? '✓ ' : '✗ '}</span>
            <span class="visually-hidden">{s.ok ? 'passed: ' : 'failed: '}</span>
            {s.what}
            {s.detail && <div class="muted detail">{s.detail}</div>}
          </li>
        ))}
      </ol>
      {result !== undefined && (
        <p role="status" class={result ? 'notice' : 'error'}>
          {result
            ? `Event ${props.event.seq} is in the signed log.`
            : `Event ${props.event.seq} could not be verified.`}
        </p>
      )}
    </section>
  );
}

/** Events filtered by repository, identity, digest and time, newest first, each verifiable in the browser. */
export function AuditPage() {
  const [filter, setFilter] = useState({ repository: '', identity: '', digest: '', since: '', until: '' });
  const [events, setEvents] = useState<AuditEvent[]>([]);
  const [checkpoint, setCheckpoint] = useState('');
  const [error, setError] = useState('');
  const [verifying, setVerifying] = useState<AuditEvent | undefined>();
  // Each click checks afresh, even of the same event (the log, or what serves it, may have changed).
  const [run, setRun] = useState(0);

  const load = async () => {
    try {
      const p = new URLSearchParams({ order: 'newest', n: '100' });
      for (const k of ['repository', 'identity', 'digest'] as const) if (filter[k].trim()) p.set(k, filter[k].trim());
      for (const k of ['since', 'until'] as const) if (filter[k]) p.set(k, new Date(filter[k]).toISOString());
      const r = await json<{ events: AuditEvent[] }>(`/audit/events?${p}`, { scopes: AUDIT });
      setEvents(r.events);
      setError('');
      setCheckpoint(await (await call('/audit/checkpoint', { scopes: AUDIT })).text().catch(() => ''));
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  useEffect(() => {
    void load();
  }, []);

  const input = (k: keyof typeof filter, label: string, time = false) => {
    const onInput = (e: Event) => setFilter({ ...filter, [k]: (e.target as HTMLInputElement).value });
    return (
      <label>
        {label}
        {time ? (
          <input name={k} type="datetime-local" value={filter[k]} onInput={onInput} />
        ) : (
          <input name={k} value={filter[k]} onInput={onInput} />
        )}
      </label>
    );
  };

  return (
    <main>
      <h1>Audit log</h1>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          void load();
        }}
      >
        {input('repository', 'Repository')}
        {input('identity', 'Identity (e.g. user:alice)')}
        {input('digest', 'Digest')}
        {input('since', 'From', true)}
        {input('until', 'Until', true)}
        <button type="submit">Show events</button>
      </form>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {checkpoint && (
        <details>
          <summary>Latest signed checkpoint</summary>
          <pre>{checkpoint}</pre>
        </details>
      )}
      {verifying && <Verification key={run} event={verifying} />}
      <table>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Time</th>
            <th scope="col">Event</th>
            <th scope="col">Identity</th>
            <th scope="col">About</th>
            <th scope="col">Decision</th>
            <th scope="col">
              <span class="visually-hidden">Verify</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr>
              <td>{e.seq}</td>
              <td>{when(e.time)}</td>
              <td>{e.type}</td>
              <td>{e.identity ?? ''}</td>
              <td>
                {e.repository && e.digest ? (
                  <a href={artifactHref(e.repository, e.digest)}>
                    {e.repository} <code>{shortDigest(e.digest)}</code>
                  </a>
                ) : (
                  (e.repository ?? '')
                )}
                {e.tag ? ` :${e.tag}` : ''}
              </td>
              <td>{e.decision ?? ''}</td>
              <td>
                <button
                  type="button"
                  aria-label={`Verify event ${e.seq}`}
                  onClick={() => {
                    setVerifying(e);
                    setRun(run + 1);
                  }}
                >
                  Verify
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {events.length === 0 && !error && <p>No events match.</p>}
    </main>
  );
}
