import type { ClaimedTask } from '../../src/tasks/lifecycle/index.js';
import { recordPoolHit, recordSandboxStart } from '../../src/observability/metrics.js';
import { createStreamFacts } from '../claude/outcome.js';
import type { StreamFacts } from '../claude/outcome.js';
import type { HandOff, PoolSlot } from '../sandbox/pool.js';
import type { RunningSandbox } from '../sandbox/runner.js';
import { watchScratchDisk } from '../sandbox/scratch-watchdog.js';
import { pumpAgentOutput } from './agent-output.js';
import { abortReason, type AbortReason } from './attempt-abort.js';
import type { AttemptCleanup } from './attempt-cleanup.js';
import type { EventSink } from './event-sink.js';
import { noteMiss } from './pool-claim.js';
import type { ReadyAttempt } from './prepare-phase.js';
import type { WorkerResources } from './resources.js';
import { sandboxFault } from './retry-policy.js';
import { StderrTail } from './stderr-tail.js';

/**
 * Hands the task to its warm sandbox; null when that fails (the container is removed first, so it can never
 * run the task later) and the attempt starts cold on the same prepared workspace.
 */
async function handOffOrNull(res: WorkerResources, slot: PoolSlot, h: HandOff, log: WorkerResources['logger']): Promise<RunningSandbox | null> {
  try {
    return await slot.handOff(h);
  } catch (err) {
    log.warn({ err, slot_id: slot.id }, 'warm sandbox hand-off failed');
    await slot.sandbox.remove();
    noteMiss(res, log, 'handoff_failed');
    return null;
  }
}

/** What the run phase saw of the sandbox: how it exited, and why it was stopped if it was. */
export interface SandboxRun {
  sandbox: RunningSandbox;
  exit: { exitCode: number; oomKilled: boolean };
  facts: StreamFacts;
  stderrTail: string;
  timedOut: boolean;
  diskFull: string | null;
  aborted: AbortReason | null;
  startedAtMs: number;
  /** The container's removal, started as soon as it exited; it finishes off the critical path. */
  removal: Promise<void>;
}

/**
 * The run phase: starts the sandbox, streams its output into the sink, and stops it on timeout, cancel,
 * shutdown, an output cap or a full scratch disk (SIGINT, then SIGKILL after the grace).
 */
export async function runSandbox(
  res: WorkerResources,
  task: ClaimedTask,
  ready: ReadyAttempt,
  sink: EventSink,
  signal: AbortSignal,
  cleanup: AttemptCleanup,
): Promise<SandboxRun> {
  const cfg = res.config;
  const opts = task.options;
  const log = res.logger.child({ task_id: task.id });
  const startedAtMs = Date.now();
  const limits = {
    memoryMb: opts.resources?.memory_mb ?? cfg.sandbox.memory_mb,
    cpus: opts.resources?.cpus ?? cfg.sandbox.cpus,
    pids: opts.resources?.pids ?? cfg.sandbox.pids,
  };
  const cmd = ['claude', ...ready.args];
  const base = { taskId: task.id, attempt: task.attempt, limits, logFields: { task_id: task.id, attempt: task.attempt } };
  // The started CLI gets the prompt on its stdin; otherwise the entrypoint execs `claude` with the task's argv.
  const handOff: HandOff = ready.stdinLine !== null ? { ...base, stdinLine: ready.stdinLine } : { ...base, env: ready.env, cmd };
  const warm = ready.slot ? await handOffOrNull(res, ready.slot, handOff, log) : null;
  const sandbox = await (
    warm
      ? Promise.resolve(warm)
      : res.runner.start({
          image: res.image,
          taskId: task.id,
          attempt: task.attempt,
          workerId: res.workerId,
          workspaceDir: ready.workspace.workspaceDir,
          claudeConfigDir: ready.workspace.claudeConfigDir,
          gatewaySocketPath: res.gateway.socketPath,
          egressSocketPath: ready.egress?.socketPath ?? null,
          mcpConfigPath: ready.mcpConfigPath,
          env: ready.env,
          cmd,
          ...limits,
          nofile: cfg.sandbox.nofile,
          tmpfsMb: cfg.sandbox.tmpfs_mb,
          runtime: cfg.sandbox.runtime ?? undefined,
          extraLabels: res.extraLabels,
        })
  ).catch((err: unknown) => {
    throw sandboxFault(err, res.image);
  });
  cleanup.defer('removing the sandbox', () => sandbox.remove());
  log.info({ action: 'sandbox_started', container: sandbox.id.slice(0, 12), start_ms: sandbox.startMs, warm: warm !== null, cli_started: warm !== null && ready.stdinLine !== null }, 'sandbox started');
  recordSandboxStart(res.metrics, sandbox.startMs / 1000);
  if (warm) recordPoolHit(res.metrics, sandbox.startMs / 1000);

  const stream = createStreamFacts();
  const stderrTail = new StderrTail(4096);
  const output = pumpAgentOutput({
    stdout: sandbox.stdout,
    stderr: sandbox.stderr,
    sink,
    onRecord: (record) => stream.observe(record),
    stderrTail,
    redactor: ready.redactor,
  });
  // Backpressure holds a running agent; the tail of an exited one is read at once (the result line is in it).
  void sandbox.exited.then(() => output.release());

  let timedOut = false;
  let diskFull: string | null = null;
  const stop = () => void sandbox.stop(cfg.sandbox.stop_grace).catch((err: unknown) => log.warn({ err }, 'stopping sandbox failed'));
  const timer = setTimeout(
    () => {
      timedOut = true;
      stop();
    },
    (opts.timeout_seconds ?? cfg.sandbox.timeout_seconds) * 1000,
  );
  signal.addEventListener('abort', stop, { once: true });
  if (signal.aborted) stop();
  // An output cap reached, or output Postgres refuses: the agent's further output would be thrown away.
  sink.stopSignal.addEventListener('abort', stop, { once: true });
  if (sink.stopSignal.aborted) stop();
  const watchdog = watchScratchDisk({
    dir: ready.workspace.workspaceDir,
    limitPercent: cfg.sandbox.scratch.watchdog_percent,
    intervalMs: cfg.sandbox.scratch.watchdog_interval,
    onFull: (message) => {
      diskFull = message;
      log.warn({ action: 'disk_full', limit_percent: cfg.sandbox.scratch.watchdog_percent }, 'task scratch past the disk watchdog limit; stopping the task');
      stop();
    },
    onError: (err) => log.debug({ err }, 'disk watchdog could not read the scratch filesystem'),
  });
  let exit: SandboxRun['exit'];
  try {
    exit = await sandbox.wait();
    log.debug({ action: 'sandbox_exited', run_ms: Date.now() - startedAtMs, exit_code: exit.exitCode }, 'sandbox exited');
  } finally {
    clearTimeout(timer);
    watchdog.stop();
    signal.removeEventListener('abort', stop);
    sink.stopSignal.removeEventListener('abort', stop);
  }
  await output.end();
  const removal = sandbox.remove().catch((err: unknown) => log.warn({ err }, 'removing sandbox failed'));
  return { sandbox, exit, facts: stream.facts, stderrTail: stderrTail.text, timedOut, diskFull, aborted: abortReason(signal), startedAtMs, removal };
}
