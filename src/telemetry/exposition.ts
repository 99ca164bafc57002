// Renders /metrics. Instruments of the same name live in several meters (one per stage, for
// per-stage buckets); the exporter would print one HELP/TYPE block per meter, which promtool,
// strict parsers and the OTel spec reject (open-telemetry/opentelemetry-js#3467). So families are
// merged by name before serializing: one block per name, series told apart by their labels.
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import type { MetricData, ResourceMetrics, ScopeMetrics } from '@opentelemetry/sdk-metrics';

export class Exposition {
  readonly reader = new PrometheusExporter({ preventServerStart: true });
  private readonly serializer = new PrometheusSerializer(undefined, false, undefined, false, true);

  async render(): Promise<string> {
    const { resourceMetrics, errors } = await this.reader.collect();
    if (errors.length > 0) throw new AggregateError(errors, 'metric collection failed');
    return this.serializer.serialize(mergeFamilies(resourceMetrics));
  }
}

/** One scope holding every metric, same-named metrics merged into one (their data points joined). */
export function mergeFamilies(resourceMetrics: ResourceMetrics): ResourceMetrics {
  const byName = new Map<string, MetricData>();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      const seen = byName.get(metric.descriptor.name);
      if (!seen) {
        byName.set(metric.descriptor.name, { ...metric, dataPoints: [...metric.dataPoints] } as MetricData);
      } else {
        (seen.dataPoints as unknown[]).push(...metric.dataPoints);
      }
    }
  }
  const merged: ScopeMetrics = { scope: { name: 'streamer' }, metrics: [...byName.values()] };
  return { resource: resourceMetrics.resource, scopeMetrics: [merged] };
}
