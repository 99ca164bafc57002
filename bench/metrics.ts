// Reading the server's /metrics: scrape timing, and the numbers the benchmark derives from two
// scrapes (event-loop delay quantile, event-loop utilization). The exposition is parsed by the
// client's reader (the one the page and the tests use).
import { parseExposition, sumOf, type Sample } from '../src/client/exposition.ts';
import { median } from './stats.ts';

export { sumOf, type Sample };

export interface Scrape {
  samples: Sample[];
  bytes: number;
  /** Wall time of the request, ms (sent → whole body read), from outside the server. */
  ms: number;
}

async function timedGet(url: string): Promise<{ body: string; ms: number; status: number }> {
  const t0 = performance.now();
  const res = await fetch(url);
  const body = await res.text();
  return { body, ms: performance.now() - t0, status: res.status };
}

export async function scrape(baseUrl: string): Promise<Scrape> {
  const { body, ms, status } = await timedGet(`${baseUrl}/metrics`);
  if (status !== 200) throw new Error(`GET /metrics: HTTP ${status}`);
  return { samples: parseExposition(body), bytes: Buffer.byteLength(body), ms };
}

/** Cumulative bucket counts by upper bound (summed over other labels), ascending. */
function buckets(samples: Sample[], histogram: string): [number, number][] {
  const byLe = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${histogram}_bucket`) continue;
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  return [...byLe.entries()].sort((a, b) => a[0] - b[0]);
}

/**
 * The q-quantile of what a histogram recorded between two scrapes, as the upper bound of the
 * bucket it falls in (conservative: the true value is at most this). Null when nothing was recorded.
 */
export function quantileBound(before: Sample[], after: Sample[], histogram: string, q: number): { bound: number; count: number } | null {
  const b0 = new Map(buckets(before, histogram));
  const delta = buckets(after, histogram).map(([le, c]) => [le, c - (b0.get(le) ?? 0)] as const);
  const total = delta.at(-1)?.[1] ?? 0;
  if (total <= 0) return null;
  const hit = delta.find(([, c]) => c >= q * total);
  return { bound: hit ? hit[0] : Infinity, count: total };
}

/** Event-loop utilization between two scrapes, from nodejs_eventloop_time_total. */
export function eventLoopUtilization(before: Sample[], after: Sample[]): number | null {
  const d = (state: string) =>
    sumOf(after, 'nodejs_eventloop_time_total', { nodejs_eventloop_state: state }) -
    sumOf(before, 'nodejs_eventloop_time_total', { nodejs_eventloop_state: state });
  const active = d('active');
  const idle = d('idle');
  return active + idle > 0 ? active / (active + idle) : null;
}

export interface RenderSamples {
  /** active_streams reported by the scrape. */
  activeStreams: number;
  bytes: number;
  /** Series lines in the exposition. */
  series: number;
  /** GET /metrics wall time, ms (median and max of the samples). */
  metricsMs: number;
  metricsMaxMs: number;
  /** GET /api/v1/health wall time right before each /metrics, ms (median): the same path minus rendering. */
  healthMs: number;
  samples: number;
}

/**
 * `n` paired samples: GET /api/v1/health, then GET /metrics. Both wait the same for the server's
 * event loop, so /metrics − /health estimates the rendering itself; the ratio is the line's ratio.
 */
export async function sampleRender(baseUrl: string, n: number, gapMs = 200): Promise<RenderSamples> {
  const health: number[] = [];
  const metrics: number[] = [];
  let last: Scrape | null = null;
  let bodyLines = 0;
  for (let i = 0; i < n; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, gapMs));
    health.push((await timedGet(`${baseUrl}/api/v1/health`)).ms);
    last = await scrape(baseUrl);
    metrics.push(last.ms);
    bodyLines = last.samples.length;
  }
  return {
    activeStreams: last ? sumOf(last.samples, 'active_streams') : 0,
    bytes: last?.bytes ?? 0,
    series: bodyLines,
    metricsMs: median(metrics) ?? NaN,
    metricsMaxMs: Math.max(...metrics),
    healthMs: median(health) ?? NaN,
    samples: n,
  };
}
