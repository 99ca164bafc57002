// A handful of real-time streams with interim results against the service on its default config
// (what `npm start` runs out of the box), reading final-result latency and the model's RTF and
// utilisation from /metrics. `--previous-defaults` pins the simulated model's defaults before
// commit "simulated model defaults: a small CPU ASR model", for a before/after comparison.
//
//   node bench/interim-streams.ts [--streams 4] [--seconds 40] [--previous-defaults]
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { streamAudio } from '../src/client/stream-client.ts';
import { loadFixture, loopedRegions, loopPcm, silentPhases } from './fixture.ts';
import { scrape, sumOf, type Sample } from './metrics.ts';
import { startServer } from './server.ts';

const PREVIOUS_DEFAULTS = { delay: 0.5, constant_factor: 0.3, jitter: 0.2, warmup_penalty: 10 };

const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '40' },
    'previous-defaults': { type: 'boolean', default: false },
  },
});
const streams = Number(values.streams);
const seconds = Number(values.seconds);

/** histogram_quantile() as Prometheus computes it (linear within the bucket), over one histogram's buckets matching `match`. */
function histogramQuantile(samples: Sample[], name: string, q: number, match: Record<string, string> = {}): number | null {
  const byLe = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket` || !Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  const buckets = [...byLe.entries()].sort((a, b) => a[0] - b[0]);
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let [prevLe, prevCount] = [0, 0];
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return prevLe; // Prometheus: the highest finite bound
      return prevLe + ((le - prevLe) * (rank - prevCount)) / (count - prevCount);
    }
    [prevLe, prevCount] = [le, count];
  }
  return null;
}

const fixture = loadFixture();
const config = values['previous-defaults'] ? { model: PREVIOUS_DEFAULTS } : {};
const server = await startServer(config);
try {
  const t0 = performance.now();
  const lags: number[] = [];
  // Each stream hears the fixture from its own phase (in a silence), so that their speech does not line up.
  const phases = silentPhases(fixture, streams);
  const results = await Promise.all(
    Array.from({ length: streams }, async (_, i) => {
      const phaseBytes = Math.round(phases[i] * 16_000) * 2;
      const looped = loopPcm(fixture, seconds + fixture.durationSeconds);
      const pcm = looped.subarray(phaseBytes, phaseBytes + seconds * 32_000);
      const start = performance.now();
      return streamAudio({
        addr: server.ws('segmented'),
        format: { channels: 1, sample_rate: 16_000, bit_depth: 16, is_float: false },
        pcm,
        realTime: true,
        interimResults: true,
        chunkBytes: 3200,
        timeoutMs: 30 * 60_000,
        // Client-side lag: a final's arrival − the moment its audio ended in real time.
        onEvent: (e) => {
          if (e.type === 'segment' && e.is_final) lags.push((performance.now() - start) / 1000 - e.end_time);
        },
      });
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  const after = (await scrape(server.url)).samples;
  const model = { pipeline: 'model' };
  const finals = results.flatMap((r) => r.events).filter((e) => e.type === 'segment' && e.is_final).length;
  const interims = results.flatMap((r) => r.events).filter((e) => e.type === 'segment' && !e.is_final).length;
  const workers = availableParallelism(); // model.workers' default, the server runs on this machine
  const modelSeconds = sumOf(after, 'processing_duration_seconds_sum', model);
  const sorted = [...lags].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  const fmt = (x: number | null | undefined, digits = 2) => (x === null || x === undefined ? 'n/a' : x.toFixed(digits));
  console.log(`model: ${values['previous-defaults'] ? `previous defaults ${JSON.stringify(PREVIOUS_DEFAULTS)}` : 'the defaults'}`);
  // Speech regions each stream hears whole, with the VAD's 0.3 s of silence after them.
  const expected = phases.map((phase) => loopedRegions(fixture, seconds, 0.3, phase).length).reduce((a, b) => a + b, 0);
  const closes = results.map((r) => (r.closeCode === 1000 ? '1000' : `${r.closeCode} ${r.closeReason}`));
  console.log(`${streams} real-time streams with interim results, ${seconds} s each; wall ${fmt(wall, 1)} s; ${finals} finals (${expected} expected), ${interims} interims; closed: ${closes.join(', ')}`);
  console.log(`final_result_latency_seconds: p50 ${fmt(histogramQuantile(after, 'final_result_latency_seconds', 0.5))} s, p95 ${fmt(histogramQuantile(after, 'final_result_latency_seconds', 0.95))} s (histogram_quantile)`);
  console.log(`client-side final lag (arrival − end of its audio in real time): p50 ${fmt(at(0.5))} s, p95 ${fmt(at(0.95))} s, max ${fmt(sorted.at(-1))} s`);
  console.log(
    `model rtf: p95 ${fmt(histogramQuantile(after, 'rtf', 0.95, model))} (ModelRtfHigh: > 1), fleet ${fmt(modelSeconds / sumOf(after, 'media_duration_seconds_sum', model))}; ` +
      `model utilisation ${fmt(modelSeconds / wall / workers)} of ${workers} workers`,
  );
} finally {
  await server.stop();
}
