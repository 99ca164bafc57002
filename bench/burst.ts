// Item 2b, bursts: the capacity run (item 2) with every stream in phase: all start within
// BURST_STAGGER_MS and hear the fixture from the same point, so that every stream ends its utterances
// within the same 100 ms (a conference bridge, a replayed queue, a fleet that moved many streams at
// once). Lag as in item 2; where the service's share of it goes comes from its /metrics
// (breakdown.ts), for the spread runs too.
import { FINAL_PHASES } from '../src/telemetry/final-phases.ts';
import type { HistogramStats, LatencyBreakdown } from './breakdown.ts';
import { capacityHeadline, capacityRun, type CapacityRun, type CapacityRunOptions } from './capacity.ts';
import { lagCells, loopBound, table } from './report.ts';

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
  onStep?: (label: string) => void;
  onTick?: (label: string) => void;
}

export interface BurstResults {
  staggerMs: number;
  runs: CapacityRun[];
  /** Largest N whose every run had p99 lag < BURST_LAG_TARGET_S, every stream completed and no final missing. */
  headlineStreams: number | null;
}

export async function runBurst(opts: BurstOptions): Promise<BurstResults> {
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
  return { staggerMs: BURST_STAGGER_MS, runs, headlineStreams: capacityHeadline(runs) };
}

// ---------------------------------------------------------------------------------------------
// Report

const ms = (s: number | null | undefined, digits = 0) => (s === null || s === undefined || !Number.isFinite(s) ? '–' : (s * 1000).toFixed(digits));
const num = (x: number | null | undefined, digits: number) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits));
const meanP99 = (h: HistogramStats | undefined) => (h && h.count > 0 ? `${ms(h.mean, 1)} / ${ms(h.p99, 1)}` : '–');

/** `spread`: item 2's runs of the same benchmark, the baseline of the ratio (same N, streams spread). */
export function burstTable(b: BurstResults, spread: CapacityRun[] = []): string {
  const base = b.runs[0];
  const spreadP99 = (n: number) => spread.find((r) => r.streams === n)?.client.lagP99InclMissing ?? null;
  const notes = b.runs.filter((r) => r.notes.length > 0).map((r) => `N=${r.streams}: ${r.notes.join('; ')}`);
  return table(
    `2b. Bursts: N real-time segmented streams in phase (all started within ${b.staggerMs} ms, same audio), ${base?.durationS ?? 0} s each; lag in ms`,
    ['N', 'done', 'finals', 'lag p50', 'lag p99', 'lag max', `p99−${MIN_SILENCE_S}s`, 'endp p50', 'endp p99', 'loop p99', 'ELU', 'srv cores', 'CPU-s/audio-s', 'client cores', 'other cores', 'p99 vs spread', `p99<${BURST_LAG_TARGET_S}s`],
    b.runs.map((r) => {
      const c = r.client;
      return [
        ...lagCells(r),
        ms(c.lagAfterEndpoint?.p50),
        ms(c.lagAfterEndpoint?.p99),
        loopBound(r.server.eventLoopP99S),
        num(r.server.eventLoopUtilization, 2),
        num(r.server.cores, 2),
        num(r.server.cpuPerAudioSecond, 4),
        num(c.clientCpuSeconds / c.wallSeconds, 2),
        num(r.server.otherCores, 2),
        ((s, p) => (s === null || p === null ? '–' : `${(p / s).toFixed(2)}x`))(spreadP99(r.streams), c.lagP99InclMissing),
        r.ok ? 'yes' : 'NO',
      ];
    }),
    [
      `Headline: largest N whose every run had p99 lag < ${BURST_LAG_TARGET_S} s (all streams completed, no final missing): ${b.headlineStreams ?? 'none'}.`,
      'Every stream hears the fixture from the same point, so all end their utterances within the stagger: the VAD endpoints,',
      'the model jobs and the sends of every stream come at once. The framing is the same for every stream: the floor of the lag',
      `is 0.29–0.34 s per utterance (the ${MIN_SILENCE_S} s min-silence less its 30 ms pad, plus the framing), not a range as in item 2.`,
      'endp: arrival − when the frame holding the VAD endpoint was sent: what the service and the network add (the floor taken out).',
      'p99 vs spread: p99 lag / that of item 2\'s first run at the same N in this benchmark (– when item 2 did not run that N).',
      ...notes,
    ],
  );
}

