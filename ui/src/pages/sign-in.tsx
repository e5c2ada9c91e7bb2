import { useEffect, useState } from 'preact/hooks';
import { ApiError, signIn, type Session } from '../api';

/** User name and password; then, when the account has MFA, the code from the authenticator app. */
export function SignIn(props: { onSignedIn: (s: Session) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [otp, setOtp] = useState('');
  const [needOtp, setNeedOtp] = useState(false);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [sso, setSso] = useState<string | undefined>();
  // A single sign-on that failed comes back here with its reason after the '#'.
  const [ssoError] = useState(() => {
    const m = /^#\/sso-failed\/(.*)$/.exec(location.hash);
    return m ? decodeURIComponent(m[1]!) : '';
  });
  useEffect(() => {
    fetch('/ui/sso', { credentials: 'same-origin' })
      .then((r) => (r.ok ? r.json() : { enabled: false }))
      .then((r: { enabled: boolean; displayName?: string }) => setSso(r.enabled ? r.displayName : undefined))
      .catch(() => setSso(undefined));
  }, []);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      props.onSignedIn(await signIn(username, password, needOtp ? otp : undefined));
    } catch (err) {
      if (err instanceof ApiError && err.detail?.mfa === 'required') {
        setNeedOtp(true);
        setError('');
      } else setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="sign-in">
      <h1>Sign in to Cairn</h1>
      {ssoError && (
        <p class="error" role="alert">
          Single sign-on did not complete: {ssoError}
        </p>
      )}
      {sso && (
        <p>
          <a class="button" href="/ui/sso/start">
            Sign in with {sso}
          </a>
        </p>
      )}
      <form onSubmit={submit} aria-describedby={error ? 'sign-in-error' : undefined}>
        <label>
          User name
          <input
            name="username"
            autocomplete="username"
            required
            value={username}
            disabled={needOtp}
            onInput={(e) => setUsername((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autocomplete="current-password"
            required
            value={password}
            disabled={needOtp}
            onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
          />
        </label>
        {needOtp && (
          <label>
            Code from your authenticator app
            <input
              name="otp"
              inputMode="numeric"
              autocomplete="one-time-code"
              pattern="[0-9]{6}"
              required
              autoFocus
              value={otp}
              onInput={(e) => setOtp((e.target as HTMLInputElement).value)}
            />
          </label>
        )}
        {error && (
          <p id="sign-in-error" class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {needOtp ? 'Verify code' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
