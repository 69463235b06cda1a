import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { claimTaskWithinLimits, failAfterFaults, finishTask, requeueAfterFault, type ClaimedTask, type TaskOutcomeWrite } from '../../src/db/tasks.js';
import { loadResumeSource, saveArtifact } from '../../src/db/task-artifacts.js';
import { nextEventSeq } from '../../src/db/task-events.js';
import type { TaskJobData } from '../../src/queue/task-queue.js';
import { enqueueWebhook } from '../../src/queue/webhook-queue.js';
import { buildClaudeArgs, claudeEnv } from '../claude/args.js';
import { classifyOutcome, createStreamFacts, type RunOutcome } from '../claude/outcome.js';
import type { RunningSandbox } from '../sandbox/runner.js';
import { SandboxError, toSandboxError } from '../sandbox/errors.js';
import { workspaceDiff } from '../workspace/diff.js';
import { prepareWorkspace, WorkspaceError } from '../workspace/prepare.js';
import type { PreparedWorkspace } from '../workspace/prepared-workspace.js';
import { gitSourcePolicy } from '../../src/domain/git-source-policy.js';
import { roleLimits } from '../../src/config/sections/sandbox-policy.js';
import { describeDataException, isDataException, withTransientRetry } from '../../src/db/retry.js';
import { recordSandboxStart, recordTaskFinished, recordTaskOutcome, recordTaskPickedUp } from '../../src/observability/metrics.js';
import { pumpAgentOutput } from './agent-output.js';
import { EventSink } from './event-sink.js';
import type { WorkerResources } from './resources.js';
import { FAULT_POLICY, InfraFault, isUpstreamUnavailable } from './retry-policy.js';
import { resultSummary } from './result-summary.js';
import { StderrTail } from './stderr-tail.js';
import { readTranscript, restoreTranscript } from './transcript.js';
import { acquireScratch, type ScratchArea } from '../sandbox/scratch-quota.js';
import { diskFullMessage, diskUsage, watchScratchDisk } from '../sandbox/scratch-watchdog.js';
import { scratchDirName } from '../workspace/prepare.js';
import { budgetMessage, budgetUsage, endedBeforeStart, openTaskEgress, planTaskRun, type TaskEgress } from './task-policy.js';

const CONTAINER_CLAUDE_DIR = '/aicli/claude';

export interface AttemptControl {
  /** Aborted when the attempt must stop early; the reason ('cancel' or 'shutdown') decides what follows. */
  signal: AbortSignal;
}

type Log = WorkerResources['logger'];

/** A task whose owner is at its running limit is looked at again after this (plus jitter). */
const FAIRNESS_DELAY_MS = 1000;

function runningLimits(res: WorkerResources, role: string): { perUser: number; perWorkspace: number } {
  const { limits } = roleLimits(res.config.limits, role);
  return { perUser: limits.max_running_tasks, perWorkspace: limits.max_running_per_workspace };
}

/** How long an attempt keeps retrying its database writes through an outage before giving up. */
const DB_OUTAGE_MS = 5 * 60_000;
const dbRetry = (log: Log) => ({
  deadlineMs: DB_OUTAGE_MS,
  onRetry: (err: unknown, attempt: number) => {
    if (attempt === 1) log.warn({ err, action: 'db_retry' }, 'Postgres unavailable; retrying the write');
  },
});

