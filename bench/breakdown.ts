// Where the latency of a final result goes, read from the server's own /metrics (two scrapes around
// a run), as an operator reads it with PromQL: final_result_phase_seconds{phase} (per VAD-endpoint
// final; the phases add up to final_result_latency_seconds{endpoint="vad"}), with the VAD's batching
// wait per job and the model's wait for a worker per job alongside.
import { FINAL_PHASES, type FinalPhase } from '../src/telemetry/final-phases.ts';
import { sumOf, type Sample } from './metrics.ts';

export interface HistogramStats {
  count: number;
  /** Seconds; null when nothing was recorded. */
  mean: number | null;
  /** Linear interpolation inside the bucket, as PromQL's histogram_quantile does. */
  p50: number | null;
  p99: number | null;
}

export interface LatencyBreakdown {
  /** final_result_latency_seconds{route="segmented",endpoint="vad"}: what the phases add up to. */
  latency: HistogramStats;
  phases: Record<FinalPhase, HistogramStats>;
  /** vad_batch_wait_seconds: per VAD job, its oldest request's wait. */
  vadBatchWait: HistogramStats;
  /** processing_duration_seconds{pipeline="vad"}: per VAD job, its run time. */
  vadJobRun: HistogramStats;
  /** vad_batch_size: windows per VAD model run (absent in results written before it was read). */
  vadBatchSize?: HistogramStats;
  /** v8js_gc_duration{v8js_gc_type="major"}: mark-compact collections of the main thread (count, and mean pause as `mean`). */
  majorGc?: HistogramStats;
  /** task_scheduling_delay_seconds_total / task_scheduled_total {task="inference"}: mean wait of a model job for a worker. */
  inferenceWaitMean: number | null;
  /** The same for VAD jobs sent to the VAD worker. */
  vadWorkerWaitMean: number | null;
}

const delta = (before: Sample[], after: Sample[], name: string, match: Record<string, string>) => sumOf(after, name, match) - sumOf(before, name, match);

/** Cumulative counts by upper bound of what `histogram{match}` recorded between two scrapes. */
function bucketDelta(before: Sample[], after: Sample[], histogram: string, match: Record<string, string>): [number, number][] {
  const counts = (samples: Sample[]) => {
    const byLe = new Map<number, number>();
    for (const s of samples) {
      if (s.name !== `${histogram}_bucket` || !Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      byLe.set(le, (byLe.get(le) ?? 0) + s.value);
    }
    return byLe;
  };
  const b0 = counts(before);
  return [...counts(after)].map(([le, c]) => [le, c - (b0.get(le) ?? 0)] as [number, number]).sort((a, b) => a[0] - b[0]);
}

/** histogram_quantile over cumulative buckets: linear inside the bucket holding the rank. */
export function interpolatedQuantile(buckets: [number, number][], q: number): number | null {
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return lower; // PromQL answers the highest finite bound
      return count === below ? le : lower + ((le - lower) * (rank - below)) / (count - below);
    }
    lower = le;
    below = count;
  }
  return lower;
}

export function histogramStats(before: Sample[], after: Sample[], histogram: string, match: Record<string, string> = {}): HistogramStats {
  const count = delta(before, after, `${histogram}_count`, match);
  const sum = delta(before, after, `${histogram}_sum`, match);
  const buckets = bucketDelta(before, after, histogram, match);
  return { count, mean: count > 0 ? sum / count : null, p50: interpolatedQuantile(buckets, 0.5), p99: interpolatedQuantile(buckets, 0.99) };
}

function meanWait(before: Sample[], after: Sample[], task: string): number | null {
  const n = delta(before, after, 'task_scheduled_total', { task });
  return n > 0 ? delta(before, after, 'task_scheduling_delay_seconds_total', { task }) / n : null;
}

export function latencyBreakdown(before: Sample[], after: Sample[]): LatencyBreakdown {
  return {
    latency: histogramStats(before, after, 'final_result_latency_seconds', { route: 'segmented', endpoint: 'vad' }),
    phases: Object.fromEntries(FINAL_PHASES.map((phase) => [phase, histogramStats(before, after, 'final_result_phase_seconds', { phase })])) as Record<
      FinalPhase,
      HistogramStats
    >,
    vadBatchWait: histogramStats(before, after, 'vad_batch_wait_seconds'),
    vadJobRun: histogramStats(before, after, 'processing_duration_seconds', { pipeline: 'vad' }),
    vadBatchSize: histogramStats(before, after, 'vad_batch_size'),
    majorGc: histogramStats(before, after, 'v8js_gc_duration', { v8js_gc_type: 'major' }),
    inferenceWaitMean: meanWait(before, after, 'inference'),
    vadWorkerWaitMean: meanWait(before, after, 'vad'),
  };
}
