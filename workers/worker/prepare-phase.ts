import { loadResumeSource } from '../../src/db/task-artifacts.js';
import type { ClaimedTask, TaskOutcomeWrite } from '../../src/tasks/lifecycle/index.js';
import { buildClaudeArgs, userMessageLine } from '../claude/args.js';
import type { GatewaySession } from '../gateway/sessions.js';
import type { PoolSlot } from '../sandbox/pool.js';
import { acquireScratch, type ScratchArea } from '../sandbox/scratch-quota.js';
import { diskFullMessage, diskUsage } from '../sandbox/scratch-watchdog.js';
import { prepareWorkspace, scratchDirName, WorkspaceError } from '../workspace/prepare.js';
import type { PreparedWorkspace } from '../workspace/prepared-workspace.js';
import { gitSourcePolicy } from '../../src/domain/git-source-policy.js';
import { stoppedBeforeSandbox } from './attempt-abort.js';
import type { AttemptCleanup } from './attempt-cleanup.js';
import { AttemptPhases } from './attempt-phases.js';
import { sandboxClaudeEnv, startedCliMismatch } from './claude-invocation.js';
import { noteMiss } from './pool-claim.js';
import type { WorkerResources } from './resources.js';
import { InfraFault } from './retry-policy.js';
import { createRedactor, type Redactor } from './secret-redaction.js';
import { removeMcpConfig, SANDBOX_MCP_CONFIG, writeMcpConfig } from './task-mcp.js';
import { endedBeforeStart, openTaskEgress, type TaskEgress, type TaskRunPlan } from './task-policy.js';
import { restoreTranscript } from './transcript.js';

/** Everything the sandbox needs, on the host: the workspace, the CLI's arguments and environment. */
export interface ReadyAttempt {
  workspace: PreparedWorkspace;
  /** The warm sandbox this attempt runs in; null: started cold. */
  slot: PoolSlot | null;
  args: string[];
  env: Record<string, string>;
  /** The prompt as the stdin of the warm sandbox's started CLI, when that CLI runs this attempt; else null. */
  stdinLine: string | null;
  egress: TaskEgress | null;
  /** Host path of the attempt's --mcp-config document, for a cold sandbox's read-only mount; null without one. */
  mcpConfigPath: string | null;
  /** Replaces the attempt's known secret values (its MCP servers') in its events and transcript. */
  redactor: Redactor;
}

export type Prepared = { kind: 'ready'; ready: ReadyAttempt } | { kind: 'ended'; outcome: TaskOutcomeWrite };

/**
 * The prepare phase: the resume source, a capped scratch area, the workspace (clone, patch), the transcript
 * to resume, the MCP config and the egress proxy. Each acquisition is registered with `cleanup` as soon as it exists.
 * A cancel or a shutdown stops it between steps and aborts a clone in progress.
 */
