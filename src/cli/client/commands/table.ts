/**
 * Left-aligned columns separated by two spaces. The last column is cut to fit `width` when there is one
 * (a terminal), so a row never wraps.
 */
export function formatTable(header: string[], rows: string[][], width?: number): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const lines = all.map((row) => {
    const cells = row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)));
    let line = cells.join('  ');
    if (width && line.length > width) line = `${line.slice(0, Math.max(0, width - 1))}…`;
    return line.trimEnd();
  });
  return `${lines.join('\n')}\n`;
}

/** `2025-03-04 05:06:07Z` from an ISO time, or `-`. */
export function shortTime(iso: string | null | undefined): string {
  if (!iso) return '-';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}
