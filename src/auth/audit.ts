import type { Sql } from '../db/client.js';
import { insertAudit, type AuditEntry } from '../db/audit.js';
import type { Logger } from '../observability/logger.js';

/**
 * The audit log (table audit_log): logins, refresh-token reuse, API key and role changes. A failed write
 * is logged and does not fail the request it describes; the log line carries the same facts.
 */
export class Audit {
  constructor(
    private readonly sql: Sql,
    private readonly logger: Logger,
  ) {}

  async record(entry: AuditEntry): Promise<void> {
    try {
      await insertAudit(this.sql, entry);
    } catch (err) {
      this.logger.error({ err, audit_action: entry.action, actor_id: entry.actorId }, 'could not write the audit log');
    }
  }
}
