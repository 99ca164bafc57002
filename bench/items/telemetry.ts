// Item 3: the cost of telemetry: the same capacity load with telemetry on and off, in back-to-back
// pairs. The measurement is telemetryComparison in bench/capacity.ts.
import { telemetryComparison, type CapacityRun, type TelemetryComparison } from '../capacity.ts';
import type { BenchItem } from '../item.ts';
import { ms, num, ratio } from '../table.ts';

interface Plan {
  streams: number;
  durationS: number;
  pairs: number;
  staggerMs: number;
  drainTimeoutS: number;
}

const OVERHEAD_TARGET = 0.02;

export const telemetry: BenchItem<Plan, TelemetryComparison> = {
  id: 'telemetry',
  title: '3 telemetry: server CPU per audio second with telemetry on vs off',
  plan: ({ smoke }) => (smoke ? { streams: 5, durationS: 3, pairs: 1, staggerMs: 500, drainTimeoutS: 10 } : { streams: 100, durationS: 15, pairs: 3, staggerMs: 1000, drainTimeoutS: 15 }),
  steps: (plan) => 2 * plan.pairs,
  run: (plan, ctx) =>
    telemetryComparison(
      { streams: plan.streams, durationS: plan.durationS, staggerMs: plan.staggerMs, drainTimeoutS: plan.drainTimeoutS, renderSamplesLoaded: 0, backlogEveryMs: 0, onTick: (label) => ctx.tick(label) },
      plan.pairs,
      (label) => ctx.step(label),
    ),

  render(t) {
    const row = (name: string, runs: CapacityRun[], med: number, vs: string) => [
      name,
      String(runs.length),
      runs.map((r) => num(r.server.cpuPerAudioSecond, 5)).join(' '),
      num(med, 5),
      ms(Math.max(...runs.map((r) => r.client.lag.p99 ?? NaN))),
      num(Math.max(...runs.map((r) => r.server.otherCores)), 2),
      vs,
    ];
    return [
      {
        title: `3. Telemetry overhead: N=${t.streams} real-time streams, ${t.durationS} s per run, on/off in back-to-back pairs`,
        headers: ['build', 'runs', 'CPU-s/audio-s per run', 'median', 'lag p99 ms (worst)', 'other cores (max)', 'vs off'],
        rows: [
          row('telemetry on', t.on, t.onCpuPerAudioSecond, ratio(t.onCpuPerAudioSecond / t.offCpuPerAudioSecond)),
          row('telemetry off (baseline)', t.off, t.offCpuPerAudioSecond, '1.00x'),
        ],
        notes: [
          `Overhead (median of the pairs' on/off − 1): ${num(t.overhead * 100, 1)} %; per pair: ${t.pairOverheads.map((o) => `${num(o * 100, 1)} %`).join(', ')} (target < ${OVERHEAD_TARGET * 100} %).`,
          'Off = `telemetry: { enabled: false }` (no meter provider: instruments are no-ops, no runtime metrics, no /metrics).',
          'Server CPU (all threads, /proc) per audio second; the two scrapes per "on" run (event-loop delay) are included.',
        ],
      },
    ];
  },

  targets(t) {
    const o = t.overhead;
    // Pairs disagreeing by more than twice the target, or other load on the machine, make it noise.
    const spread = Math.max(...t.pairOverheads) - Math.min(...t.pairOverheads);
    const other = Math.max(...[...t.on, ...t.off].map((x) => x.server.otherCores));
    const noisy = t.pairOverheads.length > 1 && spread > 2 * OVERHEAD_TARGET ? `pairs spread ${num(spread * 100, 0)} pts` : other > 0.2 ? `other load ${num(other, 1)} cores` : null;
    return [
      {
        item: 'telemetry',
        target: `overhead < ${OVERHEAD_TARGET * 100} % CPU per audio-s`,
        measured: `${num(o * 100, 1)} %${noisy ? ` (inconclusive: ${noisy})` : ''}`,
        met: Number.isFinite(o) && !noisy ? o < OVERHEAD_TARGET : null,
      },
    ];
  },
};
