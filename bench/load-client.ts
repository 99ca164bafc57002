// Load client, run as its own process by the benchmark (so that its CPU is not the server's):
// opens N websocket streams, each sending the looped speech fixture (16 kHz mono s16) in frames,
// and prints one JSON report (LoadReport) on stdout.
//
//   node bench/load-client.ts --url ws://127.0.0.1:PORT/api/v1/segmented \
//     --streams 100 --duration 20 [--frame-ms 100] [--stagger-ms 1000] [--drain-timeout 20] [--fast] [--in-phase]
//
// Real time (default): stream i starts at i·stagger/N and hears the looped fixture from its own
// phase (spread over the fixture's silences, so that streams are not in step); its audio clock
// starts when `start` is sent (t0), and frame k, covering [k, k+1)·frame of audio, is sent when that audio has been "recorded":
// at t0 + (k+1)·frame, computed from t0 (timers only, no drift). Lag of a final segment =
// arrival − (t0 + end_time): how long after the speech really ended the user gets the result.
// A VAD final can only come after min_silence of silence (0.3 s by default, minus the 30 ms pad
// that end_time includes), so `lagAfterSilence` = lag − min_silence shows the service's own share;
// the raw lag is what users see and is the headline. Finals that end at the end of the audio
// (forced by `stop`) are counted apart and left out of the lag.
//
// --in-phase: every stream hears the fixture from the same point, IN_PHASE_S (a burst: with a short
// stagger, every stream ends its utterances within the same stagger window).
// `lagAfterEndpoint` = arrival − when the frame holding the VAD's endpoint was sent: what the
// service and the network add, without the min-silence wait and the framing. The endpoint is where
// the service's segmenter confirms the silence with its default settings: the first 512-sample
// window ending min_silence (rounded up to whole windows) after the silence start, which is
// end_time − the 30 ms pad.
// --fast: no pacing, every frame is written at once (throughput runs); no lag is measured.
// --hold: once its audio is sent a stream stays open (a keepalive every 5 s) until stdin ends; the
// line `holding <n>` on stderr says that every stream got there (for /metrics at N open streams).
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { loadFixture, loopedRegions, loopPcm, SAMPLE_RATE, silentPhases } from './fixture.ts';
import { cpuSecondsSince, distribution, quantile, type Distribution } from './stats.ts';

export interface LoadReport {
  mode: 'realtime' | 'fast';
  streams: number;
  durationSeconds: number;
  opened: number;
  /** stream_end received. */
  completed: number;
  /** Refused with too_many_streams. */
  refused: number;
  connectFailures: number;
  /** Distinct connection error messages (at most 5) and how often. */
  connectErrors: Record<string, number>;
  /** Still open at the drain deadline (terminated). */
  incomplete: number;
  /** Error events by code. */
  errors: Record<string, number>;
  closeCodes: Record<string, number>;
  segments: number;
  /** Final segments endpointed by the VAD (lag measured), and those forced by the end of the audio. */
  finals: number;
  finalsEndOfAudio: number;
  /** Speech regions of the audio followed by enough silence to be endpointed, × opened streams. */
  expectedFinals: number;
  missingFinals: number;
  /** Seconds. */
  lag: Distribution;
  lagAfterSilence: Distribution;
  /** Absent in results written before it existed. */
  lagAfterEndpoint?: Distribution;
  /** p99 over expected finals counting missing ones as infinitely late; null if that is where it lands. */
  lagP99InclMissing: number | null;
  sendLatenessMs: Distribution;
  clientEventLoopDelayMs: Distribution;
  audioSecondsSent: number;
  /** Binary frames sent, every stream together (absent in results written before it existed). */
  framesSent?: number;
  /** First connection attempt → last socket closed. */
  wallSeconds: number;
  clientCpuSeconds: number;
}

