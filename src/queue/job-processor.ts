import { UnrecoverableError, type Job } from 'bullmq';
import type { ZodIssue } from 'zod';
import type { Config } from '../config/index.js';
import type { Logger } from '../observability/logger.js';
import { JOB_CATALOG, type JobData, type JobName } from './job-catalog.js';

/** The abort reason of a processing that ran past its catalog timeout. */
export const JOB_TIMEOUT_REASON = 'job_timeout';

export type CatalogJob<Name extends JobName> = Job<JobData<Name>, void, Name>;

export interface JobControl {
  /** Aborted with JOB_TIMEOUT_REASON once the processing has run for the job's timeout. */
  signal: AbortSignal;
}

export type JobHandler<Name extends JobName> = (job: CatalogJob<Name>, token: string | undefined, control: JobControl) => Promise<void>;

export interface CatalogProcessorOptions {
  config: Config;
  logger: Logger;
  /** Defaults to the catalog's timeout for the job under `config`. */
  timeoutMs?: number;
}

const describeIssue = (issue: ZodIssue | undefined): string => (issue ? `${issue.path.join('.') || '(data)'}: ${issue.message}` : 'invalid data');

/**
 * The BullMQ processor of a catalog job. Its data is parsed with the job's schema first: data that does not
 * parse (or a job of another name on this queue) would fail the same way on every attempt, so it is failed
 * at once as unrecoverable, with one log line, and the handler never runs. A processing that outlasts the
 * timeout has its AbortSignal aborted; the handler decides how to stop.
 */
export function catalogProcessor<Name extends JobName>(name: Name, o: CatalogProcessorOptions, handler: JobHandler<Name>) {
  const definition = JOB_CATALOG[name];
  const timeoutMs = o.timeoutMs ?? definition.timeoutMs(o.config);
  return async (job: Job, token?: string): Promise<void> => {
    const parsed = definition.data.safeParse(job.data);
    if (job.name !== name || !parsed.success) {
      // The data itself is not logged: it came from outside the catalog and may hold anything.
      const issue = parsed.success ? `job name is "${job.name}", this queue holds "${name}"` : describeIssue(parsed.error.issues[0]);
      o.logger.error({ action: 'job_refused', job_id: job.id, job_name: job.name, issue }, `job ${job.id ?? '?'} refused without running: ${issue}`);
      throw new UnrecoverableError(`job data is not a valid ${name}: ${issue}`);
    }
    job.data = parsed.data;
    const controller = new AbortController();
    const timer = setTimeout(() => {
      o.logger.warn({ action: 'job_timeout', job_id: job.id, job_name: name, timeout_ms: timeoutMs }, `job ${job.id ?? '?'} ran past its ${timeoutMs} ms timeout; aborting it`);
      controller.abort(JOB_TIMEOUT_REASON);
    }, timeoutMs);
    try {
      await handler(job as CatalogJob<Name>, token, { signal: controller.signal });
    } finally {
      clearTimeout(timer);
    }
  };
}
