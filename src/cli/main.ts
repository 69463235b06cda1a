import { Command } from 'commander';
import { registerClientCommands } from './client/index.js';
import { loadContext, runCommand } from './context.js';
import type { Role } from './commands/serve.js';

const program = new Command('aicli-web')
  .description('AICode Manager: run Claude Code tasks in hardened containers')
  .option('-c, --config <file>', 'config file (else CONFIG_FILE, ./config.yml, ./configs/config.yml, /etc/aicli/config.yml)')
  .showHelpAfterError();

const globals = () => program.opts<{ config?: string }>();
const serveAs = (role: Role) => () =>
  runCommand(async () => {
    const ctx = loadContext(globals(), `aicli-${role}`);
    // Server modules load only for server commands, so the terminal client starts fast.
    const { serve } = await import('./commands/serve.js');
    await serve(role, ctx.config, ctx.logs);
  });

program.command('up').description('migrate, then run the API and a worker in one process').action(serveAs('up'));
program.command('api', { isDefault: true }).description('run the HTTP API (the default)').action(serveAs('api'));
program.command('worker').description('run a task worker').action(serveAs('worker'));

program
  .command('migrate')
  .description('apply SQL migrations')
  .option('--version <v>', 'migrate up or down to this version')
  .option('--force', 'clear a dirty migration and retry it')
  .option('--status', 'list migrations and their state')
  .action((opts: { version?: string; force?: boolean; status?: boolean }) =>
    runCommand(async () => (await import('./commands/migrate.js')).migrateCommand(loadContext(globals(), 'aicli-migrate'), opts)),
  );

program
  .command('backup')
  .description('dump the database with pg_dump (plain SQL, no owners) into a new file')
  .option('-o, --output <file>', 'file to write (default: backup_YYYYMMDD.sql here); never overwritten')
  .action((opts: { output?: string }) =>
    runCommand(async () => (await import('./commands/backup.js')).backupCommand(loadContext(globals(), 'aicli-backup'), opts)),
  );

program
  .command('restore')
  .description('load a backup into an empty database with psql, in one transaction')
  .requiredOption('-i, --input <file>', 'the file aicli-web backup (or pg_dump) wrote')
  .action((opts: { input: string }) =>
    runCommand(async () => (await import('./commands/backup.js')).restoreCommand(loadContext(globals(), 'aicli-restore'), opts)),
  );

const users = program.command('users').description('manage users');
users
  .command('create')
  .requiredOption('--email <email>')
  .requiredOption('--password <password>')
  .option('--role <role>', 'admin, user or viewer', 'user')
  .action((opts: { email: string; password: string; role: string }) =>
    runCommand(async () => (await import('./commands/users.js')).createUserCommand(loadContext(globals(), 'aicli-users'), opts)),
  );

const sandbox = program.command('sandbox').description('sandbox image');
sandbox
  .command('build')
  .description('build the sandbox image (cached by tag)')
  .option('--force', 'rebuild even when the tag exists')
  .option('--tag <tag>', 'image tag (default: sandbox.image or the computed tag)')
  .action((opts: { force?: boolean; tag?: string }) =>
    runCommand(async () => (await import('./commands/sandbox.js')).sandboxBuildCommand(loadContext(globals(), 'aicli-sandbox'), opts)),
  );

registerClientCommands(program);

await program.parseAsync(process.argv);
