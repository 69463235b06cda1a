import path from 'node:path';
import { pino, transport, destination, stdTimeFunctions, type Logger, type LoggerOptions } from 'pino';
import { ConfigError, type Config } from '../config/index.js';
import { LogFile } from './log-file.js';

export type { Logger };

/** Fields that must never reach a log line, whatever object they arrive in. */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'token',
  '*.token',
  'access_token',
  '*.access_token',
  'refresh_token',
  '*.refresh_token',
  'api_key',
  '*.api_key',
  'apiKey',
  '*.apiKey',
  'prompt',
  '*.prompt',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'secret_key',
  '*.secret_key',
];

/** Level from config, else LOG_LEVEL (folded into config), else by environment as docs/troubleshooting.ko.md lists. */
function levelFor(cfg: Config): string {
  if (cfg.logging.level) return cfg.logging.level;
  switch (cfg.environment) {
    case 'production':
      return 'warn';
    case 'development':
      return 'debug';
    case 'test':
      return 'info';
    case 'staging':
      return 'info';
  }
}

export function createLogger(cfg: Config, name: string): Logger {
  return openLogs(cfg, name).logger;
}

/** The process's loggers and the files they write, which SIGHUP reopens (src/cli/lifecycle.ts). */
export interface ProcessLogs {
  logger: Logger;
  /** Where the API's request lines go (logging.access_file_path), or null: into `logger`. */
  access: Logger | null;
  files: LogFile[];
}

/**
 * The process logger, with its log file when logging.output is `file` (`file_path` is the live file,
 * rotated by size beside it: logging.max_size MB, max_backups, max_age days, compress), and the access log
 * when logging.access_file_path is set (the same rotation; every request line whatever the level).
 */
export function openLogs(cfg: Config, name: string): ProcessLogs {
  const format = cfg.logging.format ?? (cfg.environment === 'development' && process.stdout.isTTY ? 'pretty' : 'json');
  const options: LoggerOptions = {
    name,
    level: levelFor(cfg),
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
    timestamp: stdTimeFunctions.isoTime,
  };
  const files: LogFile[] = [];
  const fileAt = (filePath: string, key: string) => {
    const file = openLogFile(key, {
      filePath,
      maxBytes: cfg.logging.max_size * 1024 * 1024,
      maxBackups: cfg.logging.max_backups,
      maxAgeDays: cfg.logging.max_age,
      compress: cfg.logging.compress,
      onError: (err) => process.stderr.write(`aicli: rotating ${filePath} failed (${(err as Error).message}); still writing the live file\n`),
    });
    files.push(file);
    return file;
  };
  const access = cfg.logging.access_file_path ? pino({ ...options, level: 'info' }, fileAt(cfg.logging.access_file_path, 'logging.access_file_path')) : null;
  if (cfg.logging.output === 'file') return { logger: pino(options, fileAt(cfg.logging.file_path, 'logging.file_path')), access, files };
  if (format === 'pretty') {
    return { logger: pino(options, transport({ target: 'pino-pretty', options: { colorize: true, destination: 1 } })), access, files };
  }
  return { logger: pino(options, destination({ dest: 1, sync: true })), access, files };
}

/** A log file that cannot be opened is a one-line start-up error naming the directory's fix and the key. */
function openLogFile(key: string, opts: ConstructorParameters<typeof LogFile>[0]): LogFile {
  try {
    return new LogFile(opts);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EROFS' ? 'read-only file system' : (code ?? String(err));
    const dir = path.dirname(opts.filePath);
    throw new ConfigError(
      `cannot open the log file ${opts.filePath} (${why}): make ${dir} writable by this user (mkdir -p ${dir} && chown <user> ${dir}) or change ${key}`,
      { cause: err },
    );
  }
}
