import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Dockerode from 'dockerode';
import type { Logger } from 'pino';
import { DockerStreamDemuxer } from './demux.js';
import { isGoneOrStopped, toSandboxError } from './errors.js';
import { buildCreateOptions, buildPoolCreateOptions, type PoolSandboxSpec, type SandboxSpec } from './hardening.js';

export type { PoolSandboxSpec, SandboxSpec } from './hardening.js';

export type SandboxLogger = Pick<Logger, 'debug' | 'warn'>;

export interface SandboxExit {
  /** Container exit code; 128+N when killed by signal N (137 = SIGKILL, also after an OOM kill). */
  exitCode: number;
  /** The engine's State.OOMKilled, read after the exit. */
  oomKilled: boolean;
}

export interface RunningSandbox {
  id: string;
  /** Read both streams (or resume() the one you ignore): they apply backpressure like child_process. */
  stdout: Readable;
  stderr: Readable;
  /** Epoch ms at which the container was started. */
  startedAt: number;
  /** create + attach + start latency in ms. */
  startMs: number;
  /** Resolves once the container has exited and both output streams have ended. */
  wait(): Promise<SandboxExit>;
  /** Resolves once the container's process has exited (its last output may still be in transit); never rejects. */
  readonly exited: Promise<void>;
  /** SIGINT, then SIGKILL after graceMs; resolves once the container has exited. */
  stop(graceMs: number): Promise<void>;
  /** Force-removes the container; an already removed container is fine. */
  remove(): Promise<void>;
}

/** A started pool container, waiting for its hand-off; `exitedNow` tells a dead one from a waiting one. */
export interface IdleSandbox extends RunningSandbox {
  readonly exitedNow: boolean;
  /** Applies the task's limits to the running container (the engine's update). */
  updateLimits(limits: { memoryMb: number; cpus: number; pids: number }): Promise<void>;
  /** Renames it as a cold sandbox of that attempt is named (`docker ps` and the tests find it by name). */
  nameFor(taskId: string, attempt: number): Promise<void>;
  /** The same container as the task's sandbox, with its start time set to the hand-off. */
  claimed(startedAt: number, startMs: number, logFields: Record<string, unknown>): RunningSandbox;
}

const MIB = 1024 * 1024;

// After the exit, the attach stream normally ends within milliseconds; this
// bound only keeps a broken engine connection from hanging a worker slot.
const OUTPUT_DRAIN_MS = 10_000;

export class SandboxRunner {
  readonly #docker: Dockerode;
  readonly #logger: SandboxLogger | undefined;

  constructor(docker: Dockerode, opts: { logger?: SandboxLogger } = {}) {
    this.#docker = docker;
    this.#logger = opts.logger;
  }

  async start(spec: SandboxSpec): Promise<RunningSandbox> {
    // Every line about this sandbox names its task, in the log's one spelling.
    return this.#launch({ ...buildCreateOptions(spec), name: containerName(spec.taskId, spec.attempt) }, spec, { task_id: spec.taskId, attempt: spec.attempt });
  }

  /** Starts a warm pool container: the same hardening, the entrypoint waiting for its hand-off. */
  async startIdle(spec: PoolSandboxSpec): Promise<IdleSandbox> {
    return this.#launch({ ...buildPoolCreateOptions(spec), name: containerName(spec.slotId, 0) }, spec, { slot_id: spec.slotId });
  }

  async #launch(createOptions: Dockerode.ContainerCreateOptions, spec: { image: string; runtime?: string }, logFields: Record<string, unknown>): Promise<DockerSandbox> {
    const ctx = { image: spec.image, runtime: spec.runtime };
    const t0 = performance.now();

    let container: Dockerode.Container;
    try {
      container = await this.#docker.createContainer(createOptions);
    } catch (err) {
      throw toSandboxError(err, { ...ctx, phase: 'create' });
    }

    try {
      // Attach before start: anything the process prints at once is kept.
      const attached = (await container.attach({ stream: true, stdout: true, stderr: true })) as unknown as Readable;
      const demuxer = new DockerStreamDemuxer();
      const outputEnded = pipeline(attached, demuxer).catch((err: unknown) => {
        // A broken attach connection must still end the outputs so readers finish.
        demuxer.endOutputs();
        this.#logger?.warn({ ...logFields, container_id: container.id, err }, 'sandbox output stream broke');
      });
      await container.start();
      const startMs = performance.now() - t0;
      this.#logger?.debug({ ...logFields, container_id: container.id, start_ms: startMs }, 'sandbox started');
      return new DockerSandbox(container, demuxer, attached, outputEnded, Date.now(), startMs, this.#logger, logFields);
    } catch (err) {
      const mapped = toSandboxError(err, { ...ctx, phase: 'start' });
      await container.remove({ force: true }).catch((removeErr: unknown) => {
        this.#logger?.warn({ ...logFields, container_id: container.id, err: removeErr }, 'could not remove a sandbox that failed to start');
      });
      throw mapped;
    }
  }
}

class DockerSandbox implements IdleSandbox {
  readonly id: string;
  readonly stdout: Readable;
  readonly stderr: Readable;
  startedAt: number;
  startMs: number;
  readonly #container: Dockerode.Container;
  readonly #attached: Readable;
  readonly #outputEnded: Promise<void>;
  readonly #logger: SandboxLogger | undefined;
  #logFields: Record<string, unknown>;
  /** Resolves with the engine's wait() status code. */
  readonly #exited: Promise<number>;
  #exitedNow = false;
  #waiting: Promise<SandboxExit> | undefined;
  #stopping: Promise<void> | undefined;
  #removing: Promise<void> | undefined;

