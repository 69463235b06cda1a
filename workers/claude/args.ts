// argv and environment for one headless `claude` run. No shell is involved:
// the result is handed to spawn/Docker as an argv array.

export const PERMISSION_MODES = ['default', 'acceptEdits', 'plan', 'bypassPermissions'] as const;
export type PermissionMode = (typeof PERMISSION_MODES)[number];

export interface ClaudeRunOptions {
  prompt: string;
  model?: string;
  maxTurns?: number;
  permissionMode?: PermissionMode;
  /** Permission rules, one per element, e.g. `Bash(git *)`, `Write`. */
  allowedTools?: string[];
  disallowedTools?: string[];
  appendSystemPrompt?: string;
  maxBudgetUsd?: number;
  resumeSessionId?: string;
  /** Path, as the CLI sees it, of the --mcp-config document; implies --strict-mcp-config. */
  mcpConfigPath?: string;
  /**
   * --strict-mcp-config: no MCP server from anywhere but --mcp-config (not a repository's `.mcp.json`,
   * not the user's settings). Default false here; the worker always sets it.
   */
  strictMcpConfig?: boolean;
}

/**
 * Linux refuses any single argv string of 128 KiB or more (MAX_ARG_STRLEN,
 * counting the NUL): spawn fails with E2BIG. Checked here so the caller gets a
 * message naming the field instead.
 */
export const MAX_ARG_BYTES = 131_071;

// Session ids are UUIDs; names are allowed by the CLI too. Anything else
// (spaces, a leading dash) is refused rather than passed through.
const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * Builds `claude -p --output-format stream-json --verbose [options] -- <prompt>`.
 *
 * Every option is written as `--name=value`, and the prompt comes last after
 * `--`: the CLI parses a value or prompt that starts with `-` as an option
 * (`-p "--help"` prints the usage and exits 0), so a prompt must never sit
 * where an option could be. Tool rules are passed one flag per rule, since a
 * rule such as `Bash(git *)` holds a space.
 */
export function buildClaudeArgs(opts: ClaudeRunOptions): string[] {
  return ['-p', '--output-format', 'stream-json', '--verbose', ...optionArgs(opts), '--', fitsArgv('prompt', nonEmpty('prompt', opts.prompt))];
}

/**
 * A CLI started before its task is known (a warm sandbox's): the same options, the prompt read later from
 * stdin as one stream-json user message (userMessageLine). Two tasks with equal arrays here are served alike.
 */
export function buildStreamInputArgs(opts: Omit<ClaudeRunOptions, 'prompt'>): string[] {
  return ['-p', '--input-format', 'stream-json', '--output-format', 'stream-json', '--verbose', ...optionArgs(opts)];
}

/** The stream-json line that hands a started CLI its prompt (stdin closes after it: one prompt, one run). */
export function userMessageLine(prompt: string): string {
  const message = { type: 'user', message: { role: 'user', content: nonEmpty('prompt', prompt) }, parent_tool_use_id: null, session_id: '' };
  return `${JSON.stringify(message)}\n`;
}

