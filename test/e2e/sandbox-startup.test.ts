import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judgeProbe, parseProbeOutput } from '../../workers/sandbox/self-check.js';
import { testEnv, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { runCli } from '../support/processes.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { signUp, startSystem, taskContainers, waitForTerminal, type SystemUnderTest } from '../support/system.js';

// Worker start-up: the self-check runs a hardened probe container and refuses to start (exit 1, one line
// naming the fix) on a missing image or runtime. And a task with no model API key at all fails fast.

const id = testId('sbxstart');
let db: TestDatabase;
let model: ScriptedModel;
let image = '';
let dir = '';

beforeAll(async () => {
  image = await ensureTestSandboxImage();
  model = await startScriptedModel();
  db = await createTestDatabase('sbxstart');
  dir = mkdtempSync(path.join(tmpdir(), 'aicli-start-'));
});

afterAll(async () => {
  await model?.close();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function workerEnv(extra: Record<string, string>): Record<string, string> {
  return testEnv(id, db.url, {
    ANTHROPIC_BASE_URL: model.url,
    AICLI__SANDBOX__IMAGE: image,
    AICLI__SANDBOX__SCRATCH_ROOT: path.join(dir, 'scratch'),
    AICLI__WORKER__GATEWAY_SOCKET_DIR: path.join(dir, 'run'),
    AICLI__SANDBOX__EXTRA_LABELS: JSON.stringify({ 'aicli.test_id': id }),
    AICLI__WORKER__METRICS_PORT: '0',
    ...extra,
  });
}

describe('worker start-up self-check', () => {
  it('refuses to start when the configured runtime is not registered with the engine', async () => {
    const r = await runCli(['worker'], workerEnv({ AICLI__SANDBOX__RUNTIME: 'runsc' }));
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/container runtime "runsc" is not known to the Docker engine/);
    expect(r.stderr).toMatch(/daemon\.json|remove the sandbox runtime setting/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses uncapped scratch (mode none) without sandbox.scratch.allow_uncapped, in one line naming the fix', async () => {
    const r = await runCli(['worker'], workerEnv({ AICLI__SANDBOX__SCRATCH__MODE: 'none' }));
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/sandbox\.scratch\.mode is none.*sandbox\.scratch\.mode: loop.*sandbox\.scratch\.allow_uncapped: true/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('checks the runtime even with startup_check off', async () => {
    const r = await runCli(['worker'], workerEnv({ AICLI__SANDBOX__RUNTIME: 'runsc', AICLI__SANDBOX__STARTUP_CHECK: 'false' }));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/container runtime "runsc" is not known/);
  });

  it('refuses to start without the image and names the build command', async () => {
    const r = await runCli(['worker'], workerEnv({ AICLI__SANDBOX__IMAGE: 'aicli-sandbox:no-such-tag' }));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/sandbox image aicli-sandbox:no-such-tag not found/);
    expect(r.stderr).toMatch(/aicli-web sandbox build/);
  });

  it('judges probe output: each broken property is named with its fix', () => {
    const good = 'ROOT=readonly\nUSR=readonly\nNET=lo \nCAPEFF=0000000000000000\nUID=1000\nCLAUDE=/usr/local/bin/claude\n';
    expect(judgeProbe(parseProbeOutput(good))).toBeNull();
    expect(judgeProbe(parseProbeOutput(good.replace('ROOT=readonly', 'ROOT=writable')))?.message).toMatch(/could write its root filesystem; fix: .*ReadonlyRootfs/);
    expect(judgeProbe(parseProbeOutput(good.replace('NET=lo ', 'NET=eth0 lo')))?.message).toMatch(/network interfaces \(eth0\)/);
    expect(judgeProbe(parseProbeOutput(good.replace('CAPEFF=0000000000000000', 'CAPEFF=00000000a80425fb')))?.message).toMatch(/holds capabilities/);
    expect(judgeProbe(parseProbeOutput(good.replace('UID=1000', 'UID=0')))?.message).toMatch(/uid 0/);
    expect(judgeProbe(parseProbeOutput(good.replace('CLAUDE=/usr/local/bin/claude', 'CLAUDE=')))?.message).toMatch(/executable file not found in \$PATH.*sandbox build --force/);
    expect(judgeProbe(parseProbeOutput(''))?.message).toMatch(/printed nothing/);
  });
});

describe('a system without any model API key', () => {
  let sys: SystemUnderTest;

  beforeAll(async () => {
    sys = await startSystem({ id, dbUrl: db.url, image, modelUrl: model.url, extraEnv: { ANTHROPIC_API_KEY: '' } });
  });

  afterAll(async () => {
    await sys?.stop();
  });

  it('passed the self-check at start (probe container: no network, read-only root)', () => {
    expect(sys.proc.output()).toMatch(/"action":"sandbox_self_check".*sandbox self-check passed/);
  });

  it('fails a task fast with auth_failed saying how to set a key; no sandbox, no model call', async () => {
    const alice = await signUp(sys, 'nokey@example.com');
    const ws = await alice.request('POST', '/api/v1/workspaces', { name: 'keyless' });
    model.scenario('nokey', [{ kind: 'text', text: 'never' }]);
    const before = model.requests.length;
    const created = await alice.request('POST', '/api/v1/tasks', { workspace_id: ws.json.id, prompt: scenarioPrompt('nokey', 'hi') });
    expect(created.status).toBe(202);
    const task = await waitForTerminal(alice, created.json.id, 60_000);
    expect(task.status).toBe('failed');
    expect(task.error.code).toBe('auth_failed');
    expect(task.error.message).toContain(`PUT /api/v1/workspaces/${ws.json.id}/anthropic-key`);
    expect(task.error.message).toMatch(/ANTHROPIC_API_KEY/);
    expect(task.attempt).toBe(1);
    expect(task.attempt_errors).toEqual([]);
    expect(model.requests.length).toBe(before);
    expect(sys.proc.output()).not.toMatch(new RegExp(`"action":"sandbox_started"[^\\n]*${created.json.id}`));
    expect(await taskContainers(created.json.id)).toEqual([]);
  });
});
