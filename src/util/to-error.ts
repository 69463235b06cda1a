/** Anything thrown, as an Error: an Error as it is, anything else wrapped with the original kept as `cause`. */
export function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value), { cause: value });
}
