// Item 4: /metrics size and render time with streams held open (bench/render.ts), plus the samples
// item 2 took under real-time load at the same N (when it ran first, in the same benchmark).
import type { BenchItem } from '../item.ts';
import { renderAtStreams, type MetricsPoint } from '../render.ts';
import { num, ratio } from '../table.ts';
import type { CapacityResult } from './capacity.ts';

interface Plan {
  /** Streams held open (0 streams is always measured too); item 2 samples at these N too. */
  points: number[];
  samples: number;
  /** Audio each held stream sends before /metrics is sampled. */
  audioS: number;
}

/** Where items 2 and 4 sample /metrics (item 2 under real-time load, only when item 4 runs). */
export const metricsPoints = (smoke: boolean) => ({ renderAt: smoke ? [5] : [100, 500], renderSamples: smoke ? 1 : 5 });

const RENDER_TARGET_MS = 20;
const TARGET_STREAMS = 500;
const ORDER = { idle: 0, held: 1, 'real-time': 2 };

export const metrics: BenchItem<Plan, { points: MetricsPoint[] }> = {
  id: 'metrics',
  title: '4 /metrics: exposition size and render time with streams held open and under load',
  plan: ({ smoke }) => {
    const { renderAt, renderSamples } = metricsPoints(smoke);
    // 1,000 held streams too (issue 28: the render time at 1,000 open streams must not regress).
    return { points: smoke ? renderAt : [...renderAt, 1000], samples: renderSamples, audioS: smoke ? 1 : 2 };
  },
  steps: (plan) => 1 + plan.points.length,

  async run(plan, ctx) {
    const held = await renderAtStreams({ points: plan.points, samples: plan.samples, audioS: plan.audioS, staggerPerStreamMs: 20, onStep: (label) => ctx.step(label) });
    // Item 2's runs name the type by import only: item 2 imports this module for metricsPoints.
    const loaded = ((ctx.earlier.capacity as CapacityResult | undefined)?.runs ?? []).flatMap((r): MetricsPoint[] =>
      r.renderLoaded ? [{ streams: r.streams, load: 'real-time', render: r.renderLoaded }] : [],
    );
    return { points: [...held, ...loaded].sort((a, b) => ORDER[a.load] - ORDER[b.load] || a.streams - b.streams) };
  },

  render({ points }) {
    const base = points.find((p) => p.load === 'idle')?.render;
    return [
      {
        title: '4. /metrics: exposition size and render time (paired GET /api/v1/health, then GET /metrics, from another process)',
        headers: ['streams', 'load', 'active', 'samples', 'bytes', 'series', '/metrics ms', 'max ms', '/health ms', 'render≈ ms', 'vs /health', 'bytes vs 0'],
        rows: points.map((p) => [
          String(p.streams),
          p.load,
          num(p.render.activeStreams, 0),
          String(p.render.samples),
          String(p.render.bytes),
          String(p.render.series),
          num(p.render.metricsMs, 1),
          num(p.render.metricsMaxMs, 1),
          num(p.render.healthMs, 1),
          num(p.render.metricsMs - p.render.healthMs, 1),
          ratio(p.render.metricsMs / p.render.healthMs),
          base ? ratio(p.render.bytes / base.bytes) : '–',
        ]),
        notes: [
          'held: the streams sent a little audio and stay open (keepalives) on an otherwise quiet server: the render cost itself.',
          'real-time: sampled in the middle of that capacity run: what a scraper sees under that load (queueing included).',
          'render≈ = median /metrics − median /health (both wait equally for the event loop); ms are medians, max is the worst sample.',
        ],
      },
    ];
  },

  targets({ points }) {
    const held = points.find((p) => p.load === 'held' && p.streams === TARGET_STREAMS) ?? points.filter((p) => p.load !== 'real-time').at(-1);
    if (!held) return [];
    const render = held.render.metricsMs - held.render.healthMs;
    return [
      {
        item: '/metrics',
        target: `render < ${RENDER_TARGET_MS} ms at ${TARGET_STREAMS} streams`,
        measured: `GET ${num(held.render.metricsMs, 1)} ms (render≈${num(render, 1)}) at ${held.streams} open`,
        met: held.streams === TARGET_STREAMS ? held.render.metricsMs < RENDER_TARGET_MS : null,
      },
    ];
  },
};
