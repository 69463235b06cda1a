import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../support/api-client.js';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { pollFor } from '../support/poll.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { startSilentServer, type SilentServer } from '../support/silent-server.js';
import { removeContainersOf, signUp, startSystem, statusWithin, TERMINAL_STATUSES, waitForTerminal, type SystemUnderTest } from '../support/system.js';
import { isEnd, subscribeTaskChannel, type TaskChannelSubscriber } from '../support/task-channel.js';
import { waitForAgentStarted } from '../support/task-events.js';

// The task life cycle as a client sees it, through one `aicli-web up` process (API + worker): when the
// `end` event may be published, and how fast a cancel takes effect when its control message is lost or
// arrives while the workspace is still being cloned.
const id = testId('life');
let db: TestDatabase;
let model: ScriptedModel;
let sys: SystemUnderTest;
let alice: ApiClient;
let workspaceId = '';
let prefix = '';
/** Tasks a test started; afterEach stops those still running so the next test has the worker to itself. */
let started: string[] = [];
let channel: TaskChannelSubscriber | null = null;
let hangingGitHost: SilentServer | null = null;

beforeAll(async () => {
  const image = await ensureTestSandboxImage();
  model = await startScriptedModel();
  db = await createTestDatabase('life');
  sys = await startSystem({
    id,
    dbUrl: db.url,
    image,
    modelUrl: model.url,
    extraEnv: {
      // The hanging git host of the clone test listens on loopback.
      AICLI__SANDBOX__ALLOW_HTTPS_GIT: 'true',
      AICLI__SANDBOX__GIT_ALLOW_PRIVATE_FOR_HOSTS: '127.0.0.1',
    },
  });
  prefix = sys.env.AICLI__REDIS__KEY_PREFIX as string;
  alice = await signUp(sys, 'alice@example.com');
  workspaceId = await alice.createWorkspace({ name: 'life' });
});

afterEach(async () => {
  channel?.close();
  channel = null;
  // A hung clone fails at once when its connection is reset; the retry then sees the cancel.
  await hangingGitHost?.close();
  hangingGitHost = null;
  for (const taskId of started) {
    const [row] = await db.sql<{ status: string }[]>`select status from tasks where id = ${taskId}`;
    if (row && !TERMINAL_STATUSES.includes(row.status)) await alice.request('POST', `/api/v1/tasks/${taskId}/cancel`);
    await waitForTerminal(alice, taskId, 60_000);
  }
  started = [];
});

afterAll(async () => {
  await sys?.stop();
  await removeContainersOf('aicli.test_id', id);
  await model?.close();
  await db?.drop();
});

const submit = async (body: Record<string, unknown>, ws = workspaceId): Promise<string> => {
  const taskId = await alice.submitTask(ws, body);
  started.push(taskId);
  return taskId;
};

