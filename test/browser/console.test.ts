/// <reference lib="dom" />
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, watchedContext, type WatchedContext } from '../support/browser.js';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { runCli } from '../support/processes.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { startSystem, type SystemUnderTest } from '../support/system.js';

// The console in chromium against the real system: `aicli-web up` (API + worker), the real claude CLI in
// the sandbox, Postgres and Redis; the scripted Messages API is the only double.
const id = testId('console');
const PASSWORD = 'a long enough password';
let db: TestDatabase;
let model: ScriptedModel;
let sys: SystemUnderTest;
let browser: Browser;
let base = '';
// Set AICLI_SCREENSHOT_DIR=docs/screenshots to refresh the README's pictures from this run.
const screenshotDir = process.env.AICLI_SCREENSHOT_DIR;

async function shot(page: Page, name: string): Promise<void> {
  if (!screenshotDir) return;
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: true });
}

/** Console errors other than the 401 of the signed-out probe (GET /api/v1/auth/me before signing in): a CSP refusal shows here. */
const pageProblems = (w: WatchedContext) => w.pageErrors.filter((e) => !/Failed to load resource: the server responded with a status of 401/.test(e));

async function createUser(email: string, role: string): Promise<void> {
  const r = await runCli(['users', 'create', '--email', email, '--password', PASSWORD, '--role', role], sys.env);
  if (r.code !== 0) throw new Error(`users create failed: ${r.output}`);
}

/** A fresh browser at the console, signed in through the form (its labels are the accessibility contract). */
async function signedIn(email: string, locale = 'en-US', labels = { email: 'Email', password: 'Password', signIn: 'Sign in' }): Promise<{ w: WatchedContext; page: Page }> {
  const w = await watchedContext(browser, { baseURL: base, locale });
  const page = await w.newPage();
  await page.setViewportSize({ width: 1200, height: 800 });
  await page.goto('/');
  await page.getByLabel(labels.email, { exact: true }).fill(email);
  await page.getByLabel(labels.password, { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: labels.signIn }).click();
  await page.getByRole('button', { name: locale.startsWith('ko') ? '로그아웃' : 'Sign out' }).waitFor();
  return { w, page };
}

async function submitTask(page: Page, prompt: string, labels = { workspace: 'Workspace', prompt: 'Prompt', submit: 'Submit task' }): Promise<string> {
  await page.goto('/');
  const workspace = page.getByLabel(labels.workspace, { exact: true });
  // Once, in CI, the form never showed: say what the page showed instead.
  await workspace.waitFor({ timeout: 30_000 }).catch(async (err: unknown) => {
    throw new Error(`no ${labels.workspace} field at ${page.url()}; the page shows: ${(await page.locator('body').innerText()).slice(0, 500)}`, { cause: err });
  });
  await workspace.selectOption({ label: 'console demo' });
  await page.getByLabel(labels.prompt, { exact: true }).fill(prompt);
  await page.getByRole('button', { name: labels.submit }).click();
  await page.waitForURL(/\/tasks\/[0-9a-f-]{36}$/);
  return new URL(page.url()).pathname.split('/').pop()!;
}

beforeAll(async () => {
  const image = await ensureTestSandboxImage();
  model = await startScriptedModel();
  db = await createTestDatabase('console');
  sys = await startSystem({ id, dbUrl: db.url, image, modelUrl: model.url });
  base = sys.api.baseUrl;
  await createUser('alice@example.com', 'user');
  await createUser('admin@example.com', 'admin');
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await sys?.stop();
  await model?.close();
  await db?.drop();
});

