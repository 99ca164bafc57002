// The telemetry of one service: its MeterProvider (resource, the Prometheus reader /metrics renders
// from), every instrument, the task monitors, the panic tracker and the backlog registry. Built once
// per service in startService and passed down; nothing here is a process global, so two services
// in one process (tests) count separately. `noopTelemetry()` is the same without an exporter.
import { resourceFromAttributes, detectResources, envDetector } from '@opentelemetry/resources';
import { MeterProvider, type ViewOptions } from '@opentelemetry/sdk-metrics';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { BacklogRegistry } from './backlog.ts';
import { Exposition } from './exposition.ts';
import { createInstruments, type Instruments } from './instruments.ts';
import { ATTR } from './names.ts';
import { PanicTracker } from './panics.ts';
import { RUNTIME_VIEWS } from './runtime.ts';
import { TaskMonitors } from './task-monitor.ts';

export interface TelemetryOptions {
  serviceName: string;
  serviceVersion: string;
  views?: ViewOptions[];
  /**
   * Task names whose panic counters and task-monitor counters exist from the start at 0, so that
   * increase() sees the first event.
   */
  tasks?: readonly string[];
}

export class Telemetry {
  readonly metrics: Instruments;
  readonly monitors: TaskMonitors;
  readonly panics: PanicTracker;
  readonly backlog = new BacklogRegistry();
  /** Null when metrics are off. */
  readonly meterProvider: MeterProvider | null;
  private readonly exposition: Exposition | null;

  constructor(exporting: { provider: MeterProvider; exposition: Exposition } | null, tasks: readonly string[] = []) {
    this.meterProvider = exporting?.provider ?? null;
    this.exposition = exporting?.exposition ?? null;
    this.monitors = new TaskMonitors(tasks);
    this.metrics = createInstruments(this.meterProvider, { monitors: this.monitors, backlog: this.backlog });
    this.panics = new PanicTracker(this.metrics.taskPanics);
    for (const task of tasks) this.metrics.taskPanics.add(0, { [ATTR.task]: task });
    this.metrics.modelFailures.add(0);
  }

  /** Prometheus text exposition (one family per metric name), or null when metrics are off. */
  render(): Promise<string> | null {
    return this.exposition?.render() ?? null;
  }

  async shutdown(): Promise<void> {
    await this.meterProvider?.shutdown();
  }
}

/** Telemetry exported through /metrics. */
export function createTelemetry(options: TelemetryOptions): Telemetry {
  const exposition = new Exposition();
  // OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES, when set, override the defaults.
  const resource = resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName, [ATTR_SERVICE_VERSION]: options.serviceVersion }).merge(
    detectResources({ detectors: [envDetector] }),
  );
  const provider = new MeterProvider({ resource, readers: [exposition.reader], views: [...RUNTIME_VIEWS, ...(options.views ?? [])] });
  return new Telemetry({ provider, exposition }, options.tasks);
}

/** Counts nothing anywhere (unit tests, benchmarks of one stage). */
export function noopTelemetry(tasks: readonly string[] = []): Telemetry {
  return new Telemetry(null, tasks);
}
