// The scratch directory of one attempt, as prepareWorkspace leaves it and the diff reads it.

export interface PreparedWorkspace {
  /** Scratch dir of this attempt (root-owned, 0700): `<scratchRoot>/<taskId>-<attempt>`. */
  root: string;
  /** `<root>/workspace`, owned by the sandbox user, bind-mounted at /workspace. */
  workspaceDir: string;
  /** `<root>/claude`, owned by the sandbox user, for CLAUDE_CONFIG_DIR. */
  claudeConfigDir: string;
  /** `<root>/baseline.git`, root-owned and never mounted: the starting point of the diff. */
  baselineGitDir: string;
  /** The commit the workspace was cloned at (`null` for an empty source); clone a follow-up at this sha. */
  sourceCommit: string | null;
}
