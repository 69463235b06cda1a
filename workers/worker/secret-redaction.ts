// Known secret values of an attempt (its MCP servers' env and header values) kept out of what the worker
// stores: the agent can read its MCP config (it runs as the CLI's user) and print it, and a server can echo
// what it was given. Every exact occurrence in an event, the stderr tail or the transcript becomes
// `[redacted]`. The diff is left as it is: a patch with a changed line no longer applies, and a file the
// agent writes is the user's work product.

export const REDACTED = '[redacted]';

/** Shorter values would match ordinary text; the API refuses none, so short ones are simply not redacted. */
const MIN_REDACTED_LENGTH = 8;

export interface Redactor {
  /** Plain text or JSON text (JSON lines) with every occurrence replaced. */
  text(value: string): string;
  /** A JSON-able record with every occurrence replaced, in its strings and keys alike; the same object when none. */
  record<T>(value: T): T;
}

export const NO_REDACTION: Redactor = { text: (v) => v, record: (v) => v };

export function createRedactor(secrets: readonly string[]): Redactor {
  // Longest first, so a value that contains another is replaced whole.
  const values = [...new Set(secrets)].filter((s) => s.length >= MIN_REDACTED_LENGTH).sort((a, b) => b.length - a.length);
  if (values.length === 0) return NO_REDACTION;
  // Inside JSON text a value appears escaped (quotes, backslashes, control characters).
  const escaped = values.map((v) => JSON.stringify(v).slice(1, -1));
  // Plain text (stderr) holds a value as is, JSON lines (the transcript) escaped: both forms are replaced.
  const forms = [...new Set([...values, ...escaped])].sort((a, b) => b.length - a.length);
  const text = (value: string): string => forms.reduce((out, form) => (out.includes(form) ? out.split(form).join(REDACTED) : out), value);
  return {
    text,
    record<T>(value: T): T {
      const json = JSON.stringify(value);
      if (json === undefined || !escaped.some((e) => json.includes(e))) return value;
      return JSON.parse(escaped.reduce((out, e) => out.split(e).join(REDACTED), json)) as T;
    },
  };
}
