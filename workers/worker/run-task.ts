import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { claimTask, failAfterFaults, finishTask, requeueAfterFault, type ClaimedTask, type TaskOutcomeWrite } from '../../src/db/tasks.js';
import { loadResumeSource, saveArtifact } from '../../src/db/task-artifacts.js';
import { nextEventSeq } from '../../src/db/task-events.js';
import type { TaskJobData } from '../../src/queue/task-queue.js';
import { enqueueWebhook } from '../../src/queue/webhook-queue.js';
import { buildClaudeArgs, claudeEnv } from '../claude/args.js';
import { classifyOutcome, createStreamFacts, type RunOutcome } from '../claude/outcome.js';
import { createStreamParser } from '../claude/stream-parser.js';
import type { RunningSandbox } from '../sandbox/runner.js';
import { SandboxError, toSandboxError } from '../sandbox/errors.js';
import { workspaceDiff } from '../workspace/diff.js';
import { prepareWorkspace, removeWorkspace, type PreparedWorkspace } from '../workspace/prepare.js';
import { EventSink } from './event-sink.js';
import type { WorkerResources } from './resources.js';
import { FAULT_POLICY, InfraFault, isUpstreamUnavailable } from './retry-policy.js';
import { resultSummary } from './result-summary.js';
import { StderrTail } from './stderr-tail.js';
import { readTranscript, restoreTranscript } from './transcript.js';

const CONTAINER_CLAUDE_DIR = '/aicli/claude';

export interface AttemptControl {
  /** Aborted when the attempt must stop early; the reason ('cancel' or 'shutdown') decides what follows. */
  signal: AbortSignal;
}

type Log = WorkerResources['logger'];

/** The BullMQ processor: one attempt of one task, from claim to the terminal write. */
export async function runTaskJob(res: WorkerResources, job: Job<TaskJobData>, token: string | undefined, control: AttemptControl): Promise<void> {
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
    if (task.cancel_requested_at) {
      // Cancelled while this attempt was waiting for a retry: nothing runs.
      await finish(res, task, sink, log, cancelledBeforeStart());
      return;
    }
    await runAttempt(res, task, sink, control, log);
  } catch (err) {
    await handleFault(res, job, token, task, sink, log, err);
  }
}

function cancelledBeforeStart(): TaskOutcomeWrite {
  return {
    status: 'cancelled',
    result: null,
    errorCode: 'cancelled',
    errorMessage: 'task was cancelled before it started',
    exitCode: null,
    usage: null,
    diff: null,
    diffTruncated: false,
  };
}

/** Applies FAULT_POLICY: release without spending an attempt, retry with backoff, or fail for good. */
async function handleFault(
  res: WorkerResources,
  job: Job<TaskJobData>,
  token: string | undefined,
  task: ClaimedTask,
  sink: EventSink,
  log: Log,
  err: unknown,
): Promise<never> {
  const fault = err instanceof InfraFault ? err : new InfraFault('docker', describeDockerFault(err, res.image), { cause: err });
  const policy = FAULT_POLICY[fault.kind];
  const failure = { code: fault.errorCode, message: fault.message };
  if (!policy.countsAsAttempt && token) {
    log.info({ action: 'attempt_released', reason: fault.kind }, 'attempt released; another worker will run the task');
    sink.push('status', { status: 'queued', released: true, reason: fault.message });
    await sink.close().catch(() => {});
    await res.sql`update tasks set status = 'queued', updated_at = now() where id = ${task.id} and attempt = ${task.attempt} and status = 'running'`;
    await job.moveToDelayed(Date.now() + 250, token);
    throw new DelayedError();
  }
  const lastAttempt = !policy.retry || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  log.warn({ action: 'attempt_fault', kind: fault.kind, err: fault, last_attempt: lastAttempt }, 'task attempt failed on infrastructure');
  if (lastAttempt) {
    sink.push('status', { status: 'failed', error: failure });
    sink.push('end', { status: 'failed', error: failure });
    await sink.close().catch(() => {});
    if (await failAfterFaults(res.sql, task.id, task.attempt, failure)) await notifyTerminal(res, task, log);
    throw new UnrecoverableError(fault.message);
  }
  sink.push('status', { status: 'queued', retry: true, error: failure });
  await sink.close().catch(() => {});
  await requeueAfterFault(res.sql, task.id, task.attempt, failure);
  throw fault;
}

function describeDockerFault(err: unknown, image: string): string {
  return (err instanceof SandboxError ? err : toSandboxError(err, { image })).message;
}

