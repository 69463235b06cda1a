import { InvalidArgumentError, Option, type Command } from 'commander';
import { cancelTaskCommand, diffTaskCommand, followTaskCommand, getTaskCommand, listTasksCommand, pushTaskCommand, type ListFlags } from './commands/tasks.js';
import { createWorkspaceCommand, listWorkspacesCommand, setWorkspaceMcpCommand, type CreateWorkspaceFlags } from './commands/workspaces.js';
import { loginCommand, logoutCommand, type LoginFlags } from './commands/login.js';
import { submitCommand, type SubmitFlags } from './commands/submit.js';
import {
  createScheduleCommand,
  deleteScheduleCommand,
  getScheduleCommand,
  listSchedulesCommand,
  setScheduleEnabledCommand,
  type CreateScheduleFlags,
} from './commands/schedules.js';
import { clientContext, type ClientContext } from './context.js';
import { processIo, type ClientIo } from './io.js';
import { runClientCommand } from './run.js';
import type { ClientFlags } from './settings.js';
import { TASK_STATUSES } from '../../domain/task-status.js';

const EXIT_CODES_HELP = `
Exit codes with --follow:
  0  the task succeeded
  1  usage, connection or API error
  2  the task failed
  3  the task was cancelled or timed out
  130  interrupted (Ctrl-C stops following; the task goes on)`;


function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number of at least 1');
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a number above 0');
  return n;
}

const list = (value: string): string[] =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/**
 * The terminal client: `login`, `logout`, `submit`, `tasks list|get|follow|cancel|diff`, `workspaces
 * list|create|mcp`, `schedules list|get|create|pause|resume|delete`. `--server` and `--token` are program options, so they are accepted before or after the
 * subcommand.
 */
