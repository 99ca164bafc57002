// Item 7: the keywords backend with openWakeWord's real models: model RTF by chunk size (7a) and
// real-time simple-route capacity (7b). The measurement is bench/keywords.ts.
import type { BenchItem } from '../item.ts';
import { runKeywords, type KeywordsOptions, type KeywordsResults } from '../keywords.ts';
import { num, ratio } from '../table.ts';

type Plan = Omit<KeywordsOptions, 'onStep'>;

export const keywords: BenchItem<Plan, KeywordsResults> = {
  id: 'keywords',
  title: '7 keywords: the keywords backend: model RTF by chunk size, simple-route capacity',
  plan: ({ smoke }) =>
    smoke
      ? { audioSeconds: 3, chunkSeconds: [0.1], capacityNs: [2], capacityDurationS: 3, staggerMs: 200, drainTimeoutS: 10 }
      : { audioSeconds: 60, chunkSeconds: [0.02, 0.1, 0.5, 2], capacityNs: [10, 20, 40, 60, 80], capacityDurationS: 20, staggerMs: 1000, drainTimeoutS: 15 },
  steps: (plan) => 2 + plan.chunkSeconds.length + 2 * plan.capacityNs.length,
  run: (plan, ctx) => runKeywords({ ...plan, onStep: (label) => ctx.step(label) }),

  render(k) {
    const base = new Map(k.capacity.baseline.map((r) => [r.streams, r]));
    return [
      {
        title: `7a. Keywords model (${k.labels.join(', ')}): model RTF and CPU per audio second by chunk size, 1 worker`,
        headers: ['fed as', 'calls', 'audio s', 'RTF', 'RTF p50', 'vs whole', 'CPU-s/audio-s', 'other cores'],
        rows: k.chunks.map((c) => [
          c.chunkSeconds === null ? 'whole audio, one segment (baseline)' : `${(c.chunkSeconds * 1000).toFixed(0)} ms chunks`,
          String(c.chunks),
          num(c.audioSeconds, 0),
          num(c.rtf, 4),
          num(c.rtfMedian, 4),
          ratio(c.vsWhole),
          num(c.cpuPerAudioSecond, 4),
          num(c.otherCores, 2),
        ]),
        notes: [
          'Chunks go through one model channel one after the other, as simple mode feeds a stream channel; the baseline is one job.',
          'RTF = Σ computeSeconds (time on the worker) / audio s, what the model stage records; p50 over calls (a call shorter than',
          'an 80 ms step only queues its audio). CPU-s/audio-s: this process, worker and onnxruntime threads included.',
          `load ${num(k.loadSeconds, 2)} s (files checked, sessions created once on this thread).`,
        ],
      },
      {
        title: `7b. Real-time simple-route streams with the keywords model (2 workers); headline ${k.capacity.headlineStreams ?? 'none'} streams (baseline, model at zero cost: ${k.capacity.baselineHeadlineStreams ?? 'none'})`,
        headers: ['N', 'ok', 'lag p99 s', 'lag p50 s', 'srv CPU-s/audio-s', 'srv cores', 'base ok', 'base lag p99', 'base CPU-s/audio-s', 'vs base', 'other cores'],
        rows: k.capacity.keywords.map((r) => {
          const b = base.get(r.streams);
          return [
            String(r.streams),
            r.ok ? 'yes' : 'NO',
            num(r.client.lagP99InclMissing, 3),
            num(r.client.lag.p50, 3),
            num(r.server.cpuPerAudioSecond, 4),
            num(r.server.cores, 2),
            b ? (b.ok ? 'yes' : 'NO') : '–',
            b ? num(b.client.lagP99InclMissing, 3) : '–',
            b ? num(b.server.cpuPerAudioSecond, 4) : '–',
            b ? ratio(r.server.cpuPerAudioSecond / b.server.cpuPerAudioSecond) : '–',
            num(r.server.otherCores, 2),
          ];
        }),
        notes: [
          "Lag = arrival of a chunk's result − when its audio ended (100 ms frames): a user waits this long for a detection.",
          'ok: p99 lag < 0.5 s, every stream completed, no error. Baseline: the same N and route, simulated model at zero cost.',
          ...k.capacity.keywords.flatMap((r) => r.notes.map((n) => `N=${r.streams}: ${n}`)),
        ],
      },
    ];
  },
  targets: () => [],
};