async function runAttempt(res: WorkerResources, task: ClaimedTask, sink: EventSink, control: AttemptControl, log: Log): Promise<void> {
  const cfg = res.config;
  const opts = task.options;
  let workspace: PreparedWorkspace | null = null;
  let sandbox: RunningSandbox | null = null;
  const session = res.gateway.openSession({ taskId: task.id, apiKey: cfg.claude.api_key });
  try {
    const resume = opts.resume_from ? await loadResumeSource(res.sql, null, opts.resume_from) : null;
    if (opts.resume_from && (!resume?.session_id || !resume.transcript)) {
      await finish(res, task, sink, log, { ...cancelledBeforeStart(), status: 'failed', errorCode: 'claude_error', errorMessage: 'resume_from task has no transcript to resume' });
      return;
    }
    workspace = await prepareWorkspace({
      scratchRoot: res.scratchDir,
      taskId: task.id,
      attempt: task.attempt,
      source: task.source,
      patch: resume?.diff || null,
      policy: { fileRoot: cfg.sandbox.git_file_root, allowHttps: cfg.sandbox.allow_https_git },
    }).catch((err: unknown) => {
      throw new InfraFault('workspace', `workspace preparation failed: ${(err as Error).message}`, { cause: err });
    });
    if (resume?.session_id && resume.transcript) await restoreTranscript(workspace.claudeConfigDir, resume.session_id, resume.transcript);

    const args = buildClaudeArgs({
      prompt: task.prompt,
      model: opts.model ?? cfg.claude.model,
      maxTurns: opts.max_turns ?? cfg.claude.max_turns,
      permissionMode: opts.permission_mode ?? cfg.claude.permission_mode,
      allowedTools: opts.allowed_tools,
      disallowedTools: opts.disallowed_tools,
      appendSystemPrompt: opts.append_system_prompt,
      maxBudgetUsd: opts.max_budget_usd,
      resumeSessionId: resume?.session_id ?? undefined,
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
        throw new InfraFault('docker', describeDockerFault(err, res.image), { cause: err });
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

    // Timeout, cancel and shutdown all stop the container: SIGINT, then SIGKILL after the grace.
    let timedOut = false;
    const running = sandbox;
    const stop = () => void running.stop(cfg.sandbox.stop_grace).catch((err: unknown) => log.warn({ err }, 'stopping sandbox failed'));
    const timeoutMs = (opts.timeout_seconds ?? cfg.sandbox.timeout_seconds) * 1000;
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, timeoutMs);
    const onAbort = () => stop();
    control.signal.addEventListener('abort', onAbort, { once: true });
    if (control.signal.aborted) stop();
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
    if (abortReason === 'shutdown' && !timedOut) {
      throw new InfraFault('worker_shutdown', 'the worker shut down before the task finished; it runs again on another worker');
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
    throwIfUpstreamUnavailable(outcome, session);

    if (facts.sessionId) {
      const transcript = await readTranscript(workspace.claudeConfigDir, facts.sessionId).catch(() => null);
      if (transcript) await saveArtifact(res.sql, { taskId: task.id, attempt: task.attempt, kind: 'transcript', ...transcript });
    }
    const diff = await workspaceDiff(workspace).catch((err: unknown) => {
      log.warn({ err }, 'computing the workspace diff failed');
      return { diff: '', truncated: false };
    });
    const usage = {
      ...session.usage,
      models: session.models,
      sandbox_start_ms: sandbox.startMs,
      container_started_at: sandbox.startedAt,
      wall_ms: Date.now() - started,
    };
    await finish(res, task, sink, log, {
      status: outcome.status,
      result: facts.result ? resultSummary(facts.result) : null,
      errorCode: outcome.errorCode,
      errorMessage: outcome.message,
      exitCode: exit.exitCode,
      usage,
      diff: diff.diff,
      diffTruncated: diff.truncated,
    });
  } finally {
    res.gateway.closeSession(session.token);
    if (sandbox) await sandbox.remove().catch((err: unknown) => log.warn({ err }, 'removing sandbox failed'));
    if (workspace) await removeWorkspace(workspace).catch((err: unknown) => log.warn({ err }, 'removing scratch dir failed'));
  }
}

/** A failure whose only cause is the model API being down before any output is an infrastructure fault. */
function throwIfUpstreamUnavailable(outcome: RunOutcome, session: { usage: { requests: number }; upstreamErrors: Array<{ status: number }> }): void {
  if (outcome.status !== 'failed' || (outcome.errorCode !== 'claude_error' && outcome.errorCode !== 'exit_nonzero')) return;
  const unavailable = session.upstreamErrors.filter((e) => isUpstreamUnavailable(e.status));
  if (session.usage.requests > 0 || unavailable.length === 0) return;
  const status = unavailable[unavailable.length - 1]?.status;
  throw new InfraFault('upstream_unavailable', `the model API was unavailable (HTTP ${status}) before any output: ${outcome.message ?? ''}`.trim());
}

/** The terminal write of an attempt: end events first (SSE readers stop on `end`), then the fenced row update. */
async function finish(res: WorkerResources, task: ClaimedTask, sink: EventSink, log: Log, o: TaskOutcomeWrite): Promise<void> {
  const error = o.errorCode ? { code: o.errorCode, message: o.errorMessage } : null;
  sink.push('status', { status: o.status });
  sink.push('end', { status: o.status, error });
  await sink.close();
  const applied = await finishTask(res.sql, task.id, task.attempt, o);
  if (!applied) {
    log.warn({ action: 'finish_fenced', attempt: task.attempt }, 'a newer attempt holds the task; result of this attempt dropped');
    return;
  }
  log.info({ action: 'task_finished', status: o.status, error_code: o.errorCode }, 'task finished');
  await notifyTerminal(res, task, log);
}

async function notifyTerminal(res: WorkerResources, task: ClaimedTask, log: Log): Promise<void> {
  if (!task.webhook_url) return;
  await enqueueWebhook(res.webhooks, task.id).catch((err: unknown) => log.warn({ err }, 'webhook enqueue failed'));
}