  constructor(
    container: Dockerode.Container,
    demuxer: DockerStreamDemuxer,
    attached: Readable,
    outputEnded: Promise<void>,
    startedAt: number,
    startMs: number,
    logger: SandboxLogger | undefined,
    logFields: Record<string, unknown>,
  ) {
    this.id = container.id;
    this.#container = container;
    this.stdout = demuxer.stdout;
    this.stderr = demuxer.stderr;
    this.#attached = attached;
    this.#outputEnded = outputEnded;
    this.startedAt = startedAt;
    this.startMs = startMs;
    this.#logger = logger;
    this.#logFields = logFields;
    // Waiting starts at once (condition "not-running" also answers for a
    // container that has already exited), so no exit can be missed.
    this.#exited = Promise.resolve(container.wait()).then((result: { StatusCode?: number }) => {
      this.#exitedNow = true;
      return result.StatusCode ?? -1;
    });
    this.#exited.catch(() => undefined);
  }

  get exitedNow(): boolean {
    return this.#exitedNow;
  }

  async updateLimits(limits: { memoryMb: number; cpus: number; pids: number }): Promise<void> {
    const memoryBytes = limits.memoryMb * MIB;
    try {
      // Memory and swap together, equal as at create (no swap on top); the engine orders the cgroup writes.
      await this.#container.update({ Memory: memoryBytes, MemorySwap: memoryBytes, NanoCpus: Math.round(limits.cpus * 1e9), PidsLimit: limits.pids });
    } catch (err) {
      throw toSandboxError(err, { phase: 'start' });
    }
  }

  async nameFor(taskId: string, attempt: number): Promise<void> {
    try {
      await this.#container.rename({ name: containerName(taskId, attempt) });
    } catch (err) {
      throw toSandboxError(err, { phase: 'start' });
    }
  }

  claimed(startedAt: number, startMs: number, logFields: Record<string, unknown>): RunningSandbox {
    // One container serves one attempt: from here on it is that attempt's sandbox.
    this.startedAt = startedAt;
    this.startMs = startMs;
    this.#logFields = { ...this.#logFields, ...logFields };
    return this;
  }

  get exited(): Promise<void> {
    return this.#exited.then(
      () => undefined,
      () => undefined,
    );
  }

  wait(): Promise<SandboxExit> {
    this.#waiting ??= this.#wait();
    return this.#waiting;
  }

  async #wait(): Promise<SandboxExit> {
    try {
      const statusCode = await this.#exited;
      const exit = await this.#inspectExit(statusCode);
      await this.#drainOutput();
      return exit;
    } catch (err) {
      throw toSandboxError(err, {});
    }
  }

  /** OOMKilled is only in inspect; a container removed meanwhile keeps the wait() status. */
  async #inspectExit(statusCode: number): Promise<SandboxExit> {
    try {
      const info = await this.#container.inspect();
      return { exitCode: info.State.ExitCode, oomKilled: info.State.OOMKilled };
    } catch (err) {
      if (!isGoneOrStopped(err)) throw err;
      return { exitCode: statusCode, oomKilled: false };
    }
  }

  async #drainOutput(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), OUTPUT_DRAIN_MS);
      timer.unref();
    });
    const drained = await Promise.race([this.#outputEnded.then(() => false), timedOut]);
    clearTimeout(timer);
    if (drained) {
      this.#logger?.warn({ ...this.#logFields, container_id: this.id }, 'sandbox output did not end after exit; closing it');
      this.#attached.destroy();
    }
  }

  stop(graceMs: number): Promise<void> {
    this.#stopping ??= this.#stop(graceMs);
    return this.#stopping;
  }

  async #stop(graceMs: number): Promise<void> {
    if (this.#exitedNow) return;
    if (!(await this.#signal('SIGINT'))) return;
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), graceMs);
      timer.unref();
    });
    const exitedInGrace = await Promise.race([this.#exited.then(() => true, () => true), graceOver.then(() => false)]);
    clearTimeout(timer);
    if (!exitedInGrace) {
      this.#logger?.debug({ ...this.#logFields, container_id: this.id, grace_ms: graceMs }, 'sandbox ignored SIGINT; sending SIGKILL');
      await this.#signal('SIGKILL');
    }
    await this.#exited.catch((err: unknown) => {
      throw toSandboxError(err, {});
    });
  }

  /** False when the container is no longer running (nothing left to signal). */
  async #signal(signal: 'SIGINT' | 'SIGKILL'): Promise<boolean> {
    try {
      await this.#container.kill({ signal });
      return true;
    } catch (err) {
      if (isGoneOrStopped(err)) return false;
      throw toSandboxError(err, {});
    }
  }

  remove(): Promise<void> {
    this.#removing ??= this.#remove();
    return this.#removing;
  }

  async #remove(): Promise<void> {
    // The engine closes the attach stream itself once the container is gone.
    try {
      await this.#container.remove({ force: true, v: true });
    } catch (err) {
      if (!isGoneOrStopped(err)) throw toSandboxError(err, {});
    }
  }
}

/** Readable in `docker ps`; the random suffix keeps a leftover from a crash from blocking the name. */
export function containerName(holder: string, attempt: number): string {
  const task = holder.replace(/[^a-zA-Z0-9_.-]/g, '-').slice(0, 48);
  return `aicli-${task}-a${attempt}-${randomBytes(3).toString('hex')}`;
}