export async function prepareAttempt(
  res: WorkerResources,
  task: ClaimedTask,
  plan: TaskRunPlan,
  session: GatewaySession,
  signal: AbortSignal,
  cleanup: AttemptCleanup,
  slot: PoolSlot | null = null,
  phases: AttemptPhases = new AttemptPhases(),
): Promise<Prepared> {
  const cfg = res.config;
  const opts = task.options;
  const resume = opts.resume_from ? await loadResumeSource(res.sql, null, opts.resume_from) : null;
  if (opts.resume_from && (!resume?.session_id || !resume.transcript)) {
    return { kind: 'ended', outcome: endedBeforeStart('failed', 'claude_error', 'resume_from task has no transcript to resume') };
  }
  // A warm sandbox brings its own fresh scratch, already mounted (and released with the slot).
  const scratch: ScratchArea = slot?.scratch ?? (await phases.time('scratch_mount', () => acquireAttemptScratch(res, task)));
  // The workspace lives inside the scratch area: releasing it (unmount, or rm -rf without a tmpfs) removes both.
  if (!slot) cleanup.defer('releasing the scratch area', () => scratch.release());
  // Uncapped scratch shares the host disk: a disk already past the limit would be filled by this task.
  const before = await diskUsage(scratch.dir);
  if (before.usedPercent > cfg.sandbox.scratch.watchdog_percent) {
    throw new InfraFault('disk_full', diskFullMessage(before, cfg.sandbox.scratch.watchdog_percent));
  }
  let workspace: PreparedWorkspace;
  try {
    // Clone (if any), the git baseline the diff is taken against, a replayed patch, the hand-over to uid 1000.
    workspace = await phases.time('workspace', () => prepareWorkspace({
      scratchRoot: scratch.dir,
      taskId: task.id,
      attempt: task.attempt,
      source: task.source,
      patch: resume?.diff || null,
      policy: gitSourcePolicy(cfg.sandbox),
      signal,
      ...(slot ? { inPlace: slot.workspace, baselineReady: true, cliStarted: slot.cli !== null } : {}),
    }));
  } catch (err) {
    // A clone aborted by a cancel or a shutdown is not a workspace fault: no other attempt is owed for it.
    const stopped = stoppedBeforeSandbox(signal);
    if (stopped) return { kind: 'ended', outcome: stopped };
    const refused = err instanceof WorkspaceError && err.code === 'source_refused';
    throw new InfraFault(refused ? 'workspace_refused' : 'workspace', `workspace preparation failed: ${(err as Error).message}`, { cause: err });
  }
  if (resume?.session_id && resume.transcript) await restoreTranscript(workspace.claudeConfigDir, resume.session_id, resume.transcript);
  // The document, for a cold sandbox's read-only mount, in the attempt's root dir (root's, 0700, never mounted
  // as a whole). A warm sandbox has the root-owned /run/aicli mounted read-only already: a copy goes there
  // (the first one still serves the cold start that follows a failed hand-off).
  let mcpConfigPath: string | null = null;
  if (plan.mcp) {
    const files = [await writeMcpConfig(workspace.root, plan.mcp.configJson)];
    if (slot) files.push(await writeMcpConfig(slot.runDir, plan.mcp.configJson));
    cleanup.defer('removing the MCP config', () => Promise.all(files.map(removeMcpConfig)));
    mcpConfigPath = files[0] as string;
  }

  const options = {
    model: opts.model ?? cfg.claude.model,
    maxTurns: opts.max_turns ?? cfg.claude.max_turns,
    permissionMode: opts.permission_mode ?? cfg.claude.permission_mode,
    allowedTools: opts.allowed_tools,
    disallowedTools: opts.disallowed_tools,
    appendSystemPrompt: opts.append_system_prompt,
    maxBudgetUsd: plan.budgetUsd,
    resumeSessionId: resume?.session_id ?? undefined,
    mcpConfigPath: plan.mcp ? SANDBOX_MCP_CONFIG : undefined,
    strictMcpConfig: true,
  };
  const args = buildClaudeArgs({ prompt: task.prompt, ...options });
  const env = sandboxClaudeEnv(cfg, session.token);
  let stdinLine: string | null = null;
  if (slot?.cli) {
    const mismatch = startedCliMismatch(slot.cli, task, resume !== null, options, env);
    if (mismatch) noteMiss(res, res.logger.child({ task_id: task.id }), mismatch);
    else stdinLine = userMessageLine(task.prompt);
  }
  const egress = await openTaskEgress(res, task.id, plan.egress);
  if (egress) {
    cleanup.defer('closing the egress proxy', () => egress.proxy.close());
    Object.assign(env, egress.env);
  }
  const stopped = stoppedBeforeSandbox(signal);
  if (stopped) return { kind: 'ended', outcome: stopped };
  const redactor = createRedactor(plan.mcp?.secretValues ?? []);
  return { kind: 'ready', ready: { workspace, slot, args, env, stdinLine, egress, mcpConfigPath, redactor } };
}

function acquireAttemptScratch(res: WorkerResources, task: ClaimedTask): Promise<ScratchArea> {
  const { scratch } = res.config.sandbox;
  return acquireScratch({
    parentDir: res.scratchDir,
    name: scratchDirName(task.id, task.attempt),
    sizeMb: scratch.size_mb,
    mode: scratch.mode,
    imageDir: res.scratchImageDir,
  }).catch((err: unknown) => {
    throw new InfraFault('workspace', (err as Error).message, { cause: err });
  });
}
