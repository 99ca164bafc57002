// Item 10: resuming after a lost connection (docs/protocol.md, "Resuming after a lost connection").
// N real-time segmented streams (the looped speech fixture, each from its own phase, 100 ms frames,
// interim results; the clients run in the bench process), each through a TCP forwarder of its own
// (test/helpers/switch-proxy.ts) to one server process. Two runs of the same streams, each on a fresh
// server: uncut (the baseline), then each stream's connection reset once, at a moment in its speech;
// `streamAudio` resumes it on a new connection from the last `committed` point and sends the audio
// from there again. Measured: the cut → the first result of the new connection that reports audio
// beyond what the old one had reported (baseline: the same moment of the uncut run → its first
// result beyond what had been reported then), the cut → the new stream's `started` (Resume.tookMs),
// the audio sent again (Resume.replayedSeconds), the server's CPU per audio second and the audio it
// received (its audio_received_seconds_total), and whether the finals are the uncut run's.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServerEvent } from '../src/api/protocol.ts';
import { SAME_EDGE_S } from '../src/client/resume-filter.ts';
import { streamAudio, type StreamResult } from '../src/client/stream-client.ts';
import { startSwitchProxy, type SwitchProxy } from '../test/helpers/switch-proxy.ts';
import { loadFixture, loopedRegions, loopPcm, SAMPLE_RATE, silentPhases, type Fixture } from './fixture.ts';
import { scrape, sumOf } from './metrics.ts';
import { startServer, systemBusySeconds, ZERO_MODEL } from './server.ts';
import { cpuSecondsSince, max, median } from './stats.ts';

/** Targets: the first new result within this of the cut (max over streams); CPU per audio second at most this × uncut. */
export const RESUME_FIRST_RESULT_TARGET_S = 1;
export const RESUME_CPU_TARGET = 1.2;
/** Edges of a final found again after a resume may move this much: the VAD starts afresh (two 32 ms windows). */
export const FINALS_TOLERANCE_S = SAME_EDGE_S;

const FORMAT = { channels: 1, sample_rate: SAMPLE_RATE, bit_depth: 16, is_float: false };
const FRAME_MS = 100;
const FRAME_BYTES = (SAMPLE_RATE * 2 * FRAME_MS) / 1000;
/** How far inside speech a cut lands at least (s): a cut at its edge would be one in silence. */
const SPEECH_MARGIN_S = 0.2;

export interface ResumeOptions {
  streams: number;
  /** Audio per stream (the fixture looped), sent in real time. */
  audioSeconds: number;
  /** Cuts fall in speech between these fractions of the audio. */
  cutBetween: [number, number];
  /** Stream starts are spread over this. */
  staggerMs: number;
  onStep?: (label: string) => void;
}

type Segment = Extract<ServerEvent, { type: 'segment' }>;

export interface ResumeStream {
  /** Audio second (of this stream) at which it was cut (in the uncut run: the same moment, marked). */
  cutAtS: number;
  /** The cut → the first result of the new connection reporting audio beyond what was reported before it (s); null: none came. */
  firstNewResultS: number | null;
  resumes: number;
  /** The first resume's Resume.tookMs and replayedSeconds (null: no resume). */
  tookMs: number | null;
  replayedS: number | null;
  closeCode: number | null;
  /** `active` events delivered while the channel's segment was already open: a segment started twice. */
  doubledActives: number;
  /** A rejected stream, a failed resume. */
  error: string | null;
}

export interface ResumeRun {
  cut: boolean;
  wallSeconds: number;
  serverCpuSeconds: number;
  /** Audio of the streams (each second once) that the clients sent. */
  streamAudioSeconds: number;
  /** The server's audio_received_seconds_total{route="segmented"} over the run: replays included. */
  receivedSeconds: number;
  /** Server CPU per second of the streams' audio, and per second it received. */
  cpuPerAudioSecond: number;
  cpuPerReceivedSecond: number;
  /** The server's stream_resumes_total over the run. */
  serverResumes: number;
  otherCores: number;
  perStream: ResumeStream[];
}

export interface FinalsCheck {
  /** Finals of the uncut run. */
  reference: number;
  /** Of those, found in the cut run with both edges within SAME_EDGE_S. */
  equal: number;
  /** Found with an edge further off; none found; found more than once (a second final over the same speech). */
  shifted: number;
  lost: number;
  doubled: number;
  /** Finals of the cut run over audio the uncut run had no final for. */
  extra: number;
}

