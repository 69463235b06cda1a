/**
 * The one owner of process signal handlers. The first SIGTERM/SIGINT runs the shutdown once; a second
 * signal forces the exit. Exit codes follow 128 + signal number.
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