interface Options {
  url: string;
  streams: number;
  duration: number;
  frameMs: number;
  staggerMs: number;
  drainTimeoutS: number;
  minSilenceS: number;
  fast: boolean;
  hold: boolean;
  inPhase: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      streams: { type: 'string', default: '10' },
      duration: { type: 'string', default: '20' },
      'frame-ms': { type: 'string', default: '100' },
      'stagger-ms': { type: 'string', default: '1000' },
      'drain-timeout': { type: 'string', default: '20' },
      'min-silence-ms': { type: 'string', default: '300' },
      fast: { type: 'boolean', default: false },
      hold: { type: 'boolean', default: false },
      'in-phase': { type: 'boolean', default: false },
    },
  });
  if (!values.url) throw new Error('--url is required');
  return {
    url: values.url,
    streams: Number(values.streams),
    duration: Number(values.duration),
    frameMs: Number(values['frame-ms']),
    staggerMs: Number(values['stagger-ms']),
    drainTimeoutS: Number(values['drain-timeout']),
    minSilenceS: Number(values['min-silence-ms']) / 1000,
    fast: values.fast,
    hold: values.hold,
    inPhase: values['in-phase'],
  };
}

/**
 * Where --in-phase streams start hearing the fixture (in its first silence). From this point the
 * frame holding each endpoint is sent 0.29–0.34 s after the segment's end_time (from its start:
 * 0.33–0.37 s), so the floor of the lag is near the min-silence, as an operator's clients would
 * mostly see it.
 */
const IN_PHASE_S = 0.08;
const VAD_WINDOW = 512;
const SPEECH_PAD_S = 0.03;

/** Index of the frame holding the last sample of the window where the VAD confirmed the silence before `endTime`. */
function endpointFrame(endTime: number, opts: Options): number {
  const silenceStart = Math.round((endTime - SPEECH_PAD_S) * SAMPLE_RATE);
  const endpoint = silenceStart + Math.ceil((opts.minSilenceS * SAMPLE_RATE) / VAD_WINDOW) * VAD_WINDOW;
  return Math.floor((endpoint - 1) / Math.round((opts.frameMs / 1000) * SAMPLE_RATE));
}

interface ServerMessage {
  type?: string;
  is_final?: boolean;
  end_time?: number;
  code?: string;
}

/** Records how late a timer due every 20 ms fires: this process's own event-loop delay. */
function delayProbe(): { stop(): number[] } {
  const late: number[] = [];
  let expected = performance.now() + 20;
  let timer = setTimeout(function tick() {
    late.push(Math.max(0, performance.now() - expected));
    expected = performance.now() + 20;
    timer = setTimeout(tick, 20);
  }, 20);
  return {
    stop() {
      clearTimeout(timer);
      return late;
    },
  };
}

class Totals {
  opened = 0;
  /** Finals the opened streams should get (each stream hears the fixture from its own phase). */
  expectedFinals = 0;
  completed = 0;
  refused = 0;
  connectFailures = 0;
  connectErrors: Record<string, number> = {};
  incomplete = 0;
  segments = 0;
  finals = 0;
  finalsEndOfAudio = 0;
  missingFinals = 0;
  audioBytesSent = 0;
  framesSent = 0;
  errors: Record<string, number> = {};
  closeCodes: Record<string, number> = {};
  lags: number[] = [];
  afterEndpoint: number[] = [];
  lateness: number[] = [];
}

/** --hold: streams whose audio is sent, each with the function that stops it. */
class Holding {
  private readonly stops: (() => void)[] = [];
  private released = false;
  /** Settled streams (holding, failed or closed) of the expected total. */
  private settled = 0;
  private readonly total: number;
  constructor(total: number) {
    this.total = total;
  }

  hold(stop: () => void): void {
    if (this.released) return stop();
    this.stops.push(stop);
  }
  /** Called once per stream, when it holds or when it ended without getting there. */
  settle(): void {
    if (++this.settled === this.total) process.stderr.write(`holding ${this.stops.length}\n`);
  }
  release(): void {
    this.released = true;
    for (const stop of this.stops.splice(0)) stop();
  }
}