export interface ResumeResults {
  streams: number;
  audioSeconds: number;
  uncut: ResumeRun;
  cut: ResumeRun;
  /** Streams of the cut run that did not resume exactly once, failed, or did not end with 1000. */
  failed: number;
  firstNewResultMedianS: number | null;
  firstNewResultMaxS: number | null;
  /** Cuts after which no result came (the audio ended first). */
  withoutNewResult: number;
  baselineFirstResultMedianS: number | null;
  baselineFirstResultMaxS: number | null;
  tookMedianMs: number | null;
  tookMaxMs: number | null;
  replayedMedianS: number | null;
  replayedMaxS: number | null;
  replayedTotalS: number;
  /** The cut run's received audio − the uncut run's (the server's count). */
  extraReceivedS: number;
  /** cut / uncut server CPU per second of the streams' audio (replay included), and per second received. */
  cpuRatio: number;
  cpuPerReceivedRatio: number;
  finals: FinalsCheck;
  /** `active` events the cut run delivered twice for one segment, and the uncut run's (0 expected). */
  doubledActives: number;
  doubledActivesUncut: number;
}

interface StreamPlan {
  pcm: Uint8Array;
  cutAtS: number;
}

interface Tracked {
  /** Every event with when onEvent got it (performance.now()). */
  events: { e: ServerEvent; at: number }[];
  /** When the stream had sent its cut point (the cut), and how many events had come by then. */
  markAt?: number;
  markIndex?: number;
  result?: StreamResult;
  error?: string;
}

export async function runResume(options: ResumeOptions): Promise<ResumeResults> {
  const fixture = loadFixture();
  const plans = planStreams(fixture, options);
  options.onStep?.(`resume: ${options.streams} streams of ${options.audioSeconds} s, uncut (baseline)`);
  const uncut = await runStreams(plans, options, false);
  options.onStep?.(`resume: the same streams, each cut once in its speech`);
  const cut = await runStreams(plans, options, true);

  const finals = emptyCheck();
  for (const [i, c] of cut.tracked.entries()) {
    const reference = finalsOf(uncut.tracked[i].result);
    const check = compareFinals(reference, finalsOf(c.result), FINALS_TOLERANCE_S);
    for (const k of Object.keys(finals) as (keyof FinalsCheck)[]) finals[k] += check[k];
  }
  const streams = cut.run.perStream;
  const firstNew = streams.flatMap((s) => (s.firstNewResultS === null ? [] : [s.firstNewResultS]));
  const baseline = uncut.run.perStream.flatMap((s) => (s.firstNewResultS === null ? [] : [s.firstNewResultS]));
  const took = streams.flatMap((s) => (s.tookMs === null ? [] : [s.tookMs]));
  const replayed = streams.flatMap((s) => (s.replayedS === null ? [] : [s.replayedS]));
  return {
    streams: options.streams,
    audioSeconds: options.audioSeconds,
    uncut: uncut.run,
    cut: cut.run,
    failed: streams.filter((s) => s.resumes !== 1 || s.error !== null || s.closeCode !== 1000).length,
    firstNewResultMedianS: median(firstNew),
    firstNewResultMaxS: max(firstNew),
    withoutNewResult: streams.filter((s) => s.resumes > 0 && s.firstNewResultS === null).length,
    baselineFirstResultMedianS: median(baseline),
    baselineFirstResultMaxS: max(baseline),
    tookMedianMs: median(took),
    tookMaxMs: max(took),
    replayedMedianS: median(replayed),
    replayedMaxS: max(replayed),
    replayedTotalS: replayed.reduce((a, b) => a + b, 0),
    extraReceivedS: cut.run.receivedSeconds - uncut.run.receivedSeconds,
    cpuRatio: cut.run.cpuPerAudioSecond / uncut.run.cpuPerAudioSecond,
    cpuPerReceivedRatio: cut.run.cpuPerReceivedSecond / uncut.run.cpuPerReceivedSecond,
    finals,
    doubledActives: streams.reduce((n, s) => n + s.doubledActives, 0),
    doubledActivesUncut: uncut.run.perStream.reduce((n, s) => n + s.doubledActives, 0),
  };
}

/**
 * Stream i hears the looped fixture from its own phase (spread over the fixture's silences, so that
 * streams are not in step) and is cut inside one of its speech regions between `cutBetween`: the
 * regions taken in turn, the point inside each spread over its length (from SPEECH_MARGIN_S after
 * its start to SPEECH_MARGIN_S before its end), so that cuts replay short and long stretches.
 */
