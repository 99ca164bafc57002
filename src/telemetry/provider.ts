// Installs the process's MeterProvider: resource (service.name/version), the Prometheus reader
// that /metrics renders from, and the instruments bound to it. Metrics are per process, so this
// happens once; later calls (several services in one test process) share it.
import { resourceFromAttributes, detectResources, envDetector } from '@opentelemetry/resources';
import { MeterProvider, type ViewOptions } from '@opentelemetry/sdk-metrics';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { Exposition } from './exposition.ts';
import { bindInstruments, instruments } from './instruments.ts';
import { RUNTIME_VIEWS } from './runtime.ts';
import { taskMonitor } from './task-monitor.ts';

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

export interface Telemetry {
  readonly meterProvider: MeterProvider;
  /** Prometheus text exposition; one family per metric name. */
  render(): Promise<string>;
}

let installed: Telemetry | null = null;

export function installTelemetry(options: TelemetryOptions): Telemetry {
  if (installed) return installed;
  const exposition = new Exposition();
  // OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES, when set, override the defaults.
  const resource = resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName, [ATTR_SERVICE_VERSION]: options.serviceVersion }).merge(
    detectResources({ detectors: [envDetector] }),
  );
  const meterProvider = new MeterProvider({ resource, readers: [exposition.reader], views: [...RUNTIME_VIEWS, ...(options.views ?? [])] });
  bindInstruments(meterProvider);
  const { taskPanics, modelFailures } = instruments();
  for (const task of options.tasks ?? []) {
    taskPanics.add(0, { task });
    taskMonitor(task);
  }
  modelFailures.add(0);
  installed = { meterProvider, render: () => exposition.render() };
  return installed;
}
