import { describe, it, expect } from 'vitest';
import { buildClaudeArgs, claudeEnv, MAX_ARG_BYTES, PERMISSION_MODES } from '../../workers/claude/args.js';

describe('buildClaudeArgs', () => {
  it('starts with headless stream-json flags and ends with the prompt after --', () => {
    expect(buildClaudeArgs({ prompt: 'fix the tests' })).toEqual([
      '-p',
      '--output-format',
      'stream-json',
      '--verbose',
      '--',
      'fix the tests',
    ]);
  });

  it('writes every option as --name=value, one flag per tool rule', () => {
    const args = buildClaudeArgs({
      prompt: 'go',
      model: 'claude-sonnet-4-5',
      maxTurns: 7,
      permissionMode: 'acceptEdits',
      allowedTools: ['Bash(git *)', 'Write'],
      disallowedTools: ['WebFetch'],
      appendSystemPrompt: '--be brief',
      maxBudgetUsd: 0.25,
      resumeSessionId: '026b0e20-3969-4168-adda-d21ff0fd7939',
    });
    expect(args).toEqual([
      '-p',
      '--output-format',
      'stream-json',
      '--verbose',
      '--model=claude-sonnet-4-5',
      '--max-turns=7',
      '--permission-mode=acceptEdits',
      '--allowedTools=Bash(git *)',
      '--allowedTools=Write',
      '--disallowedTools=WebFetch',
      '--append-system-prompt=--be brief',
      '--max-budget-usd=0.25',
      '--resume=026b0e20-3969-4168-adda-d21ff0fd7939',
      '--',
      'go',
    ]);
  });

  it('keeps a prompt that looks like an option as one final argv element', () => {
    // Before `--`, the CLI would print its usage for "--help" and exit 0.
    const prompt = '--help; rm -rf / `id` $(whoami) "quoted"\nsecond line';
    const args = buildClaudeArgs({ prompt });
    expect(args.at(-1)).toBe(prompt);
    expect(args.at(-2)).toBe('--');
    expect(args.filter((a) => a === prompt)).toHaveLength(1);
  });

  it('accepts every documented permission mode', () => {
    for (const mode of PERMISSION_MODES) {
      expect(buildClaudeArgs({ prompt: 'x', permissionMode: mode })).toContain(`--permission-mode=${mode}`);
    }
  });

  it('omits an empty append-system-prompt', () => {
    expect(buildClaudeArgs({ prompt: 'x', appendSystemPrompt: '' }).some((a) => a.startsWith('--append'))).toBe(false);
  });

  it.each([
    [{ prompt: '' }, /prompt must be a non-empty string/],
    [{ prompt: '   ' }, /prompt must be a non-empty string/],
    [{ prompt: 'a\0b' }, /prompt must not contain NUL/],
    [{ prompt: 'x', maxTurns: 0 }, /maxTurns must be a positive integer/],
    [{ prompt: 'x', maxTurns: 1.5 }, /maxTurns must be a positive integer/],
    [{ prompt: 'x', maxBudgetUsd: 0 }, /maxBudgetUsd must be a positive number/],
    [{ prompt: 'x', maxBudgetUsd: Number.NaN }, /maxBudgetUsd must be a positive number/],
    [{ prompt: 'x', permissionMode: 'yolo' }, /permissionMode must be one of/],
    [{ prompt: 'x', resumeSessionId: '--help' }, /resumeSessionId is not a valid session id/],
    [{ prompt: 'x', resumeSessionId: 'a b' }, /resumeSessionId is not a valid session id/],
    [{ prompt: 'x', allowedTools: [''] }, /allowedTools must be a non-empty string/],
    [{ prompt: 'x', model: '' }, /model must be a non-empty string/],
  ])('rejects %j', (opts, message) => {
    expect(() => buildClaudeArgs(opts as Parameters<typeof buildClaudeArgs>[0])).toThrow(message);
  });

  it('refuses a prompt too long for one argv element instead of failing with E2BIG', () => {
    expect(buildClaudeArgs({ prompt: 'x'.repeat(MAX_ARG_BYTES) }).at(-1)).toHaveLength(MAX_ARG_BYTES);
    expect(() => buildClaudeArgs({ prompt: 'x'.repeat(MAX_ARG_BYTES + 1) })).toThrow(/prompt is too long/);
    // Bytes, not characters: 'é' is two bytes in UTF-8.
    expect(() => buildClaudeArgs({ prompt: 'é'.repeat(MAX_ARG_BYTES / 2 + 1) })).toThrow(/prompt is too long/);
    expect(() => buildClaudeArgs({ prompt: 'x', appendSystemPrompt: 'y'.repeat(MAX_ARG_BYTES) })).toThrow(/appendSystemPrompt is too long/);
  });
});

describe('claudeEnv', () => {
  it('points the CLI at the endpoint and turns off everything that calls elsewhere', () => {
    expect(claudeEnv({ baseUrl: 'http://127.0.0.1:9', apiKey: 'task-token', configDir: '/home/agent/.claude' })).toEqual({
      ANTHROPIC_BASE_URL: 'http://127.0.0.1:9',
      ANTHROPIC_API_KEY: 'task-token',
      CLAUDE_CONFIG_DIR: '/home/agent/.claude',
      CLAUDE_CODE_MAX_RETRIES: '2',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_AUTOUPDATER: '1',
      DISABLE_TELEMETRY: '1',
      DISABLE_ERROR_REPORTING: '1',
    });
  });

  it('sets retries, TMPDIR and the root bypass only when asked', () => {
    const env = claudeEnv({ baseUrl: 'http://x', apiKey: 'k', configDir: '/c', maxRetries: 0, tmpDir: '/t', allowRootBypass: true });
    expect(env.CLAUDE_CODE_MAX_RETRIES).toBe('0');
    expect(env.TMPDIR).toBe('/t');
    expect(env.IS_SANDBOX).toBe('1');
    expect(claudeEnv({ baseUrl: 'http://x', apiKey: 'k', configDir: '/c' })).not.toHaveProperty('IS_SANDBOX');
  });

  it('rejects missing values without echoing the key', () => {
    expect(() => claudeEnv({ baseUrl: 'http://x', apiKey: '', configDir: '/c' })).toThrow(/apiKey must be a non-empty string/);
    expect(() => claudeEnv({ baseUrl: '', apiKey: 'secret-key', configDir: '/c' })).toThrow(/^baseUrl/);
    expect(() => claudeEnv({ baseUrl: 'http://x', apiKey: 'secret-key', configDir: '/c', maxRetries: -1 })).toThrow(/maxRetries/);
    const error = captureError(() => claudeEnv({ baseUrl: 'http://x', apiKey: 'secret-key', configDir: '' }));
    expect(error).toBeInstanceOf(RangeError);
    expect(String(error)).not.toContain('secret-key');
  });
});

function captureError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return null;
}
