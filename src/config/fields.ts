import { z } from 'zod';

// Field types shared by the config sections: values from env overrides and ${VAR} interpolation arrive
// as text, and these read them as the YAML would have said them.

/** Booleans as `true`/`false` or `1`/`0` text (AICLI__RATE_LIMIT__ENABLED=false). */
export const boolish = (fallback: boolean) =>
  z.preprocess((v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v), z.boolean().default(fallback));

/** Maps and lists as JSON text (AICLI__LIMITS__ROLES='{"user":{...}}'); anything else is left as it is. */
export function fromJsonText(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const text = v.trim();
  if (!text.startsWith('{') && !text.startsWith('[')) return v;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return v;
  }
}

/** A list from YAML, JSON text or comma-separated text. */
export const list = <T extends z.ZodTypeAny>(item: T) =>
  z.preprocess((v) => {
    const parsed = fromJsonText(v);
    if (typeof parsed !== 'string') return parsed;
    return parsed.split(',').map((s) => s.trim()).filter(Boolean);
  }, z.array(item));

/** Role names: in rbac.roles, limits.roles, the admin API and `aicli-web users create --role`. */
export const ROLE_NAME = /^[a-z][a-z0-9_-]{0,63}$/;
export const ROLE_NAME_MESSAGE = 'role names are lower-case letters, digits, _ and -';
