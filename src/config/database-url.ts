import type { Config } from './schema.js';

/** database.url wins; otherwise the host/port/user/password/database/ssl_mode keys build one. */
export function databaseUrl(db: Config['database']): string {
  if (db.url) return db.url;
  const auth = db.password ? `${encodeURIComponent(db.user)}:${encodeURIComponent(db.password)}` : encodeURIComponent(db.user);
  const ssl = db.ssl_mode === 'disable' ? '' : `?sslmode=${db.ssl_mode}`;
  return `postgres://${auth}@${db.host}:${db.port}/${encodeURIComponent(db.database)}${ssl}`;
}
