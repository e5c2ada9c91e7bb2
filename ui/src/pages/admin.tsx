import { useEffect, useState } from 'preact/hooks';
import { call, json } from '../api';
import { when } from '../format';

// Registry-wide: any token of the session, policy decides (`admin`, MFA sessions only by default).
const ADMIN: string[] = [];
const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

type Row = Record<string, unknown>;

function useList<T>(path: string, key: string): [T[] | undefined, () => void, string] {
  const [rows, setRows] = useState<T[] | undefined>();
  const [error, setError] = useState('');
  const [n, setN] = useState(0);
  useEffect(() => {
    json<Record<string, T[]>>(path, { scopes: ADMIN })
      .then((r) => {
        setRows(r[key]);
        setError('');
      })
      .catch((err) => setError(errorText(err)));
  }, [path, n]);
  return [rows, () => setN(n + 1), error];
}

function Field(props: { name: string; label: string; value: string; set: (v: string) => void; placeholder?: string }) {
  return (
    <label>
      {props.label}
      <input
        name={props.name}
        value={props.value}
        placeholder={props.placeholder}
        onInput={(e) => props.set((e.target as HTMLInputElement).value)}
      />
    </label>
  );
}

function Outcome(props: { error: string; notice: string }) {
  return (
    <>
      {props.error && (
        <p class="error" role="alert">
          {props.error}
        </p>
      )}
      {props.notice && (
        <p class="notice" role="status">
          {props.notice}
        </p>
      )}
    </>
  );
}

const csv = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

