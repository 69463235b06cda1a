import { existsSync, readdirSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mountsUnder } from '../../workers/sandbox/scratch-quota.js';
import type { ApiClient } from '../support/api-client.js';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { docker, signUp, startSystem, taskContainers, waitForTerminal, type SystemUnderTest } from '../support/system.js';
import { toolResultsOf } from '../support/task-events.js';

// Escape attempts from the Bash tool of the real CLI in the real sandbox, and egress through the worker's
// proxy to loopback servers of this test (host names pinned to 127.0.0.1 with sandbox.egress.static_hosts
// and allowed to be loopback with allow_private_for_hosts, a test-only allowance). Nothing here connects
// anywhere but loopback.

const id = testId('sbxescape');
const SCRATCH_MB = 64;
const TMPFS_MB = 32;
const PIDS = 128;

interface LoopbackServer {
  server: http.Server;
  port: number;
  connections: number;
  paths: string[];
}

let db: TestDatabase;
let model: ScriptedModel;
let sys: SystemUnderTest;
let alice: ApiClient;
let listed: LoopbackServer;
let unlisted: LoopbackServer;

async function loopbackServer(name: string): Promise<LoopbackServer> {
  const s: LoopbackServer = { server: http.createServer(), port: 0, connections: 0, paths: [] };
  s.server.on('connection', () => (s.connections += 1));
  s.server.on('request', (req, res) => {
    s.paths.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`hello-from-${name}`);
  });
  await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
  s.port = (s.server.address() as net.AddressInfo).port;
  return s;
}

beforeAll(async () => {
  const image = await ensureTestSandboxImage();
  model = await startScriptedModel();
  db = await createTestDatabase('sbxescape');
  listed = await loopbackServer('listed');
  unlisted = await loopbackServer('unlisted');
  sys = await startSystem({
    id,
    dbUrl: db.url,
    image,
    modelUrl: model.url,
    extraEnv: {
      AICLI__SANDBOX__SCRATCH__SIZE_MB: String(SCRATCH_MB),
      // The probe fills scratch to ENOSPC and frees it again: the disk watchdog (sandbox-scratch-disk.test.ts)
      // would stop the task in between, so it is off here.
      AICLI__SANDBOX__SCRATCH__WATCHDOG_PERCENT: '100',
      AICLI__SANDBOX__TMPFS_MB: String(TMPFS_MB),
      AICLI__WORKER__SHUTDOWN_DEADLINE: '5s',
      AICLI__SANDBOX__EGRESS__ALLOWED_PORTS: JSON.stringify([listed.port, unlisted.port]),
      AICLI__SANDBOX__EGRESS__ALLOW_PRIVATE_FOR_HOSTS: JSON.stringify(['mirror.allowed.test', 'other.unlisted.test']),
      AICLI__SANDBOX__EGRESS__STATIC_HOSTS: JSON.stringify({ 'mirror.allowed.test': ['127.0.0.1'], 'other.unlisted.test': ['127.0.0.1'] }),
    },
  });
  alice = await signUp(sys, 'alice@example.com');
});

afterAll(async () => {
  await sys?.stop();
  await model?.close();
  for (const s of [listed, unlisted]) {
    s?.server.closeAllConnections();
    await new Promise<void>((resolve) => s?.server.close(() => resolve()) ?? resolve());
  }
  await db?.drop();
});

const workspace = (body: Record<string, unknown>) => alice.createWorkspace(body);
const submit = (workspaceId: string, body: Record<string, unknown>) => alice.submitTask(workspaceId, body);

const toolResults = (taskId: string) => toolResultsOf(db.sql, taskId);

/** `KEY=value` of a probe line; fails the test when the probe printed no such line. */
function probed(out: string, key: string): string {
  const match = new RegExp(`^${key}=(.*)$`, 'm').exec(out);
  if (!match) throw new Error(`probe printed no ${key}= line; output:\n${out}`);
  return (match[1] as string).trim();
}

/** Host path of a running task's workspace dir: the source of its sandbox's /workspace (cold or warm). */
async function hostWorkspaceOf(taskId: string): Promise<string | null> {
  const [running] = await taskContainers(taskId, { all: false });
  if (!running) return null;
  const info = await docker.getContainer(running.Id).inspect();
  return info.Mounts.find((m) => m.Destination === '/workspace')?.Source ?? null;
}

