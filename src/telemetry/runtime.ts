// Process runtime metrics: heap, GC and event-loop time from @opentelemetry/instrumentation-runtime-node,
// plus our own cumulative event-loop delay histogram `eventloop_delay_seconds`.
//
// Everything exported here is safe with several scrapers reading /metrics (Prometheus and an OTel
// collector, two Prometheus replicas): every series is either cumulative or a point-in-time reading,
// and nothing changes because somebody collected.
//
// The library also registers instruments whose value is a window "since the previous collect":
//   - nodejs.eventloop.delay.{min,max,mean,stddev,p50,p90,p99}: monitorEventLoopDelay percentiles,
//     reset() inside the collect callback;
//   - nodejs.eventloop.utilization: utilization since the previous collect.
// With two scrapers each one sees only part of the window, and percentiles cannot be aggregated
// across instances anyway. The library has no option to switch single collectors off, so RUNTIME_VIEWS
// drop them with the SDK's DROP aggregation; the MeterProvider must be created with those views
// (createTelemetry does). Replacements:
//   - delay: `eventloop_delay_seconds` below (histogram_quantile over rate(..._bucket) works fleet-wide);
//   - utilization: rate(nodejs_eventloop_time_total{nodejs_eventloop_state="active"}[1m])
//       / ignoring(nodejs_eventloop_state) sum without(nodejs_eventloop_state)(rate(nodejs_eventloop_time_total[1m])).
//
// Imports nothing from the app.

import { performance } from 'node:perf_hooks';
import type { Meter, MeterProvider } from '@opentelemetry/api';
import { RuntimeNodeInstrumentation } from '@opentelemetry/instrumentation-runtime-node';
import { AggregationType, type ViewOptions } from '@opentelemetry/sdk-metrics';

export interface RuntimeMetricsOptions {
  /** sampling interval of the event-loop delay probe, ms (default 20) */
  sampleIntervalMs?: number;
}

/** Name of our meter (the `otel_scope_name` label when scope info is serialized). */
export const RUNTIME_METER_NAME = 'streamer.runtime';

/** Prometheus name is exactly this: the exporter adds no unit suffix. */
export const EVENTLOOP_DELAY_METRIC = 'eventloop_delay_seconds';

/** Seconds. Idle loop reads 0–2 ms (timer granularity); GC pauses and sync work land in 5–250 ms. */
export const EVENTLOOP_DELAY_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

const DEFAULT_SAMPLE_INTERVAL_MS = 20;

// Readings are rounded to 2^-20 s (~1 µs). Sums of such values are exact in a double (up to 2^33 s),
// so `_sum` does not depend on how the additions are grouped: the SDK keeps a cumulative sum per
// reader and adds each collect's delta to it, so with arbitrary floats two scrapers collecting at
// different rates would see `_sum` differ in the last digits.
const QUANTUM_SECONDS = 2 ** -20;

/** Instruments of instrumentation-runtime-node whose value resets on every collect (see top). */
const WINDOWED_RUNTIME_INSTRUMENTS: ReadonlySet<string> = new Set([
  'nodejs.eventloop.delay.min',
  'nodejs.eventloop.delay.max',
  'nodejs.eventloop.delay.mean',
  'nodejs.eventloop.delay.stddev',
  'nodejs.eventloop.delay.p50',
  'nodejs.eventloop.delay.p90',
  'nodejs.eventloop.delay.p99',
  'nodejs.eventloop.utilization',
]);

/** Views that drop the windowed instruments above; the app's MeterProvider is created with them. */
export const RUNTIME_VIEWS: ViewOptions[] = [...WINDOWED_RUNTIME_INSTRUMENTS].map((instrumentName) => ({
  instrumentName,
  aggregation: { type: AggregationType.DROP },
}));

interface Running {
  handles: number;
  stop(): void;
}

/** One instrumentation and one probe per MeterProvider: a second one would count every sample twice. */
const running = new WeakMap<MeterProvider, Running>();

/**
 * Starts runtime metrics on `meterProvider` (the app's SDK MeterProvider, created with RUNTIME_VIEWS).
 * Calls for a provider that already has them share them (the first call's options apply); they stop
 * when every handle has called `stop()`, which stops the delay probe and disables the instrumentation.
 * After that the histograms (eventloop_delay_seconds, v8js_gc_duration) keep their values and the
 * observed series (heap, event-loop time) are no longer reported.
 */
export function startRuntimeMetrics(
  meterProvider: MeterProvider,
  options: RuntimeMetricsOptions = {},
): { stop(): void } {
  const intervalMs = options.sampleIntervalMs ?? DEFAULT_SAMPLE_INTERVAL_MS;
  if (!Number.isFinite(intervalMs) || intervalMs < 1) {
    throw new RangeError(`sampleIntervalMs must be a finite number >= 1, got ${intervalMs}`);
  }

  let shared = running.get(meterProvider);
  if (shared === undefined) {
    // enabled: false, so that the constructor does not start collectors before they have our meter.
    const instrumentation = new RuntimeNodeInstrumentation({ enabled: false });
    instrumentation.setMeterProvider(meterProvider);
    instrumentation.enable();
    const stopProbe = startDelayProbe(meterProvider.getMeter(RUNTIME_METER_NAME), intervalMs);
    shared = {
      handles: 0,
      stop() {
        stopProbe();
        instrumentation.disable();
      },
    };
    running.set(meterProvider, shared);
  }
  const mine = shared;
  mine.handles++;

  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      if (--mine.handles > 0) return;
      mine.stop();
      running.delete(meterProvider);
    },
  };
}

// Event-loop delay probe. Why not monitorEventLoopDelay (what the library uses): its min/max/
// percentiles describe the window since its last reset(), so they must be reset per collect and
// every scraper steals the others' window; and its samples are the full timer period, so its
// resolution is included in every reading (an idle loop at 10 ms resolution reads ~10 ms).
// Here: a setTimeout chain that records how late each timer fired (actual − expected, clamped at 0,
// so the interval itself is not in the reading) into a cumulative histogram. Recording is pure
// accumulation: collecting reads the histogram and changes nothing. One blocked stretch of the loop
// gives one sample of about its length. The timer is unref()'d: it never keeps the process alive.
// The global setTimeout, not node:timers' binding, so that tests can mock it (t.mock.timers).
function startDelayProbe(meter: Meter, intervalMs: number): () => void {
  const histogram = meter.createHistogram(EVENTLOOP_DELAY_METRIC, {
    description: 'How late a timer due every few ms fired: event-loop delay, sampled continuously.',
    unit: 's',
    advice: { explicitBucketBoundaries: [...EVENTLOOP_DELAY_BUCKETS] },
  });

  let expected = 0;
  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    expected = performance.now() + intervalMs;
    timer = setTimeout(tick, intervalMs);
    timer.unref();
  };
  const tick = (): void => {
    const lateSeconds = Math.max(0, performance.now() - expected) / 1000;
    histogram.record(Math.round(lateSeconds / QUANTUM_SECONDS) * QUANTUM_SECONDS);
    schedule();
  };
  schedule();

  return () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
}