/** One stream: connect, start, frames, stop; resolves when its socket is closed. */
function runStream(
  opts: Options,
  pcm: Uint8Array,
  expectedFinals: number,
  totals: Totals,
  sockets: Set<WebSocket>,
  holding: Holding,
): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(opts.url, { perMessageDeflate: false, handshakeTimeout: 10_000 });
    sockets.add(ws);
    const frameBytes = Math.round((opts.frameMs / 1000) * SAMPLE_RATE) * 2;
    const frames = Math.ceil(pcm.byteLength / frameBytes);
    let t0 = 0;
    /** performance.now() when each frame was sent. */
    const sentAt: number[] = [];
    let opened = false;
    let completed = false;
    let finals = 0;
    let timer: NodeJS.Timeout | undefined;
    let keepalive: NodeJS.Timeout | undefined;
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      holding.settle();
    };

    const sendFrame = (k: number) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      const chunk = pcm.subarray(k * frameBytes, Math.min(pcm.byteLength, (k + 1) * frameBytes));
      ws.send(chunk);
      sentAt[k] = performance.now();
      totals.audioBytesSent += chunk.byteLength;
      totals.framesSent++;
    };
    const stop = () => {
      clearInterval(keepalive);
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ request: 'stop', disconnect: true }));
    };
    const audioSent = () => {
      if (!opts.hold) return stop();
      keepalive = setInterval(() => {
        if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ request: 'keepalive' }));
      }, 5000);
      holding.hold(stop);
      settle();
    };
    const schedule = (k: number) => {
      if (k >= frames) return audioSent();
      const due = t0 + (k + 1) * opts.frameMs;
      timer = setTimeout(
        () => {
          totals.lateness.push(Math.max(0, performance.now() - due));
          sendFrame(k);
          schedule(k + 1);
        },
        Math.max(0, due - performance.now()),
      );
    };

    ws.on('error', (err: Error) => {
      if (opened) return;
      totals.connectFailures++;
      const known = Object.keys(totals.connectErrors);
      if (known.includes(err.message) || known.length < 5) totals.connectErrors[err.message] = (totals.connectErrors[err.message] ?? 0) + 1;
    });
    ws.on('open', () => {
      opened = true;
      totals.opened++;
      totals.expectedFinals += expectedFinals;
      ws.send(JSON.stringify({ request: 'start', format: { channels: 1, sample_rate: SAMPLE_RATE, bit_depth: 16, is_float: false } }));
      t0 = performance.now();
      if (opts.fast) {
        for (let k = 0; k < frames; k++) sendFrame(k);
        audioSent();
      } else {
        schedule(0);
      }
    });
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      if (isBinary) return;
      const now = performance.now();
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      let msg: ServerMessage;
      try {
        msg = JSON.parse(buf.toString('utf8')) as ServerMessage;
      } catch {
        totals.errors.invalid_frame = (totals.errors.invalid_frame ?? 0) + 1;
        return;
      }
      if (msg.type === 'segment') {
        totals.segments++;
        if (msg.is_final !== false && !opts.fast && typeof msg.end_time === 'number') {
          if (msg.end_time >= opts.duration - 0.05) {
            totals.finalsEndOfAudio++;
          } else {
            finals++;
            totals.finals++;
            totals.lags.push((now - t0) / 1000 - msg.end_time);
            const sent = sentAt[endpointFrame(msg.end_time, opts)];
            if (sent !== undefined) totals.afterEndpoint.push((now - sent) / 1000);
          }
        }
      } else if (msg.type === 'stream_end') {
        completed = true;
        totals.completed++;
      } else if (msg.type === 'error') {
        const code = msg.code ?? 'unknown';
        totals.errors[code] = (totals.errors[code] ?? 0) + 1;
        if (code === 'too_many_streams') totals.refused++;
      }
    });
    ws.on('close', (code: number) => {
      clearTimeout(timer);
      clearInterval(keepalive);
      settle();
      sockets.delete(ws);
      totals.closeCodes[code] = (totals.closeCodes[code] ?? 0) + 1;
      if (opened && !completed) totals.incomplete++;
      if (opened && !opts.fast) totals.missingFinals += Math.max(0, expectedFinals - finals);
      resolve();
    });
  });
}

