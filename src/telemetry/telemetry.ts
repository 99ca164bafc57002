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
import { PanicTracker } from './panics.ts';
import { RUNTIME_VIEWS } from './runtime.ts';
import { TaskMonitors } from './task-monitor.ts';
import { createZeroSeries, NO_LABELS, type KnownLabels } from './zero-series.ts';

export interface TelemetryOptions {
  serviceName: string;
  serviceVersion: string;
  views?: ViewOptions[];
  /**
   * Every label value the code can record (task names, routes, outcomes, codes): each series they
   * make exists from the start at 0, so that increase() sees the first event (zero-series.ts).
   */
  labels?: KnownLabels;
}

export class Telemetry {
  readonly metrics: Instruments;
  readonly monitors: TaskMonitors;
  readonly panics: PanicTracker;
  readonly backlog = new BacklogRegistry();
  /** Null when metrics are off. */
  readonly meterProvider: MeterProvider | null;
  private readonly exposition: Exposition | null;

  constructor(exporting: { provider: MeterProvider; exposition: Exposition } | null, labels: KnownLabels = NO_LABELS) {
    this.meterProvider = exporting?.provider ?? null;
    this.exposition = exporting?.exposition ?? null;
    this.monitors = new TaskMonitors(labels.tasks);
    this.metrics = createInstruments(this.meterProvider, { monitors: this.monitors, backlog: this.backlog });
    this.panics = new PanicTracker(this.metrics.taskPanics);
    createZeroSeries(this.metrics, labels);
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
  return new Telemetry({ provider, exposition }, options.labels);
}

/** Counts nothing anywhere (unit tests, benchmarks of one stage). */
export function noopTelemetry(tasks: readonly string[] = []): Telemetry {
  return new Telemetry(null, { ...NO_LABELS, tasks });
}
