import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, chown, link, mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type Dockerode from 'dockerode';
import type { Logger } from 'pino';
import { newTaskToken } from '../gateway/sessions.js';
import { createBaseline } from '../workspace/diff.js';
import { makeWorkspaceDirs, workspaceLayout } from '../workspace/prepare.js';
import type { PreparedWorkspace } from '../workspace/prepared-workspace.js';
import type { HardenedSpec } from './hardening.js';
import { encodeHandOff } from './pool-handoff.js';
import type { IdleSandbox, RunningSandbox, SandboxRunner } from './runner.js';
import { run } from './scratch-mounts.js';
import { acquireScratch, type ScratchArea, type ScratchMode } from './scratch-quota.js';

// A worker's warm sandboxes. Each slot is a started container with the full hardening, a fresh capped
// scratch (its workspace dirs empty and root-owned, so the agent could not write them even if it ran) and
// a root-owned run dir mounted read-only at /run/aicli: the gateway socket, the FIFO `go` and, at claim,
// the hand-off file `task`. The container's entrypoint blocks on the FIFO and holds nothing of any tenant
// until the worker claims the slot for one attempt; the slot is released (container, scratch, run dir)
// after that attempt and never serves another.
//
// With `prestart`, the slot's `claude` is started too, before any task is known (its start-up is most of a
// sandbox's start): with the pool's fixed options, a placeholder gateway token the gateway refuses until a
// claim binds it, and its stdin the FIFO `in`, whose write end only this worker holds. A task those options
// serve is handed over as one stream-json user message on that FIFO; any other is exec'd as without it.

export type PoolLimits = { memoryMb: number; cpus: number; pids: number };

/** The hardening every pool container starts with: the cold path's, minus what only a task has. */
export type PoolBaseSpec = Omit<HardenedSpec, 'env' | 'cmd' | 'gatewaySocketPath' | 'egressSocketPath' | 'runDir' | 'workspaceDir' | 'claudeConfigDir'>;

/** The CLI a warm sandbox starts before its task: its command and, for the slot's token, its environment. */
export interface PoolPrestart {
  cmd: string[];
  env: (token: string) => Record<string, string>;
}

/** A slot's started CLI. */
export interface StartedCli {
  /** The placeholder token in its environment; the claim binds it to the task's gateway session. */
  readonly token: string;
  readonly cmd: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

const SANDBOX_UID = 1000;

export interface SandboxPoolOptions {
  docker: Dockerode;
  runner: SandboxRunner;
  /** Containers kept warm; 0 disables the pool. */
  size: number;
  base: PoolBaseSpec;
  scratch: { parentDir: string; sizeMb: number; mode: ScratchMode; imageDir: string };
  /** This worker's dir of slot run dirs (root-owned); on the gateway socket's filesystem (the socket is hard-linked in). */
  runRoot: string;
  gatewaySocketPath: string;
  logger: Pick<Logger, 'debug' | 'info' | 'warn'>;
  /** Called whenever the number of idle slots changes. */
  onChange?: (size: number, idle: number) => void;
  /** After a failed refill the pool waits this long before trying again (doubling up to 30 s). */
  retryDelayMs?: number;
  /**
   * Whether the worker runs an attempt now. While one runs and a warm sandbox is still idle, refilling waits
   * (a container start takes CPU from the running agent); call refill() when the worker goes idle.
   */
  isBusy?: () => boolean;
  /** Start the CLI in each warm sandbox before its task (see above); absent: the entrypoint execs it at claim. */
  prestart?: PoolPrestart;
}

interface HandOffBase {
  taskId: string;
  attempt: number;
  limits: PoolLimits;
  logFields: Record<string, unknown>;
}

/** The entrypoint execs `cmd` with `env` (a started CLI is killed first). */
export interface ExecHandOff extends HandOffBase {
  env: Record<string, string>;
  cmd: string[];
}

/** The slot's started CLI runs the task: `stdinLine` (the prompt as a stream-json message) is its whole stdin. */
export interface PromptHandOff extends HandOffBase {
  stdinLine: string;
}

export type HandOff = ExecHandOff | PromptHandOff;

/** What the entrypoint reads as "keep the started CLI". */
const KEEP_STARTED_CLI = ['--prestarted'];

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** How long a hand-off waits for a just-started entrypoint to read its FIFO. */
const GO_OPEN_WAIT_MS = 3000;

export class PoolSlot {
  #handedOff = false;
  #released: Promise<void> | undefined;
  /** The write end of the started CLI's stdin; closed at the hand-off (EOF after the prompt) or the release. */
  #stdin: FileHandle | null;