async function main(): Promise<void> {
  const opts = parseOptions();
  const fixture = loadFixture();
  // One loop a fixture longer than needed; stream i hears it from its own phase (silentPhases).
  const looped = loopPcm(fixture, opts.duration + fixture.durationSeconds);
  const bytes = Math.round(opts.duration * SAMPLE_RATE) * 2;
  const phases = opts.inPhase ? new Array<number>(opts.streams).fill(IN_PHASE_S) : silentPhases(fixture, opts.streams);
  const pcmOf = (i: number) => {
    const at = Math.round(phases[i] * SAMPLE_RATE) * 2;
    return looped.subarray(at, at + bytes);
  };
  // A region is endpointed by the VAD if min_silence (plus a window and a frame) of audio follows it.
  const expectedOf = (i: number) => loopedRegions(fixture, opts.duration, opts.minSilenceS + 0.15, phases[i]).length;
  const totals = new Totals();
  const sockets = new Set<WebSocket>();
  const holding = new Holding(opts.hold ? opts.streams : -1);
  const terminateAll = () => {
    for (const ws of sockets) ws.terminate();
  };
  if (opts.hold) {
    process.stdin.on('end', () => {
      holding.release();
      setTimeout(terminateAll, opts.drainTimeoutS * 1000);
    });
    process.stdin.resume();
  }
  const probe = delayProbe();
  const cpu = process.cpuUsage();
  const t0 = performance.now();

  const runs: Promise<void>[] = [];
  for (let i = 0; i < opts.streams; i++) {
    const startAt = t0 + (opts.fast ? 0 : (i * opts.staggerMs) / opts.streams);
    const wait = startAt - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    runs.push(runStream(opts, pcmOf(i), expectedOf(i), totals, sockets, holding));
  }
  // Everything should be answered within the drain timeout after the last audio was due.
  const drainBy = (opts.fast ? 0 : opts.staggerMs + opts.duration * 1000) + opts.drainTimeoutS * 1000;
  const deadline = opts.hold ? undefined : setTimeout(terminateAll, drainBy);
  await Promise.all(runs);
  clearTimeout(deadline);

  const wallSeconds = (performance.now() - t0) / 1000;
  const clientCpuSeconds = cpuSecondsSince(cpu);
  const expectedFinals = opts.fast ? 0 : totals.expectedFinals;
  const withMissing = [...totals.lags, ...new Array<number>(totals.missingFinals).fill(Infinity)];
  const p99All = quantile(withMissing, 0.99);
  const report: LoadReport = {
    mode: opts.fast ? 'fast' : 'realtime',
    streams: opts.streams,
    durationSeconds: opts.duration,
    opened: totals.opened,
    completed: totals.completed,
    refused: totals.refused,
    connectFailures: totals.connectFailures,
    connectErrors: totals.connectErrors,
    incomplete: totals.incomplete,
    errors: totals.errors,
    closeCodes: totals.closeCodes,
    segments: totals.segments,
    finals: totals.finals,
    finalsEndOfAudio: totals.finalsEndOfAudio,
    expectedFinals,
    missingFinals: totals.missingFinals,
    lag: distribution(totals.lags),
    lagAfterSilence: distribution(totals.lags.map((l) => l - opts.minSilenceS)),
    lagAfterEndpoint: distribution(totals.afterEndpoint),
    lagP99InclMissing: p99All === null || Number.isFinite(p99All) ? p99All : null,
    sendLatenessMs: distribution(totals.lateness),
    clientEventLoopDelayMs: distribution(probe.stop()),
    audioSecondsSent: totals.audioBytesSent / 2 / SAMPLE_RATE,
    framesSent: totals.framesSent,
    wallSeconds,
    clientCpuSeconds,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0));
}

await main();
