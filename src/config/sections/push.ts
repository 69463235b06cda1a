import { z } from 'zod';
import { duration } from '../duration.js';

/** Branch push (src/domain/branch-push.ts): what a workspace's push target does not say itself. */
export const pushSection = z
  .object({
    /** The longest one push may take: fetching the source commit, building the commit and pushing it. */
    timeout: duration('2m'),
    /**
     * The most the binary files of one diff may inflate to. A binary patch is deflated: a few MB of diff
     * could otherwise fill the worker's disk when git writes its objects.
     */
    max_binary_bytes: z.coerce.number().int().min(0).default(256 * 1024 * 1024),
    /** Author and committer of pushed commits when the workspace names none. */
    author_name: z.string().min(1).max(200).default('AICode Manager'),
    author_email: z.string().min(1).max(200).default('aicli@localhost'),
  })
  .strict()
  .default({});
