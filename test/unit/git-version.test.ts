import { describe, expect, it } from 'vitest';
import { checkHostGit, isSafeGitVersion, parseGitVersion } from '../../workers/workspace/git-version.js';

describe('the host git version gate', () => {
  it('reads the versions git prints', () => {
    expect(parseGitVersion('git version 2.39.5\n')).toEqual([2, 39, 5]);
    expect(parseGitVersion('git version 2.43.0.windows.1')).toEqual([2, 43, 0]);
    expect(parseGitVersion('git version 2.40')).toEqual([2, 40, 0]);
    expect(parseGitVersion('not git')).toBeNull();
  });

  it('refuses every git before 2.39.2', () => {
    for (const bad of [[2, 39, 1], [2, 38, 9], [1, 99, 99], [2, 0, 0]] as const) expect(isSafeGitVersion(bad), bad.join('.')).toBe(false);
    for (const good of [[2, 39, 2], [2, 39, 5], [2, 40, 0], [3, 0, 0]] as const) expect(isSafeGitVersion(good), good.join('.')).toBe(true);
  });

  it("accepts this host's git", async () => {
    expect(await checkHostGit()).toMatch(/^git version /);
  });
});
