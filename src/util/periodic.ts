/**
 * Runs `round` now and then every `intervalMs`, never two rounds at once; the timer is unref'd, so it
 * never holds the process open. A round that throws is handed to `onError` and the next one runs as usual.
 */
export function startPeriodic(intervalMs: number, round: () => Promise<void>, onError: (err: unknown) => void): { stop(): void } {
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      await round();
    } catch (err) {
      onError(err);
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  void tick();
  return { stop: () => clearInterval(timer) };
}
