import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { claudeEnv } from '../../workers/claude/args.js';

// The guide's `claude:` block ("Claude API 연결 실패", step 3), pasted as it is, loads and takes effect.
const GUIDE_CLAUDE = `
claude:
  api_key: "\${ANTHROPIC_API_KEY}"
  model: "claude-3-sonnet-20240229"
  timeout: "60s"
  retry_attempts: 3
`;

const withConfig = (yaml: string) => {
  const cwd = mkdtempSync(path.join(tmpdir(), 'aicli-guide-claude-'));
  writeFileSync(path.join(cwd, 'config.yml'), yaml);
  return cwd;
};

describe("the guide's claude block", () => {
  it('loads as pasted: the key from the environment, the model, the gateway timeout and the retries', () => {
    const { config } = loadConfig({ cwd: withConfig(GUIDE_CLAUDE), env: { ANTHROPIC_API_KEY: 'sk-ant-guide' } });
    expect(config.claude).toMatchObject({ api_key: 'sk-ant-guide', model: 'claude-3-sonnet-20240229', timeout: 60_000, max_retries: 3 });
  });

  it('retry_attempts reaches the CLI as its retry count', () => {
    const { config } = loadConfig({ cwd: withConfig(GUIDE_CLAUDE), env: { ANTHROPIC_API_KEY: 'sk-ant-guide' } });
    const env = claudeEnv({ baseUrl: 'http://127.0.0.1:8787', apiKey: 't', configDir: '/home/agent/.claude', maxRetries: config.claude.max_retries });
    expect(env.CLAUDE_CODE_MAX_RETRIES).toBe('3');
  });

  it('refuses retry_attempts and max_retries that disagree, naming both', () => {
    const cwd = withConfig('claude:\n  retry_attempts: 3\n  max_retries: 1\n');
    expect(() => loadConfig({ cwd, env: {} })).toThrow(/claude\.retry_attempts and claude\.max_retries name the same setting and disagree: keep one/);
    expect(loadConfig({ cwd: withConfig('claude:\n  retry_attempts: 1\n  max_retries: 1\n'), env: {} }).config.claude.max_retries).toBe(1);
    expect(loadConfig({ cwd: withConfig('claude: {}\n'), env: {} }).config.claude).toMatchObject({ max_retries: 2, timeout: 600_000 });
  });

  it('refuses a timeout that is not a duration, with the fix', () => {
    expect(() => loadConfig({ cwd: withConfig('claude:\n  timeout: soon\n'), env: {} })).toThrow(/claude\.timeout: invalid duration "soon" \(use e\.g\. 500ms, 30s, 5m, 1h\)/);
  });
});