/** The BullMQ processor: one attempt of one task, from claim to the terminal write. */
export async function runTaskJob(res: WorkerResources, job: Job<TaskJobData>, token: string | undefined, control: AttemptControl): Promise<void> {
  const { taskId } = job.data;
  const log = res.logger.child({ task_id: taskId, job_attempt: job.attemptsMade + 1 });
  // A Postgres restart must not spend the job's attempts: the claim waits for the database to return.
  const claim = await withTransientRetry(() => claimTaskWithinLimits(res.sql, taskId, res.workerId, (role) => runningLimits(res, role)), dbRetry(log));
  if (claim.kind === 'terminal') {
    log.info({ action: 'skip' }, 'task is already terminal; nothing to run');
    return;
  }
  if (claim.kind === 'over_limit') {
    // Fairness: a tenant over its running limit waits (delayed, no attempt spent) so others get workers.
    if (!token) throw new Error('cannot delay a job without its lock token');
    log.debug({ action: 'deferred', reason: claim.reason }, 'task deferred: owner over its running limit');
    await job.moveToDelayed(Date.now() + FAIRNESS_DELAY_MS + Math.floor(Math.random() * FAIRNESS_DELAY_MS), token);
    throw new DelayedError();
  }
  const task = claim.task;
  if (task.attempt === 1 && task.enqueued_at) recordTaskPickedUp(res.metrics, (Date.now() - task.enqueued_at.getTime()) / 1000);
  const sink = new EventSink({
    sql: res.sql,
    publisher: res.publisher,
    prefix: res.config.redis.key_prefix,
    taskId,
    attempt: task.attempt,
    firstSeq: await withTransientRetry(() => nextEventSeq(res.sql, taskId), dbRetry(log)),
    logger: log,
    maxOutputEvents: res.config.sandbox.max_events_per_task,
    maxOutputBytes: res.config.sandbox.max_event_bytes_per_task,
    maxBufferedBytes: res.config.worker.max_buffered_event_bytes,
  });
  sink.push('status', { status: 'running', attempt: task.attempt, worker_id: res.workerId });
  try {
    if (task.cancel_requested_at) {
      // Cancelled while this attempt was waiting for a retry: nothing runs.
      await finish(res, task, sink, log, endedBeforeStart('cancelled', 'cancelled', 'task was cancelled before it started'));
      return;
    }
    await runAttempt(res, task, sink, control, log);
  } catch (err) {
    await handleFault(res, job, token, task, sink, log, err);
  }
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
  const fault = err instanceof InfraFault ? err : isDataException(err) ? dataFault(err) : new InfraFault('docker', describeDockerFault(err, res.image), { cause: err });
  const policy = FAULT_POLICY[fault.kind];
  const failure = { code: fault.errorCode, message: fault.message };
  if (!policy.countsAsAttempt && token) {
    log.info({ action: 'attempt_released', reason: fault.kind }, 'attempt released; another worker will run the task');
    sink.push('status', { status: 'queued', released: true, reason: fault.message });
    await withTransientRetry(() => sink.close(), dbRetry(log)).catch(() => {});
    await res.sql`update tasks set status = 'queued', updated_at = now() where id = ${task.id} and attempt = ${task.attempt} and status = 'running'`;
    await job.moveToDelayed(Date.now() + 250, token);
    throw new DelayedError();
  }
  const lastAttempt = !policy.retry || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  log.warn({ action: 'attempt_fault', kind: fault.kind, err: fault, last_attempt: lastAttempt }, 'task attempt failed on infrastructure');
  if (lastAttempt) {
    sink.push('status', { status: 'failed', error: failure });
    sink.push('end', { status: 'failed', error: failure });
    await withTransientRetry(() => sink.close(), dbRetry(log)).catch(() => {});
    if (await withTransientRetry(() => failAfterFaults(res.sql, task.id, task.attempt, failure), dbRetry(log))) {
      recordTaskFinished(res.metrics, { status: 'failed', errorCode: failure.code });
      await notifyTerminal(res, task, log);
    }
    throw new UnrecoverableError(fault.message);
  }
  sink.push('status', { status: 'queued', retry: true, error: failure });
  await withTransientRetry(() => sink.close(), dbRetry(log)).catch(() => {});
  await withTransientRetry(() => requeueAfterFault(res.sql, task.id, task.attempt, failure), dbRetry(log));
  throw fault;
}

/** A write of the task's data that Postgres refused as data (SQLSTATE class 22): never retried. */
function dataFault(err: unknown): InfraFault {
  return new InfraFault('output_rejected', describeDataException(err), { cause: err });
}

/** The sink dropped events Postgres refused as data: the attempt fails at once (FAULT_POLICY.output_rejected). */
function throwIfOutputRejected(sink: EventSink): void {
  const stop = sink.stopReason;
  if (stop?.kind === 'output_rejected') throw new InfraFault('output_rejected', stop.message);
}

function describeDockerFault(err: unknown, image: string): string {
  return (err instanceof SandboxError ? err : toSandboxError(err, { image })).message;
}

