// Item 2b: item 2 with every stream in phase (bursts of endpoints); its ratio's baseline is item 2's
// run at the same N. The measurement is bench/burst.ts.
import { BURST_LAG_TARGET_S, MIN_SILENCE_S, runBurst, type BurstOptions, type BurstResults } from '../burst.ts';
import type { CapacityRun } from '../capacity.ts';
import { resultOf, type BenchItem, type Target } from '../item.ts';
import { physicalLimit, type PhysicalLimit } from '../limit.ts';
import { median } from '../stats.ts';
import { loopBound, ms, num, type Table } from '../table.ts';
import { capacity } from './capacity.ts';
import { breakdownTable, lagCells } from './lag-cells.ts';

type Plan = Omit<BurstOptions, 'onStep' | 'onTick'>;

/** Issue 28's memory target: server RSS above idle, per stream, at 1,000 streams (below that, reported only). */
const RSS_PER_STREAM_TARGET_MB = 1;
const RSS_TARGET_STREAMS = 1000;

/** Server RSS at the peak above its idle RSS, per stream (MB). */
const rssPerStreamMb = (r: CapacityRun) =>
  r.server.rssPeakMb === null || r.server.rssIdleMb === null ? null : (r.server.rssPeakMb - r.server.rssIdleMb) / r.streams;

/** The physical limit with the load client's CPU per audio second of the runs at the largest N (median). */
function limitOf(b: BurstResults): PhysicalLimit | null {
  const top = Math.max(...b.runs.map((r) => r.streams));
  const client = median(b.runs.filter((r) => r.streams === top).map((r) => r.client.clientCpuSeconds / Math.max(1e-9, r.client.audioSecondsSent)));
  return b.limitParts && client !== null ? physicalLimit(b.limitParts, client) : null;
}

/** The note beside the headline: the estimate and its parts (bench/README.md, "The physical limit"). */
function limitNote(l: PhysicalLimit | null): string {
  if (l === null) return 'Physical limit: not measured in this run.';
  const us = (x: number) => `${x.toFixed(1)} µs`;
  return (
    `Physical limit (estimate, bench/README.md): ~${l.streams} streams on ${l.cores} cores = ${l.cores} / ${l.perStreamCores.toFixed(5)} cores per stream: ` +
    `VAD floor ${l.vadFloorCpuPerAudioS.toFixed(5)} CPU-s/audio-s (hand-batched, ${l.vadStreams} streams) + 10 frames/s × (decode+resample ${us(l.decodeUsPerFrame)} + ` +
    `bare ws receive ${us(l.wsUsPerFrame)}) + load client ${l.clientCpuPerAudioS.toFixed(5)} CPU-s/audio-s.`
  );
}
/** Issue 28's targets: p99 lag (raw, worst run) at these N in phase. */
const BURST_P99_BOUNDS: [streams: number, boundS: number][] = [
  [600, 0.7],
  [1000, 1.0],
];

/** Issue 17's targets: p99 lag − the min-silence (what the service adds) at these N. */
const SERVICE_P99_BOUNDS: [streams: number, boundS: number][] = [
  [300, 0.1],
  [500, 0.25],
];

