import { SandboxError } from '../sandbox/errors.js';
import { runGit } from './git.js';

/**
 * The host applies patches and diffs trees that an agent wrote, as root. Before 2.39.2, `git apply` could
 * be made to write through a symlink the patch itself creates, outside the work tree (CVE-2023-23946), so
 * an older git is refused at worker start rather than trusted with a follow-up's patch.
 */
export const MIN_SAFE_GIT_VERSION: readonly [number, number, number] = [2, 39, 2];

export function parseGitVersion(text: string): [number, number, number] | null {
  const match = /^git version (\d+)\.(\d+)(?:\.(\d+))?/.exec(text.trim());
  if (!match) return null;
  return [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
}

export function isSafeGitVersion(version: readonly [number, number, number]): boolean {
  for (let i = 0; i < 3; i += 1) {
    const have = version[i] as number;
    const need = MIN_SAFE_GIT_VERSION[i] as number;
    if (have !== need) return have > need;
  }
  return true;
}

const REQUIRED = `git ${MIN_SAFE_GIT_VERSION.join('.')} or later is required on the worker host (older git apply writes through symlinks)`;

/** The host's git version text; throws a SandboxError naming the fix when git is missing or too old. */
export async function checkHostGit(): Promise<string> {
  const found = await runGit(['--version'], { cwd: '/', home: '/', timeoutMs: 10_000 }).catch((cause: unknown) => {
    throw new SandboxError('host_tool_unsafe', `${REQUIRED}; git could not be run`, 'install git (apt-get install -y git)', { cause });
  });
  const text = found.stdout.toString('utf8').trim();
  const version = parseGitVersion(text);
  if (version === null || !isSafeGitVersion(version)) {
    throw new SandboxError('host_tool_unsafe', `${REQUIRED}; found ${JSON.stringify(text.slice(0, 80))}`, 'upgrade git on the worker host');
  }
  return text;
}
