import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/api-client.js';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { runCli } from '../support/processes.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { PG_ADMIN_URL, pgUrl } from '../support/services.js';
import { readSse } from '../support/sse-client.js';
import { signUp, startSystem, waitForTerminal, type SystemUnderTest } from '../support/system.js';

// The guide's FAQ "시스템 업데이트 시 데이터 손실 위험은 없나요?" step 1: back up with pg_dump, restore with
// psql. A real system runs a real task (events, diff, transcript) for a user whose workspace has a sealed
// Anthropic key; `aicli-web backup` dumps it; `aicli-web restore` loads it into a fresh, empty database; a
// new system on that database then lets the user log in with the same password, serves the task, its
// events and artifacts as they were, and runs a new task with the workspace key opened from the restored
// ciphertext (the scripted model sees it). The guide's own commands, pg_dump and psql as it writes them,
// give a database the system accepts too.
const MASTER_KEY = randomBytes(32).toString('base64');
const WS_KEY = `sk-ant-api03-restored-${randomBytes(18).toString('base64url')}`;
const PASSWORD = 'a long enough password for the backup';

let model: ScriptedModel;
let image: string;
let source: TestDatabase;
let sys: SystemUnderTest | null = null;
let restoredSys: SystemUnderTest | null = null;
let dir: string;
const freshDatabases: string[] = [];