describe('the end event and the terminal row', () => {
  it('no end is published while the task row cannot be made terminal, and a client reacting to end reads a terminal task', async () => {
    // The model answers after a while, so the test can lock the row while the agent still runs.
    model.scenario('locked-finish', [{ kind: 'text', text: 'finished behind a row lock', delayMs: 4000 }]);
    const taskId = await submit({ prompt: scenarioPrompt('locked-finish', 'finish while the row is locked') });
    channel = await subscribeTaskChannel(prefix, taskId);
    await waitForAgentStarted(db.sql, taskId);

    // A row lock that blocks any update of the task row but not event inserts (their foreign key check
    // takes only a key-share lock): the worker can store and publish events, never make the row terminal.
    const locker = await db.sql.reserve();
    let endWhileLocked: unknown;
    let statusSeenOnEnd: string | undefined;
    try {
      await locker`begin`;
      const [own] = await locker<{ pid: number }[]>`select pg_backend_pid() as pid`;
      const [locked] = await locker<{ status: string }[]>`select status from tasks where id = ${taskId} for no key update`;
      expect(locked?.status, 'the lock is taken while the task still runs').toBe('running');
      expect(channel.events.find(isEnd), 'no end before the lock').toBeUndefined();

      // Until the worker waits on this lock to make the row terminal, or an end was published anyway.
      const reached = await pollFor(async () => {
        if (channel!.events.some(isEnd)) return 'end published';
        const [blocked] = await db.sql<{ n: number }[]>`
          select count(*)::int as n from pg_stat_activity
          where wait_event_type = 'Lock' and ${own!.pid}::int = any(pg_blocking_pids(pid))`;
        return blocked!.n > 0 ? 'worker blocked on the row lock' : undefined;
      }, 60_000, 100);
      expect(reached, 'the worker reached its terminal write within 60 s').toBeDefined();
      // Everything published before this point has been delivered once the PING is answered.
      await channel.barrier();
      endWhileLocked = channel.events.find(isEnd);
      // What a client that reacts to this end reads now (the row is still locked, so still what it was).
      if (endWhileLocked) statusSeenOnEnd = (await alice.request('GET', `/api/v1/tasks/${taskId}`)).json?.status;
      await locker`commit`;
    } finally {
      await locker`rollback`.catch(() => {});
      locker.release();
    }
    if (!endWhileLocked) {
      await channel.waitFor(isEnd, 60_000, 'end event after the lock was released');
      statusSeenOnEnd = (await alice.request('GET', `/api/v1/tasks/${taskId}`)).json?.status;
    }
    expect.soft(endWhileLocked, 'an end event was published while the task row was locked and still running').toBeUndefined();
    expect(TERMINAL_STATUSES, `GET right after the end event answered status ${statusSeenOnEnd}`).toContain(statusSeenOnEnd);
  });
});

describe('a cancel whose control message was lost', () => {
  it('still stops a running task well before its timeout', async () => {
    // An agent that would run for two minutes, under a timeout of five.
    model.scenario('lost-cancel', [{ kind: 'text', text: 'too late', delayMs: 120_000 }]);
    const taskId = await submit({ prompt: scenarioPrompt('lost-cancel', 'run until cancelled'), timeout_seconds: 300 });
    await waitForAgentStarted(db.sql, taskId);
    // Exactly what the API's cancel writes for a running task, without the control message: the state a
    // message lost during a Redis reconnect leaves behind.
    const marked = await db.sql`
      update tasks set cancel_requested_at = coalesce(cancel_requested_at, now()), updated_at = now()
      where id = ${taskId} and status = 'running'`;
    expect(marked.count, 'the task was running when the cancel was recorded').toBe(1);
    const status = await statusWithin(alice, taskId, 20_000);
    expect(status, 'status 20 s after the cancel was recorded (the task timeout is 300 s)').toBe('cancelled');
  });
});

describe('a cancel while the workspace is being cloned', () => {
  it('stops the clone: the task is cancelled well before the clone timeout', async () => {
    // Accepts the clone's connection and never answers: the clone would hang until its timeout (120 s).
    hangingGitHost = await startSilentServer();
    const hangingWs = await alice.createWorkspace({
      name: 'hanging-clone',
      source: { type: 'git', url: `https://127.0.0.1:${hangingGitHost.port}/repo.git` },
    });
    model.scenario('never-started', [{ kind: 'text', text: 'never reached' }]);
    const taskId = await submit({ prompt: scenarioPrompt('never-started', 'clone forever') }, hangingWs);
    // Claimed and cloning: the row is running and git has connected.
    await expect.poll(() => hangingGitHost!.connections(), { timeout: 60_000, interval: 100 }).toBeGreaterThan(0);
    await expect.poll(async () => (await db.sql`select status from tasks where id = ${taskId}`)[0]?.status, { timeout: 10_000 }).toBe('running');

    const res = await alice.request('POST', `/api/v1/tasks/${taskId}/cancel`);
    expect(res.status).toBe(202);
    const status = await statusWithin(alice, taskId, 15_000);
    expect(status, 'status 15 s after cancelling a task whose clone hangs (the clone timeout is 120 s)').toBe('cancelled');
  });
});
