/// <reference lib="dom" />
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/api-client.js';
import { launchBrowser, signInByFetch, watchedContext } from '../support/browser.js';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { runCli } from '../support/processes.js';
import { startCluster, type Cluster } from '../support/system.js';

// Browser sessions against the real API process (no worker: tasks stay queued), in Debian's chromium.
const id = testId('brsess');
const PASSWORD = 'a long enough password';
let db: TestDatabase;
let sys: Cluster;
let browser: Browser;
let base = '';
let attacker: Server;
let attackerUrl = '';
let bearer: ApiClient;
let queuedTaskId = '';

async function createUser(email: string, role: string): Promise<void> {
  const r = await runCli(['users', 'create', '--email', email, '--password', PASSWORD, '--role', role], sys.env);
  if (r.code !== 0) throw new Error(`users create failed: ${r.output}`);
}

/** A page of another origin on this host (same site, other port: SameSite cookies still go with its requests). */
function startAttacker(): Promise<Server> {
  const server = createServer((req, res) => {
    const target = new URL(req.url ?? '/', 'http://x').searchParams.get('target') ?? '';
    res.setHeader('content-type', 'text/html');
    res.end(`<!doctype html><form id="f" method="POST" action="${target}"><input name="x" value="1"></form>`);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

beforeAll(async () => {
  db = await createTestDatabase('brsess');
  sys = await startCluster({
    id,
    dbUrl: db.url,
    image: 'aicli-sandbox:unused',
    modelUrl: 'http://127.0.0.1:9',
    workers: 0,
  });
  base = sys.api.baseUrl;
  await createUser('admin@example.com', 'admin');
  // Operators who may look at the queues, not act on them.
  const admin = new ApiClient(base);
  await admin.login('admin@example.com', PASSWORD);
  const role = await admin.request('PUT', '/api/v1/admin/roles/ops', { description: 'queue watchers', permissions: ['admin:queues:read'] });
  expect(role.status, role.text).toBeLessThan(300);
  await createUser('ops@example.com', 'ops');
  await createUser('user@example.com', 'user');
  bearer = new ApiClient(base);
  await bearer.login('user@example.com', PASSWORD);
  const ws = await bearer.request('POST', '/api/v1/workspaces', { name: 'csrf target', source: { type: 'empty' } });
  expect(ws.status).toBe(201);
  const task = await bearer.request('POST', '/api/v1/tasks', { workspace_id: ws.json.id, prompt: 'stays queued: no worker runs' });
  expect(task.status).toBe(202);
  queuedTaskId = task.json.id;
  attacker = await startAttacker();
  attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}`;
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  attacker?.close();
  await sys?.stop();
  await db?.drop();
});

describe('/docs in a browser', () => {
  it('renders the operations from the installed package with no request leaving the host', async () => {
    const w = await watchedContext(browser, { baseURL: base });
    const page = await w.newPage();
    await page.goto('/docs');
    await page.getByText('/api/v1/tasks/{id}/cancel').first().waitFor();
    expect(await page.locator('.opblock').count()).toBeGreaterThan(40);
    expect(w.offHost()).toEqual([]);
    // Every script came from this origin; nothing inline was refused by the page's policy.
    expect(w.requested.filter((u) => u.endsWith('.js')).every((u) => u.startsWith(base))).toBe(true);
    expect(w.pageErrors).toEqual([]);
    await w.context.close();
  });
});

describe('browser session', () => {
  it('signs in into HttpOnly, SameSite=Strict, short-lived cookies that page scripts cannot read', async () => {
    const w = await watchedContext(browser, { baseURL: base });
    const page = await w.newPage();
    await page.goto('/docs');
    expect(await signInByFetch(page, 'user@example.com', PASSWORD)).toBe(200);
    const cookies = await w.context.cookies(base);
    const session = cookies.find((c) => c.name.endsWith('aicli_session'));
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    // As long as the access token: 15 minutes by default, give or take the test's own time.
    expect(session!.expires * 1000 - Date.now()).toBeLessThanOrEqual(15 * 60_000 + 5_000);
    expect(session!.expires * 1000 - Date.now()).toBeGreaterThan(14 * 60_000);
    expect(cookies.find((c) => c.name.endsWith('aicli_csrf'))).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect((await w.context.cookies()).find((c) => c.name === 'refresh_token')).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/api/v1/auth' });
    expect(await page.evaluate(() => document.cookie)).toBe('');
    expect(await page.evaluate(() => JSON.stringify({ ...localStorage }))).toBe('{}');
    // The cookie alone authenticates reads.
    const me = await page.evaluate(async () => (await fetch('/api/v1/auth/me')).json());
    expect(me).toMatchObject({ email: 'user@example.com', auth: 'user' });
    await w.context.close();
  });

  it('refuses a state change by cookie without the CSRF token, also from a page of another port on this host', async () => {
    const w = await watchedContext(browser, { baseURL: base });
    const page = await w.newPage();
    await page.goto('/docs');
    expect(await signInByFetch(page, 'user@example.com', PASSWORD)).toBe(200);
    const cancelUrl = `${base}/api/v1/tasks/${queuedTaskId}/cancel`;

    // Same origin but no token: refused.
    const noToken = await page.evaluate(async (u) => {
      const r = await fetch(u, { method: 'POST' });
      return { status: r.status, body: await r.json() };
    }, cancelUrl);
    expect(noToken.status).toBe(403);
    expect(noToken.body).toMatchObject({ error: 'CSRF check failed' });

    // The attack: a form on another origin of the same site posts to the API with the victim's cookies.
    const evil = await w.newPage();
    await evil.goto(`${attackerUrl}/?target=${encodeURIComponent(cancelUrl)}`);
    const answer = evil.waitForResponse((r) => r.url() === cancelUrl);
    await evil.locator('#f').evaluate((f: HTMLFormElement) => f.submit());
    expect((await answer).status()).toBe(403);
    // And a fetch from there that sends the cookies without being able to read the answer.
    const evil2 = await w.newPage();
    await evil2.goto(attackerUrl);
    const fetched = evil2.waitForResponse((r) => r.url() === cancelUrl);
    await evil2.evaluate(async (u) => {
      await fetch(u, { method: 'POST', mode: 'no-cors', credentials: 'include' }).catch(() => undefined);
    }, cancelUrl);
    expect((await fetched).status()).toBe(403);
    expect((await bearer.request('GET', `/api/v1/tasks/${queuedTaskId}`)).json.status).toBe('queued');

    // The console's way: the token from GET /api/v1/auth/session in the header.
    const withToken = await page.evaluate(async (u) => {
      const { csrf_token } = (await (await fetch('/api/v1/auth/session')).json()) as { csrf_token: string };
      return (await fetch(u, { method: 'POST', headers: { 'x-csrf-token': csrf_token } })).status;
    }, cancelUrl);
    expect(withToken).toBe(200);
    await expect.poll(async () => (await bearer.request('GET', `/api/v1/tasks/${queuedTaskId}`)).json.status).toBe('cancelled');
    await w.context.close();
  });

  it('refreshes with the CSRF token, and logs out', async () => {
    const w = await watchedContext(browser, { baseURL: base });
    const page = await w.newPage();
    await page.goto('/docs');
    expect(await signInByFetch(page, 'user@example.com', PASSWORD)).toBe(200);
    const sessionCookie = async () => (await w.context.cookies(base)).find((c) => c.name.endsWith('aicli_session'));
    const { name, value: before } = (await sessionCookie())!;
    const refused = await page.evaluate(async () => (await fetch('/api/v1/auth/session/refresh', { method: 'POST' })).status);
    expect(refused).toBe(403);
    const refreshed = await page.evaluate(async () => {
      const { csrf_token } = (await (await fetch('/api/v1/auth/session')).json()) as { csrf_token: string };
      return (await fetch('/api/v1/auth/session/refresh', { method: 'POST', headers: { 'x-csrf-token': csrf_token } })).status;
    });
    expect(refreshed).toBe(200);
    const after = (await sessionCookie())!.value;
    expect(after).not.toBe(before);
    const out = await page.evaluate(async () => {
      const { csrf_token } = (await (await fetch('/api/v1/auth/session')).json()) as { csrf_token: string };
      const status = (await fetch('/api/v1/auth/session', { method: 'DELETE', headers: { 'x-csrf-token': csrf_token } })).status;
      return { status, me: (await fetch('/api/v1/auth/me')).status };
    });
    expect(out).toEqual({ status: 204, me: 401 });
    expect((await w.context.cookies(base)).filter((c) => /aicli_session|refresh_token/.test(c.name))).toEqual([]);
    // The access token of that cookie is revoked too, not only forgotten by this browser.
    const stale = await fetch(`${base}/api/v1/auth/me`, { headers: { cookie: `${name}=${after}` } });
    expect(stale.status).toBe(401);
    await w.context.close();
  });
});

describe('bull-board by browser session', () => {
  it('opens for an admin, read-only for admin:queues:read, and refuses a plain user', async () => {
    const open = async (email: string) => {
      const w = await watchedContext(browser, { baseURL: base });
      const page = await w.newPage();
      await page.goto('/docs');
      expect(await signInByFetch(page, email, PASSWORD)).toBe(200);
      const res = await page.goto('/admin/queues');
      return { w, page, status: res?.status() };
    };
    const admin = await open('admin@example.com');
    expect(admin.status).toBe(200);
    await admin.page.getByText(`tasks-${id}`).first().waitFor();
    expect(admin.w.offHost()).toEqual([]);
    await admin.w.context.close();

    const ops = await open('ops@example.com');
    expect(ops.status).toBe(200);
    await ops.page.getByText('(read-only)').first().waitFor();
    await ops.w.context.close();

    const user = await open('user@example.com');
    expect(user.status).toBe(403);
    expect(await user.page.textContent('body')).toContain('admin:queues');
    await user.w.context.close();

    // No session at all: 401.
    const anon = await watchedContext(browser, { baseURL: base });
    const page = await anon.newPage();
    expect((await page.goto('/admin/queues'))?.status()).toBe(401);
    await anon.context.close();
  });
});
