import { useEffect, useState } from 'preact/hooks';
import { oauthProviders, signIn } from '../api.js';
import { t } from '../i18n.js';

const PROVIDER_NAMES: Record<string, string> = { github: 'GitHub', google: 'Google' };

export function SignIn({ onSignedIn }: { onSignedIn(): void }) {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [providers, setProviders] = useState<string[]>([]);
  useEffect(() => {
    void oauthProviders().then(setProviders, () => setProviders([]));
  }, []);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    setBusy(true);
    setError('');
    try {
      await signIn(String(form.get('email')), String(form.get('password')));
      onSignedIn();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in">
      <h1>{t.appName}</h1>
      <form onSubmit={submit}>
        <label>
          {t.email}
          <input name="email" type="email" autocomplete="username" required />
        </label>
        <label>
          {t.password}
          <input name="password" type="password" autocomplete="current-password" required />
        </label>
        <button type="submit" disabled={busy}>
          {t.signIn}
        </button>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
      </form>
      <p class="oauth">
        {providers.map((p) => (
          <a key={p} class="button" href={`/api/v1/auth/oauth/${p}`}>
            {t.signInWith} {PROVIDER_NAMES[p] ?? p}
          </a>
        ))}
      </p>
    </main>
  );
}
