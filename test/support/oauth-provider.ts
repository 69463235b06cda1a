import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The account the provider logs in when the browser reaches /authorize. */
export interface ProviderAccount {
  subject: string;
  email: string;
  verified: boolean;
}

/**
 * A loopback OAuth2 provider for tests, speaking either GitHub's dialect (errors as HTTP 200 with
 * `incorrect_client_credentials` / `bad_verification_code`, user + emails endpoints) or Google's (RFC 6749
 * errors with 400/401, OpenID userinfo). Codes are single-use and bound to the PKCE challenge and redirect URI.
 */
export interface OAuthProvider {
  url: string;
  clientId: string;
  clientSecret: string;
  /** Who logs in next. */
  account: ProviderAccount;
  /** Token requests received, with their outcome. */
  tokenRequests: Array<{ outcome: string }>;
  /** The provider's config section for the app (oauth2.<style>). */
  config(): Record<string, unknown>;
  close(): Promise<void>;
}

interface IssuedCode {
  clientId: string;
  redirectUri: string;
  challenge: string;
  account: ProviderAccount;
  used: boolean;
}

const b64url = (buf: Buffer) => buf.toString('base64url');

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

export async function startOAuthProvider(style: 'github' | 'google', account: ProviderAccount): Promise<OAuthProvider> {
  const clientId = `client-${randomBytes(4).toString('hex')}`;
  const clientSecret = `secret-${randomBytes(8).toString('hex')}`;
  const codes = new Map<string, IssuedCode>();
  const tokens = new Map<string, ProviderAccount>();
  const provider: OAuthProvider = {
    url: '',
    clientId,
    clientSecret,
    account,
    tokenRequests: [],
    config: () => ({
      client_id: clientId,
      client_secret: clientSecret,
      authorize_url: `${provider.url}/authorize`,
      token_url: `${provider.url}/token`,
      userinfo_url: `${provider.url}/${style === 'github' ? 'user' : 'userinfo'}`,
      emails_url: style === 'github' ? `${provider.url}/user/emails` : '',
    }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };

  const refuse = (res: ServerResponse, kind: 'client' | 'grant', outcome: string) => {
    provider.tokenRequests.push({ outcome });
    if (style === 'github') {
      const error = kind === 'client' ? 'incorrect_client_credentials' : 'bad_verification_code';
      return send(res, 200, { error, error_description: outcome });
    }
    return send(res, kind === 'client' ? 401 : 400, { error: kind === 'client' ? 'invalid_client' : 'invalid_grant', error_description: outcome });
  };

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', provider.url);
      if (req.method === 'GET' && url.pathname === '/authorize') {
        const q = url.searchParams;
        if (q.get('client_id') !== clientId) return send(res, 400, { error: 'unknown client' });
        if (q.get('response_type') !== 'code' || q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge') || !q.get('state')) {
          return send(res, 400, { error: 'invalid_request', error_description: 'response_type=code, state and an S256 code_challenge are required' });
        }
        const code = b64url(randomBytes(16));
        codes.set(code, {
          clientId,
          redirectUri: q.get('redirect_uri') ?? '',
          challenge: q.get('code_challenge') ?? '',
          account: { ...provider.account },
          used: false,
        });
        const back = new URL(q.get('redirect_uri') ?? '');
        back.searchParams.set('code', code);
        back.searchParams.set('state', q.get('state') ?? '');
        res.writeHead(302, { location: back.toString() });
        return res.end();
      }
      if (req.method === 'POST' && url.pathname === '/token') {
        const form = new URLSearchParams(await readBody(req));
        if (form.get('client_id') !== clientId || form.get('client_secret') !== clientSecret) return refuse(res, 'client', 'bad client credentials');
        const issued = codes.get(form.get('code') ?? '');
        if (!issued) return refuse(res, 'grant', 'unknown code');
        if (issued.used) return refuse(res, 'grant', 'code already used');
        issued.used = true;
        if (issued.redirectUri !== form.get('redirect_uri')) return refuse(res, 'grant', 'redirect_uri differs');
        const verifier = form.get('code_verifier') ?? '';
        if (b64url(createHash('sha256').update(verifier).digest()) !== issued.challenge) return refuse(res, 'grant', 'PKCE verifier does not match');
        const token = b64url(randomBytes(16));
        tokens.set(token, issued.account);
        provider.tokenRequests.push({ outcome: 'ok' });
        return send(res, 200, { access_token: token, token_type: 'bearer', scope: form.get('scope') ?? '' });
      }
      const who = tokens.get(/^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '');
      if (!who) return send(res, 401, { message: 'Bad credentials' });
      if (style === 'google' && url.pathname === '/userinfo') return send(res, 200, { sub: who.subject, email: who.email, email_verified: who.verified });
      if (style === 'github' && url.pathname === '/user') return send(res, 200, { id: Number(who.subject), login: `user${who.subject}`, email: null });
      if (style === 'github' && url.pathname === '/user/emails') {
        return send(res, 200, [{ email: who.email, primary: true, verified: who.verified, visibility: 'private' }]);
      }
      return send(res, 404, { error: 'not found' });
    })().catch((err: unknown) => send(res, 500, { error: String(err) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  provider.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return provider;
}
