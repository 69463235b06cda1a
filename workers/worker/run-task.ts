import type { Job } from 'bullmq';
import { UnrecoverableError } from 'bullmq';
import { claimTask, failAfterFaults, finishTask, requeueAfterFault, type ClaimedTask } from '../../src/db/tasks.js';
import { nextEventSeq } from '../../src/db/task-events.js';
import type { TaskJobData } from '../../src/queue/task-queue.js';
import { buildClaudeArgs, claudeEnv } from '../claude/args.js';
import { classifyOutcome, createStreamFacts } from '../claude/outcome.js';
import { createStreamParser } from '../claude/stream-parser.js';
import type { RunningSandbox } from '../sandbox/runner.js';
import { SandboxError, toSandboxError } from '../sandbox/errors.js';
import { workspaceDiff } from '../workspace/diff.js';
import { prepareWorkspace, removeWorkspace, type PreparedWorkspace } from '../workspace/prepare.js';
import { EventSink } from './event-sink.js';
import type { WorkerResources } from './resources.js';
import { StderrTail } from './stderr-tail.js';
import { resultSummary } from './result-summary.js';

const CONTAINER_CLAUDE_DIR = '/aicli/claude';

/** Infrastructure faults that retry (DESIGN.md: only these; the task's own failures never do). */
class InfraFault extends Error {
  constructor(
    readonly code: 'sandbox_error' | 'worker_lost',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface AttemptControl {
  /** Aborted when the attempt must stop early (shutdown or cancel); the reason decides the status. */
  signal: AbortSignal;
}

/** The BullMQ processor: one attempt of one task, from claim to the terminal write. */
export async function runTaskJob(res: WorkerResources, job: Job<TaskJobData>, control: AttemptControl): Promise<void> {
  const { taskId } = job.data;
  const log = res.logger.child({ task_id: taskId, job_attempt: job.attemptsMade + 1 });
  const task = await claimTask(res.sql, taskId, res.workerId);
  if (!task) {
    log.info({ action: 'skip' }, 'task is already terminal; nothing to run');
    return;
  }
  const sink = new EventSink({
    sql: res.sql,
    publisher: res.publisher,
    prefix: res.config.redis.key_prefix,
    taskId,
    attempt: task.attempt,
    firstSeq: await nextEventSeq(res.sql, taskId),
    logger: log,
  });
  sink.push('status', { status: 'running', attempt: task.attempt, worker_id: res.workerId });
  try {
    await runAttempt(res, task, sink, control, log);
  } catch (err) {
    const fault = err instanceof InfraFault ? err : asInfraFault(err, res.image);
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const failure = { code: fault.code, message: fault.message };
    log.warn({ action: 'attempt_fault', err: fault, last_attempt: lastAttempt }, 'task attempt failed on infrastructure');
    if (lastAttempt) {
      sink.push('status', { status: 'failed', error: failure });
      sink.push('end', { status: 'failed', error: failure });
      await sink.close().catch(() => {});
      await failAfterFaults(res.sql, taskId, task.attempt, failure);
      throw new UnrecoverableError(fault.message);
    }
    sink.push('status', { status: 'queued', retry: true, error: failure });
    await sink.close().catch(() => {});
    await requeueAfterFault(res.sql, taskId, task.attempt, failure);
    throw fault;
  }
}

function asInfraFault(err: unknown, image: string): InfraFault {
  const sandboxError = err instanceof SandboxError ? err : toSandboxError(err, { image });
  return new InfraFault('sandbox_error', sandboxError.message, { cause: err });
}

async function runAttempt(
  res: WorkerResources,
  task: ClaimedTask,
  sink: EventSink,
  control: AttemptControl,
  log: WorkerResources['logger'],
): Promise<void> {
  const cfg = res.config;
  const opts = task.options;
  let workspace: PreparedWorkspace | null = null;
  let sandbox: RunningSandbox | null = null;
  const session = res.gateway.openSession({ taskId: task.id, apiKey: cfg.claude.api_key });
  try {
    workspace = await prepareWorkspace({
      scratchRoot: res.scratchDir,
      taskId: task.id,
      attempt: task.attempt,
      source: task.source,
      policy: { fileRoot: cfg.sandbox.git_file_root, allowHttps: cfg.sandbox.allow_https_git },
    }).catch((err: unknown) => {
      throw new InfraFault('sandbox_error', `workspace preparation failed: ${(err as Error).message}`, { cause: err });
    });

    const args = buildClaudeArgs({
      prompt: task.prompt,
      model: opts.model ?? cfg.claude.model,
      maxTurns: opts.max_turns ?? cfg.claude.max_turns,
      permissionMode: opts.permission_mode ?? cfg.claude.permission_mode,
      allowedTools: opts.allowed_tools,
      disallowedTools: opts.disallowed_tools,
      appendSystemPrompt: opts.append_system_prompt,
      maxBudgetUsd: opts.max_budget_usd,
    });
    const env = {
      ...claudeEnv({
        baseUrl: `http://127.0.0.1:${cfg.worker.gateway_port}`,
        apiKey: session.token,
        configDir: CONTAINER_CLAUDE_DIR,
        maxRetries: cfg.claude.max_retries,
      }),
      AICLI_GATEWAY_PORT: String(cfg.worker.gateway_port),
    };
    const started = Date.now();
    sandbox = await res.runner
      .start({
        image: res.image,
        taskId: task.id,
        attempt: task.attempt,
        workerId: res.workerId,
        workspaceDir: workspace.workspaceDir,
        claudeConfigDir: workspace.claudeConfigDir,
        gatewaySocketPath: res.gateway.socketPath,
        env,
        cmd: ['claude', ...args],
        memoryMb: opts.resources?.memory_mb ?? cfg.sandbox.memory_mb,
        cpus: opts.resources?.cpus ?? cfg.sandbox.cpus,
        pids: opts.resources?.pids ?? cfg.sandbox.pids,
        nofile: cfg.sandbox.nofile,
        tmpfsMb: cfg.sandbox.tmpfs_mb,
        runtime: cfg.sandbox.runtime ?? undefined,
        extraLabels: res.extraLabels,
      })
      .catch((err: unknown) => {
        throw new InfraFault('sandbox_error', toSandboxError(err, { image: res.image }).message, { cause: err });
      });
    log.info({ action: 'sandbox_started', container: sandbox.id.slice(0, 12), start_ms: sandbox.startMs }, 'sandbox started');

    const stream = createStreamFacts();
    const stderrTail = new StderrTail(4096);
    const parser = createStreamParser((record) => {
      stream.observe(record);
      sink.push('claude', record);
    });
    // Both streams must be consumed: the runner applies backpressure like child_process.
    sandbox.stdout.on('data', (chunk: Buffer) => parser.push(chunk));
    sandbox.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      stderrTail.push(text);
      sink.push('stderr', { text: text.slice(0, 8192) });
    });

    // Timeout and abort (cancel, shutdown) both stop the container: SIGINT, then SIGKILL after the grace.
    let timedOut = false;
    const stop = () => void sandbox?.stop(cfg.sandbox.stop_grace).catch((err: unknown) => log.warn({ err }, 'stopping sandbox failed'));
    const timeoutMs = (opts.timeout_seconds ?? cfg.sandbox.timeout_seconds) * 1000;
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, timeoutMs);
    const onAbort = () => stop();
    control.signal.addEventListener('abort', onAbort, { once: true });
    let exit: { exitCode: number; oomKilled: boolean };
    try {
      exit = await sandbox.wait();
    } finally {
      clearTimeout(timer);
      control.signal.removeEventListener('abort', onAbort);
    }
    parser.end();
    // The container is done: remove it before the terminal write, so a terminal task never has one.
    await sandbox.remove().catch((err: unknown) => log.warn({ err }, 'removing sandbox failed'));
    const abortReason = control.signal.aborted ? String(control.signal.reason ?? '') : null;
    if (abortReason === 'shutdown') {
      throw new InfraFault('worker_lost', 'the worker shut down before the task finished; it will run again on another worker');
    }
    const facts = stream.facts;
    const outcome = classifyOutcome({
      result: facts.result,
      exitCode: exit.exitCode,
      oomKilled: exit.oomKilled,
      timedOut,
      cancelled: abortReason === 'cancel',
      authFailed: facts.authFailed,
      authMessage: facts.authMessage ?? undefined,
      budgetExceeded: false,
      stderrTail: stderrTail.text,
    });
    const diff = await workspaceDiff(workspace).catch((err: unknown) => {
      log.warn({ err }, 'computing the workspace diff failed');
      return { diff: '', truncated: false, files: [] };
    });
    const usage = {
      ...session.usage,
      models: session.models,
      sandbox_start_ms: sandbox.startMs,
      container_started_at: sandbox.startedAt,
      wall_ms: Date.now() - started,
    };
    const summary = facts.result ? resultSummary(facts.result) : null;
    const end = { status: outcome.status, error: outcome.errorCode ? { code: outcome.errorCode, message: outcome.message } : null };
    sink.push('status', { status: outcome.status });
    sink.push('end', end);
    await sink.close();
    await removeWorkspace(workspace).catch((err: unknown) => log.warn({ err }, 'removing scratch dir failed'));
    const applied = await finishTask(res.sql, task.id, task.attempt, {
      status: outcome.status,
      result: summary,
      errorCode: outcome.errorCode,
      errorMessage: outcome.message,
      exitCode: exit.exitCode,
      usage,
      diff: diff.diff,
      diffTruncated: diff.truncated,
    });
    if (!applied) log.warn({ action: 'finish_fenced', attempt: task.attempt }, 'a newer attempt holds the task; result of this attempt dropped');
    else log.info({ action: 'task_finished', status: outcome.status, error_code: outcome.errorCode, duration: Date.now() - started }, 'task finished');
  } finally {
    res.gateway.closeSession(session.token);
    if (sandbox) await sandbox.remove().catch((err: unknown) => log.warn({ err }, 'removing sandbox failed'));
    if (workspace) await removeWorkspace(workspace).catch((err: unknown) => log.warn({ err }, 'removing scratch dir failed'));
  }
}
