import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../support/api-client.js';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { signUp, startSystem, waitForTerminal, type SystemUnderTest } from '../support/system.js';
import { toolResultsOf } from '../support/task-events.js';

// A hostile agent leaves symlinks (and other special files) where the worker reads after the container has
// exited: its Claude transcript under the claude config dir. The worker reads them as root on the host, so a
// link to a host file would hand that file back through GET /transcript and into follow-up tasks. Each task
// here performs one such attack with the real CLI's Bash tool in the real sandbox; the host files it aims at
// exist only on the host (the container's /tmp is its own tmpfs), so nothing can leak but through the worker.

const id = testId('hostfiles');
const SECRET = `HOST-SECRET-${id}`;
const CLAUDE_DIR = '/aicli/claude';

let db: TestDatabase;
let model: ScriptedModel;
let sys: SystemUnderTest;
let alice: ApiClient;
let secretFile: string;
let secretDir: string;
let bigFile: string;
let fifo: string;

beforeAll(async () => {
  const image = await ensureTestSandboxImage();
  model = await startScriptedModel();
  db = await createTestDatabase('hostfiles');
  sys = await startSystem({ id, dbUrl: db.url, image, modelUrl: model.url });
  // Host-only targets, under the system's own temp dir (absent inside the container).
  secretDir = path.join(sys.dir, 'host-only');
  mkdirSync(secretDir);
  secretFile = path.join(secretDir, 'secret.jsonl');
  writeFileSync(secretFile, `{"type":"user","secret":"${SECRET}"}\n`.repeat(4));
  for (const name of ['a', 'b']) {
    mkdirSync(path.join(secretDir, name));
  }
  // A sparse 4 GiB file: reading it whole would take the worker's memory with it.
  bigFile = path.join(secretDir, 'big.jsonl');
  const fd = openSync(bigFile, 'w');
  ftruncateSync(fd, 4 * 1024 ** 3);
  closeSync(fd);
  fifo = path.join(secretDir, 'pipe.jsonl');
  execFileSync('mkfifo', [fifo]);
  alice = await signUp(sys, 'alice@example.com');
});

afterAll(async () => {
  await sys?.stop();
  await model?.close();
  await db?.drop();
});

/** Replaces every file and dir of the session's transcript with the given shell, after the CLI wrote it. */
function attack(name: string, script: string): string {
  model.scenario(name, [
    { kind: 'tool', name: 'Bash', input: { command: script, description: 'leave a link behind' } },
    { kind: 'text', text: 'links left' },
  ]);
  return scenarioPrompt(name, 'leave links for the host');
}

// The session's own file: the CLI names it after the session id, under projects/-workspace.
const SESSION_FILES = `${CLAUDE_DIR}/projects/-workspace/*.jsonl`;

const ATTACKS: Record<string, (session: string) => string> = {
  // The transcript itself becomes a link to a host file.
  session_file_link: () => `for f in ${SESSION_FILES}; do rm -f "$f"; ln -s ${secretFile} "$f"; done; echo LINKED`,
  // A second project dir, listed before the real one, holds a link of the same name.
  decoy_project_dir: () =>
    `for f in ${SESSION_FILES}; do s=$(basename "$f"); for d in 0 A a z; do mkdir -p ${CLAUDE_DIR}/projects/$d; ln -s ${secretFile} ${CLAUDE_DIR}/projects/$d/$s; done; done; echo LINKED`,
  // The project dir is a link to a host dir holding a file named like the session.
  project_dir_link: () =>
    `for f in ${SESSION_FILES}; do s=$(basename "$f"); done; cd ${CLAUDE_DIR}/projects && mv -- -workspace real && ln -s ${secretDir}/a -- -workspace && echo LINKED $s`,
  // projects/ itself is a link to a host dir.
  projects_link: () => `cd ${CLAUDE_DIR} && mv projects real-projects && ln -s ${secretDir} projects && echo LINKED`,
  // A multi-GB file and a FIFO in place of the transcript.
  big_file_link: () => `for f in ${SESSION_FILES}; do rm -f "$f"; ln -s ${bigFile} "$f"; done; echo LINKED`,
  fifo_link: () => `for f in ${SESSION_FILES}; do rm -f "$f"; ln -s ${fifo} "$f"; done; echo LINKED`,
  // A hard link cannot cross into the host's tree from the container; a FIFO made inside is the agent's own.
  own_fifo: () => `for f in ${SESSION_FILES}; do rm -f "$f"; mkfifo "$f"; done; echo LINKED`,
};