export const burst: BenchItem<Plan, BurstResults> = {
  id: 'burst',
  title: '2b bursts: item 2 with every stream in phase (all end their utterances at once)',
  plan: ({ smoke, streams, repeat }) => ({
    streams: streams ?? (smoke ? [5] : [10, 300, 500, 600, 800, 1000]),
    repeats: repeat ?? (smoke ? 1 : 2),
    durationS: smoke ? 4 : 20,
    drainTimeoutS: smoke ? 10 : 15,
    smoke,
  }),
  steps: (plan) => 1 + plan.streams.length * plan.repeats,
  run: (plan, ctx) => runBurst({ ...plan, onStep: (label) => ctx.step(label), onTick: (label) => ctx.tick(label) }),

  render(b, all) {
    const spread = resultOf(capacity, all)?.runs ?? [];
    const base = b.runs[0];
    const spreadP99 = (n: number) => spread.find((r) => r.streams === n)?.client.lagP99InclMissing ?? null;
    const notes = b.runs.filter((r) => r.notes.length > 0).map((r) => `N=${r.streams}: ${r.notes.join('; ')}`);
    const out: Table[] = [
      {
        title: `2b. Bursts: N real-time segmented streams in phase (all started within ${b.staggerMs} ms, same audio), ${base?.durationS ?? 0} s each; lag in ms`,
        headers: ['N', 'done', 'finals', 'lag p50', 'lag p99', 'lag max', `p99−${MIN_SILENCE_S}s`, 'endp p50', 'endp p99', 'loop p99', 'ELU', 'main µs/frame', 'srv cores', 'CPU-s/audio-s', 'RSS MB', 'RSS/stream MB', 'client cores', 'other cores', 'p99 vs spread', `p99<${BURST_LAG_TARGET_S}s`],
        rows: b.runs.map((r) => {
          const c = r.client;
          const s = spreadP99(r.streams);
          return [
            ...lagCells(r),
            ms(c.lagAfterEndpoint?.p50),
            ms(c.lagAfterEndpoint?.p99),
            loopBound(r.server.eventLoopP99S),
            num(r.server.eventLoopUtilization, 2),
            num(r.server.mainUsPerFrame, 1),
            num(r.server.cores, 2),
            num(r.server.cpuPerAudioSecond, 4),
            num(r.server.rssPeakMb, 0),
            num(rssPerStreamMb(r), 3),
            num(c.clientCpuSeconds / c.wallSeconds, 2),
            num(r.server.otherCores, 2),
            s === null || c.lagP99InclMissing === null ? '–' : `${(c.lagP99InclMissing / s).toFixed(2)}x`,
            r.ok ? 'yes' : 'NO',
          ];
        }),
        notes: [
          `Headline: largest N whose every run had p99 lag < ${BURST_LAG_TARGET_S} s (all streams completed, no final missing): ${b.headlineStreams ?? 'none'}.`,
          limitNote(limitOf(b)),
          'RSS: the server\'s peak; RSS/stream: (peak − idle RSS before the load) / N.',
          'Every stream hears the fixture from the same point, so all end their utterances within the stagger: the VAD endpoints,',
          'the model jobs and the sends of every stream come at once. The framing is the same for every stream: the floor of the lag',
          `is 0.29–0.34 s per utterance (the ${MIN_SILENCE_S} s min-silence less its 30 ms pad, plus the framing), not a range as in item 2.`,
          'endp: arrival − when the frame holding the VAD endpoint was sent: what the service and the network add (the floor taken out).',
          "p99 vs spread: p99 lag / that of item 2's first run at the same N in this benchmark (– when item 2 did not run that N).",
          ...notes,
        ],
      },
    ];
    const breakdown = breakdownTable("2b. Where a final result's latency goes (bursts), from the server's /metrics", b.runs);
    if (breakdown) out.push(breakdown);
    return out;
  },

  targets(b) {
    const out: Target[] = [];
    const worst = (n: number) => {
      const runs = b.runs.filter((x) => x.streams === n);
      if (runs.length === 0) return null;
      return Math.max(...runs.map((x) => (x.client.lagP99InclMissing === null ? Infinity : x.client.lagP99InclMissing)));
    };
    for (const [n, bound] of SERVICE_P99_BOUNDS) {
      const p99 = worst(n);
      out.push({
        item: `burst ${n}`,
        target: `p99 lag − ${MIN_SILENCE_S} s ≤ ${bound * 1000} ms`,
        measured: p99 === null ? 'not run' : `${p99 === Infinity ? '>drain' : `${((p99 - MIN_SILENCE_S) * 1000).toFixed(0)} ms`} (worst run)`,
        met: p99 === null ? null : p99 - MIN_SILENCE_S <= bound,
      });
    }
    for (const [n, bound] of BURST_P99_BOUNDS) {
      const p99 = worst(n);
      out.push({
        item: `burst ${n}`,
        target: `p99 lag ${bound < BURST_LAG_TARGET_S ? '≤' : '<'} ${bound * 1000} ms`,
        measured: p99 === null ? 'not run' : `${p99 === Infinity ? '>drain' : `${(p99 * 1000).toFixed(0)} ms`} (worst run)`,
        met: p99 === null ? null : bound < BURST_LAG_TARGET_S ? p99 <= bound : p99 < bound,
      });
    }
    const ten = worst(10);
    out.push({ item: 'burst 10', target: 'p99 lag ≤ 350 ms', measured: ten === null ? 'not run' : `${(ten * 1000).toFixed(0)} ms (worst run)`, met: ten === null ? null : ten <= 0.35 });
    out.push({
      item: 'burst capacity',
      target: `≥ 600 streams, p99 lag < ${BURST_LAG_TARGET_S} s`,
      measured: b.headlineStreams === null ? 'no N passed' : `${b.headlineStreams} streams`,
      met: b.headlineStreams !== null && b.headlineStreams >= 600,
    });
    const limit = limitOf(b);
    if (limit) out.push({ item: 'burst limit', target: 'physical limit (estimate), for the gap', measured: `~${limit.streams} streams (headline ${b.headlineStreams ?? 'none'})`, met: null });
    const top = b.runs.filter((r) => r.streams === Math.max(...b.runs.map((x) => x.streams)));
    const perStream = top.map(rssPerStreamMb).filter((x): x is number => x !== null);
    if (perStream.length > 0) {
      const worstMb = Math.max(...perStream);
      out.push({
        item: `burst memory ${top[0].streams}`,
        target: `RSS above idle < ${RSS_PER_STREAM_TARGET_MB} MB per stream at ≥ ${RSS_TARGET_STREAMS} streams`,
        measured: `${worstMb.toFixed(3)} MB per stream, peak ${Math.max(...top.map((r) => r.server.rssPeakMb ?? 0)).toFixed(0)} MB (worst run)`,
        met: top[0].streams >= RSS_TARGET_STREAMS ? worstMb < RSS_PER_STREAM_TARGET_MB : null,
      });
    }
    return out;
  },
};
