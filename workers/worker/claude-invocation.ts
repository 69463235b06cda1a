import { roleLimits } from '../../src/config/sections/sandbox-policy.js';
import type { Config } from '../../src/config/index.js';
import type { PoolMissReason } from '../../src/observability/metrics.js';
import type { ClaimedTask } from '../../src/tasks/lifecycle/index.js';
import { buildStreamInputArgs, claudeEnv, type ClaudeRunOptions } from '../claude/args.js';
import type { PoolPrestart, StartedCli } from '../sandbox/pool.js';

// How `claude` is invoked in a sandbox, cold or warm: its environment for a gateway token, and the fixed
// invocation a warm sandbox starts before its task (and which tasks that invocation can serve).

const CONTAINER_CLAUDE_DIR = '/aicli/claude';

/** The CLI's environment in a sandbox: the gateway on loopback, `token` as its key, no other traffic. */
export function sandboxClaudeEnv(cfg: Config, token: string): Record<string, string> {
  return {
    ...claudeEnv({ baseUrl: `http://127.0.0.1:${cfg.worker.gateway_port}`, apiKey: token, configDir: CONTAINER_CLAUDE_DIR, maxRetries: cfg.claude.max_retries }),
    AICLI_GATEWAY_PORT: String(cfg.worker.gateway_port),
  };
}

/**
 * The options a task that sets none runs with: the configured model, max_turns and permission_mode, the
 * fallback role's default budget, and MCP servers from --mcp-config only. A warm sandbox's CLI is started with exactly these.
 */
export function defaultRunOptions(cfg: Config): Omit<ClaudeRunOptions, 'prompt'> {
  return {
    model: cfg.claude.model,
    maxTurns: cfg.claude.max_turns,
    permissionMode: cfg.claude.permission_mode,
    maxBudgetUsd: roleLimits(cfg.limits, undefined).limits.default_budget_usd,
    // Every attempt reads MCP servers from --mcp-config only (an attempt with servers of its workspace
    // names that file too, so it never matches this invocation and execs its own CLI).
    strictMcpConfig: true,
  };
}

/** The pool's started CLI (worker.pool_prestart_cli), or undefined when the CLI is exec'd at claim. */
export function poolPrestart(cfg: Config): PoolPrestart | undefined {
  if (!cfg.worker.pool_prestart_cli) return undefined;
  return { cmd: ['claude', ...buildStreamInputArgs(defaultRunOptions(cfg))], env: (token) => sandboxClaudeEnv(cfg, token) };
}

/**
 * Why a warm sandbox's started CLI cannot run this attempt (it then execs `claude` as on a cold start), or
 * null when it can. The CLI reads its options and environment at start, and its working directory's
 * CLAUDE.md, settings and git state too (a file written after its start is not seen), so it serves only an
 * attempt whose workspace is what it saw then (empty) and whose invocation is the one it was started with.
 */
export function startedCliMismatch(
  cli: StartedCli,
  task: Pick<ClaimedTask, 'source'>,
  resumed: boolean,
  options: Omit<ClaudeRunOptions, 'prompt'>,
  env: Record<string, string>,
): PoolMissReason | null {
  if (task.source.type !== 'empty' || resumed) return 'cli_workspace';
  const cmd = ['claude', ...buildStreamInputArgs(options)];
  if (cmd.length !== cli.cmd.length || cmd.some((arg, i) => arg !== cli.cmd[i])) return 'cli_options';
  const names = Object.keys(env);
  if (names.length !== Object.keys(cli.env).length || names.some((name) => cli.env[name] !== env[name])) return 'cli_options';
  return null;
}