/** Final-result latency by phase, from /metrics: one column per run, mean / p99 in ms. */
export function breakdownTable(title: string, runs: CapacityRun[]): string | null {
  const withData = runs.filter((r): r is CapacityRun & { breakdown: LatencyBreakdown } => (r.breakdown?.latency.count ?? 0) > 0);
  if (withData.length === 0) return null;
  type Run = CapacityRun & { breakdown: LatencyBreakdown };
  const row = (name: string, pick: (b: LatencyBreakdown, r: Run) => string) => [name, ...withData.map((r) => pick(r.breakdown, r))];
  const sumOfMeans = (b: LatencyBreakdown) => FINAL_PHASES.reduce((s, p) => s + (b.phases[p].mean ?? 0), 0);
  const loop = (r: Run) => (r.server.eventLoopP99S === null ? '–' : r.server.eventLoopP99S === Infinity ? '>2500' : `≤${ms(r.server.eventLoopP99S)}`);
  return table(
    title,
    ['phase (mean / p99 ms)', ...withData.map((r) => `N=${r.streams}`)],
    [
      ...FINAL_PHASES.map((p) => row(p, (b) => meanP99(b.phases[p]))),
      row('Σ phases (mean)', (b) => ms(sumOfMeans(b), 1)),
      row('final_result_latency{vad}', (b) => meanP99(b.latency)),
      row('client lag', (_, r) => `${ms(r.client.lag.mean, 0)} / ${ms(r.client.lag.p99, 0)}`),
      row('client lag after endpoint frame', (_, r) => `${ms(r.client.lagAfterEndpoint?.mean, 1)} / ${ms(r.client.lagAfterEndpoint?.p99, 1)}`),
      row('finals measured', (b) => String(b.latency.count)),
      row('vad_batch_wait per job', (b) => meanP99(b.vadBatchWait)),
      row('VAD job run', (b) => meanP99(b.vadJobRun)),
      row('VAD windows per model run (mean)', (b) => num(b.vadBatchSize?.mean, 1)),
      row('VAD worker wait (mean)', (b) => ms(b.vadWorkerWaitMean, 2)),
      row('model worker wait (mean)', (b) => ms(b.inferenceWaitMean, 2)),
      row('event loop p99 (bucket)', (_, r) => loop(r)),
      row('major GCs (count, mean pause ms)', (b) => (b.majorGc ? `${b.majorGc.count}, ${ms(b.majorGc.mean, 1)}` : '–')),
      row('other cores', (_, r) => num(r.server.otherCores, 2)),
    ],
    [
      'From the server\'s /metrics between two scrapes around the run: final_result_phase_seconds{phase} per final endpointed by',
      'the VAD (the phases add up to final_result_latency_seconds{endpoint="vad"}: the frame holding the endpoint arrived → final',
      'sent); p99 interpolated inside its bucket, as histogram_quantile does. Client lag = that latency + the min-silence wait and',
      'the framing (the frame is sent when its 100 ms are "recorded") + the network and the client\'s own delay.',
      'vad_queue: frame arrived → its VAD request (decoding, the channel\'s previous request); vad_batch_wait: → the batch started;',
      'vad_run / vad_handoff: the batch\'s model runs / the rest of its round trip; model_queue: VAD answer → a model worker',
      'started it; model_run; model_return: worker done → result picked up here; send: → the segment written to the socket.',
    ],
  );
}
