// Item 2b, bursts: the capacity run (item 2) with every stream in phase: all start within
// BURST_STAGGER_MS and hear the fixture from the same point, so that every stream ends its utterances
// within the same 100 ms (a conference bridge, a replayed queue, a fleet that moved many streams at
// once). Lag as in item 2; where the service's share of it goes comes from its /metrics
// (breakdown.ts), for the spread runs too. Its tables and targets: bench/items/burst.ts.
import { capacityHeadline, capacityRun, type CapacityRun, type CapacityRunOptions } from './capacity.ts';
import { measureLimitParts, type LimitParts } from './limit.ts';

export const BURST_STAGGER_MS = 100;
/** The burst headline's bound on p99 lag (issue 17's capacity target). */
export const BURST_LAG_TARGET_S = 1.0;
/** The VAD's min-silence (the default config): the part of the lag that is the VAD's own wait. */
export const MIN_SILENCE_S = 0.3;

export interface BurstOptions {
  streams: number[];
  repeats: number;
  durationS: number;
  drainTimeoutS: number;
  smoke: boolean;
  onStep?: (label: string) => void;
  onTick?: (label: string) => void;
}

export interface BurstResults {
  staggerMs: number;
  runs: CapacityRun[];
  /** Largest N whose every run had p99 lag < BURST_LAG_TARGET_S, every stream completed and no final missing. */
  headlineStreams: number | null;
  /** The physical limit's parts, measured before the runs (absent in results written before it existed). */
  limitParts?: LimitParts;
}

export async function runBurst(opts: BurstOptions): Promise<BurstResults> {
  opts.onStep?.('burst: the physical limit\'s parts (VAD floor, decode, websocket)');
  const limitParts = await measureLimitParts(opts.smoke);
  const runs: CapacityRun[] = [];
  for (const n of opts.streams) {
    for (let k = 1; k <= opts.repeats; k++) {
      opts.onStep?.(`burst N=${n}${opts.repeats > 1 ? ` run ${k}/${opts.repeats}` : ''}`);
      const run: CapacityRunOptions = {
        streams: n,
        durationS: opts.durationS,
        staggerMs: BURST_STAGGER_MS,
        drainTimeoutS: opts.drainTimeoutS,
        telemetry: true,
        renderSamplesLoaded: 0,
        backlogEveryMs: 2000,
        inPhase: true,
        lagTargetS: BURST_LAG_TARGET_S,
        onTick: opts.onTick,
      };
      runs.push(await capacityRun(run));
    }
  }
  return { staggerMs: BURST_STAGGER_MS, runs, headlineStreams: capacityHeadline(runs), limitParts };
}
