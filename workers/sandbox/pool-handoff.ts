// The hand-off a warm sandbox's entrypoint reads from /run/aicli/task (workers/sandbox/entrypoint.sh):
// NUL-terminated fields, first the number of environment entries, then each `NAME=value`, then the
// command and its arguments. NUL cannot occur in an argument or an environment value (execve ends them
// there), so a field that holds one is refused rather than split.

export function encodeHandOff(env: Record<string, string>, cmd: string[]): Buffer {
  const entries = Object.entries(env).map(([name, value]) => `${name}=${value}`);
  const fields = [String(entries.length), ...entries, ...cmd];
  for (const field of fields) if (field.includes('\0')) throw new TypeError('sandbox hand-off: an argument or environment value contains NUL');
  return Buffer.from(fields.map((f) => `${f}\0`).join(''), 'utf8');
}

/** The inverse, for tests and diagnostics. */
export function decodeHandOff(data: Buffer): { env: Record<string, string>; cmd: string[] } {
  const fields = data.toString('utf8').split('\0');
  fields.pop();
  const count = Number(fields.shift());
  const env: Record<string, string> = {};
  for (const entry of fields.splice(0, count)) {
    const eq = entry.indexOf('=');
    env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return { env, cmd: fields };
}