function Accounts(props: { kind: 'users' | 'robots' }) {
  const { kind } = props;
  const [rows, reload, loadError] = useList<Row>(`/admin/${kind}`, kind);
  const [name, setName] = useState('');
  const [groups, setGroups] = useState('');
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const act = async (f: () => Promise<string>) => {
    setError('');
    setNotice('');
    try {
      setNotice(await f());
      reload();
    } catch (err) {
      setError(errorText(err));
    }
  };
  const add = () =>
    act(async () => {
      const r = await json<{ password?: string; secret?: string; user?: string }>(`/admin/${kind}`, {
        method: 'POST',
        scopes: ADMIN,
        body: { name: name.trim(), groups: csv(groups) },
      });
      setName('');
      setGroups('');
      return kind === 'users'
        ? `User ${name.trim()} created. Password (shown once): ${r.password}`
        : `Robot ${r.user} created. Secret (shown once): ${r.secret}`;
    });
  const toggle = (n: string, disabled: boolean) =>
    act(async () => {
      await call(`/admin/${kind}/${encodeURIComponent(n)}/${disabled ? 'enable' : 'disable'}`, {
        method: 'POST',
        scopes: ADMIN,
      });
      return `${n} ${disabled ? 'enabled' : 'disabled'}.`;
    });
  return (
    <section aria-label={kind === 'users' ? 'Users' : 'Robots'}>
      <h2>{kind === 'users' ? 'Users' : 'Robots (CI accounts)'}</h2>
      {loadError && <p class="error">{loadError}</p>}
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Groups</th>
            <th scope="col">{kind === 'users' ? 'MFA' : 'Expires'}</th>
            <th scope="col">State</th>
            <th scope="col">
              <span class="visually-hidden">Action</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {(rows ?? []).map((r) => (
            <tr>
              <td>{String(r.user ?? r.name)}</td>
              <td>{(r.groups as string[]).join(', ')}</td>
              <td>{kind === 'users' ? (r.mfa ? 'yes' : 'no') : when(r.expiresAt as string | null) || 'never'}</td>
              <td>
                {r.disabled ? 'disabled' : r.lockedUntil ? `locked until ${when(String(r.lockedUntil))}` : 'active'}
              </td>
              <td>
                <button
                  type="button"
                  aria-label={`${r.disabled ? 'Enable' : 'Disable'} ${String(r.name)}`}
                  onClick={() => void toggle(String(r.name), Boolean(r.disabled))}
                >
                  {r.disabled ? 'Enable' : 'Disable'}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form
        class="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          void add();
        }}
      >
        <Field name={`${kind}-name`} label={kind === 'users' ? 'New user' : 'New robot'} value={name} set={setName} />
        <Field name={`${kind}-groups`} label="Groups (comma-separated)" value={groups} set={setGroups} />
        <button type="submit">Create</button>
      </form>
      <Outcome error={error} notice={notice} />
    </section>
  );
}

function Roles() {
  const [rows, reload, loadError] = useList<{ principal: string; role: string; scope: string }>(
    '/admin/roles',
    'bindings',
  );
  const [b, setB] = useState({ principal: '', role: '', scope: '' });
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const send = async (method: 'POST' | 'DELETE', binding: typeof b) => {
    setError('');
    setNotice('');
    try {
      await call('/admin/roles', { method, scopes: ADMIN, body: binding });
      setNotice(
        method === 'POST'
          ? `${binding.principal} is ${binding.role} on ${binding.scope}.`
          : `${binding.principal} is no longer ${binding.role} on ${binding.scope}.`,
      );
      reload();
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <section aria-label="Role bindings">
      <h2>Role bindings</h2>
      {loadError && <p class="error">{loadError}</p>}
      <table>
        <thead>
          <tr>
            <th scope="col">Principal</th>
            <th scope="col">Role</th>
            <th scope="col">Scope</th>
            <th scope="col">
              <span class="visually-hidden">Action</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {(rows ?? []).map((r) => (
            <tr>
              <td>{r.principal}</td>
              <td>{r.role}</td>
              <td>{r.scope}</td>
              <td>
                <button
                  type="button"
                  aria-label={`Remove ${r.principal} ${r.role} ${r.scope}`}
                  onClick={() => void send('DELETE', r)}
                >
                  Remove
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form
        class="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          void send('POST', b);
        }}
      >
        <Field
          name="bind-principal"
          label="Principal"
          placeholder="user:alice, group:ml, robot:ci"
          value={b.principal}
          set={(v) => setB({ ...b, principal: v })}
        />
        <Field
          name="bind-role"
          label="Role"
          placeholder="reader, maintainer, approver…"
          value={b.role}
          set={(v) => setB({ ...b, role: v })}
        />
        <Field
          name="bind-scope"
          label="Scope"
          placeholder="*, ml/, ml/bert"
          value={b.scope}
          set={(v) => setB({ ...b, scope: v })}
        />
        <button type="submit">Bind</button>
      </form>
      <Outcome error={error} notice={notice} />
    </section>
  );
}

function Labels() {
  const [rows, reload, loadError] = useList<Row>('/admin/labels', 'labels');
  const [l, setL] = useState({ name: '', ownerTeam: '', sensitivity: '' });
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  return (
    <section aria-label="Labels">
      <h2>Labels</h2>
      {loadError && <p class="error">{loadError}</p>}
      <ul>
        {(rows ?? []).map((r) => (
          <li>
            <code>{String(r.name)}</code>: owner {String(r.ownerTeam ?? '—')}, sensitivity{' '}
            {String(r.sensitivity ?? '—')}
          </li>
        ))}
      </ul>
      <form
        class="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          setError('');
          setNotice('');
          call('/admin/labels', { method: 'PUT', scopes: ADMIN, body: l })
            .then(() => {
              setNotice(`Labels of ${l.name} set.`);
              reload();
            })
            .catch((err) => setError(errorText(err)));
        }}
      >
        <Field name="label-name" label="Namespace or repository" value={l.name} set={(v) => setL({ ...l, name: v })} />
        <Field name="label-owner" label="Owner team" value={l.ownerTeam} set={(v) => setL({ ...l, ownerTeam: v })} />
        <Field
          name="label-sensitivity"
          label="Sensitivity"
          value={l.sensitivity}
          set={(v) => setL({ ...l, sensitivity: v })}
        />
        <button type="submit">Set labels</button>
      </form>
      <Outcome error={error} notice={notice} />
    </section>
  );
}

function OidcRules() {
  const [rows, reload, loadError] = useList<Row>('/admin/oidc', 'rules');
  const [r, setR] = useState({ name: '', issuer: '', audience: '', claims: '', groups: '' });
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const act = (f: () => Promise<string>) => {
    setError('');
    setNotice('');
    f()
      .then((n) => {
        setNotice(n);
        reload();
      })
      .catch((err) => setError(errorText(err)));
  };
  const claims = () =>
    Object.fromEntries(
      csv(r.claims).map((c) => {
        const i = c.indexOf('=');
        return i < 1 ? [c, ''] : [c.slice(0, i).trim(), c.slice(i + 1).trim()];
      }),
    );
  return (
    <section aria-label="OIDC trust rules">
      <h2>OIDC trust rules (CI jobs, service accounts)</h2>
      {loadError && <p class="error">{loadError}</p>}
      <ul>
        {(rows ?? []).map((x) => (
          <li>
            <code>oidc:{String(x.name)}</code> {String(x.issuer)} (audience {String(x.audience)}), claims{' '}
            {Object.entries(x.claims as Record<string, string>)
              .map(([k, v]) => `${k}=${v}`)
              .join(', ')}
            {(x.groups as string[]).length ? `, groups ${(x.groups as string[]).join(', ')}` : ''}{' '}
            <button
              type="button"
              aria-label={`Remove rule ${String(x.name)}`}
              onClick={() =>
                act(async () => {
                  await call(`/admin/oidc/${encodeURIComponent(String(x.name))}`, { method: 'DELETE', scopes: ADMIN });
                  return `Rule ${String(x.name)} removed.`;
                })
              }
            >
              Remove
            </button>
          </li>
        ))}
      </ul>
      <form
        class="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          act(async () => {
            await call('/admin/oidc', {
              method: 'POST',
              scopes: ADMIN,
              body: {
                name: r.name,
                issuer: r.issuer,
                audience: r.audience || undefined,
                claims: claims(),
                groups: csv(r.groups),
              },
            });
            return `Rule ${r.name} saved; bind roles to oidc:${r.name}.`;
          });
        }}
      >
        <Field name="oidc-name" label="Rule name" value={r.name} set={(v) => setR({ ...r, name: v })} />
        <Field
          name="oidc-issuer"
          label="Issuer"
          placeholder="https://token.actions.githubusercontent.com"
          value={r.issuer}
          set={(v) => setR({ ...r, issuer: v })}
        />
        <Field
          name="oidc-audience"
          label="Audience (optional)"
          value={r.audience}
          set={(v) => setR({ ...r, audience: v })}
        />
        <Field
          name="oidc-claims"
          label="Claims (claim=pattern, comma-separated)"
          placeholder="repository=org/models, ref=refs/heads/main"
          value={r.claims}
          set={(v) => setR({ ...r, claims: v })}
        />
        <Field name="oidc-groups" label="Groups" value={r.groups} set={(v) => setR({ ...r, groups: v })} />
        <button type="submit">Save rule</button>
      </form>
      <Outcome error={error} notice={notice} />
    </section>
  );
}

