// Every series the service can export exists from start-up, at 0. The SDK creates a series on its
// first record, and a counter series that first appears at 1 hides that first event from rate() and
// increase(); an absent series also makes "no data" mean "nothing happened yet" as well as "not
// scraped". The label values come from the lists the code records them from, handed down by the
// service (src/known-labels.ts): telemetry imports nothing from the layers above it.
import type { Histogram } from '@opentelemetry/api';
import { FINAL_PHASES } from './final-phases.ts';
import type { Instruments } from './instruments.ts';
import { ATTR } from './names.ts';
import { STAGES } from './stages.ts';

/** What one route can report (see ROUTE_RESULTS in src/pipeline/stream-context.ts). */
export interface RouteResults {
  /** final_result_latency_seconds{endpoint}: what can end a final result. */
  readonly endpoints: readonly string[];
  /** Whether the route sends interim results (segments_total{final="false"}). */
  readonly interims: boolean;
}

/** Every label value the code can record, by label. */
export interface KnownLabels {
  /** task_panics_total{task} and the task monitors. */
  readonly tasks: readonly string[];
  /** The `route` label, and what each route reports. */
  readonly routes: Readonly<Record<string, RouteResults>>;
  /** streams_total{outcome}. */
  readonly streamOutcomes: readonly string[];
  /** protocol_errors_total{code}. */
  readonly protocolErrorCodes: readonly string[];
}

export const NO_LABELS: KnownLabels = { tasks: [], routes: {}, streamOutcomes: [], protocolErrorCodes: [] };

/**
 * An empty histogram series (count 0, every bucket 0). The API cannot create a series without a
 * measurement; the SDK's histogram aggregation drops NaN after the series is created
 * (test/telemetry/zero-series.test.ts checks that the count stays 0).
 */
function emptyHistogram(histogram: Histogram, attributes: Record<string, string> = {}): void {
  histogram.record(Number.NaN, attributes);
}

/** Creates every known series of `metrics` at 0 (no-op instruments: nothing). */
export function createZeroSeries(metrics: Instruments, labels: KnownLabels): void {
  for (const task of labels.tasks) metrics.taskPanics.add(0, { [ATTR.task]: task });
  for (const counter of [metrics.modelFailures, metrics.activeConnections, metrics.audioReceivedBytes, metrics.vadSpeechSeconds, metrics.deadPeers]) counter.add(0);
  for (const code of labels.protocolErrorCodes) metrics.protocolErrors.add(0, { [ATTR.code]: code });
  for (const [route, results] of Object.entries(labels.routes)) {
    const onRoute = { [ATTR.route]: route };
    for (const counter of [metrics.activeStreams, metrics.audioReceivedSeconds, metrics.inboundPauses, metrics.streamResumes]) counter.add(0, onRoute);
    for (const outcome of labels.streamOutcomes) metrics.streams.add(0, { ...onRoute, [ATTR.outcome]: outcome });
    for (const final of results.interims ? ['true', 'false'] : ['true']) metrics.segments.add(0, { ...onRoute, [ATTR.final]: final });
    emptyHistogram(metrics.timeToFirstResult, onRoute);
    for (const endpoint of results.endpoints) emptyHistogram(metrics.finalResultLatency, { ...onRoute, [ATTR.endpoint]: endpoint });
  }
  for (const phase of FINAL_PHASES) emptyHistogram(metrics.finalResultPhase, { [ATTR.phase]: phase });
  emptyHistogram(metrics.vadBatchSize);
  emptyHistogram(metrics.vadBatchWait);
  for (const stage of STAGES) {
    const h = metrics.stage[stage];
    for (const histogram of [h.rtf, h.processing, h.media]) emptyHistogram(histogram, { [ATTR.pipeline]: stage });
  }
}