export function planStreams(fixture: Fixture, options: Pick<ResumeOptions, 'streams' | 'audioSeconds' | 'cutBetween'>): StreamPlan[] {
  const { streams, audioSeconds } = options;
  const [lo, hi] = options.cutBetween.map((f) => f * audioSeconds);
  const looped = loopPcm(fixture, audioSeconds + fixture.durationSeconds);
  const bytes = Math.round(audioSeconds * SAMPLE_RATE) * 2;
  return silentPhases(fixture, streams).map((phase, i) => {
    const from = Math.round(phase * SAMPLE_RATE) * 2;
    const speech = loopedRegions(fixture, audioSeconds, 0, phase)
      .map((r) => ({ start: Math.max(lo, r.start + SPEECH_MARGIN_S), end: Math.min(hi, r.end - SPEECH_MARGIN_S) }))
      .filter((r) => r.end > r.start);
    const region = speech[i % Math.max(1, speech.length)];
    const along = (i * 0.618034) % 1; // spread evenly whatever the stream count
    const cutAtS = region ? region.start + along * (region.end - region.start) : (lo + hi) / 2;
    return { pcm: looped.subarray(from, from + bytes), cutAtS };
  });
}

/**
 * When stream i starts: spread over `staggerMs` in whole frames, plus i/n of a frame, so that the
 * streams' frames arrive at n different moments of the 100 ms frame period. (Starts i·stagger/n apart,
 * 50 ms for 20 streams over 1 s, put every frame at one of two moments: the VAD then batched ten
 * requests at once, and a resumed stream, whose frames fall elsewhere in the period after its replay,
 * made the cut run cost ~20 % more CPU than that uncut baseline for reasons that had nothing to do
 * with the replay.)
 */
export function startDelayMs(i: number, n: number, staggerMs: number): number {
  return Math.floor((i * staggerMs) / n / FRAME_MS) * FRAME_MS + (i * FRAME_MS) / n;
}

async function runStreams(plans: StreamPlan[], options: ResumeOptions, cut: boolean): Promise<{ run: ResumeRun; tracked: Tracked[] }> {
  const server = await startServer({ model: ZERO_MODEL, shutdown: { drain_timeout_ms: 2000 } });
  const proxies: SwitchProxy[] = [];
  try {
    const port = Number(new URL(server.url).port);
    for (const _ of plans) proxies.push(await startSwitchProxy(port));
    const before = (await scrape(server.url)).samples;
    const cpu0 = server.cpuSeconds();
    const busy0 = systemBusySeconds();
    const self0 = process.cpuUsage();
    const started = performance.now();
    const tracked = plans.map((): Tracked => ({ events: [] }));
    await Promise.all(
      plans.map(async (plan, i) => {
        await sleep(startDelayMs(i, plans.length, options.staggerMs));
        const t = tracked[i];
        try {
          t.result = await streamAudio({
            addr: `ws://127.0.0.1:${proxies[i].port}/api/v1/segmented`,
            format: FORMAT,
            pcm: plan.pcm,
            realTime: true,
            chunkBytes: FRAME_BYTES,
            interimResults: true,
            timeoutMs: (options.audioSeconds + 60) * 1000,
            onEvent: (e) => t.events.push({ e, at: performance.now() }),
            onProgress: (sentS) => {
              if (t.markAt !== undefined || sentS < plan.cutAtS) return;
              t.markAt = performance.now();
              t.markIndex = t.events.length;
              if (cut) proxies[i].reset(); // both ways, no close frame: the client sees 1006 and resumes
            },
          });
        } catch (err) {
          t.error = err instanceof Error ? err.message : String(err);
        }
      }),
    );
    const serverCpuSeconds = server.cpuSeconds() - cpu0;
    const wallSeconds = (performance.now() - started) / 1000;
    const otherCpu = systemBusySeconds() - busy0 - serverCpuSeconds - cpuSecondsSince(self0);
    const after = (await scrape(server.url)).samples;
    const counter = (name: string) => sumOf(after, name, { route: 'segmented' }) - sumOf(before, name, { route: 'segmented' });
    const receivedSeconds = counter('audio_received_seconds_total');
    const streamAudioSeconds = plans.reduce((s, p) => s + p.pcm.byteLength / (SAMPLE_RATE * 2), 0);
    const perStream = plans.map((plan, i) => streamOutcome(plan, tracked[i], cut));
    return {
      tracked,
      run: {
        cut,
        wallSeconds,
        serverCpuSeconds,
        streamAudioSeconds,
        receivedSeconds,
        cpuPerAudioSecond: serverCpuSeconds / streamAudioSeconds,
        cpuPerReceivedSecond: serverCpuSeconds / Math.max(1e-9, receivedSeconds),
        serverResumes: counter('stream_resumes_total'),
        otherCores: Math.max(0, otherCpu / wallSeconds),
        perStream,
      },
    };
  } finally {
    await Promise.all(proxies.map((p) => p.close()));
    await server.stop();
  }
}

