import { z } from 'zod';
import { duration } from '../duration.js';

// `cache` (the guide's "memory reduction" FAQ): bounds for every in-process cache together, on top of each
// cache's own settings (auth.cache). max_size is the memory they may hold between them, ttl the longest
// any entry is believed.

const UNITS: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };

/** "100MB", "512KB", "1GB", "2048B", or a plain number of MB (as logging.max_size counts). */
export function parseSizeBytes(value: string | number): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 ? Math.round(value * UNITS.MB!) : null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB)?\s*$/i.exec(value);
  if (!m) return null;
  const bytes = Math.round(Number(m[1]) * UNITS[(m[2] ?? 'MB').toUpperCase()]!);
  return bytes > 0 ? bytes : null;
}

const size = (fallback: string) =>
  z
    .union([z.string(), z.number()])
    .default(fallback)
    .transform((value, ctx) => {
      const bytes = parseSizeBytes(value);
      if (bytes === null) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `invalid size "${value}" (use e.g. 100MB, 512KB, 1GB)` });
        return z.NEVER;
      }
      return bytes;
    });

export const cacheSection = z
  .object({
    /** Bytes the in-process caches may hold together (estimated per entry); the oldest entries go first past it. */
    max_size: size('64MB'),
    /** The longest any cached entry is believed, whatever a cache's own ttl says. */
    ttl: duration('1h'),
  })
  .strict()
  .default({});

export type CacheConfig = z.output<typeof cacheSection>;
