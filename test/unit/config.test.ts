import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configSchema, ConfigError, loadConfig, parseDurationMs } from '../../src/config/index.js';
import { REPO_ROOT } from '../support/processes.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'aicli-config-'));

function keyPaths(value: unknown, prefix = ''): string[] {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return [prefix];
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return [prefix];
  return entries.flatMap(([k, v]) => keyPaths(v, prefix ? `${prefix}.${k}` : k));
}

describe('config', () => {
  it('configs/config.example.yml documents every key and loads as it is', () => {
    const example = path.join(REPO_ROOT, 'configs/config.example.yml');
    const { config } = loadConfig({ configPath: example, env: {} });
    const documented = new Set(keyPaths(parse(readFileSync(example, 'utf8'))));
    const defaults = keyPaths(configSchema.parse({}));
    const missing = defaults.filter((k) => !documented.has(k));
    expect(missing).toEqual([]);
    expect(config.server.port).toBe(8080);
  });

  it('finds ./configs/config.yml when nothing is named, and env overrides it', () => {
    const cwd = dir();
    mkdirSync(path.join(cwd, 'configs'));
    writeFileSync(path.join(cwd, 'configs/config.yml'), 'server:\n  port: 9000\nqueue:\n  attempts: 5\n');
    const { config, source } = loadConfig({ cwd, env: { PORT: '9100', AICLI__QUEUE__WORKER_CONCURRENCY: '7' } });
    expect(source).toBe(path.join(cwd, 'configs/config.yml'));
    expect(config.server.port).toBe(9100);
    expect(config.queue.attempts).toBe(5);
    expect(config.queue.worker_concurrency).toBe(7);
  });

  it('interpolates ${VAR} and ${VAR:-fallback} and names an unset variable', () => {
    const cwd = dir();
    writeFileSync(path.join(cwd, 'config.yml'), 'claude:\n  api_key: "${MY_KEY}"\nredis:\n  key_prefix: "${PREFIX:-fallback}"\n');
    const { config } = loadConfig({ cwd, env: { MY_KEY: 'sk-ant-x' } });
    expect(config.claude.api_key).toBe('sk-ant-x');
    expect(config.redis.key_prefix).toBe('fallback');
    expect(() => loadConfig({ cwd, env: {} })).toThrow(/claude\.api_key uses \$\{MY_KEY\} but MY_KEY is not set/);
  });

  it('CONFIG_FILE is used, and a missing one is the error docs/troubleshooting.ko.md shows', () => {
    const cwd = dir();
    writeFileSync(path.join(cwd, 'prod.yml'), 'environment: production\n');
    expect(loadConfig({ cwd, env: { CONFIG_FILE: 'prod.yml' } }).config.environment).toBe('production');
    expect(() => loadConfig({ cwd, env: { CONFIG_FILE: 'nope.yml' } })).toThrow(ConfigError);
    expect(() => loadConfig({ cwd, env: { CONFIG_FILE: 'nope.yml' } })).toThrow('failed to load configuration: config file not found: nope.yml');
  });

  it('durations accept the forms docs/troubleshooting.ko.md uses', () => {
    expect(parseDurationMs('60s')).toBe(60_000);
    expect(parseDurationMs('1h30m')).toBe(5_400_000);
    expect(parseDurationMs('250ms')).toBe(250);
    expect(parseDurationMs(5)).toBe(5000);
    expect(parseDurationMs('soon')).toBeNull();
    const cwd = dir();
    writeFileSync(path.join(cwd, 'config.yml'), 'server:\n  read_timeout: soon\n');
    expect(() => loadConfig({ cwd, env: {} })).toThrow(/server\.read_timeout: invalid duration "soon"/);
  });

  it('database keys build a URL when database.url is not set', async () => {
    const { databaseUrl } = await import('../../src/config/index.js');
    const cfg = configSchema.parse({ database: { host: 'db', port: 6543, user: 'aicli_user', password: 'p@ss', database: 'aicli', ssl_mode: 'require' } });
    expect(databaseUrl(cfg.database)).toBe('postgres://aicli_user:p%40ss@db:6543/aicli?sslmode=require');
  });

  it('claude.version is refused with the fix: the CLI version is the one package-lock.json pins', () => {
    const cwd = dir();
    writeFileSync(path.join(cwd, 'config.yml'), 'claude:\n  version: 2.1.332\n');
    expect(() => loadConfig({ cwd, env: {} })).toThrow(ConfigError);
    expect(() => loadConfig({ cwd, env: {} })).toThrow(/claude\.version: was removed: .*package-lock\.json.*delete the key/);
    expect(() => loadConfig({ cwd: dir(), env: { AICLI__CLAUDE__VERSION: '2.1.332' } })).toThrow(/claude\.version: was removed/);
    expect(loadConfig({ cwd: dir(), env: {} }).config.claude.model).toBe('claude-sonnet-4-5');
  });
});
