import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** Debian's chromium (scripts/setup-host.sh installs it). */
export const CHROMIUM_PATH = '/usr/bin/chromium';

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`${CHROMIUM_PATH} is missing: run scripts/setup-host.sh (installs Debian's chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    // No sandbox as root in a container; nothing of the browser's own that calls out to the internet.
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-default-apps', '--no-first-run'],
  });
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** True for the URLs a page may load here: loopback over HTTP(S), and in-page data: and blob: URLs. */
export function staysOnHost(url: string): boolean {
  const u = new URL(url);
  if (u.protocol === 'data:' || u.protocol === 'blob:' || u.protocol === 'about:') return true;
  return (u.protocol === 'http:' || u.protocol === 'https:') && LOOPBACK_HOSTS.has(u.hostname);
}

export interface WatchedContext {
  context: BrowserContext;
  /** Every URL the context's pages asked for, in order. */
  requested: string[];
  /** The requests that would have left the host (each one was aborted). */
  offHost(): string[];
  /** Console errors and uncaught page errors, e.g. a Content-Security-Policy violation. */
  pageErrors: string[];
  newPage(): Promise<Page>;
}

/**
 * A fresh browser profile (cookies and storage of its own) that records every request and aborts any to
 * an address off this host, so a test can fail on it and nothing leaves the machine meanwhile.
 */
export async function watchedContext(browser: Browser, options: { locale?: string; baseURL?: string } = {}): Promise<WatchedContext> {
  const context = await browser.newContext({ locale: options.locale ?? 'en-US', baseURL: options.baseURL });
  const requested: string[] = [];
  const pageErrors: string[] = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    requested.push(url);
    return staysOnHost(url) ? route.continue() : route.abort('blockedbyclient');
  });
  context.on('page', (page) => {
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
  });
  return {
    context,
    requested,
    offHost: () => requested.filter((u) => !staysOnHost(u)),
    pageErrors,
    newPage: () => context.newPage(),
  };
}

/** Signs in through the browser's own fetch (the console's sign-in form does the same request). */
export async function signInByFetch(page: Page, email: string, password: string): Promise<number> {
  return page.evaluate(
    async ([e, p]) => (await fetch('/api/v1/auth/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: e, password: p }) })).status,
    [email, password] as const,
  );
}
