// The simple route's chunk policy measured (pipeline.simple_min_chunk_ms / start.chunk_ms and
// pipeline.simple_max_chunk_ms), with the simulated model on its default costs and the keywords
// backend (threshold 0.5, its default keywords):
//  - real time: a fixture in 20 ms frames at its real rate, for each candidate minimum (the stream's
//    chunk_ms): model calls and segment events per second per stream, result lag (a segment's
//    arrival − when the frame holding its last sample was sent), final_result_latency_seconds
//    {route="simple",endpoint="chunk"} from /metrics, model busy time per audio second, server CPU;
//    with keywords, whether the detections (keyword, time, score) are those of the smallest chunks;
//  - fast upload: the fixture sent as fast as the server reads it (20 ms frames, then as one frame),
//    for each candidate maximum (a server each): chunks, longest chunk, first result, longest gap
//    between results, time to stream_end.
//
//   node bench/simple-chunks.ts [--model simulated,keywords] [--fixture keywords] [--mins 0,100,250,500,1000]
//                               [--maxes 30000,5000,2000,1000] [--streams 1] [--repeat 2] [--skip-realtime] [--skip-fast]
import { parseArgs } from 'node:util';
import type { ServerEvent } from '../src/api/protocol.ts';
import { streamAudio } from '../src/client/stream-client.ts';
import { readWav } from '../src/client/wav.ts';
import { scrape, sumOf, type Sample } from './metrics.ts';
import { startServer, systemBusySeconds } from './server.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'simulated,keywords' },
    fixture: { type: 'string', default: 'keywords' },
    mins: { type: 'string', default: '0,100,250,500,1000' },
    maxes: { type: 'string', default: '30000,5000,2000,1000' },
    streams: { type: 'string', default: '1' },
    repeat: { type: 'string', default: '2' },
    'skip-realtime': { type: 'boolean', default: false },
    'skip-fast': { type: 'boolean', default: false },
  },
});
const list = (s: string) => s.split(',').map(Number);
const FRAME_BYTES = 640; // 20 ms of 16 kHz s16 mono
const MODELS: Record<string, Record<string, unknown>> = { simulated: {}, keywords: { backend: 'keywords', threshold: 0.5 } };
const wav = readWav(new URL(`../test/fixtures/${values.fixture}.wav`, import.meta.url).pathname);
if (wav.format.sample_rate !== 16_000 || wav.format.channels !== 1) throw new Error('the fixtures are 16 kHz mono');
const duration = wav.pcm.byteLength / 32_000;

type Seg = Extract<ServerEvent, { type: 'segment' }>;
interface Detection {
  keyword: string;
  time: number;
  score: number;
}

const fmt = (x: number | null | undefined, digits = 2) => (x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(digits));
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
};

