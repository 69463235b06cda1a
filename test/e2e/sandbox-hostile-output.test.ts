import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../support/api-client.js';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { signUp, startSystem, waitForTerminal, type SystemUnderTest } from '../support/system.js';
import { toolResultsOf } from '../support/task-events.js';

// A hostile agent controls everything the claude CLI prints: its Bash tool can write straight into the
// container's stdout (/proc/1/fd/1 is the init's end of the pipe the worker reads), and the model's own
// words reach the result. Each task here performs one attack with the real CLI in the real sandbox, at the
// default limits (sandbox.max_events_per_task 20000, sandbox.max_event_bytes_per_task 32 MiB).

const id = testId('hostileout');
const STDOUT = '/proc/1/fd/1';
const DEFAULT_MAX_EVENTS = 20_000;
const DEFAULT_MAX_EVENT_BYTES = 32 * 1024 * 1024;
/** A marker the test's trigger turns into a Postgres data exception, standing in for a sanitiser bypass. */
const POISON = `POISON-${id}`;

let db: TestDatabase;
let model: ScriptedModel;
let sys: SystemUnderTest;
let alice: ApiClient;

beforeAll(async () => {
  const image = await ensureTestSandboxImage();
  model = await startScriptedModel();
  db = await createTestDatabase('hostileout');
  sys = await startSystem({ id, dbUrl: db.url, image, modelUrl: model.url });
  alice = await signUp(sys, 'alice@example.com');
});

afterAll(async () => {
  await sys?.stop();
  await model?.close();
  await db?.drop();
});

/** A task whose agent runs `script` with the Bash tool, then answers `finalText`. */
async function runAttack(name: string, script: string, finalText = 'flooded'): Promise<{ taskId: string; task: any }> {
  model.scenario(name, [
    { kind: 'tool', name: 'Bash', input: { command: script, description: 'print hostile output', timeout: 120_000 } },
    { kind: 'text', text: finalText },
  ]);
  const ws = await alice.createWorkspace({ name, source: { type: 'empty' } });
  const taskId = await alice.submitTask(ws, { prompt: scenarioPrompt(name, 'print a lot') });
  return { taskId, task: await waitForTerminal(alice, taskId) };
}

async function storedEvents(taskId: string): Promise<{ events: number; bytes: number }> {
  const [row] = await db.sql<{ events: number; bytes: number }[]>`
    select count(*)::int as events, coalesce(sum(octet_length(payload::text)), 0)::int as bytes from task_events where task_id = ${taskId}`;
  return row ?? { events: 0, bytes: 0 };
}

describe('an agent that floods its output', () => {
  it('many small events: the task stops at sandbox.max_events_per_task and fails output_limit', async () => {
    const script = `for i in $(seq 1 ${DEFAULT_MAX_EVENTS + 5000}); do echo '{"type":"flood","i":'$i'}'; done > ${STDOUT}; echo FLOODED`;
    const { taskId, task } = await runAttack('flood-small', script);
    const stored = await storedEvents(taskId);
    // The worker's own status and end events come on top of the agent's share.
    expect(stored.events, 'events stored for one task').toBeLessThanOrEqual(DEFAULT_MAX_EVENTS + 10);
    expect(task.status).toBe('failed');
    expect(task.error.code).toBe('output_limit');
    expect(task.error.message).toContain('sandbox.max_events_per_task');
    expect(task.attempt).toBe(1);
    // What was stored before the cap stays readable, through the API too.
    const res = await alice.request('GET', `/api/v1/tasks/${taskId}/events?after=0`);
    expect(res.text).toContain('"type":"flood"');
    expect(res.text).toContain('event: end');
  });

  it('a few huge events: the task stops at sandbox.max_event_bytes_per_task and fails output_limit', async () => {
    // Eight lines of 5 MB each: every one under the parser's 8 MiB line cap, together 40 MB.
    const script = `s=$(head -c 5000000 /dev/zero | tr '\\0' a); for i in 1 2 3 4 5 6 7 8; do printf '{"type":"huge","x":"%s"}\\n' "$s"; done > ${STDOUT}; echo FLOODED`;
    const { taskId, task } = await runAttack('flood-huge', script);
    const stored = await storedEvents(taskId);
    expect(stored.bytes, 'payload bytes stored for one task').toBeLessThanOrEqual(DEFAULT_MAX_EVENT_BYTES + 64 * 1024);
    expect(task.status).toBe('failed');
    expect(task.error.code).toBe('output_limit');
    expect(task.error.message).toContain('sandbox.max_event_bytes_per_task');
    // No half-written rows: every stored huge event is whole.
    const partial = await db.sql`
      select seq from task_events where task_id = ${taskId} and payload->>'type' = 'huge' and length(payload->>'x') <> 5000000`;
    expect(partial).toEqual([]);
  });
});

