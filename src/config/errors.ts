/** A configuration problem: its message is one line that names the cause and the fix. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