/** histogram_quantile() over the delta of a histogram's buckets between two scrapes. */
function deltaQuantile(before: Sample[], after: Sample[], name: string, match: Record<string, string>, q: number): number {
  const bucketsOf = (samples: Sample[]) => {
    const m = new Map<number, number>();
    for (const s of samples) {
      if (s.name !== `${name}_bucket` || !Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      m.set(le, (m.get(le) ?? 0) + s.value);
    }
    return m;
  };
  const b0 = bucketsOf(before);
  const buckets = [...bucketsOf(after).entries()].map(([le, c]) => [le, c - (b0.get(le) ?? 0)] as const).sort((a, b) => a[0] - b[0]);
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let [prevLe, prevCount] = [0, 0];
  for (const [le, count] of buckets) {
    if (count >= rank) return le === Infinity ? prevLe : prevLe + ((le - prevLe) * (rank - prevCount)) / (count - prevCount);
    [prevLe, prevCount] = [le, count];
  }
  return NaN;
}

interface StreamRun {
  segments: Seg[];
  /** Per segment: arrival − when the frame holding its last sample was sent (s). */
  lags: number[];
  detections: Detection[];
  /** Wall seconds from the first frame to the first segment, to stream_end; longest gap between segments. */
  firstResult: number;
  end: number;
  longestGap: number;
}

async function oneStream(addr: string, opts: { realTime: boolean; chunkMs?: number; chunkBytes: number }): Promise<StreamRun> {
  const sent: { seconds: number; at: number }[] = [];
  const segments: Seg[] = [];
  const arrivals: number[] = [];
  let t0 = NaN;
  let endAt = NaN;
  const result = await streamAudio({
    addr,
    format: wav.format,
    pcm: wav.pcm,
    realTime: opts.realTime,
    chunkBytes: opts.chunkBytes,
    timeoutMs: 10 * 60_000,
    onProgress: (seconds) => {
      const at = performance.now();
      if (sent.length === 0) t0 = at;
      sent.push({ seconds, at });
    },
    onEvent: (e) => {
      if (e.type === 'segment') {
        segments.push(e);
        arrivals.push(performance.now());
      } else if (e.type === 'stream_end') endAt = performance.now();
    },
    chunkMs: opts.chunkMs,
  });
  if (result.closeCode !== 1000) throw new Error(`closed ${result.closeCode} ${result.closeReason}`);
  const errors = result.events.filter((e) => e.type === 'error');
  if (errors.length > 0) throw new Error(JSON.stringify(errors));
  const sentAt = (seconds: number) => (sent.find((s) => s.seconds >= seconds - 1e-9) ?? sent[sent.length - 1]).at;
  const lags = segments.map((s, i) => (arrivals[i] - sentAt(s.end_time)) / 1000);
  const gaps = arrivals.slice(1).map((a, i) => a - arrivals[i]);
  return {
    segments,
    lags,
    detections: segments.flatMap((s) => (s.keywords as Detection[] | undefined) ?? []),
    firstResult: (arrivals[0] - t0) / 1000,
    end: (endAt - t0) / 1000,
    longestGap: Math.max(0, ...gaps) / 1000,
  };
}

function checkTiling(run: StreamRun): void {
  let at = 0;
  for (const s of run.segments) {
    if (Math.abs(s.start_time - at) > 1e-9) throw new Error(`gap/overlap at ${at}`);
    at = s.end_time;
  }
  if (Math.abs(at - duration) > 1 / 16_000) throw new Error(`segments end at ${at}, audio ${duration}`);
}

async function realTime(model: string): Promise<void> {
  const streams = Number(values.streams);
  const server = await startServer({ model: MODELS[model], pipeline: { simple_max_chunk_ms: 30_000 }, limits: { max_streams: 600 } });
  console.log(`\n## ${model}: real time, ${streams} stream(s) of ${values.fixture}.wav (${fmt(duration)} s) in 20 ms frames; rows: each run`);
  console.log('| min chunk ms | calls/s per stream | events/s per stream | mean chunk s | client lag p50 / p95 / max s | metric latency mean / p50 / p95 s | model busy s per audio s | server CPU s per audio s | other cores | keywords |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  let reference: Detection[] | null = null;
  try {
    for (let r = 0; r < Number(values.repeat); r++) {
      for (const min of list(values.mins)) {
        const before = (await scrape(server.url)).samples;
        const cpu0 = server.cpuSeconds();
        const busy0 = systemBusySeconds();
        const own0 = process.cpuUsage();
        const w0 = performance.now();
        const runs = await Promise.all(Array.from({ length: streams }, () => oneStream(server.ws('simple'), { realTime: true, chunkMs: min, chunkBytes: FRAME_BYTES })));
        const wall = (performance.now() - w0) / 1000;
        const after = (await scrape(server.url)).samples;
        const cpu = server.cpuSeconds() - cpu0;
        const own = process.cpuUsage(own0);
        const other = (systemBusySeconds() - busy0 - cpu - (own.user + own.system) / 1e6) / wall;
        runs.forEach(checkTiling);
        const chunk = { route: 'simple', endpoint: 'chunk' };
        const count = sumOf(after, 'final_result_latency_seconds_count', chunk) - sumOf(before, 'final_result_latency_seconds_count', chunk);
        const sum = sumOf(after, 'final_result_latency_seconds_sum', chunk) - sumOf(before, 'final_result_latency_seconds_sum', chunk);
        const modelBusy = sumOf(after, 'processing_duration_seconds_sum', { pipeline: 'model' }) - sumOf(before, 'processing_duration_seconds_sum', { pipeline: 'model' });
        const segs = runs.reduce((n, x) => n + x.segments.length, 0);
        // Chunks forced by stop (the last one) are not in the lag: it measures the policy.
        const lags = runs.flatMap((x) => x.lags.slice(0, -1));
        const audio = streams * duration;
        let kw = '';
        if (model === 'keywords') {
          const d = runs[0].detections;
          reference ??= d;
          const same =
            d.length === reference.length && d.every((x, i) => x.keyword === reference![i].keyword && x.time === reference![i].time && Math.abs(x.score - reference![i].score) <= 1e-4);
          kw = `${same ? 'same' : 'DIFFERENT'}: ${d.map((x) => `${x.keyword}@${x.time.toFixed(2)}`).join(' ')}`;
        }
        console.log(
          `| ${min} | ${fmt(segs / streams / duration, 1)} | ${fmt(segs / streams / duration, 1)} | ${fmt(audio / segs, 3)} | ${fmt(quantile(lags, 0.5), 3)} / ${fmt(quantile(lags, 0.95), 3)} / ${fmt(Math.max(...lags), 3)} | ` +
            `${fmt(sum / count, 3)} / ${fmt(deltaQuantile(before, after, 'final_result_latency_seconds', chunk, 0.5), 3)} / ${fmt(deltaQuantile(before, after, 'final_result_latency_seconds', chunk, 0.95), 3)} | ` +
            `${fmt(modelBusy / audio, 3)} | ${fmt(cpu / audio, 3)} | ${fmt(other, 2)} | ${kw} |`,
        );
      }
    }
  } finally {
    await server.stop();
  }
}

async function fastUpload(model: string): Promise<void> {
  console.log(`\n## ${model}: fast upload of ${values.fixture}.wav (${fmt(duration)} s), 1 stream, default minimum; rows: each run`);
  console.log('| max chunk ms | frames | chunks | longest chunk s | first result s | longest gap s | stream_end s | model busy s |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const max of list(values.maxes)) {
    const server = await startServer({ model: MODELS[model], pipeline: { simple_max_chunk_ms: max } });
    try {
      for (let r = 0; r < Number(values.repeat); r++) {
        for (const [frames, chunkBytes] of [['20 ms', FRAME_BYTES], ['one', wav.pcm.byteLength]] as const) {
          const before = (await scrape(server.url)).samples;
          const run = await oneStream(server.ws('simple'), { realTime: false, chunkBytes });
          const after = (await scrape(server.url)).samples;
          checkTiling(run);
          const busy = sumOf(after, 'processing_duration_seconds_sum', { pipeline: 'model' }) - sumOf(before, 'processing_duration_seconds_sum', { pipeline: 'model' });
          const longest = Math.max(...run.segments.map((s) => s.end_time - s.start_time));
          console.log(`| ${max} | ${frames} | ${run.segments.length} | ${fmt(longest, 2)} | ${fmt(run.firstResult, 3)} | ${fmt(run.longestGap, 3)} | ${fmt(run.end, 3)} | ${fmt(busy, 3)} |`);
        }
      }
    } finally {
      await server.stop();
    }
  }
}

for (const model of values.model.split(',')) {
  if (!values['skip-realtime']) await realTime(model);
  if (!values['skip-fast']) await fastUpload(model);
}