describe('NUL bytes and lone surrogates in what the agent prints', () => {
  it('are stored as U+FFFD in events and the result, and the task succeeds', async () => {
    const name = 'nul-bytes';
    model.scenario(name, [
      // Straight into stdout: a line whose JSON escapes decode to U+0000 and a lone high surrogate.
      {
        kind: 'tool',
        name: 'Bash',
        input: { command: `printf '%s\\n' '{"type":"hostile","text":"nul\\u0000 lone\\ud800 end","keys":{"k\\u0000":"v\\udfff"}}' > ${STDOUT}; echo PRINTED`, description: 'print' },
      },
      // Tool input with both, which the CLI echoes back in its assistant and user lines.
      { kind: 'tool', name: 'Write', input: { file_path: '/workspace/nul.txt', content: 'a\u0000b\ud800c' } },
      // The model's last words become the result text.
      { kind: 'text', text: 'done\u0000 with \ud800 lone' },
    ]);
    const ws = await alice.createWorkspace({ name, source: { type: 'empty' } });
    const taskId = await alice.submitTask(ws, { prompt: scenarioPrompt(name, 'print NUL bytes') });
    const task = await waitForTerminal(alice, taskId);
    expect(task.status, JSON.stringify(task.error)).toBe('succeeded');
    expect(task.attempt).toBe(1);
    expect(await toolResultsOf(db.sql, taskId)).toContain('PRINTED');
    const [hostile] = await db.sql<{ payload: any }[]>`
      select payload from task_events where task_id = ${taskId} and payload->>'type' = 'hostile'`;
    expect(hostile?.payload.text).toBe('nul\uFFFD lone\uFFFD end');
    expect(hostile?.payload.keys).toEqual({ 'k\uFFFD': 'v\uFFFD' });
    expect(task.result.text).toBe('done\uFFFD with \uFFFD lone');
  });
});

describe('a Postgres data exception on a task write', () => {
  it('fails the task at once instead of retrying it until the attempts run out', async () => {
    // Stands in for poisoned data the sanitiser misses: Postgres itself rejects the batch with SQLSTATE 22P05.
    await db.sql.unsafe(`
      create function poison_guard() returns trigger language plpgsql as $$
      begin
        if new.payload::text like '%${POISON}%' then
          raise exception 'unsupported Unicode escape sequence' using errcode = '22P05';
        end if;
        return new;
      end $$;
      create trigger poison_guard before insert on task_events for each row execute function poison_guard();`);
    const { taskId, task } = await runAttack('data-error', `printf '%s\\n' '{"type":"poison","x":"${POISON}"}' > ${STDOUT}; echo PRINTED`, 'poisoned');
    expect(task.status).toBe('failed');
    expect(task.attempt, 'attempts spent on a data error').toBe(1);
    expect(task.error.code).toBe('output_rejected');
    expect(task.error.message).toContain('22P05');
    // The terminal events still land after the rejected batch.
    const [end] = await db.sql<{ payload: any }[]>`select payload from task_events where task_id = ${taskId} and type = 'end'`;
    expect(end?.payload.error.code).toBe('output_rejected');
  });
});
