// Item 9: a small rolling restart (test/fleet's harness: three instances with the production command
// behind the shipped HAProxy cfg, scraped by the shipped Prometheus config). Real-time streams of the
// looped speech fixture with interim results go through HAProxy, each from its own phase of the 8 s
// loop (so that a restart catches them at different points of the speech); once they have sent given amounts of
// audio, the instances get SIGTERM one at a time; each drains (the project's client moves its streams
// on `going_away`), exits, is started again on its port, and is UP in HAProxy before the next.
// Measured: streams told to go and moved per restart, and the longest gap between consecutive results
// (segment events, interim or final, when the client's onEvent got them) of a moved stream around its
// move, from the last result before the notice to the first result of the new connection; baseline:
// the same stream's longest gap outside its moves (silences between sentences included), same run.
// Also the lag of interim results (arrival − when the audio up to the segment's end was sent) around
// the move and elsewhere: a gap can grow because a move ends a segment early, a lag only because
// results are late. (Finals wait for 0.3 s of silence, or come at once when a move ends their segment:
// their lag says nothing about the move.)
// Skipped, with the reason, when haproxy or prometheus is not installed.
import { execFileSync } from 'node:child_process';
import type { ServerEvent } from '../src/api/protocol.ts';
import { allUp, startFleet, type Fleet } from '../test/fleet/fleet.ts';
import { fixture, INSTANCE_CONFIG, loopedPcm, stream, type Streamed } from '../test/fleet/streams.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { max, median } from './stats.ts';

export interface FleetOptions {
  streams: number;
  /** Audio per stream (the fixture looped), sent in real time. */
  audioSeconds: number;
  /** Restart k begins once every stream has sent restartAtS[k] seconds of audio (one per instance, at most three). */
  restartAtS: number[];
  drainMs: number;
  onStep?: (label: string) => void;
}

export interface FleetRestart {
  name: string;
  /** Streams that got `going_away` from it, and those that moved to a new connection. */
  notified: number;
  moved: number;
  /** SIGTERM until HAProxy's stats socket showed it DOWN, until its process exited, until the new one was UP. */
  outOfRotationMs: number;
  drainedMs: number;
  backUpMs: number;
}

export interface FleetGap {
  /** Longest gap between consecutive results around the move (s). */
  aroundMoveS: number;
  /** The same stream's longest gap outside its moves (s). */
  baselineS: number;
  /** Longest lag of the interim results around the move (null: none there), and of the same stream's elsewhere (s). */
  aroundMoveLagS: number | null;
  baselineLagS: number | null;
  /** Seconds of audio the new connection was sent again, from the old one's last committed point (Move.replayedSeconds). */
  replayedS: number;
}

export interface FleetResults {
  skipped: string | null;
  streams: number;
  audioSeconds: number;
  restarts: FleetRestart[];
  moves: number;
  /** Streams without stream_end on their last connection, or that could not move (moveFailure) or resume, or failed. */
  lost: number;
  gaps: FleetGap[];
  /** Moves without a result on the new connection (the audio ended in silence): no gap to measure. */
  movesWithoutResultAfter: number;
  aroundMoveMedianS: number | null;
  aroundMoveMaxS: number | null;
  baselineMedianS: number | null;
  baselineMaxS: number | null;
  replayedMedianS: number | null;
  replayedMaxS: number | null;
  lagAroundMoveMaxS: number | null;
  lagBaselineMaxS: number | null;
}

