import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reapSandboxes, type ReapCandidate } from '../../workers/sandbox/reaper.js';
import { buildCreateOptions, type SandboxSpec } from '../../workers/sandbox/hardening.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';

// Containers are created (not started: the reaper must also catch those a
// crashed worker never started) with this run's aicli.test_id label only.

const docker = new Docker();
const testId = `reaper-${randomUUID().slice(0, 8)}`;
const testLabels = { 'aicli.test_id': testId };
let image: string;
let scratchDir: string;

async function createLabelled(taskId: string, attempt: number, workerId: string, sleep = false): Promise<string> {
  const spec: SandboxSpec = {
    image,
    taskId,
    attempt,
    workerId,
    workspaceDir: scratchDir,
    claudeConfigDir: scratchDir,
    gatewaySocketPath: null,
    env: {},
    cmd: ['sleep', '300'],
    memoryMb: 64,
    cpus: 0.5,
    pids: 16,
    nofile: 256,
    tmpfsMb: 8,
    extraLabels: testLabels,
  };
  const container = await docker.createContainer(buildCreateOptions(spec));
  if (sleep) await container.start();
  return container.id;
}

async function remainingIds(): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`aicli.test_id=${testId}`] } });
  return list.map((c) => c.Id).sort();
}

beforeAll(async () => {
  await docker.ping().catch((err: unknown) => {
    throw new Error(`Docker engine not reachable on /var/run/docker.sock: ${String(err)}`, { cause: err });
  });
  image = await ensureTestSandboxImage();
  scratchDir = await mkdtemp(path.join(os.tmpdir(), 'aicli-reaper-test-'));
});

afterAll(async () => {
  for (const id of await remainingIds()) await docker.getContainer(id).remove({ force: true });
  if (scratchDir) await rm(scratchDir, { recursive: true, force: true });
});

describe('reapSandboxes', () => {
  it('removes only the containers whose attempt is no longer live, running or not', async () => {
    const live = await createLabelled('task-live', 1, 'worker-1', true);
    const orphan = await createLabelled('task-orphan', 2, 'worker-1', true);
    const seen: ReapCandidate[] = [];
    const before = Date.now();

    const { removed } = await reapSandboxes(docker, {
      extraLabels: testLabels,
      isLive: (c) => {
        seen.push(c);
        return c.taskId === 'task-live';
      },
    });

    expect(removed).toEqual([orphan]);
    expect(await remainingIds()).toEqual([live]);
    const orphanSeen = seen.find((c) => c.taskId === 'task-orphan');
    expect(orphanSeen).toMatchObject({ attempt: 2, workerId: 'worker-1' });
    // Docker reports Created in whole seconds.
    expect(orphanSeen?.createdAt).toBeGreaterThan(before - 60_000);
    expect(orphanSeen?.createdAt).toBeLessThanOrEqual(Date.now());
    await docker.getContainer(live).remove({ force: true });
  });

  it('limits itself to one worker id and supports async liveness checks', async () => {
    const mine = await createLabelled('task-a', 1, 'worker-mine');
    const theirs = await createLabelled('task-b', 1, 'worker-theirs');

    const { removed } = await reapSandboxes(docker, {
      workerId: 'worker-mine',
      extraLabels: testLabels,
      isLive: async () => false,
    });

    expect(removed).toEqual([mine]);
    expect(await remainingIds()).toEqual([theirs]);
    await docker.getContainer(theirs).remove({ force: true });
  });

  it('reaps a managed container whose identity labels are unreadable', async () => {
    const container = await docker.createContainer({
      Image: image,
      Cmd: ['true'],
      Labels: { ...testLabels, 'aicli.managed': 'true', 'aicli.task_id': 'task-x', 'aicli.attempt': 'not-a-number' },
    });
    const asked: ReapCandidate[] = [];
    const { removed } = await reapSandboxes(docker, {
      extraLabels: testLabels,
      isLive: (c) => {
        asked.push(c);
        return true;
      },
    });
    expect(removed).toEqual([container.id]);
    expect(asked).toEqual([]);
    expect(await remainingIds()).toEqual([]);
  });

  it('propagates a failing liveness check instead of removing anything', async () => {
    const id = await createLabelled('task-c', 1, 'worker-1');
    await expect(
      reapSandboxes(docker, {
        extraLabels: testLabels,
        isLive: () => {
          throw new Error('database down');
        },
      }),
    ).rejects.toThrow('database down');
    expect(await remainingIds()).toEqual([id]);
    await docker.getContainer(id).remove({ force: true });
  });
});
