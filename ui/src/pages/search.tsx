import { useEffect, useRef, useState } from 'preact/hooks';
import { CATALOG, json } from '../api';
import { artifactHref, bytes, when } from '../format';

interface Found {
  repository: string;
  digest: string;
  kind: string;
  name: string | null;
  version: string | null;
  family: string | null;
  framework: string | null;
  license: string | null;
  stage: string;
  size: number;
  pushedBy: string;
  pushedAt: string;
  cursor: number;
  compromised?: { reason: string };
}

const FILTERS = [
  ['family', 'Family'],
  ['framework', 'Framework'],
  ['license', 'Licence'],
  ['annotation', 'Annotation (key=value)'],
  ['metric', 'Metric (e.g. accuracy>=0.9)'],
] as const;

type Query = Record<string, string>;

function queryString(q: Query, last?: string): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v.trim()) p.set(k, v.trim());
  p.set('n', '25');
  if (last) p.set('last', last);
  return p.toString();
}

/** Models and datasets by the search API's filters, a page at a time, refreshed as the user types. */
export function Search() {
  const [query, setQuery] = useState<Query>({ q: '', kind: 'model,dataset', stage: '' });
  const [pages, setPages] = useState<string[]>([]);
  const [results, setResults] = useState<Found[]>([]);
  const [next, setNext] = useState<string | undefined>();
  const [error, setError] = useState('');
  const [loading, setLoading] = useState(false);
  const seq = useRef(0);

  const load = async (q: Query, last?: string) => {
    const mine = ++seq.current;
    setLoading(true);
    try {
      const r = await json<{ artifacts: Found[]; next?: string }>(`/v2/_cairn/search?${queryString(q, last)}`, {
        scopes: CATALOG,
      });
      if (mine !== seq.current) return;
      setResults(r.artifacts);
      setNext(r.next);
      setError('');
    } catch (err) {
      if (mine === seq.current) setError(err instanceof Error ? err.message : String(err));
    } finally {
      if (mine === seq.current) setLoading(false);
    }
  };

  // Typing waits for a pause; a newer query wins over an older answer.
  useEffect(() => {
    const t = setTimeout(() => {
      setPages([]);
      void load(query);
    }, 150);
    return () => clearTimeout(t);
  }, [query]);

  const set = (k: string) => (e: Event) => setQuery({ ...query, [k]: (e.target as HTMLInputElement).value });

  return (
    <main>
      <h1>Models and datasets</h1>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label class="wide">
          Search
          <input type="search" name="q" placeholder="name, family, description…" value={query.q} onInput={set('q')} />
        </label>
        <label>
          Kind
          <select name="kind" value={query.kind} onChange={set('kind')}>
            <option value="model,dataset">models and datasets</option>
            <option value="model">model</option>
            <option value="dataset">dataset</option>
            <option value="">anything (signatures, attestations, images too)</option>
          </select>
        </label>
        <label>
          Stage
          <select name="stage" value={query.stage} onChange={set('stage')}>
            <option value="">any</option>
            {['draft', 'candidate', 'approved', 'deprecated', 'retired'].map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </label>
        {FILTERS.map(([k, label]) => (
          <label>
            {label}
            <input name={k} value={query[k] ?? ''} onInput={set(k)} />
          </label>
        ))}
      </form>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <table class="results" aria-busy={loading}>
        <thead>
          <tr>
            <th scope="col">Artifact</th>
            <th scope="col">Kind</th>
            <th scope="col">Stage</th>
            <th scope="col">Framework</th>
            <th scope="col">Licence</th>
            <th scope="col">Size</th>
            <th scope="col">Pushed</th>
          </tr>
        </thead>
        <tbody>
          {results.map((a) => (
            <tr>
              <td>
                <a href={artifactHref(a.repository, a.digest)}>
                  {a.name ?? a.repository}
                  {a.version ? ` ${a.version}` : ''}
                </a>
                <div class="muted">{a.repository}</div>
              </td>
              <td>{a.kind}</td>
              <td>
                <span class={`stage stage-${a.stage}`}>{a.stage}</span>
                {a.compromised && <span class="stage stage-compromised">compromised</span>}
              </td>
              <td>{a.framework ?? ''}</td>
              <td>{a.license ?? ''}</td>
              <td>{bytes(a.size)}</td>
              <td>
                {when(a.pushedAt)}
                <div class="muted">{a.pushedBy}</div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {!loading && !error && results.length === 0 && <p>Nothing matches.</p>}
      <nav class="pager" aria-label="Result pages">
        <button
          type="button"
          disabled={pages.length === 0}
          onClick={() => {
            const back = pages.slice(0, -1);
            setPages(back);
            void load(query, back.at(-1));
          }}
        >
          Previous
        </button>
        <button
          type="button"
          disabled={!next}
          onClick={() => {
            setPages([...pages, next!]);
            void load(query, next);
          }}
        >
          Next
        </button>
      </nav>
    </main>
  );
}
