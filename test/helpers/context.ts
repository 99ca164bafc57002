// A service context of its own for a unit test, exported like a service's, and a reader of its
// exposition: tests of one stage count only their own work, whatever ran before them.
import { serviceContext } from '../../src/context.ts';
import { KNOWN_LABELS } from '../../src/known-labels.ts';
import type { TaskName } from '../../src/task.ts';
import { createTelemetry } from '../../src/telemetry/telemetry.ts';
import { Exposition } from './prometheus.ts';

/** Jobs of a task so far, and how many of them ran on its worker pool. */
export interface TaskJobs {
  all: number;
  onWorker: number;
}

export function testContext() {
  const telemetry = createTelemetry({ serviceName: 'streamer', serviceVersion: 'test', labels: KNOWN_LABELS });
  const render = telemetry.render();
  if (!render) throw new Error('test telemetry exports nothing');
  const read = async () => new Exposition((await telemetry.render()) ?? '');
  return {
    telemetry,
    service: serviceContext(telemetry),
    /** The current exposition, parsed. */
    read,
    /**
     * Jobs of `task` (task_polls_total), and those that ran on a worker thread of its pool: a pool
     * job records its wait for a thread (task_scheduled_total), a job run on this thread does not.
     * Where work ran is a fact of the code, whatever the machine's load.
     */
    jobs: async (task: TaskName): Promise<TaskJobs> => {
      const e = await read();
      return { all: e.value('task_polls_total', { task }), onWorker: e.value('task_scheduled_total', { task }) };
    },
  };
}

/** `after − before`, field by field. */
export const jobsSince = (before: TaskJobs, after: TaskJobs): TaskJobs => ({ all: after.all - before.all, onWorker: after.onWorker - before.onWorker });

/**
 * `work`, and the CPU seconds this thread (the event loop's) used meanwhile: CPU time, not wall
 * time, so other load on the machine does not inflate it.
 */
export async function threadCpu<T>(work: () => Promise<T>): Promise<{ value: T; cpuSeconds: number }> {
  const before = process.threadCpuUsage();
  const value = await work();
  const used = process.threadCpuUsage(before);
  return { value, cpuSeconds: (used.user + used.system) / 1e6 };
}
