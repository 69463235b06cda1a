import { buildSandboxImage } from '../../../workers/sandbox/build.js';
import type { CommandContext } from '../context.js';

export async function sandboxBuildCommand(ctx: CommandContext, opts: { force?: boolean; tag?: string }): Promise<void> {
  const { tag, built } = await buildSandboxImage({
    tag: opts.tag ?? (ctx.config.sandbox.image || undefined),
    force: opts.force,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${built ? 'built' : 'up to date'}: ${tag}\n`);
}
