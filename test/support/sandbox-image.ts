import { buildSandboxImage } from '../../workers/sandbox/build.js';

// Test files share one image per process: the first caller builds it when the
// tag (claude version + Dockerfile/entrypoint hash) is missing, later callers
// reuse it. The build log is only shown when the build fails.

let pending: Promise<string> | undefined;

export function ensureTestSandboxImage(): Promise<string> {
  pending ??= build();
  return pending;
}

async function build(): Promise<string> {
  const log: string[] = [];
  try {
    const { tag } = await buildSandboxImage({ log: (line) => log.push(line) });
    return tag;
  } catch (err) {
    pending = undefined;
    const tail = log.slice(-40).join('\n');
    throw new Error(`sandbox test image unavailable: ${err instanceof Error ? err.message : String(err)}\n--- build log tail ---\n${tail}`, { cause: err });
  }
}
