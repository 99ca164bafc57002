// Renders /metrics with the Prometheus exporter's own serializer. Instruments of the same name live
// in several meters (one per stage, for per-stage buckets); since exporter 0.300 the serializer
// writes them as one family (one HELP/TYPE block, each series keeping its own `le` set), so what it
// prints is served as is. Scope labels are off: the scope is an implementation detail, and
// `otel_scope_name` on every series would differ between the stage meters of one family.
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';

export class Exposition {
  // Only the reader's collect() is used (no server of its own); the serializer below renders.
  readonly reader = new PrometheusExporter({ preventServerStart: true });
  // (prefix, appendTimestamp, withResourceConstantLabels, withoutTargetInfo, withoutScopeInfo)
  private readonly serializer = new PrometheusSerializer(undefined, false, undefined, false, true);

  async render(): Promise<string> {
    const { resourceMetrics, errors } = await this.reader.collect();
    if (errors.length > 0) throw new AggregateError(errors, 'metric collection failed');
    return this.serializer.serialize(resourceMetrics);
  }
}
