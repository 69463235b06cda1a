/**
 * The console's only way to the API: same-origin fetches riding on the session cookie. The CSRF token is
 * kept in memory (never in storage) and sent with every state-changing request; a 401 renews the session
 * once from the refresh cookie and retries.
 */
let csrfToken: string | null = null;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Me {
  id: string;
  email: string;
  role: string;
  permissions: string[];
}

const send = (method: string, path: string, body?: unknown): Promise<Response> => {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  return fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
};

async function failure(res: Response): Promise<HttpError> {
  const body = (await res.json().catch(() => null)) as { error?: string; message?: string } | null;
  return new HttpError(res.status, body?.error ?? `HTTP ${res.status}`, body?.message ?? res.statusText);
}

interface SessionInfo {
  csrf_token: string | null;
  oauth_providers: string[];
}

async function sessionInfo(): Promise<SessionInfo> {
  const res = await fetch('/api/v1/auth/session', { credentials: 'same-origin' });
  if (!res.ok) throw await failure(res);
  return (await res.json()) as SessionInfo;
}

async function loadCsrf(): Promise<void> {
  csrfToken = (await sessionInfo()).csrf_token;
}

/** The OAuth2 providers this API offers for sign-in. */
export const oauthProviders = async (): Promise<string[]> => (await sessionInfo()).oauth_providers;

/** Renews the session from the refresh cookie; false when there is none to renew. */
export async function renewSession(): Promise<boolean> {
  if (!csrfToken) await loadCsrf();
  if (!csrfToken) return false;
  const res = await send('POST', '/api/v1/auth/session/refresh');
  if (!res.ok) return false;
  csrfToken = ((await res.json()) as { csrf_token: string }).csrf_token;
  return true;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  if (method !== 'GET' && !csrfToken) await loadCsrf();
  let res = await send(method, path, body);
  if (res.status === 401 && (await renewSession())) res = await send(method, path, body);
  if (!res.ok) throw await failure(res);
  return (res.status === 204 ? undefined : await res.json()) as T;
}

export async function signIn(email: string, password: string): Promise<void> {
  const res = await send('POST', '/api/v1/auth/session', { email, password });
  if (!res.ok) throw await failure(res);
  csrfToken = ((await res.json()) as { csrf_token: string }).csrf_token;
}

export async function signOut(): Promise<void> {
  if (!csrfToken) await loadCsrf();
  await send('DELETE', '/api/v1/auth/session');
  csrfToken = null;
}

/** The signed-in user, or null when this browser has no session. */
export async function currentUser(): Promise<Me | null> {
  try {
    return await api<Me>('GET', '/api/v1/auth/me');
  } catch (e) {
    if (e instanceof HttpError && e.status === 401) return null;
    throw e;
  }
}
