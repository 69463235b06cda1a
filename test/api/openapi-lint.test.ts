import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/api-app.js';
import { testConfig, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const REDOCLY = path.join(ROOT, 'node_modules/.bin/redocly');

interface LintReport {
  totals: { errors: number; warnings: number; ignored: number };
  problems: Array<{ ruleId: string; severity: string; message: string; location?: Array<{ pointer?: string }> }>;
}

let db: TestDatabase;
let t: TestApp;
let dir: string;

beforeAll(async () => {
  db = await createTestDatabase('openapilint');
  t = buildTestApp(testConfig(testId('openapilint'), db.url), db.sql);
  dir = mkdtempSync(path.join(tmpdir(), 'aicli-openapi-'));
});

afterAll(async () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  await t?.close();
  await db?.drop();
});

/** Lints `file` with the repository's redocly.yaml; redocly exits non-zero when it finds errors. */
async function lint(file: string): Promise<{ code: number; report: LintReport; stderr: string }> {
  // Nothing leaves loopback: no usage data, no update check.
  const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', DO_NOT_TRACK: '1' };
  const args = ['lint', file, '--format=json', '--config', path.join(ROOT, 'redocly.yaml'), '--max-problems=1000'];
  try {
    const { stdout, stderr } = await run(REDOCLY, args, { cwd: ROOT, env, timeout: 60_000 });
    return { code: 0, report: JSON.parse(stdout) as LintReport, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number' || !e.stdout) throw err;
    return { code: e.code, report: JSON.parse(e.stdout) as LintReport, stderr: e.stderr ?? '' };
  }
}

const describeProblems = (r: LintReport) => r.problems.map((p) => `${p.severity} ${p.ruleId} at ${p.location?.[0]?.pointer ?? '?'}: ${p.message}`).join('\n');

describe('redocly lint of the served document', () => {
  it('finds no errors and no warnings in GET /openapi.json', async () => {
    const res = await t.app.request('/openapi.json');
    expect(res.status).toBe(200);
    const file = path.join(dir, 'openapi.json');
    writeFileSync(file, await res.text());
    const { code, report, stderr } = await lint(file);
    expect(report.totals.errors, describeProblems(report) || stderr).toBe(0);
    expect(code, stderr).toBe(0);
    expect(report.totals.warnings, describeProblems(report)).toBe(0);
  });

  it("fails a document with OpenAPI 3.0's boolean exclusiveMinimum, so a clean result means something", async () => {
    const file = path.join(dir, 'broken.json');
    const doc = (await (await t.app.request('/openapi.json')).json()) as any;
    const budget = doc.paths['/api/v1/tasks'].post.requestBody.content['application/json'].schema.properties.max_budget_usd;
    expect(budget.exclusiveMinimum).toBe(0);
    budget.exclusiveMinimum = true;
    writeFileSync(file, JSON.stringify(doc));
    const { code, report } = await lint(file);
    expect(code).not.toBe(0);
    expect(report.totals.errors).toBeGreaterThan(0);
  });
});