export function registerClientCommands(program: Command, io: ClientIo = processIo()): void {
  program
    .option('--server <url>', 'client commands: API server (else AICLI_SERVER, the saved login, http://127.0.0.1:8080)')
    .option('--token <token>', 'client commands: bearer token (else AICLI_TOKEN, the saved login)');

  const flagsOf = (cmd: Command): ClientFlags => {
    const o = cmd.optsWithGlobals<ClientFlags>();
    return { server: o.server, token: o.token };
  };
  const run = (body: () => Promise<number> | number) =>
    runClientCommand(io, body).then((code) => {
      process.exitCode = code;
    });
  const withContext = (cmd: Command, body: (ctx: ClientContext) => Promise<number>) => run(() => body(clientContext(flagsOf(cmd), io)));

  program
    .command('login')
    .description('log in to the API server and save the token (~/.config/aicli/credentials.json, mode 0600)')
    .option('--email <email>', 'account email (asked on a terminal when missing)')
    .option('--password-stdin', 'read the password from stdin')
    .option('--password <password>', 'the password (visible to other users in the process list: prefer --password-stdin)')
    .action((opts: LoginFlags, cmd: Command) => run(() => loginCommand(io, flagsOf(cmd), opts)));

  program
    .command('logout')
    .description('forget the saved login')
    .action(() => run(() => logoutCommand(io)));

  withTaskOptions(program
    .command('submit')
    .description('submit a task; with --follow, stream its output live and exit by its outcome')
    .argument('<prompt...>', 'what Claude Code should do (- reads it from stdin)')
    .requiredOption('-w, --workspace <id-or-name>', 'workspace id or name')
    .option('-f, --follow', 'stream the task until it ends; the exit code tells how it ended')
    .option('--json', 'print the task as JSON; with --follow, one JSON object per event'))
    .option('--resume-from <task-id>', 'continue the session and workspace of an earlier task')
    .option('--push', "push the work as a branch when the task succeeds (the workspace's push target)")
    .option('--no-push', "do not push, even if the workspace pushes by default")
    .addHelpText('after', EXIT_CODES_HELP)
    .action((words: string[], opts: SubmitFlags, cmd: Command) => withContext(cmd, (ctx) => submitCommand(ctx, words, opts)));

  const tasks = program.command('tasks').description('list, inspect, follow, cancel tasks');
  tasks
    .command('list')
    .description('your tasks, newest first')
    .addOption(new Option('--status <status>', 'only tasks in this status').choices([...TASK_STATUSES]))
    .option('-w, --workspace <id-or-name>', 'only tasks of this workspace')
    .option('--limit <n>', 'page size (1-100)', positiveInt, 20)
    .option('--cursor <cursor>', 'the page after this cursor (printed by the previous page)')
    .option('--json', 'print the API answer as JSON')
    .action((opts: ListFlags, cmd: Command) => withContext(cmd, (ctx) => listTasksCommand(ctx, opts)));
  tasks
    .command('get')
    .description('one task: status, error, cost, result text')
    .argument('<id>')
    .option('--json', 'print the API answer as JSON')
    .action((id: string, opts: { json?: boolean }, cmd: Command) => withContext(cmd, (ctx) => getTaskCommand(ctx, id, opts)));
  tasks
    .command('follow')
    .description('stream a task live until it ends (exit codes as submit --follow)')
    .argument('<id>')
    .option('--json', 'one JSON object per event')
    .addHelpText('after', EXIT_CODES_HELP)
    .action((id: string, opts: { json?: boolean }, cmd: Command) => withContext(cmd, (ctx) => followTaskCommand(ctx, id, opts)));
  tasks
    .command('cancel')
    .description('cancel a queued or running task')
    .argument('<id>')
    .option('--json', 'print the API answer as JSON')
    .action((id: string, opts: { json?: boolean }, cmd: Command) => withContext(cmd, (ctx) => cancelTaskCommand(ctx, id, opts)));
  tasks
    .command('push')
    .description("push a succeeded task's work as a branch again (after a push error), or for the first time")
    .argument('<id>')
    .option('--json', 'print the API answer as JSON')
    .action((id: string, opts: { json?: boolean }, cmd: Command) => withContext(cmd, (ctx) => pushTaskCommand(ctx, id, opts)));
  tasks
    .command('diff')
    .description("print the task's workspace change as a git patch")
    .argument('<id>')
    .action((id: string, _opts: unknown, cmd: Command) => withContext(cmd, (ctx) => diffTaskCommand(ctx, id)));

  const workspaces = program.command('workspaces').description('list and create workspaces, set their MCP servers');
  workspaces
    .command('list')
    .description('your workspaces')
    .option('--json', 'print the API answer as JSON')
    .action((opts: { json?: boolean }, cmd: Command) => withContext(cmd, (ctx) => listWorkspacesCommand(ctx, opts)));
  workspaces
    .command('create')
    .description('create a workspace (empty, or a git clone) and print its id')
    .argument('<name>')
    .option('--git <url>', 'clone this repository for each task')
    .option('--ref <ref>', 'branch, tag or commit of --git')
    .option('--mcp-servers <file>', 'JSON file with the MCP servers for its tasks (values are secrets: kept sealed, shown masked)')
    .option('--json', 'print the API answer as JSON')
    .action((name: string, opts: CreateWorkspaceFlags, cmd: Command) => withContext(cmd, (ctx) => createWorkspaceCommand(ctx, name, opts)));
  workspaces
    .command('mcp')
    .description("replace a workspace's MCP servers with those of a JSON file ([] removes them); tasks name their tools mcp__<server>__<tool>")
    .argument('<workspace>', 'workspace id or name')
    .argument('<file>', 'JSON file: [{"name": "echo", "type": "stdio", "command": "aicli-mcp-echo", "env": {...}}, ...]')
    .option('--json', 'print the API answer as JSON')
    .action((workspace: string, file: string, opts: { json?: boolean }, cmd: Command) => withContext(cmd, (ctx) => setWorkspaceMcpCommand(ctx, workspace, file, opts)));

  const schedules = program.command('schedules').description('tasks on a cron schedule: list, create, pause, resume, delete');
  schedules
    .command('list')
    .description('your schedules with their next run')
    .option('-w, --workspace <id-or-name>', 'only schedules of this workspace')
    .option('--json', 'print the API answer as JSON')
    .action((opts: { json?: boolean; workspace?: string }, cmd: Command) => withContext(cmd, (ctx) => listSchedulesCommand(ctx, opts)));
  schedules
    .command('get')
    .description('one schedule: next runs and the latest runs (a skipped run names the cap that refused it)')
    .argument('<id>')
    .option('--json', 'print the API answer as JSON')
    .action((id: string, opts: { json?: boolean }, cmd: Command) => withContext(cmd, (ctx) => getScheduleCommand(ctx, id, opts)));
  withTaskOptions(schedules
    .command('create')
    .description('submit a task at each fire time of a cron line; prints the schedule id')
    .argument('<prompt...>', 'what Claude Code should do each time (- reads it from stdin)')
    .requiredOption('-w, --workspace <id-or-name>', 'workspace id or name')
    .requiredOption('--cron <line>', 'cron line: 5 fields (minute hour day month weekday), or 6 with seconds first')
    .option('--timezone <tz>', 'IANA time zone the cron line is read in (default UTC)')
    .option('--name <name>', 'a name to recognise it by')
    .option('--paused', 'create it paused (resume it later)')
    .option('--json', 'print the schedule as JSON'))
    .action((words: string[], opts: CreateScheduleFlags, cmd: Command) => withContext(cmd, (ctx) => createScheduleCommand(ctx, words, opts)));
  for (const [name, enabled, what] of [
    ['pause', false, 'stop the ticks until resumed'],
    ['resume', true, 'start the ticks again'],
  ] as const) {
    schedules
      .command(name)
      .description(what)
      .argument('<id>')
      .option('--json', 'print the API answer as JSON')
      .action((id: string, opts: { json?: boolean }, cmd: Command) => withContext(cmd, (ctx) => setScheduleEnabledCommand(ctx, id, enabled, opts)));
  }
  schedules
    .command('delete')
    .description('delete a schedule (the tasks it made stay)')
    .argument('<id>')
    .action((id: string, _opts: unknown, cmd: Command) => withContext(cmd, (ctx) => deleteScheduleCommand(ctx, id)));
}

/** The options of a task's run, as `submit` and `schedules create` take them. */
function withTaskOptions(command: Command): Command {
  return command
    .option('--model <model>', 'model for claude')
    .option('--max-turns <n>', 'stop after this many turns', positiveInt)
    .option('--timeout <seconds>', 'task timeout in seconds (capped by the server)', positiveInt)
    .option('--max-budget-usd <usd>', 'stop when the model cost reaches this', positiveNumber)
    .addOption(new Option('--permission-mode <mode>', 'claude permission mode').choices(['default', 'acceptEdits', 'plan', 'bypassPermissions']))
    .option('--allowed-tools <list>', 'comma-separated tools claude may use', list)
    .option('--disallowed-tools <list>', 'comma-separated tools claude may not use', list)
    .option('--append-system-prompt <text>', 'appended to the system prompt');
}
