/**
 * Named points where a test can kill the process outright, to prove that what a crash there leaves
 * behind is recovered: `AICLI_CRASH_AT=<name>` SIGKILLs the process when it reaches that point. Without
 * the variable it does nothing.
 */
export function crashPoint(name: string): void {
  if (process.env.AICLI_CRASH_AT === name) process.kill(process.pid, 'SIGKILL');
}