describe('escape attempts from the Bash tool', () => {
  it('all fail, the fork bomb and the disk filler are contained, and the task still completes', async () => {
    // A neighbour that holds its scratch (with a secret) open while the probe runs.
    model.scenario('neighbour', [
      {
        kind: 'tool',
        name: 'Bash',
        input: { command: 'echo neighbour-secret > /workspace/secret-a.txt; while [ ! -e /workspace/.go ]; do sleep 0.1; done; echo done', description: 'hold', timeout: 120000 },
      },
      { kind: 'text', text: 'neighbour done' },
    ]);
    const neighbourWs = await workspace({ name: 'neighbour' });
    const neighbour = await submit(neighbourWs, { prompt: scenarioPrompt('neighbour', 'hold your scratch') });
    const neighbourFile = await vi.waitFor(
      async () => {
        const dir = await hostWorkspaceOf(neighbour);
        if (!dir || !existsSync(path.join(dir, 'secret-a.txt'))) throw new Error('neighbour has not written its secret yet');
        return path.join(dir, 'secret-a.txt');
      },
      { timeout: 90_000, interval: 200 },
    );

    const apiPort = new URL(sys.api.baseUrl).port;
    const bash = (command: string, description: string) => ({ kind: 'tool' as const, name: 'Bash', input: { command, description, timeout: 120000 } });
    const confinement = [
      'for d in / /usr /etc; do if touch "$d/.escape" 2>/dev/null; then echo "WRITE_$d=writable"; else echo "WRITE_$d=denied"; fi; done | sed "s#WRITE_/=#WRITE_ROOT=#; s#WRITE_/usr=#WRITE_USR=#; s#WRITE_/etc=#WRITE_ETC=#"',
      'if mount -t tmpfs none /tmp 2>/dev/null; then echo MOUNT=ok; else echo MOUNT=denied; fi',
      'if mount --bind /workspace /tmp 2>/dev/null; then echo BIND=ok; else echo BIND=denied; fi',
      'if setpriv --inh-caps +sys_admin --ambient-caps +sys_admin true 2>/dev/null; then echo RAISECAP=ok; else echo RAISECAP=denied; fi',
      'if setpriv --reuid=0 true 2>/dev/null; then echo SETUID=ok; else echo SETUID=denied; fi',
      'if unshare -U -r true 2>/dev/null; then echo USERNS=ok; else echo USERNS=denied; fi',
      'echo CAPEFF=$(grep "^CapEff:" /proc/self/status | cut -f2) CAPBND=$(grep "^CapBnd:" /proc/self/status | cut -f2)',
      `for p in 6379 5432 ${apiPort}; do if (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "TCP_$p=open"; else echo "TCP_$p=closed"; fi; done`,
    ].join('\n');
    // A fork bomb in its own session. While it runs, fork fails, so the container's pids count is sampled
    // with shell builtins only; then its process group is killed.
    const forkBomb = [
      'read limit < /sys/fs/cgroup/pids/pids.max',
      'setsid bash -c "bomb(){ bomb | bomb & }; bomb" 2>/dev/null & BOMB=$!',
      'max=0; end=$((SECONDS+3)); while [ $SECONDS -lt $end ]; do read c < /sys/fs/cgroup/pids/pids.current; [ $c -gt $max ] && max=$c; done',
      'for i in 1 2 3 4 5 6 7 8 9 10; do kill -9 -- -$BOMB 2>/dev/null; done; end=$((SECONDS+1)); while [ $SECONDS -lt $end ]; do :; done',
      'echo PIDS_LIMIT=$limit; echo FORKBOMB_MAX=$max; echo FORK_AFTER=$(echo ok)',
    ].join('\n');
    // Fill scratch and /tmp past their caps, then give the space back.
    const fillScratch = [
      `dd if=/dev/zero of=/workspace/fill bs=1M count=${SCRATCH_MB * 3} 2>/tmp/dd.err; echo "FILL_ERR=$(grep -o "No space left on device" /tmp/dd.err | head -1)"; echo FILL_BYTES=$(stat -c %s /workspace/fill); rm -f /workspace/fill /tmp/dd.err`,
      'echo WS_SIZE_MB=$(df -m --output=size /workspace | tail -1 | tr -d " ")',
    ].join('\n');
    // The CLI captures a command's output under /tmp, so while /tmp is full that output is lost: the size is kept aside.
    const fillTmp = `dd if=/dev/zero of=/tmp/fill bs=1M count=${TMPFS_MB * 3} 2>/dev/null; stat -c %s /tmp/fill > /workspace/tmp-bytes; rm -f /tmp/fill`;
    const neighbourhood = [
      'echo TMP_BYTES=$(cat /workspace/tmp-bytes); rm -f /workspace/tmp-bytes',
      // The neighbour's scratch is not mounted here, under any name.
      `if cat ${neighbourFile} 2>/dev/null; then echo OTHER=readable; else echo OTHER=absent; fi`,
      'echo OTHER_FOUND=$(find / -xdev -name secret-a.txt 2>/dev/null | wc -l)',
      // No network without an allowlist: the listed host is unreachable too.
      `if curl -s --max-time 5 -o /dev/null http://mirror.allowed.test:${listed.port}/from-no-egress; then echo NOEGRESS=reached; else echo NOEGRESS=failed; fi`,
      'echo PROBE_DONE',
    ].join('\n');
    model.scenario('escape', [
      bash(confinement, 'try to leave the confinement'),
      bash(forkBomb, 'fork bomb'),
      bash(fillScratch, 'fill the workspace'),
      bash(fillTmp, 'fill /tmp'),
      bash(neighbourhood, 'look for the neighbour'),
      { kind: 'text', text: 'escape attempts finished' },
    ]);
    const escapeWs = await workspace({ name: 'escape' });
    const taskId = await submit(escapeWs, { prompt: scenarioPrompt('escape', 'try to escape'), resources: { pids: PIDS } });
    const task = await waitForTerminal(alice, taskId);
    const out = await toolResults(taskId);
    expect(task.status, `${JSON.stringify(task.error)}\n${out}`).toBe('succeeded');
    expect(task.result.text).toBe('escape attempts finished');
    expect(out).toContain('PROBE_DONE');
    // With the pool on (its default), the attacks ran in a warm sandbox, under the CLI started before the claim.
    const started = sys.proc.output().split('\n').find((l) => l.includes('"action":"sandbox_started"') && l.includes(taskId));
    expect(started && JSON.parse(started)).toMatchObject({ warm: true, cli_started: true });

    expect(probed(out, 'WRITE_ROOT')).toBe('denied');
    expect(probed(out, 'WRITE_USR')).toBe('denied');
    expect(probed(out, 'WRITE_ETC')).toBe('denied');
    expect(probed(out, 'MOUNT')).toBe('denied');
    expect(probed(out, 'BIND')).toBe('denied');
    expect(probed(out, 'RAISECAP')).toBe('denied');
    expect(probed(out, 'SETUID')).toBe('denied');
    expect(probed(out, 'USERNS')).toBe('denied');
    expect(probed(out, 'CAPEFF')).toBe('0000000000000000 CAPBND=0000000000000000');
    for (const port of ['6379', '5432', apiPort]) expect(probed(out, `TCP_${port}`)).toBe('closed');
    expect(probed(out, 'PIDS_LIMIT')).toBe(String(PIDS));
    // The bomb reached the limit and no further; afterwards the sandbox forks again. The kernel charges a
    // fork to pids.current before comparing it with pids.max and takes the charge back when it is over, so a
    // sample can catch the count above the limit by the fork attempts in flight at that instant (one per CPU
    // running one). No such process ever exists. CI saw 129 once with a limit of 128.
    const forkBombMax = Number(probed(out, 'FORKBOMB_MAX'));
    expect(forkBombMax).toBeGreaterThanOrEqual(PIDS);
    expect(forkBombMax).toBeLessThanOrEqual(PIDS + availableParallelism());
    expect(probed(out, 'FORK_AFTER')).toBe('ok');
    expect(probed(out, 'FILL_ERR')).toBe('No space left on device');
    expect(Number(probed(out, 'FILL_BYTES'))).toBeLessThanOrEqual(SCRATCH_MB * 1024 * 1024);
    expect(Number(probed(out, 'WS_SIZE_MB'))).toBeLessThanOrEqual(SCRATCH_MB);
    expect(Number(probed(out, 'TMP_BYTES'))).toBeLessThanOrEqual(TMPFS_MB * 1024 * 1024);
    expect(probed(out, 'OTHER')).toBe('absent');
    expect(probed(out, 'OTHER_FOUND')).toBe('0');
    expect(probed(out, 'NOEGRESS')).toBe('failed');
    expect(listed.paths).not.toContain('/from-no-egress');

    // Release the neighbour: it was untouched and finishes normally; its scratch mount is gone afterwards.
    const [container] = await taskContainers(neighbour, { all: false });
    expect(container).toBeDefined();
    const exec = await docker.getContainer(container!.Id).exec({ Cmd: ['touch', '/workspace/.go'], User: '1000:1000' });
    await exec.start({ Detach: true });
    const done = await waitForTerminal(alice, neighbour);
    expect(done.status).toBe('succeeded');
    expect((await toolResults(neighbour)).trim()).toBe('done');
    // Scratch goes after the terminal write: wait for it, and for its tmpfs mount to be released.
    await expect.poll(() => hostWorkspaceOf(neighbour), { timeout: 30_000 }).toBeNull();
    await expect.poll(() => hostWorkspaceOf(taskId), { timeout: 30_000 }).toBeNull();
    await expect.poll(() => existsSync(neighbourFile), { timeout: 30_000 }).toBe(false);
    // What stays mounted is the idle warm sandboxes' fresh scratch, none of it a task's.
    const mounts = await mountsUnder(path.join(sys.dir, 'scratch'));
    for (const point of mounts) expect(path.basename(point)).toMatch(/^pool_[0-9a-f]+-0$/);
    expect(mounts.filter((point) => neighbourFile.startsWith(`${point}/`))).toEqual([]);
  });
});

