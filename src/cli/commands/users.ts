import { z } from 'zod';
import { hashPassword } from '../../auth/password.js';
import { insertAudit } from '../../db/audit.js';
import { roleExists } from '../../db/roles.js';
import { insertUser } from '../../db/users.js';
import type { CommandContext } from '../context.js';
import { connectDatabase, requireCurrentSchema } from '../context.js';
import { StartupError } from '../fatal.js';
import { ROLE_NAME } from '../../config/fields.js';

const input = z.object({
  email: z.string().email('--email must be an email address'),
  password: z.string().min(8, '--password must have at least 8 characters'),
  role: z.string().regex(ROLE_NAME, '--role must be a role name such as admin, user or viewer'),
});

export async function createUserCommand(ctx: CommandContext, opts: { email?: string; password?: string; role?: string }): Promise<void> {
  const parsed = input.safeParse({ ...opts, role: opts.role ?? 'user' });
  if (!parsed.success) throw new StartupError(parsed.error.issues[0]?.message ?? 'invalid arguments');
  const sql = await connectDatabase(ctx.config);
  try {
    await requireCurrentSchema(sql);
    const { role } = parsed.data;
    // The built-in roles, those in rbac.roles, and those made through the admin API.
    if (!Object.hasOwn(ctx.config.rbac.roles, role) && !(await roleExists(sql, role))) {
      const known = Object.keys(ctx.config.rbac.roles).join(', ');
      throw new StartupError(`--role ${role} does not exist: use one of ${known}, or add it under rbac.roles`);
    }
    const user = await insertUser(sql, {
      email: parsed.data.email,
      passwordHash: await hashPassword(parsed.data.password),
      role,
    }).catch((err: { code?: string }) => {
      if (err.code === '23505') throw new StartupError(`a user with email ${parsed.data.email} already exists`);
      throw err;
    });
    await insertAudit(sql, { actorId: null, actorKind: 'cli', action: 'user_created', targetType: 'user', targetId: user.id, details: { email: user.email, role } });
    process.stdout.write(`${JSON.stringify({ id: user.id, email: user.email, role: user.role })}\n`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}
