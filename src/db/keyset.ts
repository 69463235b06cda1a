/**
 * A row's created_at as ISO text with all six fractional digits, for keyset cursors. A JavaScript Date keeps
 * milliseconds only: a cursor made from one lands before the rows created later in the same millisecond,
 * so a descending page after it skipped them and an ascending sweep could stall on them.
 */
export const CURSOR_CREATED_AT = `to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor_created_at`;

/**
 * The position of a keyset page: the last row's created_at (as CURSOR_CREATED_AT gives it) and id. Its
 * createdAt goes into SQL as `${createdAt}::text::timestamptz`: a parameter that the statement types as
 * timestamptz is sent by the driver through a Date, which drops the microseconds again.
 */
export interface KeysetPosition {
  createdAt: string;
  id: string;
}
