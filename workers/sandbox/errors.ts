import type Dockerode from 'dockerode';
import { UserFacingError } from '../../src/domain/errors.js';

// One place that turns whatever dockerode throws (socket errors, HTTP errors
// from the engine) into a coded error whose message names the cause and the fix
// on one line, so the CLI and the task record never show a stack trace.

export type SandboxErrorCode =
  | 'docker_unreachable'
  | 'image_missing'
  | 'runtime_missing'
  | 'create_failed'
  | 'start_failed'
  | 'engine_error'
  | 'host_tool_unsafe';

export class SandboxError extends UserFacingError {
  override readonly name = 'SandboxError';
  readonly code: SandboxErrorCode;
  /** What the operator should do, also appended to `message`. */
  override readonly fix: string;

  constructor(code: SandboxErrorCode, cause: string, fix: string, options?: { cause?: unknown }) {
    super(`${oneLine(cause)}; fix: ${fix}`, options);
    this.code = code;
    this.fix = fix;
  }
}

export const FIX = {
  unreachable: 'start the Docker engine (dockerd) or run scripts/setup-host.sh',
  permission: 'add this user to the docker group (or run as root) so it can open the Docker socket',
  image: 'run `aicli-web sandbox build`',
  runtime: 'install the runtime and register it in /etc/docker/daemon.json, or remove the sandbox runtime setting',
  ociCreate: 'rebuild the image with `aicli-web sandbox build --force`, check free memory and disk (`free -h`, `docker system df`), SELinux/AppArmor policy and the sandbox limits the host must grant (sandbox.nofile at most /proc/sys/fs/nr_open)',
  engine: 'check the Docker engine logs (journalctl -u docker or the dockerd output)',
} as const;

export type SandboxPhase = 'create' | 'start' | 'engine';

export interface SandboxErrorContext {
  image?: string;
  runtime?: string;
  /** Which call failed; picks create_failed / start_failed for otherwise unknown errors. */
  phase?: SandboxPhase;
}

const SOCKET_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND']);

export function toSandboxError(err: unknown, ctx: SandboxErrorContext = {}): SandboxError {
  if (err instanceof SandboxError) return err;
  const e = describe(err);
  const image = ctx.image ?? 'the sandbox image';

  if (e.code === 'EACCES') {
    return new SandboxError('docker_unreachable', `permission denied opening the Docker socket${at(e.address)}`, FIX.permission, { cause: err });
  }
  if ((e.code && SOCKET_CODES.has(e.code)) || /socket hang up/i.test(e.message)) {
    return new SandboxError('docker_unreachable', `Docker engine unreachable${at(e.address)} (${e.code ?? e.message})`, FIX.unreachable, { cause: err });
  }
  if (/no such image/i.test(e.engineMessage) || (e.statusCode === 404 && /image/i.test(e.engineMessage))) {
    return new SandboxError('image_missing', `sandbox image ${image} not found`, FIX.image, { cause: err });
  }
  if (/unknown runtime/i.test(e.engineMessage)) {
    const runtime = ctx.runtime ? ` "${ctx.runtime}"` : '';
    return new SandboxError('runtime_missing', `container runtime${runtime} is not known to the Docker engine`, FIX.runtime, { cause: err });
  }
  if (/OCI runtime create failed|failed to create shim/i.test(e.engineMessage)) {
    return new SandboxError('start_failed', `container start failed: ${e.engineMessage}`, FIX.ociCreate, { cause: err });
  }
  switch (ctx.phase) {
    case 'create':
      return new SandboxError('create_failed', `container create failed: ${e.engineMessage}`, FIX.engine, { cause: err });
    case 'start':
      return new SandboxError('start_failed', `container start failed: ${e.engineMessage}`, FIX.engine, { cause: err });
    case 'engine':
    case undefined:
      return new SandboxError('engine_error', `Docker engine error: ${e.engineMessage}`, FIX.engine, { cause: err });
  }
}

/**
 * Fails with the matching SandboxError when the engine does not answer, the
 * image is absent or the configured runtime is unknown: workers call it at
 * start-up so they refuse work early instead of failing every task.
 */
export async function checkEngine(docker: Dockerode, image: string, opts: { runtime?: string } = {}): Promise<void> {
  const ctx: SandboxErrorContext = { image, runtime: opts.runtime, phase: 'engine' };
  try {
    await docker.ping();
    // inspect answers a bare 404 whose text always names the image.
    await docker.getImage(image).inspect();
    if (opts.runtime) {
      const info = (await docker.info()) as { Runtimes?: Record<string, unknown> };
      if (!info.Runtimes || !(opts.runtime in info.Runtimes)) {
        throw new SandboxError('runtime_missing', `container runtime "${opts.runtime}" is not known to the Docker engine`, FIX.runtime);
      }
    }
  } catch (err) {
    throw toSandboxError(err, ctx);
  }
}

/** True for the engine's "the container is already gone / not running" answers. */
export function isGoneOrStopped(err: unknown): boolean {
  const { statusCode, engineMessage } = describe(err);
  return statusCode === 404 || (statusCode === 409 && /not running|already in progress|is not paused/i.test(engineMessage)) ||
    /no such container|is not running/i.test(engineMessage);
}

interface ErrorFacts {
  message: string;
  /** The engine's own text (json.message) when present, else the error message. */
  engineMessage: string;
  code?: string;
  statusCode?: number;
  address?: string;
}

function describe(err: unknown): ErrorFacts {
  if (typeof err !== 'object' || err === null) return { message: String(err), engineMessage: String(err) };
  const rec = err as Record<string, unknown>;
  const message = typeof rec.message === 'string' ? rec.message : String(err);
  const json = rec.json as { message?: unknown } | undefined;
  const engineMessage = typeof json?.message === 'string' ? json.message : message;
  return {
    message,
    engineMessage: oneLine(engineMessage),
    code: typeof rec.code === 'string' ? rec.code : undefined,
    statusCode: typeof rec.statusCode === 'number' ? rec.statusCode : undefined,
    address: typeof rec.address === 'string' ? rec.address : undefined,
  };
}

function at(address: string | undefined): string {
  return address ? ` at ${address}` : '';
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