/** Why the item cannot run here, or null. */
function missing(): string | null {
  const absent = ['haproxy', 'prometheus'].filter((tool) => {
    try {
      execFileSync(tool, [tool === 'haproxy' ? '-v' : '--version'], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  return absent.length === 0 ? null : `${absent.join(' and ')} not installed (apt-get install ${absent.join(' ')})`;
}

interface Tracked {
  /** Every event with when onEvent got it (performance.now()). */
  events: { e: ServerEvent; at: number }[];
  moves: number[];
  sentSeconds: number;
  /** When the first audio went out: audio second a went out at t0 + a (real time). */
  t0?: number;
  result?: Streamed;
  error?: string;
}

export async function runFleet(options: FleetOptions): Promise<FleetResults> {
  const { streams, audioSeconds } = options;
  const empty = { streams, audioSeconds, restarts: [], moves: 0, lost: 0, gaps: [], movesWithoutResultAfter: 0 };
  const none = { aroundMoveMedianS: null, aroundMoveMaxS: null, baselineMedianS: null, baselineMaxS: null, replayedMedianS: null, replayedMaxS: null, lagAroundMoveMaxS: null, lagBaselineMaxS: null };
  const skipped = missing();
  if (skipped) return { skipped, ...empty, ...none };

  options.onStep?.(`fleet: three instances behind HAProxy, ${streams} streams of ${audioSeconds} s`);
  const fleet = await startFleet({ ...INSTANCE_CONFIG, shutdown: { drain_timeout_ms: options.drainMs } });
  try {
    const looped = loopedPcm(audioSeconds + fixture.duration);
    const bytes = looped.byteLength - fixture.pcm.byteLength;
    const phase = (i: number) => Math.floor((i / streams) * fixture.pcm.byteLength / 2) * 2; // whole samples
    const tracked = Array.from({ length: streams }, (): Tracked => ({ events: [], moves: [], sentSeconds: 0 }));
    const runs = tracked.map((t, i) =>
      stream(fleet.ws('segmented'), {
        pcm: looped.subarray(phase(i), phase(i) + bytes),
        realTime: true,
        interimResults: true,
        timeoutMs: (audioSeconds + 60) * 1000,
        onEvent: (e) => t.events.push({ e, at: performance.now() }),
        onMove: () => t.moves.push(performance.now()),
        onProgress: (s) => {
          t.t0 ??= performance.now();
          t.sentSeconds = s;
        },
      }).then(
        (r) => (t.result = r),
        (err: Error) => (t.error = err.message),
      ),
    );
    const restarts: (FleetRestart & { signalledAt: number })[] = [];
    for (const [k, at] of options.restartAtS.slice(0, fleet.instances.length).entries()) {
      await waitFor(`every stream past ${at} s of audio`, () => tracked.every((t) => t.sentSeconds >= at || t.result || t.error), { timeoutMs: (at + 30) * 1000, everyMs: 50 });
      options.onStep?.(`fleet: restart ${k + 1} of ${options.restartAtS.length}`);
      restarts.push(await rollOver(fleet, k));
    }
    await Promise.all(runs);

    const within = (k: number, times: number[]) => times.filter((t) => t >= restarts[k].signalledAt && t < (restarts[k + 1]?.signalledAt ?? Infinity)).length;
    for (const [k, r] of restarts.entries()) {
      r.notified = tracked.reduce((n, t) => n + within(k, t.events.filter((x) => x.e.type === 'going_away').map((x) => x.at)), 0);
      r.moved = tracked.reduce((n, t) => n + within(k, t.moves), 0);
    }
    // A connection left for another (a move) is closed without stream_end: only the last one must have it.
    const lost = tracked.filter((t) => !t.result || t.result.moveFailure || t.result.resumeFailure || !t.result.connections.at(-1)?.channelDurations).length;
    const gaps: FleetGap[] = [];
    let movesWithoutResultAfter = 0;
    for (const t of tracked) {
      if (!t.result) continue;
      const measured = gapsOf(t, t.result);
      gaps.push(...measured.gaps);
      movesWithoutResultAfter += measured.withoutResultAfter;
    }
    const around = gaps.map((g) => g.aroundMoveS);
    const baseline = gaps.map((g) => g.baselineS);
    return {
      skipped: null,
      ...empty,
      restarts: restarts.map(({ signalledAt: _, ...r }) => r),
      moves: tracked.reduce((n, t) => n + t.moves.length, 0),
      lost,
      gaps,
      movesWithoutResultAfter,
      aroundMoveMedianS: median(around),
      aroundMoveMaxS: max(around),
      baselineMedianS: median(baseline),
      baselineMaxS: max(baseline),
      replayedMedianS: median(gaps.map((g) => g.replayedS)),
      replayedMaxS: max(gaps.map((g) => g.replayedS)),
      lagAroundMoveMaxS: max(gaps.flatMap((g) => g.aroundMoveLagS ?? [])),
      lagBaselineMaxS: max(gaps.flatMap((g) => g.baselineLagS ?? [])),
    };
  } finally {
    await fleet.stop();
  }
}

/** SIGTERM instance `index`; once it exited (its streams moved away), start it again and wait until HAProxy has it UP. */
async function rollOver(fleet: Fleet, index: number): Promise<FleetRestart & { signalledAt: number }> {
  const instance = fleet.instances[index];
  const signalledAt = performance.now();
  process.kill(instance.launched.child.pid!, 'SIGTERM');
  let outOfRotationMs = NaN;
  let drainedMs = NaN;
  const down = fleet.haproxy.waitFor(`${instance.name} DOWN after SIGTERM`, (s) => s.get(instance.name)?.status === 'DOWN').then(() => (outOfRotationMs = performance.now() - signalledAt));
  const exited = instance.launched.exitCode.then(() => (drainedMs = performance.now() - signalledAt));
  await Promise.all([down, exited]);
  await fleet.relaunch(index);
  await fleet.haproxy.waitFor(`${instance.name} back UP after its restart`, allUp, 20_000);
  return { name: instance.name, notified: 0, moved: 0, outOfRotationMs, drainedMs, backUpMs: performance.now() - signalledAt, signalledAt };
}

/**
 * For each move of a stream: the longest gap between consecutive results from the last result before
 * the `going_away` to the first result of the new connection that reports audio further on; and the
 * stream's longest gap outside those stretches. Events come connection after connection, so the new
 * connection's are the ones after the previous connections' count.
 */
export function gapsOf(t: Pick<Tracked, 'events' | 't0'>, result: Pick<Streamed, 'connections' | 'moves'>): { gaps: FleetGap[]; withoutResultAfter: number } {
  const firstOf: number[] = [];
  let count = 0;
  for (const c of result.connections) {
    firstOf.push(count);
    count += c.events.length;
  }
  // A new connection recomputes from the old one's committed point: its interims up to what was
  // already reported repeat old news (their lag, counted from the first send of their audio, says
  // nothing of the move). Only results that report audio further on count.
  let reportedTo = -Infinity;
  const results = t.events
    .map((x, i) => ({ ...x, i }))
    .filter((x) => {
      if (x.e.type !== 'segment') return false;
      if (x.e.end_time <= reportedTo) return false;
      reportedTo = x.e.end_time;
      return true;
    });
  const stretches: { from: number; to: number; move: (typeof result.moves)[number] }[] = [];
  let withoutResultAfter = 0;
  for (const move of result.moves) {
    const notice = t.events.findIndex((x, i) => i >= firstOf[move.from] && i < firstOf[move.from] + result.connections[move.from].events.length && x.e.type === 'going_away');
    const from = results.filter((x) => x.i < notice).length - 1; // the last result before the notice
    const to = results.findIndex((x) => x.i >= firstOf[move.to]);
    if (from < 0 || to < 0) {
      withoutResultAfter++;
      continue;
    }
    stretches.push({ from, to, move });
  }
  const gap = (k: number) => (results[k + 1].at - results[k].at) / 1000;
  /** An interim result's lag; null for a final. */
  const lag = (k: number) => {
    const e = results[k].e as Extract<ServerEvent, { type: 'segment' }>;
    return e.is_final === false ? (results[k].at - (t.t0 ?? NaN)) / 1000 - e.end_time : null;
  };
  const longest = (xs: (number | null)[]) => xs.reduce<number | null>((m, x) => (x === null ? m : Math.max(m ?? -Infinity, x)), null);
  const inStretch = (k: number) => stretches.some((s) => k >= s.from && k + 1 <= s.to);
  const afterMove = (k: number) => stretches.some((s) => k > s.from && k <= s.to);
  const indexes = results.map((_, k) => k);
  const baseline = longest(indexes.filter((k) => k + 1 < results.length && !inStretch(k)).map(gap)) ?? 0;
  const baselineLag = longest(indexes.filter((k) => !afterMove(k)).map(lag));
  const gaps = stretches.map((s) => {
    const stretch = indexes.slice(s.from, s.to);
    return {
      aroundMoveS: longest(stretch.map(gap)) ?? 0,
      baselineS: baseline,
      aroundMoveLagS: longest(stretch.map((k) => lag(k + 1))),
      baselineLagS: baselineLag,
      replayedS: s.move.replayedSeconds,
    };
  });
  return { gaps, withoutResultAfter };
}
