// The seeded database's shape, scaled by BENCH_SCALE (1 = the sizes the scale issue names).

export interface SeedShape {
  /** Finished tasks in all, the heavy user's and the pruner's slice included. */
  finishedTasks: number;
  heavyFinished: number;
  /** Finished tasks of the retired user (role `viewer`), the oldest history: what the pruner bench removes. */
  pruneFinished: number;
  /** Queued tasks of the heavy user (the backlog), also added as jobs to the queue. */
  heavyBacklog: number;
  otherUsers: number;
  workspacesPerOtherUser: number;
  heavyWorkspaces: number;
  /** Events of every finished task, and of the few tasks that carry many. */
  eventsPerTask: number;
  manyEventTasks: number;
  eventsPerManyEventTask: number;
  /**
   * How the many-event tasks' streams lie in the table, for both users alike: written by this many tasks
   * at once, each flushing this many events per batch (as the worker's event sink writes them).
   */
  concurrentStreams: number;
  eventsPerFlush: number;
}

export function seedShape(scale: number): SeedShape {
  if (!(scale > 0 && scale <= 1)) throw new Error(`BENCH_SCALE must be in (0, 1], got ${scale}`);
  const n = (full: number, min: number) => Math.max(min, Math.round(full * scale));
  return {
    finishedTasks: n(1_000_000, 1000),
    heavyFinished: n(300_000, 300),
    pruneFinished: n(100_000, 100),
    heavyBacklog: n(20_000, 200),
    otherUsers: n(2_000, 10),
    workspacesPerOtherUser: 2,
    heavyWorkspaces: 20,
    eventsPerTask: 10,
    manyEventTasks: n(100, 2),
    // 100 tasks of 2,000 events each: replays that read many rows, for both users.
    eventsPerManyEventTask: 2000,
    concurrentStreams: 16,
    eventsPerFlush: 5,
  };
}

/** Total task_events rows the shape seeds. */
export function seededEvents(s: SeedShape): number {
  return s.finishedTasks * s.eventsPerTask + s.manyEventTasks * (s.eventsPerManyEventTask - s.eventsPerTask);
}