  constructor(
    readonly id: string,
    readonly scratch: ScratchArea,
    /** Empty until the claim prepares the task's workspace into it (prepareWorkspace inPlace). */
    readonly workspace: PreparedWorkspace,
    readonly runDir: string,
    readonly sandbox: IdleSandbox,
    readonly imageId: string,
    readonly limits: PoolLimits,
    /** The CLI started in it before its task; null: none (the hand-off execs one). */
    readonly cli: StartedCli | null,
    stdin: FileHandle | null,
    private readonly onReleased: (slot: PoolSlot) => void,
  ) {
    this.#stdin = stdin;
  }

  /**
   * Applies the task's limits, writes the hand-off and wakes the entrypoint, which execs the command.
   * Throws when the container is no longer waiting (the caller fails the attempt as a sandbox fault).
   */
  async handOff(h: HandOff): Promise<RunningSandbox> {
    if (this.#handedOff) throw new Error('a pool sandbox serves one attempt only');
    this.#handedOff = true;
    const t0 = performance.now();
    const prompt = 'stdinLine' in h;
    if (prompt && !this.#stdin) throw new Error('this warm sandbox has no started CLI to hand a prompt to');
    const env = prompt ? {} : h.env;
    const cmd = prompt ? KEEP_STARTED_CLI : h.cmd;
    for (const key of Object.keys(env)) if (!ENV_NAME.test(key)) throw new TypeError(`sandbox hand-off: env name "${key}" is not a valid variable name`);
    if (cmd.length === 0) throw new TypeError('sandbox hand-off: cmd must not be empty');
    const l = h.limits;
    const sameLimits = l.memoryMb === this.limits.memoryMb && l.cpus === this.limits.cpus && l.pids === this.limits.pids;
    // The limits bind before the wake-up below: the command never runs under the pool's defaults.
    await Promise.all([sameLimits ? null : this.sandbox.updateLimits(l), this.sandbox.nameFor(h.taskId, h.attempt), this.#writeTask(env, cmd)]);
    const go = await this.#openGo();
    try {
      await go.write('\n');
    } finally {
      await go.close();
    }
    // The prompt, then EOF: the started CLI runs this one message and exits. (On an exec hand-off the
    // entrypoint kills it; closing is all that is left.)
    await this.#closeStdin(prompt ? h.stdinLine : null);
    const startMs = performance.now() - t0;
    return this.sandbox.claimed(Date.now(), startMs, h.logFields);
  }

  /**
   * The FIFO's write end. Non-blocking: ENXIO while no entrypoint reads it. A container just started may not
   * be reading yet (its gateway forward starts first, slowly on a loaded machine), so ENXIO is retried while
   * it runs, for a bounded time; an exited one fails at once (the caller starts the attempt cold).
   */
  async #openGo(): Promise<FileHandle> {
    const deadline = performance.now() + GO_OPEN_WAIT_MS;
    for (;;) {
      try {
        return await open(path.join(this.runDir, 'go'), constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENXIO' || this.sandbox.exitedNow || performance.now() > deadline) {
          throw new Error(`the warm sandbox is not waiting for a task (${code ?? String(err)})`, { cause: err });
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
  }

  async #closeStdin(line: string | null): Promise<void> {
    const stdin = this.#stdin;
    this.#stdin = null;
    if (!stdin) return;
    try {
      if (line !== null) await stdin.write(line);
    } finally {
      await stdin.close();
    }
  }

  async #writeTask(env: Record<string, string>, cmd: string[]): Promise<void> {
    // Written under a temporary name and renamed: the entrypoint sees the whole file or none. Only root
    // writes in the run dir, and the container sees it read-only.
    const tmp = path.join(this.runDir, `.task-${randomBytes(4).toString('hex')}`);
    const file = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    try {
      await file.writeFile(encodeHandOff(env, cmd));
    } finally {
      await file.close();
    }
    await rename(tmp, path.join(this.runDir, 'task'));
  }

  /** Removes the container, the scratch (with the workspace) and the run dir; idempotent. */
  release(): Promise<void> {
    this.#released ??= (async () => {
      try {
        await this.#closeStdin(null).catch(() => undefined);
        await this.sandbox.remove();
        await this.scratch.release();
        await rm(this.runDir, { recursive: true, force: true });
      } finally {
        this.onReleased(this);
      }
    })();
    return this.#released;
  }
}

export class SandboxPool {
  readonly size: number;
  readonly #o: SandboxPoolOptions;
  readonly #idle: PoolSlot[] = [];
  /** Every slot from its first acquisition to the end of its release: what the reaper must leave alone. */
  readonly #held = new Set<string>();
  readonly #releases = new Set<Promise<void>>();
  #creating = 0;
  #filling: Promise<void> | null = null;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelayMs: number;
  #imageId: string | null = null;
  #closed = false;

  constructor(o: SandboxPoolOptions) {
    this.#o = o;
    this.size = o.size;
    this.#retryDelayMs = o.retryDelayMs ?? 1000;
  }

  get idle(): number {
    return this.#idle.length;
  }

  /** Whether `holder` (a slot id, as in its labels and scratch name) belongs to this pool. */
  holds(holder: string): boolean {
    return this.#held.has(holder);
  }

  /** Starts filling in the background. */
  start(): void {
    this.#notify();
    this.refill();
  }

  /** A waiting slot for one attempt, or null when none is ready; a refill starts either way. */
  take(): PoolSlot | null {
    let slot: PoolSlot | undefined;
    while ((slot = this.#idle.shift())) {
      if (!slot.sandbox.exitedNow) break;
      this.#o.logger.warn({ slot_id: slot.id, container_id: slot.sandbox.id }, 'warm sandbox exited while idle; discarding it');
      this.#release(slot);
    }
    this.#notify();
    this.refill();
    return slot ?? null;
  }

  /** Tops the pool up to its size, one container at a time, in the background (see isBusy). */
  refill(): void {
    if (this.#closed || this.size === 0 || this.#filling || !this.#wantsSlot()) return;
    // `finally` runs after this assignment, even when #fill() has nothing to do.
    this.#filling = this.#fill().finally(() => {
      this.#filling = null;
    });
  }

  async #fill(): Promise<void> {
    try {
      while (this.#wantsSlot()) {
        this.#creating++;
        try {
          const slot = await this.#createSlot();
          if (this.#closed) this.#release(slot);
          else this.#idle.push(slot);
        } finally {
          this.#creating--;
        }
        this.#retryDelayMs = this.#o.retryDelayMs ?? 1000;
        this.#notify();
      }
    } catch (err) {
      this.#o.logger.warn({ err, retry_ms: this.#retryDelayMs }, 'starting a warm sandbox failed; tasks start cold until it works');
      clearTimeout(this.#retryTimer);
      this.#retryTimer = setTimeout(() => this.refill(), this.#retryDelayMs);
      this.#retryTimer.unref();
      this.#retryDelayMs = Math.min(this.#retryDelayMs * 2, 30_000);
    }
  }

  /** Below size, and not deferred: a refill waits while an attempt runs, unless no warm sandbox is left. */
  #wantsSlot(): boolean {
    if (this.#closed || this.#idle.length + this.#creating >= this.size) return false;
    return this.#idle.length === 0 || !(this.#o.isBusy?.() ?? false);
  }

  /**
   * Retires idle slots started from an older image (the tag was rebuilt) and refills from the new one.
   * Everything else a slot is made of comes from this worker's configuration, fixed for its lifetime.
   */
  async refresh(): Promise<void> {
    if (this.#closed || this.size === 0) return;
    const current = await this.#currentImageId();
    const stale = this.#idle.filter((s) => s.imageId !== current);
    if (stale.length === 0) return;
    this.#o.logger.info({ action: 'pool_recreated', count: stale.length }, 'sandbox image changed; replacing warm sandboxes');
    for (const slot of stale) {
      this.#idle.splice(this.#idle.indexOf(slot), 1);
      this.#release(slot);
    }
    this.#notify();
    this.refill();
  }

  /** Stops refilling and removes every idle slot; waits for the releases in flight (claimed slots included). */
  async drain(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    await this.#filling;
    for (const slot of this.#idle.splice(0)) this.#release(slot);
    this.#notify();
    while (this.#releases.size > 0) await Promise.allSettled([...this.#releases]);
  }

  async #currentImageId(): Promise<string> {
    const info = await this.#o.docker.getImage(this.#o.base.image).inspect();
    this.#imageId = info.Id;
    return info.Id;
  }

  async #createSlot(): Promise<PoolSlot> {
    const o = this.#o;
    const id = `pool_${randomBytes(6).toString('hex')}`;
    this.#held.add(id);
    const undo: Array<() => Promise<unknown>> = [];
    try {
      const imageId = this.#imageId ?? (await this.#currentImageId());
      const scratch = await acquireScratch({ ...o.scratch, name: `${id}-0` });
      undo.push(() => scratch.release());
      const workspace = workspaceLayout(path.join(scratch.dir, 'ws'));
      await makeWorkspaceDirs(workspace);
      // The empty workspace's git baseline, recorded now so an empty-source task does not wait for it.
      await createBaseline(workspace);
      const runDir = path.join(o.runRoot, id);
      undo.push(() => rm(runDir, { recursive: true, force: true }));
      await this.#makeRunRoot();
      await mkdir(runDir, { mode: 0o755 });
      await chmod(runDir, 0o755);
      // The worker's gateway socket under the name the entrypoint expects (a hard link: same socket).
      await link(o.gatewaySocketPath, path.join(runDir, 'gateway.sock'));
      await run('mkfifo', ['-m', '0644', path.join(runDir, 'go')]);
      const started = o.prestart ? await prepareStartedCli(o.prestart, runDir, workspace.claudeConfigDir) : null;
      if (started) undo.push(() => started.stdin.close());
      const limits = { memoryMb: o.base.memoryMb, cpus: o.base.cpus, pids: o.base.pids };
      const sandbox = await o.runner.startIdle({
        ...o.base,
        slotId: id,
        runDir,
        workspaceDir: workspace.workspaceDir,
        claudeConfigDir: workspace.claudeConfigDir,
      });
      o.logger.debug({ slot_id: id, container_id: sandbox.id, start_ms: sandbox.startMs }, 'warm sandbox started');
      return new PoolSlot(id, scratch, workspace, runDir, sandbox, imageId, limits, started?.cli ?? null, started?.stdin ?? null, (s) => this.#held.delete(s.id));
    } catch (err) {
      for (const step of undo.reverse()) await step().catch(() => undefined);
      this.#held.delete(id);
      throw err;
    }
  }

  /**
   * `<socket dir>/pool/<worker id>`, root-only (0700) like the scratch root: the hand-off holds a task's token
   * and prompt, and no other host user may reach it. The engine mounts a slot's dir without walking this path.
   */
  async #makeRunRoot(): Promise<void> {
    const root = this.#o.runRoot;
    await mkdir(root, { recursive: true, mode: 0o700 });
    for (const dir of [path.dirname(root), root]) await chmod(dir, 0o700);
  }

  #release(slot: PoolSlot): void {
    const p = slot.release().catch((err: unknown) => this.#o.logger.warn({ err, slot_id: slot.id }, 'releasing a warm sandbox failed; the reaper retries'));
    this.#releases.add(p);
    void p.finally(() => this.#releases.delete(p));
  }

  #notify(): void {
    this.#o.onChange?.(this.size, this.#idle.length);
  }
}

/**
 * The run dir's `prestart` file (the CLI's environment and command, in the hand-off encoding) and its stdin
 * FIFO `in`, opened here read-write so the container's open for reading never blocks and only this worker
 * can write it (root-owned 0644, in a dir the container sees read-only). The claude config dir goes to the
 * sandbox user now: the CLI writes its start-up state there (nothing of a tenant; the claim checks it).
 */
async function prepareStartedCli(prestart: PoolPrestart, runDir: string, claudeConfigDir: string): Promise<{ cli: StartedCli; stdin: FileHandle }> {
  const token = newTaskToken();
  const cli: StartedCli = { token, cmd: [...prestart.cmd], env: prestart.env(token) };
  const file = await open(path.join(runDir, 'prestart'), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    await file.writeFile(encodeHandOff({ ...cli.env }, [...cli.cmd]));
  } finally {
    await file.close();
  }
  await run('mkfifo', ['-m', '0644', path.join(runDir, 'in')]);
  const stdin = await open(path.join(runDir, 'in'), constants.O_RDWR | constants.O_NOFOLLOW);
  await chown(claudeConfigDir, SANDBOX_UID, SANDBOX_UID);
  return { cli, stdin };
}
