/** The argument that names what a tool call does, for `Bash(ls -la)` style lines. */
const PRIMARY_ARG: Record<string, string[]> = {
  Bash: ['command'],
  Read: ['file_path'],
  Write: ['file_path'],
  Edit: ['file_path'],
  MultiEdit: ['file_path'],
  NotebookEdit: ['notebook_path'],
  Glob: ['pattern'],
  Grep: ['pattern'],
  LS: ['path'],
  WebFetch: ['url'],
  WebSearch: ['query'],
  Task: ['description'],
};

/** Collapses whitespace to single spaces and cuts to `max` characters with an ellipsis. */
export function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, Math.max(0, max - 1))}…` : flat;
}

/** `ls -la` for Bash, the path for file tools, else the first string argument or compact JSON. */
export function toolSummary(name: string, input: unknown, max = 100): string {
  const args = input && typeof input === 'object' ? (input as Record<string, unknown>) : {};
  if (name === 'TodoWrite' && Array.isArray(args.todos)) return `${args.todos.length} todos`;
  for (const key of PRIMARY_ARG[name] ?? []) {
    if (typeof args[key] === 'string') return oneLine(args[key], max);
  }
  const firstString = Object.values(args).find((v): v is string => typeof v === 'string');
  if (firstString !== undefined) return oneLine(firstString, max);
  const json = JSON.stringify(input ?? {});
  return oneLine(json === '{}' ? '' : json, max);
}

/** The first `maxLines` lines (each cut to `maxChars`) and how many lines were left out. */
export function abbreviate(text: string, maxLines: number, maxChars: number): { lines: string[]; omitted: number } {
  const all = text.replace(/\s+$/, '').split(/\r?\n/);
  if (all.length === 1 && all[0] === '') return { lines: [], omitted: 0 };
  const lines = all.slice(0, maxLines).map((l) => (l.length > maxChars ? `${l.slice(0, maxChars - 1)}…` : l));
  return { lines, omitted: all.length - lines.length };
}

export function formatCost(usd: number): string {
  return `$${usd < 1 ? usd.toFixed(4) : usd.toFixed(2)}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** `3 turns, $0.0123, 4.2 s` from whatever the result line carried. */
export function formatStats(s: { numTurns: number | null; costUsd: number | null; durationMs: number | null }): string {
  const parts: string[] = [];
  if (s.numTurns !== null) parts.push(`${s.numTurns} turn${s.numTurns === 1 ? '' : 's'}`);
  if (s.costUsd !== null) parts.push(formatCost(s.costUsd));
  if (s.durationMs !== null) parts.push(formatDuration(s.durationMs));
  return parts.join(', ');
}
