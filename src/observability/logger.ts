import { pino, transport, destination, stdTimeFunctions, type Logger, type LoggerOptions } from 'pino';
import type { Config } from '../config/index.js';

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
  const format = cfg.logging.format ?? (cfg.environment === 'development' && process.stdout.isTTY ? 'pretty' : 'json');
  const options: LoggerOptions = {
    name,
    level: levelFor(cfg),
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
    timestamp: stdTimeFunctions.isoTime,
  };
  if (cfg.logging.output === 'file') {
    return pino(
      options,
      transport({
        target: 'pino-roll',
        options: {
          file: cfg.logging.file_path,
          size: `${cfg.logging.max_size}m`,
          frequency: 'daily',
          mkdir: true,
          limit: { count: Math.max(1, cfg.logging.max_backups), removeOtherLogFiles: false },
        },
      }),
    );
  }
  if (format === 'pretty') {
    return pino(options, transport({ target: 'pino-pretty', options: { colorize: true, destination: 1 } }));
  }
  return pino(options, destination({ dest: 1, sync: true }));
}
