import { saveArtifact } from '../../src/db/task-artifacts.js';
import type { ClaimedTask, TaskOutcomeWrite } from '../../src/tasks/lifecycle/index.js';
import { classifyOutcome, type RunOutcome } from '../claude/outcome.js';
import type { GatewaySession } from '../gateway/sessions.js';
import { workspaceDiff } from '../workspace/diff.js';
import type { EventSink } from './event-sink.js';
import type { ReadyAttempt } from './prepare-phase.js';
import type { WorkerResources } from './resources.js';
import { resultSummary } from './result-summary.js';
import { InfraFault, isUpstreamUnavailable } from './retry-policy.js';
import type { SandboxRun } from './run-phase.js';
import { budgetMessage, budgetUsage } from './task-policy.js';
import { readTranscript } from './transcript.js';

/**
 * The collect phase: classifies how the run ended, keeps the transcript, computes the diff and the usage.
 * Faults that another attempt may not repeat (a shutdown, the model API down before any output) are thrown
 * as InfraFault for the retry policy.
 */
export async function collectOutcome(
  res: WorkerResources,
  task: ClaimedTask,
  ready: ReadyAttempt,
  run: SandboxRun,
  sink: EventSink,
  session: GatewaySession,
): Promise<TaskOutcomeWrite> {
  const cfg = res.config;
  const log = res.logger.child({ task_id: task.id });
  if (run.aborted === 'shutdown' && !run.timedOut) {
    throw new InfraFault('worker_shutdown', 'the worker shut down before the task finished; it runs again on another worker');
  }
  throwIfOutputRejected(sink);
  const { facts } = run;
  const outputStop = sink.stopReason;
  const outcome = classifyOutcome({
    result: facts.result,
    exitCode: run.exit.exitCode,
    oomKilled: run.exit.oomKilled,
    // The catalog's job timeout is a task timeout that the task's own timer should have caught first.
    timedOut: run.timedOut || run.aborted === 'job_timeout',
    diskFull: run.diskFull,
    cancelled: run.aborted === 'cancel',
    authFailed: facts.authFailed,
    authMessage: facts.authMessage ?? undefined,
    budgetExceeded: session.budgetExceeded,
    stderrTail: run.stderrTail,
    outputLimit: outputStop?.kind === 'output_limit' ? { configKey: outputStop.configKey, limit: outputStop.limit } : null,
  });
  if (outcome.errorCode === 'budget_exceeded') outcome.message = budgetMessage(outcome.message, session);
  throwIfUpstreamUnavailable(outcome, session);

  const saveTranscript = async () => {
    if (!facts.sessionId) return;
    const transcript = await readTranscript(ready.workspace.claudeConfigDir, facts.sessionId, cfg.sandbox.max_transcript_bytes).catch(() => null);
    if (transcript) await saveArtifact(res.sql, { taskId: task.id, attempt: task.attempt, kind: 'transcript', ...transcript, body: ready.redactor.text(transcript.body) });
  };
  // The container's removal (started at its exit) is not waited for: the result and `end` never wait on it.
  const [, diff] = await Promise.all([
    saveTranscript(),
    workspaceDiff(ready.workspace, { maxBytes: cfg.sandbox.max_diff_bytes }).catch((err: unknown) => {
      log.warn({ err }, 'computing the workspace diff failed');
      return { diff: '', truncated: false };
    }),
  ]);
  const usage = {
    ...session.usage,
    ...budgetUsage(session),
    models: session.models,
    sandbox_start_ms: run.sandbox.startMs,
    container_started_at: run.sandbox.startedAt,
    wall_ms: Date.now() - run.startedAtMs,
  };
  log.debug({ action: 'artifacts_ready', after_start_ms: Date.now() - run.startedAtMs }, 'diff and transcript done');
  return {
    status: outcome.status,
    result: facts.result ? resultSummary(facts.result) : null,
    errorCode: outcome.errorCode,
    errorMessage: outcome.message,
    exitCode: run.exit.exitCode,
    usage,
    diff: diff.diff,
    diffTruncated: diff.truncated,
    sourceCommit: ready.workspace.sourceCommit,
  };
}

/** The sink dropped events Postgres refused as data: the attempt fails at once (FAULT_POLICY.output_rejected). */
export function throwIfOutputRejected(sink: EventSink): void {
  const stop = sink.stopReason;
  if (stop?.kind === 'output_rejected') throw new InfraFault('output_rejected', stop.message);
}

/** A failure whose only cause is the model API being down before any output is an infrastructure fault. */
function throwIfUpstreamUnavailable(outcome: RunOutcome, session: { usage: { requests: number }; upstreamErrors: Array<{ status: number }> }): void {
  if (outcome.status !== 'failed' || (outcome.errorCode !== 'claude_error' && outcome.errorCode !== 'exit_nonzero')) return;
  const unavailable = session.upstreamErrors.filter((e) => isUpstreamUnavailable(e.status));
  if (session.usage.requests > 0 || unavailable.length === 0) return;
  const status = unavailable[unavailable.length - 1]?.status;
  throw new InfraFault('upstream_unavailable', `the model API was unavailable (HTTP ${status}) before any output: ${outcome.message ?? ''}`.trim());
}
