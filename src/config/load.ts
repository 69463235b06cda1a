import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import type { ZodIssue } from 'zod';
import { ConfigError } from './errors.js';
import { configSchema, type Config } from './schema.js';

export const CONFIG_SEARCH_PATHS = ['./config.yml', './configs/config.yml', '/etc/aicli/config.yml'];

/** Environment variables docs/troubleshooting.ko.md documents, each mapped to its config key. */
const ENV_KEYS: Record<string, string> = {
  PORT: 'server.port',
  HOST: 'server.host',
  DATABASE_URL: 'database.url',
  REDIS_URL: 'redis.url',
  JWT_SECRET_KEY: 'auth.jwt.secret_key',
  ANTHROPIC_API_KEY: 'claude.api_key',
  ANTHROPIC_BASE_URL: 'claude.upstream_base_url',
  LOG_LEVEL: 'logging.level',
  LOG_FORMAT: 'logging.format',
  ENVIRONMENT: 'environment',
};

/** Any key can also be set as AICLI__SECTION__KEY (e.g. AICLI__QUEUE__NAME=tasks-eu). */
const GENERIC_PREFIX = 'AICLI__';

export interface LoadOptions {
  /** --config flag value. */
  configPath?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface LoadedConfig {
  config: Config;
  /** The file that was read, or null when running on defaults and env only. */
  source: string | null;
}

export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const source = locateConfigFile(opts.configPath ?? env.CONFIG_FILE, cwd);
  const raw = source ? readYaml(source) : {};
  const interpolated = interpolate(raw, env, source ?? 'config');
  applyEnvOverrides(interpolated as Record<string, unknown>, env);
  const parsed = configSchema.safeParse(interpolated);
  if (!parsed.success) {
    const where = source ? `${source}: ` : '';
    throw new ConfigError(`failed to load configuration: ${where}${describeIssue(parsed.error.issues[0])}`);
  }
  return { config: parsed.data, source };
}

function locateConfigFile(named: string | undefined, cwd: string): string | null {
  if (named) {
    const resolved = path.resolve(cwd, named);
    if (!existsSync(resolved)) throw new ConfigError(`failed to load configuration: config file not found: ${named}`);
    return resolved;
  }
  for (const candidate of CONFIG_SEARCH_PATHS) {
    const resolved = path.resolve(cwd, candidate);
    if (existsSync(resolved)) return resolved;
  }
  return null;
}

function readYaml(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint = code === 'EACCES' ? ' (permission denied: chmod 644 the file)' : '';
    throw new ConfigError(`failed to load configuration: cannot read ${file}${hint}`, { cause: err });
  }
  const doc = parseDocument(text, { prettyErrors: true });
  const first = doc.errors[0];
  if (first) {
    const pos = first.linePos?.[0];
    const at = pos ? ` at line ${pos.line}, column ${pos.col}` : '';
    const reason = first.message.split('\n')[0];
    throw new ConfigError(`failed to load configuration: ${file}: YAML syntax error${at}: ${reason}`);
  }
  const value: unknown = doc.toJS() ?? {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`failed to load configuration: ${file}: the top level must be a mapping of sections`);
  }
  return value;
}

/** Replaces ${VAR} and ${VAR:-fallback} inside string values (never inside keys). */
function interpolate(value: unknown, env: NodeJS.ProcessEnv, file: string, keyPath = ''): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, fallback?: string) => {
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      throw new ConfigError(
        `failed to load configuration: ${file}: ${keyPath} uses \${${name}} but ${name} is not set: export it or write \${${name}:-default}`,
      );
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, file, `${keyPath}[${i}]`));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, env, file, keyPath ? `${keyPath}.${k}` : k);
    return out;
  }
  return value;
}

function applyEnvOverrides(target: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  for (const [name, key] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value !== undefined && value !== '') setPath(target, key.split('.'), value);
  }
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(GENERIC_PREFIX) || value === undefined) continue;
    const keys = name.slice(GENERIC_PREFIX.length).toLowerCase().split('__').filter(Boolean);
    if (keys.length > 0) setPath(target, keys, value);
  }
}

function setPath(target: Record<string, unknown>, keys: string[], value: unknown): void {
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (!next || typeof next !== 'object') node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1] as string] = value;
}

function describeIssue(issue: ZodIssue | undefined): string {
  if (!issue) return 'invalid configuration';
  const key = issue.path.join('.') || '(root)';
  if (issue.code === 'unrecognized_keys') {
    const prefix = issue.path.length ? `${issue.path.join('.')}.` : '';
    return `unknown key ${issue.keys.map((k) => prefix + k).join(', ')}: remove it or check its spelling against configs/config.example.yml`;
  }
  return `${key}: ${issue.message}`;
}