function SigningKeys() {
  const [rows, reload, loadError] = useList<Row>('/admin/keys', 'keys');
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  return (
    <section aria-label="Token signing keys">
      <h2>Token signing keys</h2>
      {loadError && <p class="error">{loadError}</p>}
      <ul>
        {(rows ?? []).map((k) => (
          <li>
            <code>{String(k.kid)}</code> {String(k.alg)}, created {when(String(k.createdAt))}
            {k.retiredAt ? `, retired ${when(String(k.retiredAt))}` : ', signing'}
          </li>
        ))}
      </ul>
      <button
        type="button"
        onClick={() => {
          setError('');
          json<{ kid: string }>('/admin/keys/rotate', { method: 'POST', scopes: ADMIN })
            .then((r) => {
              setNotice(`New tokens are signed with ${r.kid}; the old key verifies until its tokens expire.`);
              reload();
            })
            .catch((err) => setError(errorText(err)));
        }}
      >
        Rotate signing key
      </button>
      <Outcome error={error} notice={notice} />
    </section>
  );
}

function PolicyTest() {
  const [q, setQ] = useState({ principal: '', action: 'pull', resource: '', stage: '' });
  const [answer, setAnswer] = useState<
    | { decision: string; policies: string[]; groups: string[]; principal: string; action: string; resource: string }
    | undefined
  >();
  const [error, setError] = useState('');
  return (
    <section aria-label="Who may do what">
      <h2>Who may do what</h2>
      <form
        class="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          setError('');
          setAnswer(undefined);
          json<NonNullable<typeof answer>>('/admin/policy/test', {
            method: 'POST',
            scopes: ADMIN,
            body: { ...q, mfa: false },
          })
            .then(setAnswer)
            .catch((err) => {
              setAnswer(undefined);
              setError(errorText(err));
            });
        }}
      >
        <Field
          name="test-principal"
          label="Who"
          placeholder="user:alice"
          value={q.principal}
          set={(v) => setQ({ ...q, principal: v })}
        />
        <label>
          May
          <select
            name="test-action"
            value={q.action}
            onChange={(e) => setQ({ ...q, action: (e.target as HTMLSelectElement).value })}
          >
            {['pull', 'push', 'delete', 'tag', 'approve', 'admin', 'read-audit'].map((a) => (
              <option value={a}>{a}</option>
            ))}
          </select>
        </label>
        <Field
          name="test-resource"
          label="Repository, namespace or *"
          placeholder="ml/bert, ml/ or *"
          value={q.resource}
          set={(v) => setQ({ ...q, resource: v })}
        />
        <Field
          name="test-stage"
          label="Moving to stage (optional)"
          value={q.stage}
          set={(v) => setQ({ ...q, stage: v })}
        />
        <button type="submit">Ask the policy</button>
      </form>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {answer && (
        <p role="status" class={answer.decision === 'allow' ? 'notice' : 'error'}>
          {answer.principal} {answer.action} {answer.resource}: {answer.decision === 'allow' ? 'allowed' : 'denied'}
          {answer.policies.length ? ` by ${answer.policies.join(', ')}` : ' (no policy applies: denied by default)'}
          {answer.groups.length ? `; groups ${answer.groups.join(', ')}` : ''}
        </p>
      )}
    </section>
  );
}

/** Administration: only for sessions signed in with MFA (the server enforces it; the page says why). */
export function AdminPage(props: { mfa: boolean }) {
  if (!props.mfa)
    return (
      <main>
        <h1>Administration</h1>
        <p role="alert" class="error">
          Administration needs a session signed in with MFA. Enrol an authenticator (POST /auth/mfa/enroll) and sign in
          again with its code.
        </p>
      </main>
    );
  return (
    <main class="admin">
      <h1>Administration</h1>
      <PolicyTest />
      <Accounts kind="users" />
      <Accounts kind="robots" />
      <Roles />
      <Labels />
      <OidcRules />
      <SigningKeys />
    </main>
  );
}