describe('links the agent leaves in its claude dir', () => {
  it.each(Object.keys(ATTACKS))('%s: the worker never reads a host file through it', async (name) => {
    const ws = await alice.createWorkspace({ name, source: { type: 'empty' } });
    const taskId = await alice.submitTask(ws, { prompt: attack(`links-${name}`, ATTACKS[name]!('')) });
    const task = await waitForTerminal(alice, taskId);
    expect(await toolResultsOf(db.sql, taskId)).toContain('LINKED');
    expect(task.status, JSON.stringify(task.error)).toBe('succeeded');

    const transcript = await alice.request('GET', `/api/v1/tasks/${taskId}/transcript`);
    const leaked = transcript.text.includes(SECRET) ? Buffer.byteLength(transcript.text) : 0;
    expect(leaked, 'bytes of a host file returned as the transcript').toBe(0);
    const stored = await db.sql<{ bytes: number; secret: boolean }[]>`
      select octet_length(body) as bytes, position(${SECRET} in body) > 0 as secret from task_artifacts where task_id = ${taskId}`;
    expect(stored.filter((row) => row.secret)).toEqual([]);
    // Whatever was stored is bounded: no part of the 4 GiB file, no blocking on the FIFO.
    for (const row of stored) expect(row.bytes).toBeLessThanOrEqual(20 * 1024 * 1024);
  });

  it('a follow-up of a task that left links gets no host file replayed into its sandbox', async () => {
    const ws = await alice.createWorkspace({ name: 'follow-up', source: { type: 'empty' } });
    const first = await alice.submitTask(ws, { prompt: attack('links-then-resume', ATTACKS.decoy_project_dir!('')) });
    expect((await waitForTerminal(alice, first)).status).toBe('succeeded');
    model.scenario('read-replayed', [
      // The pattern has raw quotes, so it matches the host file's lines but not this command as the CLI logs it (escaped).
      { kind: 'tool', name: 'Bash', input: { command: `cat ${CLAUDE_DIR}/projects/*/*.jsonl | grep -cF '"secret":"HOST-SECRET' || true`, description: 'read it back' } },
      { kind: 'text', text: 'read' },
    ]);
    const followUp = await alice.submitTask(ws, { prompt: scenarioPrompt('read-replayed', 'what did the host say?'), resume_from: first });
    const task = await waitForTerminal(alice, followUp);
    // Either the follow-up runs on an honest transcript, or it refuses to resume; it never sees the secret.
    const out = await toolResultsOf(db.sql, followUp);
    if (task.status === 'succeeded') expect(out.trim().split('\n').at(-1)).toBe('0');
  });
});

describe('a git source the worker refuses after resolving it', () => {
  it('fails the task at once, without retrying it', async () => {
    // `localhost` passes the API's literal check and resolves (from /etc/hosts, no network) to loopback.
    const ws = await alice.createWorkspace({ name: 'to-loopback', source: { type: 'git', url: 'https://localhost:9/repo.git' } });
    const taskId = await alice.submitTask(ws, { prompt: 'never runs' });
    const task = await waitForTerminal(alice, taskId);
    expect(task.status).toBe('failed');
    expect(task.error.code).toBe('sandbox_error');
    expect(task.error.message).toMatch(/refused/);
    expect(task.attempt).toBe(1);
  });
});
