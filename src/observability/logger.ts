import { pino, transport, destination, stdTimeFunctions, type Logger, type LoggerOptions } from 'pino';
import type { Config } from '../config/index.js';
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
  return openLogger(cfg, name).logger;
}

/**
 * The process logger, and its log file when logging.output is `file`: `file_path` is the live file,
 * rotated by size beside it (logging.max_size MB, max_backups, max_age days, compress), and reopened on
 * SIGHUP by whoever owns the signals (src/cli/lifecycle.ts).
 */
export function openLogger(cfg: Config, name: string): { logger: Logger; file: LogFile | null } {
  const format = cfg.logging.format ?? (cfg.environment === 'development' && process.stdout.isTTY ? 'pretty' : 'json');
  const options: LoggerOptions = {
    name,
    level: levelFor(cfg),
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
    timestamp: stdTimeFunctions.isoTime,
  };
  if (cfg.logging.output === 'file') {
    const file = new LogFile({
      filePath: cfg.logging.file_path,
      maxBytes: cfg.logging.max_size * 1024 * 1024,
      maxBackups: cfg.logging.max_backups,
      maxAgeDays: cfg.logging.max_age,
      compress: cfg.logging.compress,
      onError: (err) => process.stderr.write(`aicli: rotating ${cfg.logging.file_path} failed (${(err as Error).message}); still writing the live file\n`),
    });
    return { logger: pino(options, file), file };
  }
  if (format === 'pretty') {
    return { logger: pino(options, transport({ target: 'pino-pretty', options: { colorize: true, destination: 1 } })), file: null };
  }
  return { logger: pino(options, destination({ dest: 1, sync: true })), file: null };
}
