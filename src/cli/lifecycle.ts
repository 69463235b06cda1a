/**
 * The one owner of process signal handlers. The first SIGTERM/SIGINT runs the shutdown once; a second
 * signal forces the exit. Exit codes follow 128 + signal number. SIGHUP reopens the log files.
 */
const SIGNAL_NUMBERS: Record<string, number> = { SIGINT: 2, SIGTERM: 15 };

export function onShutdown(shutdown: (signal: NodeJS.Signals) => Promise<void>, log: (msg: string) => void): void {
  let stopping: Promise<void> | null = null;
  const handler = (signal: NodeJS.Signals) => {
    const code = 128 + (SIGNAL_NUMBERS[signal] ?? 0);
    if (stopping) {
      log(`${signal} again: forcing exit`);
      process.exit(code);
    }
    log(`${signal}: shutting down`);
    stopping = shutdown(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        log(`shutdown failed: ${(err as Error).message}`);
        process.exit(code);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

/**
 * SIGHUP (`systemctl reload`, logrotate's postrotate) reopens the log file at its configured path. Node
 * would otherwise end the process on SIGHUP, so a server always handles it, with or without a file.
 */
export function onReload(reopen: (() => void) | null, log: (msg: string) => void): void {
  process.on('SIGHUP', () => {
    if (!reopen) return log('SIGHUP: logging goes to stdout, nothing to reopen');
    try {
      reopen();
      log('SIGHUP: log file reopened');
    } catch (err) {
      process.stderr.write(`aicli: reopening the log file failed (${(err as Error).message}); check logging.file_path and its directory's permissions\n`);
    }
  });
}
