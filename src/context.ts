// What one running service gives every part of it: its telemetry (instruments, task monitors,
// panics, backlog) and the task wrapper that reports into it. Built once in startService and passed
// down; `noopContext()` is the same for unit tests and single-stage benchmarks, counting nowhere.
import { Tasks, TASK_NAMES } from './task.ts';
import { noopTelemetry, type Telemetry } from './telemetry/telemetry.ts';

export interface ServiceContext {
  readonly telemetry: Telemetry;
  readonly tasks: Tasks;
}

export function serviceContext(telemetry: Telemetry): ServiceContext {
  return { telemetry, tasks: new Tasks(telemetry) };
}

export function noopContext(): ServiceContext {
  return serviceContext(noopTelemetry(TASK_NAMES));
}
