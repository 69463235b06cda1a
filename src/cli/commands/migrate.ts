import { migrationStatus, runMigrations } from '../../db/migrate.js';
import type { CommandContext } from '../context.js';
import { connectDatabase, migrationsDir } from '../context.js';

export async function migrateCommand(ctx: CommandContext, opts: { version?: string; force?: boolean; status?: boolean }): Promise<void> {
  const sql = await connectDatabase(ctx.config);
  try {
    if (opts.status) {
      const rows = await migrationStatus(sql, migrationsDir());
      for (const r of rows) {
        const state = r.dirty ? 'dirty' : r.applied ? 'applied' : 'pending';
        const at = r.appliedAt ? r.appliedAt.toISOString() : '';
        process.stdout.write(`${r.version}  ${r.name.padEnd(32)} ${state.padEnd(8)} ${at}\n`);
      }
      return;
    }
    const out = await runMigrations(sql, {
      dir: migrationsDir(),
      targetVersion: opts.version,
      force: opts.force,
      log: (m) => process.stdout.write(`${m}\n`),
    });
    const did = [...out.applied.map((v) => `applied ${v}`), ...out.reverted.map((v) => `reverted ${v}`)];
    process.stdout.write(`${did.length ? did.join(', ') : 'no change'}; schema at ${out.version ?? 'none'}\n`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}
