import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import type { ApiClient } from '../support/api-client.js';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { runCli } from '../support/processes.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { docker, REAL_KEY, signUp, startExtraWorker, startSystem, waitForTerminal, type SystemUnderTest } from '../support/system.js';
import { deriveImage, expectOneLineFailure, scratchDir, writeFile } from './seed-support.js';

// Guide section 6, "Claude CLI 통합 문제": a model API key the API refuses, a sandbox image without `claude`,
// and a workspace container killed for memory (exit 137); with the real CLI in the real image against the
// scripted Messages API, which here checks x-api-key as the real one does.
const id = testId('seedclaude');
const WRONG_KEY = 'sk-ant-api03-EXPIRED-0000000000000000000000000000';
let db: TestDatabase;
let model: ScriptedModel;
let sys: SystemUnderTest;
let alice: ApiClient;
let image = '';
let noClaude = '';
let workspaceId = '';

beforeAll(async () => {
  image = await ensureTestSandboxImage();
  // The image with a PATH that does not reach /usr/local/bin, where claude is: "PATH 환경 변수 문제".
  noClaude = await deriveImage(image, `aicli-sandbox:seed-noclaude-${id.toLowerCase()}`, ['ENV PATH=/usr/bin:/bin']);
  model = await startScriptedModel({ acceptKeys: [REAL_KEY] });
  db = await createTestDatabase('seedclaude');
  sys = await startSystem({
    id,
    dbUrl: db.url,
    image,
    modelUrl: model.url,
    extraEnv: { ANTHROPIC_API_KEY: WRONG_KEY, AICLI__SECRETS__MASTER_KEY: randomBytes(32).toString('base64') },
  });
  alice = await signUp(sys, 'alice@example.com');
  workspaceId = await alice.createWorkspace({ name: 'claude', source: { type: 'empty' } });
});

afterAll(async () => {
  await sys?.stop();
  await model?.close();
  await db?.drop();
  if (noClaude) await docker.getImage(noClaude).remove({ force: true }).catch(() => undefined);
});

describe('1. Claude API 인증 실패: {"error": "authentication_error", "message": "Invalid API key"}', () => {
  it('a key the model API refuses ends the task auth_failed at once; a valid key (checked for sk-ant-) makes the next one succeed', async () => {
    model.scenario('hello', [{ kind: 'text', text: 'hello from the model' }]);
    const refused = await waitForTerminal(alice, await alice.submitTask(workspaceId, { prompt: scenarioPrompt('hello', 'say hello') }));
    expect(refused.status).toBe('failed');
    expect(refused.error.code).toBe('auth_failed');
    expect(refused.error.message).toMatch(/^authentication with the model API failed: .*(invalid x-api-key|Invalid API key)/i);
    expect(refused.attempt).toBe(1);
    // The model API saw the configured key, never the task's gateway token.
    expect(model.requests.some((r) => r.headers['x-api-key'] === WRONG_KEY)).toBe(true);

    // Step 1's format check is the API's: a key that does not start with sk-ant- is refused.
    const badFormat = await alice.request('PUT', `/api/v1/workspaces/${workspaceId}/anthropic-key`, { api_key: 'my-api-key' });
    expect(badFormat.status).toBe(422);
    expect(badFormat.json.message).toMatch(/starts with sk-ant-/);
    // Step 3: a valid key (here the workspace's own; claude.api_key / ANTHROPIC_API_KEY with a restart works too).
    const stored = await alice.request('PUT', `/api/v1/workspaces/${workspaceId}/anthropic-key`, { api_key: REAL_KEY });
    expect(stored.status, stored.text).toBe(204);
    const ok = await waitForTerminal(alice, await alice.submitTask(workspaceId, { prompt: scenarioPrompt('hello', 'say hello') }));
    expect(ok.status, JSON.stringify(ok.error)).toBe('succeeded');
    expect(ok.result.text).toBe('hello from the model');
  });

  it("the guide's claude block loads as it is", () => {
    const cwd = scratchDir('claude');
    writeFile(cwd, 'config.yml', '# config.yml\nclaude:\n  api_key: "${ANTHROPIC_API_KEY}"\n  model: "claude-3-sonnet-20240229"\n  timeout: "60s"\n  retry_attempts: 3\n');
    expect(loadConfig({ cwd, env: { ANTHROPIC_API_KEY: REAL_KEY } }).config.claude).toMatchObject({
      api_key: REAL_KEY,
      model: 'claude-3-sonnet-20240229',
      timeout: 60_000,
      max_retries: 3,
    });
  });
});

describe('2. Claude CLI 프로세스 실패: exec: "claude": executable file not found in $PATH', () => {
  it('a worker on an image without claude on its PATH refuses to start with the guide\'s words; the rebuilt image starts', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'aicli-seed-noclaude-'));
    try {
      const r = await runCli(['worker'], { ...sys.env, AICLI__SANDBOX__IMAGE: noClaude, AICLI__SANDBOX__SCRATCH_ROOT: path.join(dir, 'scratch'), AICLI__WORKER__POOL_SIZE: '0' });
      expectOneLineFailure(
        r,
        /^aicli-web: sandbox self-check failed: failed to start claude process: exec: "claude": executable file not found in \$PATH of the image; fix: rebuild the image with `aicli-web sandbox build --force`/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // `aicli-web sandbox build` makes the image with claude at /usr/local/bin/claude: a worker on it starts.
    const extra = await startExtraWorker(sys, { AICLI__WORKER__POOL_SIZE: '0' });
    expect(extra.proc.output()).toMatch(/sandbox self-check passed: .*claude on the PATH/);
    await extra.proc.stop('SIGTERM');
  });
});

describe('3. 워크스페이스 격리 문제: workspace container exited with code 137', () => {
  it('a task past resources.memory_mb ends oom_killed with the guide\'s words and the fix; more memory lets the same work finish', async () => {
    model.scenario('alloc', [
      { kind: 'tool', name: 'Bash', input: { command: 'head -c 600m /dev/zero | tail | wc -c', description: 'allocate' } },
      { kind: 'text', text: 'allocated' },
    ]);
    const killed = await waitForTerminal(alice, await alice.submitTask(workspaceId, { prompt: scenarioPrompt('alloc', 'allocate'), resources: { memory_mb: 256 } }));
    expect(killed.status).toBe('failed');
    expect(killed.error).toMatchObject({ code: 'oom_killed', message: 'workspace container exited with code 137: out of memory (raise resources.memory_mb)' });
    expect(killed.attempt).toBe(1);
    // The guide's remedy: a larger memory limit (per task here; sandbox.memory_mb is the default, max_memory_mb the cap).
    const done = await waitForTerminal(alice, await alice.submitTask(workspaceId, { prompt: scenarioPrompt('alloc', 'allocate'), resources: { memory_mb: 2048 } }));
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.result.text).toBe('allocated');
  });
});
