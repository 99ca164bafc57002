// Item 8: what the tests cannot check on a loaded machine: this thread's event loop while work runs
// on its worker vs here (8a), and VAD workers' overlap (8b). The measurement is bench/offload.ts.
import type { BenchItem, Target } from '../item.ts';
import { runOffload, SIMULATED_COST_S, type OffloadOptions, type OffloadResults } from '../offload.ts';
import { num, ratio } from '../table.ts';

type Plan = Omit<OffloadOptions, 'onStep'>;

export const offload: BenchItem<Plan, OffloadResults> = {
  id: 'offload',
  title: '8 offload: the event loop while work runs on workers, and VAD workers overlapping',
  plan: ({ smoke }) => (smoke ? { reps: 1, vadChannels: 64, vadWindows: 10 } : { reps: 3, vadChannels: 512, vadWindows: 40 }),
  steps: () => 4,
  run: (plan, ctx) => runOffload({ ...plan, onStep: (label) => ctx.step(label) }),

  render(o) {
    const rows: string[][] = [];
    for (const p of o.pairs) {
      for (const [where, r] of [['worker', p.worker], ['this thread (baseline)', p.thisThread]] as const) {
        const base = where === 'worker';
        rows.push([
          `${p.name}: ${p.work}`,
          where,
          num(r.wallSeconds, 3),
          num(r.longestGapMs, 1),
          num(r.tickShare * 100, 0),
          num(r.elu, 2),
          base ? ratio(p.worker.longestGapMs / p.thisThread.longestGapMs) : '1.00x',
          base ? ratio(p.worker.elu / p.thisThread.elu) : '1.00x',
          num(r.otherCores, 2),
        ]);
      }
    }
    const one = o.overlap.find((r) => r.workers === 1);
    return [
      {
        title: "8a. Work off the event loop: this thread's event loop while the work runs on its worker vs on this thread, median of reps",
        headers: ['work', 'runs on', 'wall s', 'longest gap ms', 'ticks %', 'ELU', 'gap vs here', 'ELU vs here', 'other cores'],
        rows,
        notes: [
          'longest gap: between ticks of a 5 ms interval timer on this thread; ticks %: ticks that came / wall ÷ 5 ms; ELU: event-loop utilization.',
          `simulated: the model's ${SIMULATED_COST_S} s busy-wait, on its worker or here; whisper: here = the log-mel of the 30 s windows alone`,
          `(a lower bound of inference here: ${num(o.logMelWindowSeconds * 1000, 0)} ms per 30 s window); vad: here = inlineMaxWindows Infinity.`,
          'The tests only check which thread runs the work and the CPU this thread spends: these need idle cores.',
        ],
      },
      {
        title: '8b. VAD workers: 128 channels × 40 windows in jobs of ≤ 32, every job on the pool; Σ job run time / wall time',
        headers: ['workers', 'wall s', 'Σ run s', 'run/wall', 'vs 1 worker', 'other cores'],
        rows: o.overlap.map((r) => [String(r.workers), num(r.wallSeconds, 3), num(r.runSeconds, 3), num(r.ratio, 2), one ? ratio(r.ratio / one.ratio) : '–', num(r.otherCores, 2)]),
        notes: ['run/wall above 1: jobs of disjoint channels ran at the same time (needs a free core per worker).'],
      },
    ];
  },

  targets(o) {
    const out: Target[] = [];
    const pair = (name: string) => o.pairs.find((p) => p.name === name);
    const sim = pair('simulated');
    if (sim) {
      out.push({
        item: 'offload simulated',
        target: `wall < ${2 * SIMULATED_COST_S} s for a ${SIMULATED_COST_S} s inference, loop ticks ≥ 50 %`,
        measured: `${num(sim.worker.wallSeconds, 3)} s, ticks ${num(sim.worker.tickShare * 100, 0)} %`,
        met: sim.worker.wallSeconds < 2 * SIMULATED_COST_S && sim.worker.tickShare >= 0.5,
      });
    }
    const wh = pair('whisper');
    if (wh) {
      out.push({
        item: 'offload whisper',
        target: 'longest loop gap < 60 ms during a 65 s inference, loop ticks ≥ 33 %',
        measured: `${num(wh.worker.longestGapMs, 1)} ms, ticks ${num(wh.worker.tickShare * 100, 0)} %`,
        met: wh.worker.longestGapMs < 60 && wh.worker.tickShare >= 1 / 3,
      });
    }
    out.push({ item: 'log-mel', target: '30 s window < 1 s', measured: `${num(o.logMelWindowSeconds * 1000, 0)} ms`, met: o.logMelWindowSeconds < 1 });
    const vad = pair('vad');
    if (vad) {
      out.push({
        item: 'offload VAD',
        target: 'ELU with the worker < 0.75 and < inline − 0.2',
        measured: `${num(vad.worker.elu, 2)} (inline ${num(vad.thisThread.elu, 2)})`,
        met: vad.worker.elu < 0.75 && vad.worker.elu < vad.thisThread.elu - 0.2,
      });
    }
    const [one, two] = [1, 2].map((w) => o.overlap.find((x) => x.workers === w));
    if (one && two) {
      out.push({
        item: 'VAD workers',
        target: 'run/wall ≤ 1.02 with 1 worker, > 1.3 with 2',
        measured: `${num(one.ratio, 2)} / ${num(two.ratio, 2)}`,
        met: one.ratio <= 1.02 && two.ratio > 1.3,
      });
    }
    return out;
  },
};
