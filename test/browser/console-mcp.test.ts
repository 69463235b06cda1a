/// <reference lib="dom" />
import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, watchedContext } from '../support/browser.js';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { runCli } from '../support/processes.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { startSystem, type SystemUnderTest } from '../support/system.js';

// The console's MCP servers in chromium against the real system: a workspace created with a JSON list,
// shown with its values masked (the page never holds the secret), and a list that is not JSON refused
// in the form before anything is sent.
const id = testId('consolemcp');
const PASSWORD = 'a long enough password';
const SECRET = `mcp-console-${randomBytes(12).toString('hex')}`;
let db: TestDatabase;
let model: ScriptedModel;
let sys: SystemUnderTest;
let browser: Browser;

beforeAll(async () => {
  const image = await ensureTestSandboxImage();
  model = await startScriptedModel();
  db = await createTestDatabase('consolemcp');
  sys = await startSystem({ id, dbUrl: db.url, image, modelUrl: model.url, extraEnv: { AICLI__SECRETS__MASTER_KEY: randomBytes(32).toString('base64') } });
  const r = await runCli(['users', 'create', '--email', 'mcp@example.com', '--password', PASSWORD, '--role', 'user'], sys.env);
  if (r.code !== 0) throw new Error(`users create failed: ${r.output}`);
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await sys?.stop();
  await model?.close();
  await db?.drop();
});

describe('MCP servers in the console', () => {
  it('creates a workspace with MCP servers and shows them with their values masked', async () => {
    const w = await watchedContext(browser, { baseURL: sys.api.baseUrl, locale: 'en-US' });
    const page = await w.newPage();
    await page.goto('/');
    await page.getByLabel('Email', { exact: true }).fill('mcp@example.com');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await page.goto('/workspaces');

    await page.getByLabel('Name', { exact: true }).fill('not json');
    await page.getByLabel('MCP servers (JSON list, optional)', { exact: true }).fill('{"name": "echo"');
    await page.getByRole('button', { name: 'Create workspace' }).click();
    await page.getByRole('alert').filter({ hasText: 'MCP servers must be a JSON list' }).waitFor();

    const servers = [{ name: 'echo', type: 'stdio', command: 'aicli-mcp-echo', args: ['--quiet'], env: { ECHO_TOKEN: SECRET } }];
    await page.getByLabel('Name', { exact: true }).fill('with mcp');
    await page.getByLabel('MCP servers (JSON list, optional)', { exact: true }).fill(JSON.stringify(servers));
    await page.getByRole('button', { name: 'Create workspace' }).click();
    const row = page.getByRole('row').filter({ hasText: 'with mcp' });
    await row.waitFor();
    await expect.poll(() => row.textContent()).toContain(`echo aicli-mcp-echo --quiet (ECHO_TOKEN=…${SECRET.slice(-4)})`);
    // The form is cleared, and nothing on the page holds the value any more.
    expect(await page.getByLabel('MCP servers (JSON list, optional)', { exact: true }).inputValue()).toBe('');
    expect(await page.content()).not.toContain(SECRET);
    expect(await db.sql`select 1 from workspaces where name = 'not json'`).toHaveLength(0);
    expect(w.offHost()).toEqual([]);
    // A CSP refusal would show here; the signed-out probe's 401 is expected.
    expect(w.pageErrors.filter((e) => !/status of 401/.test(e))).toEqual([]);
    await w.context.close();
  });
});