function streamOutcome(plan: StreamPlan, t: Tracked, cut: boolean): ResumeStream {
  const r = t.result;
  const resume = r?.resumes[0];
  let error = t.error ?? (r?.resumeFailure ? `resume failed: ${r.resumeFailure.why}` : null);
  // The events of the connection that took over are the ones after the earlier connections' (onEvent
  // gets them connection after connection); uncut, the ones after the mark.
  let split: number | null = cut ? null : (t.markIndex ?? null);
  if (r && resume) {
    const delivered = r.connections.slice(0, resume.to).reduce((n, c) => n + c.events.length, 0);
    if (r.events.length === t.events.length) split = delivered;
    else error ??= `onEvent got ${t.events.length} events, the result has ${r.events.length}`;
  }
  return {
    cutAtS: plan.cutAtS,
    firstNewResultS: split === null || t.markAt === undefined ? null : firstResultBeyond(t.events, split, t.markAt),
    resumes: r?.resumes.length ?? 0,
    tookMs: resume?.tookMs ?? null,
    replayedS: resume?.replayedSeconds ?? null,
    closeCode: r?.closeCode ?? null,
    doubledActives: doubledActives(r?.events ?? []),
    error,
  };
}

/** Seconds from `since` to the first segment from `split` on that ends after every segment before `split`. */
export function firstResultBeyond(events: { e: ServerEvent; at: number }[], split: number, since: number): number | null {
  let reportedTo = -Infinity;
  for (const { e } of events.slice(0, split)) if (e.type === 'segment') reportedTo = Math.max(reportedTo, e.end_time);
  const first = events.slice(split).find(({ e }) => e.type === 'segment' && e.end_time > reportedTo + 1e-6);
  return first ? (first.at - since) / 1000 : null;
}

/**
 * `active` events that came while the channel's segment was open (no `inactive` or final since its
 * `active`). A resumed stream's VAD may find the segment's start up to two windows off; the client
 * must drop that second `active` (docs/protocol.md: drop what repeats what was received).
 */
export function doubledActives(events: ServerEvent[]): number {
  const open = new Set<number>();
  let n = 0;
  for (const e of events) {
    if (e.type === 'active') {
      if (open.has(e.channel)) n++;
      open.add(e.channel);
    } else if (e.type === 'inactive' || (e.type === 'segment' && e.is_final === true)) open.delete(e.channel);
  }
  return n;
}

const finalsOf = (r: StreamResult | undefined): Segment[] => (r?.events ?? []).filter((e): e is Segment => e.type === 'segment' && e.is_final === true);

const emptyCheck = (): FinalsCheck => ({ reference: 0, equal: 0, shifted: 0, lost: 0, doubled: 0, extra: 0 });

/** The cut run's finals against the uncut run's: the same within `tolS` at both edges, shifted, lost, doubled or extra. */
export function compareFinals(reference: Segment[], got: Segment[], tolS: number): FinalsCheck {
  const out = { ...emptyCheck(), reference: reference.length };
  const used = new Set<number>();
  const unmatched: Segment[] = [];
  const near = (a: Segment, b: Segment) => Math.abs(a.start_time - b.start_time) <= tolS + 1e-9 && Math.abs(a.end_time - b.end_time) <= tolS + 1e-9;
  const overlaps = (a: Segment, b: Segment) => a.start_time < b.end_time && b.start_time < a.end_time;
  for (const want of reference) {
    const k = got.findIndex((g, j) => !used.has(j) && near(g, want));
    if (k >= 0) {
      used.add(k);
      out.equal++;
    } else unmatched.push(want);
  }
  for (const want of unmatched) {
    const k = got.findIndex((g, j) => !used.has(j) && overlaps(g, want));
    if (k >= 0) {
      used.add(k);
      out.shifted++;
    } else out.lost++;
  }
  got.forEach((g, j) => {
    if (used.has(j)) return;
    if (reference.some((want) => overlaps(g, want))) out.doubled++;
    else out.extra++;
  });
  return out;
}