describe('the web console', () => {
  it('signs in, creates a workspace, submits, watches the stream to the end and shows the diff', async () => {
    const { w, page } = await signedIn('alice@example.com');
    const res = await page.goto('/workspaces');
    // The console's own policy: files from this origin only, nothing inline.
    expect(res?.headers()['content-security-policy']).toMatch(/script-src 'self';/);
    expect(res?.headers()['content-security-policy']).not.toContain('unsafe-inline');
    await page.getByLabel('Name', { exact: true }).fill('console demo');
    await page.getByRole('button', { name: 'Create workspace' }).click();
    await page.getByRole('cell', { name: 'console demo' }).waitFor();
    await shot(page, 'console-workspaces');

    model.scenario('console-hello', [
      { kind: 'tool', name: 'Write', input: { file_path: '/workspace/hello.txt', content: 'hello from the console\n' } },
      { kind: 'tool', name: 'Bash', input: { command: 'cat hello.txt', description: 'show the file' } },
      { kind: 'text', text: 'Wrote **hello.txt**.' },
    ]);
    const started = Date.now();
    const taskId = await submitTask(page, scenarioPrompt('console-hello', 'Write hello.txt and show it'));
    await page.getByTestId('task-status').waitFor();
    const firstRenderMs = Date.now() - started;
    // The live stream, rendered: the tool calls, the Bash output, the assistant's markdown, then the end.
    const stream = page.getByTestId('event-stream');
    await expect.poll(() => stream.getAttribute('data-ended'), { timeout: 180_000 }).toBe('true');
    await expect.poll(() => page.getByTestId('task-status').textContent()).toBe('succeeded');
    await stream.getByText('hello from the console').first().waitFor();
    await stream.locator('pre.bash', { hasText: 'cat hello.txt' }).waitFor();
    expect(await stream.locator('.assistant strong', { hasText: 'hello.txt' }).count()).toBe(1);
    // Each event once: as many rendered status lines as status events stored.
    const stored = await db.sql`select count(*)::int as n from task_events where task_id = ${taskId} and type in ('status', 'end')`;
    expect(await stream.locator('.status-line').count()).toBe(stored[0]!.n);
    expect(await page.getByRole('button', { name: 'Cancel' }).count()).toBe(0);
    await shot(page, 'console-task');

    await page.getByRole('tab', { name: 'Diff' }).click();
    await page.locator('.changed-files li', { hasText: 'hello.txt' }).waitFor();
    await page.locator('.d2h-file-wrapper').first().waitFor();
    await shot(page, 'console-diff');

    const download = page.waitForEvent('download');
    await page.getByRole('link', { name: 'Download transcript' }).click();
    expect((await download).suggestedFilename()).toBe(`transcript-${taskId}.jsonl`);

    await page.goto('/');
    await page.getByRole('link', { name: /Write hello.txt/ }).waitFor();
    await shot(page, 'console-tasks');
    expect(w.offHost()).toEqual([]);
    expect(pageProblems(w)).toEqual([]);
    console.info(`first rendered task page ${firstRenderMs} ms after the submit click`);
    await w.context.close();
  });

  it('cancels a running task from its page', async () => {
    const { w, page } = await signedIn('alice@example.com');
    model.scenario('console-slow', [{ kind: 'tool', name: 'Bash', input: { command: 'sleep 120', description: 'wait' } }]);
    await submitTask(page, scenarioPrompt('console-slow', 'Wait a long time'));
    await expect.poll(() => page.getByTestId('task-status').textContent(), { timeout: 120_000 }).toBe('running');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => page.getByTestId('task-status').textContent(), { timeout: 60_000 }).toBe('cancelled');
    await expect.poll(() => page.getByRole('button', { name: 'Cancel' }).count()).toBe(0);
    expect(pageProblems(w)).toEqual([]);
    await w.context.close();
  });

  it('renews an expired session cookie from the refresh cookie without signing in again', async () => {
    const { w, page } = await signedIn('alice@example.com');
    const session = async () => (await w.context.cookies(base)).find((c) => c.name.endsWith('aicli_session'));
    const before = (await session())!;
    // The browser drops the session cookie when it expires; the console's next request renews it.
    await w.context.clearCookies({ name: before.name });
    expect(await session()).toBeUndefined();
    await page.getByRole('link', { name: 'Workspaces' }).click();
    await page.getByRole('cell', { name: 'console demo' }).waitFor();
    // Set again by POST /api/v1/auth/session/refresh (a token made in the same second may equal the first).
    expect((await session())?.value).toBeTruthy();
    expect(await page.getByLabel('Email', { exact: true }).count()).toBe(0);
    await w.context.close();
  });

  it('shows users, roles and the audit log to an admin', async () => {
    const { w, page } = await signedIn('admin@example.com');
    await page.getByRole('link', { name: 'Admin' }).click();
    await page.getByTestId('admin-users').getByText('alice@example.com').waitFor();
    await page.getByTestId('admin-roles').getByRole('cell', { name: 'admin', exact: true }).waitFor();
    await page.getByTestId('admin-audit').getByRole('cell', { name: 'login', exact: true }).first().waitFor();
    await shot(page, 'console-admin');
    // The same session opens bull-board from the console's link.
    await page.getByRole('link', { name: 'Queues' }).click();
    await page.waitForURL(/\/admin\/queues/);
    await page.getByText(`tasks-${id}`).first().waitFor();
    expect(w.offHost()).toEqual([]);
    await w.context.close();
  });

  it('speaks Korean to a Korean browser, with the same test ids', async () => {
    const { w, page } = await signedIn('alice@example.com', 'ko-KR', { email: '이메일', password: '비밀번호', signIn: '로그인' });
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('ko');
    model.scenario('console-ko', [{ kind: 'text', text: '안녕하세요' }]);
    await submitTask(page, scenarioPrompt('console-ko', '인사하기'), { workspace: '워크스페이스', prompt: '프롬프트', submit: '작업 제출' });
    await expect.poll(() => page.getByTestId('task-status').textContent(), { timeout: 180_000 }).toBe('succeeded');
    await page.getByTestId('event-stream').getByText('안녕하세요').waitFor();
    await page.getByRole('tab', { name: '변경 사항' }).click();
    await page.getByText('변경 사항이 없습니다.').waitFor();
    await shot(page, 'console-task-ko');
    await w.context.close();
  });
});