function optionArgs(opts: Omit<ClaudeRunOptions, 'prompt'>): string[] {
  const args: string[] = [];

  if (opts.model !== undefined) args.push(`--model=${nonEmpty('model', opts.model)}`);
  if (opts.maxTurns !== undefined) {
    if (!Number.isSafeInteger(opts.maxTurns) || opts.maxTurns < 1) {
      throw new RangeError(`maxTurns must be a positive integer, got ${String(opts.maxTurns)}`);
    }
    args.push(`--max-turns=${opts.maxTurns}`);
  }
  if (opts.permissionMode !== undefined) {
    if (!PERMISSION_MODES.includes(opts.permissionMode)) {
      throw new RangeError(`permissionMode must be one of ${PERMISSION_MODES.join(', ')}, got ${String(opts.permissionMode)}`);
    }
    args.push(`--permission-mode=${opts.permissionMode}`);
  }
  for (const rule of opts.allowedTools ?? []) args.push(`--allowedTools=${nonEmpty('allowedTools', rule)}`);
  for (const rule of opts.disallowedTools ?? []) args.push(`--disallowedTools=${nonEmpty('disallowedTools', rule)}`);
  if (opts.appendSystemPrompt !== undefined && opts.appendSystemPrompt !== '') {
    const flag = '--append-system-prompt=';
    args.push(fitsArgv('appendSystemPrompt', `${flag}${opts.appendSystemPrompt}`));
  }
  if (opts.maxBudgetUsd !== undefined) {
    if (!Number.isFinite(opts.maxBudgetUsd) || opts.maxBudgetUsd <= 0) {
      throw new RangeError(`maxBudgetUsd must be a positive number, got ${String(opts.maxBudgetUsd)}`);
    }
    args.push(`--max-budget-usd=${opts.maxBudgetUsd}`);
  }
  if (opts.mcpConfigPath !== undefined) args.push(`--mcp-config=${nonEmpty('mcpConfigPath', opts.mcpConfigPath)}`);
  if (opts.strictMcpConfig || opts.mcpConfigPath !== undefined) args.push('--strict-mcp-config');
  if (opts.resumeSessionId !== undefined) {
    if (!SESSION_ID.test(opts.resumeSessionId)) throw new RangeError('resumeSessionId is not a valid session id');
    args.push(`--resume=${opts.resumeSessionId}`);
  }

  return args;
}

export interface ClaudeEnvOptions {
  /** The model endpoint the CLI talks to (the gateway, or the scripted model in tests). */
  baseUrl: string;
  /** Sent as `x-api-key`; in production a per-task gateway token, never the real key. */
  apiKey: string;
  /** Where the CLI keeps settings and transcripts (`projects/<cwd with / as ->/<session>.jsonl`). */
  configDir: string;
  /** CLAUDE_CODE_MAX_RETRIES: API retries inside one CLI run. Default 2. */
  maxRetries?: number;
  /** TMPDIR: the CLI writes `claude-<uid>/`, `cc-socks/<pid>.sock` there. Default: inherited. */
  tmpDir?: string;
  /**
   * IS_SANDBOX=1 lets `bypassPermissions` run as root (otherwise the CLI exits 1
   * with "--dangerously-skip-permissions cannot be used with root/sudo
   * privileges"). The product runs the CLI as uid 1000 and never needs it.
   * Default false.
   */
  allowRootBypass?: boolean;
}

/**
 * The environment for an offline headless run: only the given endpoint is
 * contacted (verified with strace: no other connect() with these set), no
 * auto-update, no telemetry or error reporting.
 */
export function claudeEnv(opts: ClaudeEnvOptions): Record<string, string> {
  const maxRetries = opts.maxRetries ?? 2;
  if (!Number.isSafeInteger(maxRetries) || maxRetries < 0) {
    throw new RangeError(`maxRetries must be a non-negative integer, got ${String(opts.maxRetries)}`);
  }
  const env: Record<string, string> = {
    ANTHROPIC_BASE_URL: nonEmpty('baseUrl', opts.baseUrl),
    ANTHROPIC_API_KEY: nonEmpty('apiKey', opts.apiKey),
    CLAUDE_CONFIG_DIR: nonEmpty('configDir', opts.configDir),
    CLAUDE_CODE_MAX_RETRIES: String(maxRetries),
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
  };
  if (opts.tmpDir !== undefined) env.TMPDIR = nonEmpty('tmpDir', opts.tmpDir);
  if (opts.allowRootBypass) env.IS_SANDBOX = '1';
  return env;
}

function nonEmpty(name: string, value: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new RangeError(`${name} must be a non-empty string`);
  if (value.includes('\0')) throw new RangeError(`${name} must not contain NUL bytes`);
  return value;
}

function fitsArgv(name: string, value: string): string {
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_ARG_BYTES) {
    throw new RangeError(`${name} is too long to pass as an argument (${bytes} bytes, limit ${MAX_ARG_BYTES})`);
  }
  return value;
}
