import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Config } from '../../src/config/index.js';
import { roleLimits } from '../../src/config/sections/sandbox-policy.js';
import { SecretBox, SecretBoxError } from '../../src/crypto/secret-box.js';
import type { Sql } from '../../src/db/client.js';
import type { ClaimedTask, TaskOutcomeWrite } from '../../src/tasks/lifecycle/index.js';
import { taskRunPolicy } from '../../src/db/workspace-policy.js';
import { workspaceSecretAad } from '../../src/db/workspace-secrets.js';
import { NO_EGRESS, type EgressPolicy } from '../../src/net/egress-policy.js';
import { createEgressProxy, type EgressProxy } from '../egress/proxy.js';
import type { GatewaySession } from '../gateway/sessions.js';
import type { WorkerResources } from './resources.js';
import { openTaskMcp, type TaskMcp } from './task-mcp.js';

// What a task attempt may use, decided before its sandbox starts: which
// model API key the gateway swaps in (the workspace's own, else the global
// one), the budget and output-token cap the gateway enforces, and whether the
// sandbox gets an egress proxy. Keys are opened here and handed only to the
// gateway session; they never reach a log line, an event or the container.

export interface TaskRunPlan {
  apiKey: string;
  keySource: 'workspace' | 'global';
  /** USD; the gateway refuses model calls past it (the CLI gets it too, as --max-budget-usd). */
  budgetUsd: number;
  maxOutputTokens: number;
  egress: EgressPolicy;
  /** The workspace's MCP servers for --mcp-config, values opened; null when it has none. */
  mcp: TaskMcp | null;
}

export type PlanResult = { ok: true; plan: TaskRunPlan } | { ok: false; failure: TaskOutcomeWrite };

/** The terminal write of an attempt that ends before any sandbox ran: no result, diff or usage. */
export function endedBeforeStart(status: 'cancelled' | 'failed' | 'timed_out', errorCode: string, errorMessage: string): TaskOutcomeWrite {
  return { status, result: null, errorCode, errorMessage, exitCode: null, usage: null, diff: null, diffTruncated: false };
}

const authFailure = (message: string): PlanResult => ({ ok: false, failure: endedBeforeStart('failed', 'auth_failed', message) });

export async function planTaskRun(sql: Sql, cfg: Config, task: ClaimedTask): Promise<PlanResult> {
  const policy = (await taskRunPolicy(sql, task.id)) ?? { ownerRole: cfg.limits.fallback_role, egress: NO_EGRESS, anthropicKey: null, mcpServers: [], mcpSecrets: null };
  const { limits } = roleLimits(cfg.limits, policy.ownerRole);
  const options = task.options as ClaimedTask['options'] & { max_output_tokens?: number };
  // The API refused requests above the caps; clamping again covers a role lowered since submission.
  const budgetUsd = Math.min(options.max_budget_usd ?? limits.default_budget_usd, limits.max_budget_usd);
  const maxOutputTokens = Math.min(options.max_output_tokens ?? limits.default_max_output_tokens, limits.max_output_tokens);

  let apiKey: string;
  let keySource: TaskRunPlan['keySource'];
  const sealed = policy.anthropicKey;
  const box = sealed !== null || policy.mcpSecrets !== null ? SecretBox.fromConfig(cfg.secrets) : null;
  if (sealed !== null) {
    if (box === null) {
      return authFailure(
        "the workspace's Anthropic key cannot be opened: this worker has no secrets.master_key (set AICLI__SECRETS__MASTER_KEY to the API's master key)",
      );
    }
    try {
      apiKey = box.open(sealed, workspaceSecretAad(task.workspace_id, 'anthropic_api_key'));
    } catch (err) {
      if (!(err instanceof SecretBoxError)) throw err;
      return authFailure(`the workspace's Anthropic key cannot be opened: ${err.message}; or store the key again (PUT /api/v1/workspaces/:id/anthropic-key)`);
    }
    keySource = 'workspace';
  } else if (cfg.claude.api_key !== '') {
    apiKey = cfg.claude.api_key;
    keySource = 'global';
  } else {
    return authFailure(
      `no Anthropic API key for this task: store one for the workspace with PUT /api/v1/workspaces/${task.workspace_id}/anthropic-key {"api_key": "sk-ant-..."}, or set ANTHROPIC_API_KEY (claude.api_key) on the workers`,
    );
  }
  const mcp = openTaskMcp(box, task.workspace_id, policy.mcpServers, policy.mcpSecrets);
  if (!mcp.ok) return authFailure(mcp.message);
  return { ok: true, plan: { apiKey, keySource, budgetUsd, maxOutputTokens, egress: policy.egress, mcp: mcp.mcp } };
}

export interface TaskEgress {
  /** Host path of the proxy socket, mounted at /run/aicli/egress.sock. */
  socketPath: string;
  /** Proxy variables for the container (both spellings: curl reads only the lower-case http_proxy). */
  env: Record<string, string>;
  proxy: EgressProxy;
}

/** Starts the task's own egress proxy when its workspace has an allowlist; null for `none`. */
export async function openTaskEgress(res: WorkerResources, taskId: string, egress: EgressPolicy): Promise<TaskEgress | null> {
  if (egress.mode !== 'allowlist') return null;
  const cfg = res.config.sandbox.egress;
  // A short random name: unix socket paths are limited to 107 bytes.
  const socketPath = path.join(path.dirname(res.gateway.socketPath), `egress-${randomBytes(6).toString('hex')}.sock`);
  const proxy = createEgressProxy({
    socketPath,
    taskId,
    logger: res.logger,
    connectTimeoutMs: cfg.connect_timeout,
    rules: { domains: egress.domains, allowedPorts: cfg.allowed_ports, allowPrivateForHosts: cfg.allow_private_for_hosts, staticHosts: cfg.static_hosts },
  });
  await proxy.listen();
  const url = `http://127.0.0.1:${cfg.proxy_port}`;
  // The model gateway is on loopback inside the container: never send it through the proxy.
  const noProxy = '127.0.0.1,localhost,::1';
  return {
    socketPath,
    proxy,
    env: {
      AICLI_EGRESS_PORT: String(cfg.proxy_port),
      HTTPS_PROXY: url,
      HTTP_PROXY: url,
      https_proxy: url,
      http_proxy: url,
      NO_PROXY: noProxy,
      no_proxy: noProxy,
    },
  };
}

/** Spend and caps for the task's usage record. */
export function budgetUsage(session: GatewaySession): Record<string, unknown> {
  return {
    cost_usd: Math.round(session.costUsd * 1e6) / 1e6,
    budget_usd: session.budgetUsd,
    max_output_tokens: session.maxOutputTokens,
    limit_hit: session.limitHit,
    budget_exceeded_at: session.budgetExceededAt,
    refused_requests: session.refusedRequests,
  };
}

/** The outcome message of a budget stop, with what was spent. */
export function budgetMessage(message: string | null, session: GatewaySession): string {
  const spent =
    session.limitHit === 'max_output_tokens'
      ? `used ${session.usage.output_tokens} output tokens of max_output_tokens ${session.maxOutputTokens}`
      : `spent $${session.costUsd.toFixed(4)} of max_budget_usd $${session.budgetUsd}`;
  return `${message ?? 'task budget exceeded'} (${spent})`;
}
