/// <reference lib="dom" />
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/api-client.js';
import { launchBrowser, watchedContext } from '../support/browser.js';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { runCli } from '../support/processes.js';
import { startCluster, type Cluster } from '../support/system.js';

// The console's schedules page in chromium against a real API process (it takes the ticks; no worker, so
// the tasks stay queued), Postgres and Redis.
const id = testId('brsched');
const PASSWORD = 'a long enough password';
let db: TestDatabase;
let sys: Cluster;
let browser: Browser;
let base = '';

beforeAll(async () => {
  db = await createTestDatabase('brsched');
  sys = await startCluster({
    id,
    dbUrl: db.url,
    image: 'aicli-sandbox:unused',
    modelUrl: 'http://127.0.0.1:9',
    workers: 0,
    // The tasks stay queued: lift the cap of queued tasks, so that every tick makes one.
    extraEnv: { AICLI__LIMITS__ROLES: '{"user":{"max_concurrent_tasks":100000}}' },
  });
  base = sys.api.baseUrl;
  const made = await runCli(['users', 'create', '--email', 'sched@example.com', '--password', PASSWORD, '--role', 'user'], sys.env);
  if (made.code !== 0) throw new Error(`users create failed: ${made.output}`);
  const client = new ApiClient(base);
  await client.login('sched@example.com', PASSWORD);
  await client.createWorkspace({ name: 'scheduled repo' });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await sys?.stop();
  await db?.drop();
});

describe('the schedules page', () => {
  it('creates a per-second schedule, shows its task, pauses, resumes and deletes it', async () => {
    const w = await watchedContext(browser, { baseURL: base });
    const page = await w.newPage();
    await page.goto('/');
    await page.getByLabel('Email', { exact: true }).fill('sched@example.com');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Schedules' }).click();
    await page.waitForURL(/\/schedules$/);

    // The server's refusal shows on the page.
    // The select's label reads "Workspace" followed by its options, so it is found by name.
    await page.locator('select[name=workspace_id] option', { hasText: 'scheduled repo' }).waitFor({ state: 'attached' });
    await page.locator('select[name=workspace_id]').selectOption({ label: 'scheduled repo' });
    await page.getByLabel('Cron', { exact: true }).fill('every second');
    await page.getByLabel('Prompt', { exact: true }).fill('say hi');
    await page.getByRole('button', { name: 'Create schedule' }).click();
    await page.getByText('cron "every second" must have 5 fields').waitFor();

    await page.getByLabel('Name', { exact: true }).fill('ticker');
    await page.getByLabel('Cron', { exact: true }).fill('* * * * * *');
    await page.getByLabel('Prompt', { exact: true }).fill('say hi');
    await page.getByRole('button', { name: 'Create schedule' }).click();
    const row = page.locator('tr', { hasText: 'ticker' });
    await row.getByRole('cell', { name: 'On', exact: true }).waitFor();
    await expect.poll(async () => row.locator('td').nth(1).textContent()).toBe('scheduled repo');

    // A tick's task appears as the last run (the page reads it on load).
    await expect
      .poll(
        async () => {
          await page.reload();
          const ticker = page.locator('tr', { hasText: 'ticker' });
          // Rendered once the page has read the schedules; count() itself does not wait.
          await ticker.waitFor();
          return ticker.locator('a[href^="/tasks/"]').count();
        },
        { timeout: 30_000, interval: 1000 },
      )
      .toBe(1);

    await page.locator('tr', { hasText: 'ticker' }).getByRole('button', { name: 'Pause' }).click();
    await page.locator('tr', { hasText: 'ticker' }).getByRole('cell', { name: 'Paused', exact: true }).waitFor();
    await page.locator('tr', { hasText: 'ticker' }).getByRole('button', { name: 'Resume' }).click();
    await page.locator('tr', { hasText: 'ticker' }).getByRole('cell', { name: 'On', exact: true }).waitFor();
    await page.locator('tr', { hasText: 'ticker' }).getByRole('button', { name: 'Delete' }).click();
    await expect.poll(async () => page.locator('tr', { hasText: 'ticker' }).count()).toBe(0);
    const [left] = await db.sql<{ n: number }[]>`select count(*)::int as n from schedules`;
    expect(left?.n).toBe(0);

    expect(w.offHost()).toEqual([]);
    // Expected: the signed-out probe's 401 and the refused cron line's 400; anything else (a CSP refusal) fails.
    expect(w.pageErrors.filter((e) => !/status of (401|400)/.test(e))).toEqual([]);
    await w.context.close();
  });
});