describe('egress allowlist', () => {
  it('reaches a listed loopback host through the proxy and refuses an unlisted one and IP literals', async () => {
    const ws = await workspace({ name: 'mirror only', egress: { mode: 'allowlist', domains: ['mirror.allowed.test'] } });
    const commands = [
      `echo "PLAIN=$(curl -sS --max-time 10 http://mirror.allowed.test:${listed.port}/plain 2>&1)"`,
      `echo "TUNNEL=$(curl -sS --max-time 10 --proxytunnel http://mirror.allowed.test:${listed.port}/tunnel 2>&1)"`,
      `echo "UNLISTED=$(curl -s --max-time 10 -o /dev/null -w %{http_code} http://other.unlisted.test:${unlisted.port}/plain)"`,
      `curl -s --max-time 10 --proxytunnel http://other.unlisted.test:${unlisted.port}/tunnel; echo "UNLISTED_TUNNEL_EXIT=$?"`,
      `echo "IPLITERAL=$(curl -s --max-time 10 --noproxy "" -x "$HTTP_PROXY" -o /dev/null -w %{http_code} http://127.0.0.1:${listed.port}/ip)"`,
      'echo "PROXY_VAR=$HTTPS_PROXY"',
    ].join('\n');
    model.scenario('egress', [
      { kind: 'tool', name: 'Bash', input: { command: commands, description: 'use the network' } },
      { kind: 'text', text: 'network checked' },
    ]);
    const before = { unlisted: unlisted.connections };
    const taskId = await submit(ws, { prompt: scenarioPrompt('egress', 'use the network') });
    const task = await waitForTerminal(alice, taskId);
    const out = await toolResults(taskId);
    expect(task.status, `${JSON.stringify(task.error)}\n${out}`).toBe('succeeded');

    expect(probed(out, 'PLAIN')).toBe('hello-from-listed');
    expect(probed(out, 'TUNNEL')).toBe('hello-from-listed');
    expect(listed.paths).toEqual(expect.arrayContaining(['/plain', '/tunnel']));
    expect(probed(out, 'UNLISTED')).toBe('403');
    expect(probed(out, 'UNLISTED_TUNNEL_EXIT')).not.toBe('0');
    expect(probed(out, 'IPLITERAL')).toBe('403');
    expect(listed.paths).not.toContain('/ip');
    expect(probed(out, 'PROXY_VAR')).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(unlisted.connections).toBe(before.unlisted);
    expect(unlisted.paths).toEqual([]);

    // Each decision is logged by the worker, with the reason.
    const logs = sys.proc.output();
    expect(logs).toMatch(new RegExp(`"action":"egress_allowed"[^\\n]*"host":"mirror.allowed.test","port":${listed.port}`));
    expect(logs).toMatch(/"action":"egress_refused"[^\n]*"host":"other.unlisted.test"[^\n]*"reason":"not_allowlisted"/);
    expect(logs).toMatch(/"action":"egress_refused"[^\n]*"host":"127.0.0.1"[^\n]*"reason":"ip_literal"/);
    // The task's proxy socket is gone with the task.
    await expect.poll(() => readdirSync(path.join(sys.dir, 'run')).filter((name) => name.startsWith('egress-')), { timeout: 30_000 }).toEqual([]);
  });
});