async function runAttempt(res: WorkerResources, task: ClaimedTask, sink: EventSink, control: AttemptControl, log: Log): Promise<void> {
  const cfg = res.config;
  const opts = task.options;
  let workspace: PreparedWorkspace | null = null;
  let sandbox: RunningSandbox | null = null;
  let scratch: ScratchArea | null = null;
  let egress: TaskEgress | null = null;
  // Key, budget and egress first: a task without a usable key fails fast (auth_failed), before any sandbox.
  const planned = await planTaskRun(res.sql, cfg, task);
  if (!planned.ok) {
    await finish(res, task, sink, log, planned.failure);
    return;
  }
  const plan = planned.plan;
  log.info({ action: 'task_plan', key_source: plan.keySource, budget_usd: plan.budgetUsd, max_output_tokens: plan.maxOutputTokens, egress: plan.egress.mode }, 'task limits');
  const session = res.gateway.openSession({ taskId: task.id, apiKey: plan.apiKey, budgetUsd: plan.budgetUsd, maxOutputTokens: plan.maxOutputTokens });
  try {
    const resume = opts.resume_from ? await loadResumeSource(res.sql, null, opts.resume_from) : null;
    if (opts.resume_from && (!resume?.session_id || !resume.transcript)) {
      await finish(res, task, sink, log, endedBeforeStart('failed', 'claude_error', 'resume_from task has no transcript to resume'));
      return;
    }
    scratch = await acquireScratch({
      parentDir: res.scratchDir,
      name: scratchDirName(task.id, task.attempt),
      sizeMb: cfg.sandbox.scratch.size_mb,
      mode: cfg.sandbox.scratch.mode,
      imageDir: res.scratchImageDir,
    }).catch((err: unknown) => {
      throw new InfraFault('workspace', (err as Error).message, { cause: err });
    });
    // Uncapped scratch shares the host disk: a disk already past the limit would be filled by this task.
    const before = await diskUsage(scratch.dir);
    if (before.usedPercent > cfg.sandbox.scratch.watchdog_percent) {
      throw new InfraFault('disk_full', diskFullMessage(before, cfg.sandbox.scratch.watchdog_percent));
    }
    workspace = await prepareWorkspace({
      scratchRoot: scratch.dir,
      taskId: task.id,
      attempt: task.attempt,
      source: task.source,
      patch: resume?.diff || null,
      policy: gitSourcePolicy(cfg.sandbox),
    }).catch((err: unknown) => {
      const refused = err instanceof WorkspaceError && err.code === 'source_refused';
      throw new InfraFault(refused ? 'workspace_refused' : 'workspace', `workspace preparation failed: ${(err as Error).message}`, { cause: err });
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
      maxBudgetUsd: plan.budgetUsd,
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
    egress = await openTaskEgress(res, task.id, plan.egress);
    if (egress) Object.assign(env, egress.env);
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
        egressSocketPath: egress?.socketPath ?? null,
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
    recordSandboxStart(res.metrics, sandbox.startMs / 1000);

    const stream = createStreamFacts();
    const stderrTail = new StderrTail(4096);
    const output = pumpAgentOutput({ stdout: sandbox.stdout, stderr: sandbox.stderr, sink, onRecord: (record) => stream.observe(record), stderrTail });
    // Backpressure holds a running agent; the tail of an exited one is read at once (the result line is in it).
    void sandbox.exited.then(() => output.release());

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
    // An output cap reached, or output Postgres refuses: the agent's further output would be thrown away.
    sink.stopSignal.addEventListener('abort', onAbort, { once: true });
    if (sink.stopSignal.aborted) stop();
    let diskFull: string | null = null;
    const watchdog = watchScratchDisk({
      dir: workspace.workspaceDir,
      limitPercent: cfg.sandbox.scratch.watchdog_percent,
      intervalMs: cfg.sandbox.scratch.watchdog_interval,
      onFull: (message) => {
        diskFull = message;
        log.warn({ action: 'disk_full', limit_percent: cfg.sandbox.scratch.watchdog_percent }, 'task scratch past the disk watchdog limit; stopping the task');
        stop();
      },
      onError: (err) => log.debug({ err }, 'disk watchdog could not read the scratch filesystem'),
    });
    let exit: { exitCode: number; oomKilled: boolean };
    try {
      exit = await sandbox.wait();
      log.debug({ action: 'sandbox_exited', run_ms: Date.now() - started, exit_code: exit.exitCode }, 'sandbox exited');
    } finally {
      clearTimeout(timer);
      watchdog.stop();
      control.signal.removeEventListener('abort', onAbort);
      sink.stopSignal.removeEventListener('abort', onAbort);
    }
    await output.end();
    // The container is done: its removal runs alongside the artifact work below and is awaited before the
    // terminal write, so a terminal task never has a container.
    const removal = sandbox.remove().catch((err: unknown) => log.warn({ err }, 'removing sandbox failed'));
    const abortReason = control.signal.aborted ? String(control.signal.reason ?? '') : null;
    if (abortReason === 'shutdown' && !timedOut) {
      throw new InfraFault('worker_shutdown', 'the worker shut down before the task finished; it runs again on another worker');
    }
    throwIfOutputRejected(sink);
    const facts = stream.facts;
    const outputStop = sink.stopReason;
    const outcome = classifyOutcome({
      result: facts.result,
      exitCode: exit.exitCode,
      oomKilled: exit.oomKilled,
      timedOut,
      diskFull,
      cancelled: abortReason === 'cancel',
      authFailed: facts.authFailed,
      authMessage: facts.authMessage ?? undefined,
      budgetExceeded: session.budgetExceeded,
      stderrTail: stderrTail.text,
      outputLimit: outputStop?.kind === 'output_limit' ? { configKey: outputStop.configKey, limit: outputStop.limit } : null,
    });
    if (outcome.errorCode === 'budget_exceeded') outcome.message = budgetMessage(outcome.message, session);
    throwIfUpstreamUnavailable(outcome, session);

    const prepared = workspace;
    const saveTranscript = async () => {
      if (!facts.sessionId) return;
      const transcript = await readTranscript(prepared.claudeConfigDir, facts.sessionId, cfg.sandbox.max_transcript_bytes).catch(() => null);
      if (transcript) await saveArtifact(res.sql, { taskId: task.id, attempt: task.attempt, kind: 'transcript', ...transcript });
    };
    const [, diff] = await Promise.all([
      saveTranscript(),
      workspaceDiff(prepared, { maxBytes: cfg.sandbox.max_diff_bytes }).catch((err: unknown) => {
        log.warn({ err }, 'computing the workspace diff failed');
        return { diff: '', truncated: false };
      }),
      removal,
    ]);
    const usage = {
      ...session.usage,
      ...budgetUsage(session),
      models: session.models,
      sandbox_start_ms: sandbox.startMs,
      container_started_at: sandbox.startedAt,
      wall_ms: Date.now() - started,
    };
    log.debug({ action: 'artifacts_ready', after_start_ms: Date.now() - started }, 'diff, transcript and removal done');
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
    if (egress) await egress.proxy.close().catch((err: unknown) => log.warn({ err }, 'closing the egress proxy failed'));
    // The workspace lives inside the scratch area: releasing it (unmount, or rm -rf without a tmpfs) removes both.
    if (scratch) await scratch.release().catch((err: unknown) => log.warn({ err }, 'releasing the scratch area failed'));
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
  // Events and the row are retried through a Postgres outage: the terminal write is delayed, never lost.
  // The agent's events go first: if Postgres refuses some as data, the attempt fails instead (its fault
  // handler writes the end events), so the stream never carries two ends.
  await withTransientRetry(() => sink.flush(), dbRetry(log));
  throwIfOutputRejected(sink);
  sink.push('status', { status: o.status });
  sink.push('end', { status: o.status, error });
  await withTransientRetry(() => sink.close(), dbRetry(log));
  const applied = await withTransientRetry(() => finishTask(res.sql, task.id, task.attempt, o), dbRetry(log));
  if (!applied) {
    log.warn({ action: 'finish_fenced', attempt: task.attempt }, 'a newer attempt holds the task; result of this attempt dropped');
    return;
  }
  log.info({ action: 'task_finished', status: o.status, error_code: o.errorCode }, 'task finished');
  recordTaskOutcome(res.metrics, o);
  await notifyTerminal(res, task, log);
}

async function notifyTerminal(res: WorkerResources, task: ClaimedTask, log: Log): Promise<void> {
  if (!task.webhook_url) return;
  await enqueueWebhook(res.webhooks, task.id).catch((err: unknown) => log.warn({ err }, 'webhook enqueue failed'));
}