async function admin<T>(run: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
  try {
    return await run(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** An empty database (no tables, not from the migrated template), as a new server would have. */
async function freshDatabase(label: string): Promise<string> {
  const name = `aicli_t_${label}_${randomBytes(4).toString('hex')}`;
  await admin((sql) => sql.unsafe(`create database ${name}`));
  freshDatabases.push(name);
  return name;
}

beforeAll(async () => {
  image = await ensureTestSandboxImage();
  model = await startScriptedModel();
  source = await createTestDatabase('backup');
  dir = mkdtempSync(path.join(tmpdir(), 'aicli-backup-'));
  sys = await startSystem({ id: testId('backup'), dbUrl: source.url, image, modelUrl: model.url, extraEnv: { AICLI__SECRETS__MASTER_KEY: MASTER_KEY } });
});

afterAll(async () => {
  await sys?.stop();
  await restoredSys?.stop();
  await model?.close();
  await source?.drop();
  await admin(async (sql) => {
    for (const name of freshDatabases) await sql.unsafe(`drop database if exists ${name} with (force)`);
  });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Snapshot {
  task: any;
  events: Array<{ id: number | null; event: string; data: unknown }>;
  diff: string;
  transcript: string;
  workspace: any;
}

async function snapshot(api: ApiClient, taskId: string, workspaceId: string): Promise<Snapshot> {
  const task = (await api.request('GET', `/api/v1/tasks/${taskId}`)).json;
  const stream = await readSse(`${api.baseUrl}/api/v1/tasks/${taskId}/events`, { authorization: `Bearer ${api.token}` }, { stopAfter: (e) => e.event === 'end' });
  const diff = await api.request('GET', `/api/v1/tasks/${taskId}/diff`);
  const transcript = await api.request('GET', `/api/v1/tasks/${taskId}/transcript`);
  expect(diff.status).toBe(200);
  expect(transcript.status).toBe(200);
  const workspace = (await api.request('GET', `/api/v1/workspaces/${workspaceId}`)).json;
  return { task, events: stream.events, diff: diff.text, transcript: transcript.text, workspace };
}

describe('aicli-web backup, then aicli-web restore into a fresh database', () => {
  it('keeps tasks with their events and artifacts, users who can log in, and workspaces whose sealed key still opens', async () => {
    const running = sys!;
    const alice = await signUp(running, 'alice@example.com', PASSWORD);
    const ws = await alice.createWorkspace({ name: 'kept' });
    expect((await alice.request('PUT', `/api/v1/workspaces/${ws}/anthropic-key`, { api_key: WS_KEY })).status).toBe(204);
    model.scenario('before', [
      { kind: 'tool', name: 'Write', input: { file_path: '/workspace/kept.txt', content: 'survives the restore\n' } },
      { kind: 'text', text: 'kept.txt written' },
    ]);
    const taskId = await alice.submitTask(ws, { prompt: scenarioPrompt('before', 'write kept.txt') });
    const done = await waitForTerminal(alice, taskId);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    const before = await snapshot(alice, taskId, ws);
    expect(before.diff).toContain('+survives the restore');
    expect(before.events.at(-1)?.event).toBe('end');
    expect(before.workspace.anthropic_key).toMatchObject({ set: true });

    const file = path.join(dir, 'backup.sql');
    const dumped = await runCli(['backup', '--output', file], running.env);
    expect(dumped.code, dumped.output).toBe(0);
    expect(dumped.output).toContain(`backup written to ${file}`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(existsSync(`${file}.partial`)).toBe(false);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('PostgreSQL database dump complete');
    // Sealed, not in clear: the key is opened only with secrets.master_key, which is not in the dump.
    expect(text).not.toContain(WS_KEY);
    // A backup is never overwritten.
    const again = await runCli(['backup', '--output', file], running.env);
    expect(again.code).toBe(1);
    expect(again.output).toMatch(/^aicli-web: backup: .*backup\.sql exists already: remove it or give another --output$/m);

    await running.stop();
    sys = null;

    const target = await freshDatabase('restored');
    const restoreEnv = { ...running.env, DATABASE_URL: pgUrl(target) };
    const restored = await runCli(['restore', '--input', file], restoreEnv);
    expect(restored.code, restored.output).toBe(0);
    expect(restored.output).toMatch(/restored .* into aicli_t_restored_\w+: schema at \d+, 1 users, 1 workspaces, 1 tasks/);
    // Never over live data: the same restore again is refused, and nothing is loaded twice.
    const twice = await runCli(['restore', '--input', file], restoreEnv);
    expect(twice.code).toBe(1);
    expect(twice.output).toMatch(/^aicli-web: restore: database aicli_t_restored_\w+ is not empty \(\d+ tables\): restore into a new one/m);

    restoredSys = await startSystem({
      id: testId('restored'),
      dbUrl: pgUrl(target),
      image,
      modelUrl: model.url,
      extraEnv: { AICLI__SECRETS__MASTER_KEY: MASTER_KEY },
    });
    const back = new ApiClient(restoredSys.api.baseUrl);
    await back.login('alice@example.com', PASSWORD);
    const after = await snapshot(back, taskId, ws);
    expect(after).toEqual(before);

    // The restored workspace's key is opened by the worker and sent upstream in place of the default key.
    model.scenario('after', [{ kind: 'text', text: 'running on the restored database' }]);
    const next = await back.submitTask(ws, { prompt: scenarioPrompt('after', 'say where you run') });
    const nextDone = await waitForTerminal(back, next);
    expect(nextDone.status, JSON.stringify(nextDone.error)).toBe('succeeded');
    expect(nextDone.result.text).toBe('running on the restored database');
    const keys = new Set(model.requestsFor('after').map((r) => r.headers['x-api-key']));
    expect(keys).toEqual(new Set([WS_KEY]));
  });

  it('refuses a file that is not there, and a missing pg_dump, each with one line naming the fix', async () => {
    const env = { ...restoredSys!.env };
    const missing = await runCli(['restore', '--input', path.join(dir, 'nope.sql')], env);
    expect(missing.code).toBe(1);
    expect(missing.output).toMatch(/^aicli-web: restore: .*nope\.sql not found: give the file aicli-web backup \(or pg_dump\) wrote$/m);
    const noTools = await runCli(['backup', '--output', path.join(dir, 'none.sql')], { ...env, PATH: path.join(dir, 'empty-path') });
    expect(noTools.code).toBe(1);
    expect(noTools.output).toMatch(/^aicli-web: pg_dump not found: install the PostgreSQL client tools/m);
    expect(existsSync(path.join(dir, 'none.sql'))).toBe(false);
    expect(existsSync(path.join(dir, 'none.sql.partial'))).toBe(false);
  });
});

describe('the guide\'s own commands', () => {
  it('pg_dump > backup.sql and psql < backup.sql give a database whose schema the system accepts as current', async () => {
    const target = await freshDatabase('guide');
    const file = path.join(dir, `backup_guide.sql`);
    const server = new URL(PG_ADMIN_URL);
    const host = ['-h', server.hostname, '-p', server.port || '5432', '-U', decodeURIComponent(server.username) || 'postgres'];
    execFileSync('sh', ['-c', `pg_dump "$@" ${source.name} > ${file}`, 'sh', ...host]);
    execFileSync('psql', [...host, '-q', '-v', 'ON_ERROR_STOP=1', '-d', target, '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    const status = await runCli(['migrate', '--status'], { DATABASE_URL: pgUrl(target), ENVIRONMENT: 'test' });
    expect(status.code, status.output).toBe(0);
    expect(status.output).not.toMatch(/pending|dirty/);
    const users = await admin(async () => {
      const sql = postgres(pgUrl(target), { max: 1, onnotice: () => {} });
      try {
        return (await sql<{ email: string }[]>`select email from users`).map((r) => r.email);
      } finally {
        await sql.end({ timeout: 5 });
      }
    });
    expect(users).toEqual(['alice@example.com']);
  });
});
