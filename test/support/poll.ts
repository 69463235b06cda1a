/**
 * Calls `probe` until it answers something other than undefined or the deadline passes; answers the last
 * value (undefined at the deadline). For checks that report instead of throw, such as `expect.soft`.
 */
export async function pollFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 200): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
