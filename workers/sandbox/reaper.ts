import type Dockerode from 'dockerode';
import type { Logger } from 'pino';
import { isGoneOrStopped, toSandboxError } from './errors.js';
import { SANDBOX_LABEL, labelFilter, parseSandboxLabels, type SandboxIdentity } from './labels.js';

// Sandboxes outlive a worker that crashed or lost its job lock. A worker reaps,
// on start and periodically, every managed container whose attempt it no longer
// holds; the caller decides liveness (usually: do I still run this task attempt?).

export interface ReapCandidate extends SandboxIdentity {
  /** Container creation time, epoch ms. */
  createdAt: number;
}

export interface ReapOptions {
  /** Only containers labelled with this worker id; all workers' containers when unset. */
  workerId?: string;
  /** Further label filters (all must match), e.g. a test run id. */
  extraLabels?: Record<string, string>;
  isLive: (c: ReapCandidate) => Promise<boolean> | boolean;
  logger?: Pick<Logger, 'info' | 'warn'>;
}

export async function reapSandboxes(docker: Dockerode, opts: ReapOptions): Promise<{ removed: string[] }> {
  const filter: Record<string, string> = { ...opts.extraLabels, [SANDBOX_LABEL.managed]: 'true' };
  if (opts.workerId !== undefined) filter[SANDBOX_LABEL.workerId] = opts.workerId;

  let containers: Dockerode.ContainerInfo[];
  try {
    containers = await docker.listContainers({ all: true, filters: { label: labelFilter(filter) } });
  } catch (err) {
    throw toSandboxError(err, { phase: 'engine' });
  }

  const removed: string[] = [];
  for (const info of containers) {
    const identity = parseSandboxLabels(info.Labels);
    // A managed container without a readable identity can never be claimed by a job.
    const live = identity !== null && (await opts.isLive({ ...identity, createdAt: info.Created * 1000 }));
    if (live) continue;
    try {
      await docker.getContainer(info.Id).remove({ force: true, v: true });
      removed.push(info.Id);
      opts.logger?.info(
        { container_id: info.Id, task_id: identity?.taskId, attempt: identity?.attempt, worker_id: identity?.workerId, state: info.State },
        'reaped orphaned sandbox',
      );
    } catch (err) {
      // Another reaper (or the runner) may have removed it meanwhile: that is the goal anyway.
      if (isGoneOrStopped(err)) continue;
      opts.logger?.warn({ container_id: info.Id, task_id: identity?.taskId, err: toSandboxError(err, {}) }, 'could not reap sandbox');
    }
  }
  return { removed };
}
