import { describe, expect, it } from 'vitest';
import { describeFatal } from '../../src/cli/fatal.js';
import { UserFacingError } from '../../src/domain/errors.js';
import { FIX, SandboxError, toSandboxError } from '../../workers/sandbox/errors.js';

class PlainUserFacing extends UserFacingError {
  override readonly fix: string | undefined;
  constructor(message: string, fix?: string) {
    super(message);
    this.fix = fix;
  }
}

describe('describeFatal on errors written for the user', () => {
  it('shows a sandbox error as its one line, cause and fix, without "unexpected error"', () => {
    const err = toSandboxError(Object.assign(new Error('connect ENOENT /var/run/docker.sock'), { code: 'ENOENT', address: '/var/run/docker.sock' }));
    expect(err).toBeInstanceOf(SandboxError);
    expect(describeFatal(err)).toBe(`Docker engine unreachable at /var/run/docker.sock (ENOENT); fix: ${FIX.unreachable}`);
  });

  it('appends the fix only when the message does not already say it', () => {
    expect(describeFatal(new PlainUserFacing('the image is missing', 'run `aicli-web sandbox build`'))).toBe('the image is missing: run `aicli-web sandbox build`');
    expect(describeFatal(new PlainUserFacing('the image is missing'))).toBe('the image is missing');
  });

  it('keeps "unexpected error" for errors that were not written for the user', () => {
    expect(describeFatal(new Error('boom'))).toBe('unexpected error: boom');
  });
});
