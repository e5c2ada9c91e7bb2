import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { currentSession, signOut, whenSignedOut, type Session } from './api';
import { SignIn } from './pages/sign-in';
import { Search } from './pages/search';
import { ArtifactPage } from './pages/artifact';
import { AuditPage } from './pages/audit';
import { AdminPage } from './pages/admin';

/** Pages live after the `#`: nothing of them reaches a server log or a Referer header. */
function useRoute(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash.replace(/^#/, '') || '/';
}

function Page(props: { route: string; session: Session }) {
  const m = /^\/a\/([^/]+)\/([^/]+)$/.exec(props.route);
  if (m) {
    const repository = decodeURIComponent(m[1]!);
    const reference = decodeURIComponent(m[2]!);
    return <ArtifactPage key={`${repository}@${reference}`} repository={repository} reference={reference} />;
  }
  if (props.route === '/audit') return <AuditPage />;
  if (props.route === '/admin') return <AdminPage mfa={props.session.mfa} />;
  return <Search />;
}

function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const route = useRoute();
  useEffect(() => {
    whenSignedOut(() => setSession(null));
    currentSession()
      .then((s) => setSession(s ?? null))
      .catch(() => setSession(null));
  }, []);
  if (session === undefined) return <main aria-busy="true">Loading…</main>;
  if (session === null) return <SignIn onSignedIn={setSession} />;
  return (
    <>
      <header class="top">
        <a class="brand" href="#/">
          Cairn
        </a>
        <nav aria-label="Main">
          <a href="#/">Models and datasets</a>
          <a href="#/audit">Audit log</a>
          {session.mfa && <a href="#/admin">Administration</a>}
        </nav>
        <span class="who">
          {session.user}
          {session.mfa ? ' (MFA)' : ''}
        </span>
        <button
          type="button"
          onClick={() => {
            void signOut().then(() => setSession(null));
          }}
        >
          Sign out
        </button>
      </header>
      <Page route={route} session={session} />
    </>
  );
}

render(<App />, document.getElementById('app')!);
