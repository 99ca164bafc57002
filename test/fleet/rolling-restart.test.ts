// A rolling restart under load (issue 15, fleet test 2). Three instances (the production command)
// behind the shipped HAProxy config; 30 streams of 60 s of speech in real time (the 8 s fixture
// looped) and a new stream of the fixture every second while they run. The instances get SIGTERM
// one at a time (drain deadline 10 s); each is started again on its port, so that HAProxy's server
// line finds it, and is back UP before the next. The project's client moves a stream on `going_away`:
// a new connection takes over from the old stream's last committed point and is sent the audio from
// there again, then the old connection is closed.
// Proven: every stream ends with `stream_end` on its last connection and keeps one timeline (its
// final segments are those of a single-instance reference run of the same audio, none split at a
// move); HAProxy takes a draining instance out within about a second and routes no connection to it
// afterwards (its stats socket); no stream is lost and no sample counted that was not sent: the audio
// seconds each instance counted in its lifetime (its own /metrics, read once its streams are gone,
// before it exits) add up to what the clients sent, replays included.
// Each instance gets a keeper stream before its SIGTERM (straight to it, no audio, never moved), so
// that it stays up, draining, until its /metrics has been read; closing the keeper lets it exit.
// The restarts are spread over the long streams (one every 15 s of their audio), so that moves fall
// at different points of the speech. About 80 s on 2 cores; the 60 s streams in real time are most of it.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { connect, type Connection } from '../../src/client/stream-client.ts';
import { parseConfig } from '../../src/config.ts';
import { activeStreams, scrape, type Exposition } from '../helpers/prometheus.ts';
import { finals, type Segment } from '../helpers/events.ts';
import { checkOneTimeline, droppedPieceLimit, VAD_WINDOW_S } from '../helpers/timeline.ts';
import { waitFor, within } from '../helpers/wait.ts';
import { allUp, FLEET_SIZE, missingTools, startFleet, type Fleet, type Instance } from './fleet.ts';
import { fixture, INSTANCE_CONFIG, loopedPcm, segmentedUrl, stream, type Streamed } from './streams.ts';

const skip = missingTools();
const LONG_STREAMS = 30;
const LONG_SECONDS = 60;
const NEW_EVERY_MS = 1000;
/** Restart k begins once every long stream has sent (k + 1) × this much audio: moves at different points of the speech. */
const RESTART_EVERY_S = 15;
const DRAIN_MS = 10_000;
/** The shipped check: inter 300ms, fall 2. "Within about a second", with room for a busy machine. */
const OUT_OF_ROTATION_MS = 3_000;
/** A new stream refused by a draining instance is tried again after this pause (as a client would). */
const RETRY_MS = 100;
/**
 * One timeline (test/helpers/timeline.ts): after a move the new stream's VAD starts from a fresh
 * state, and its edges may land up to two windows from the reference's; a move near a segment's
 * edge may leave a piece too short for the VAD to keep.
 */
const TIMELINE = { toleranceS: 2 * VAD_WINDOW_S, droppedPieceS: droppedPieceLimit(parseConfig({}).vad), exactBeforeFirstMove: true };

let fleet: Fleet;
const keepers: Connection[] = [];
before(async () => {
  if (!skip) fleet = await startFleet({ ...INSTANCE_CONFIG, shutdown: { drain_timeout_ms: DRAIN_MS } });
});
after(async () => {
  for (const k of keepers) k.terminate();
  await fleet?.stop();
});

/** One stream as a client sees it: the attempts a draining instance refused, then the stream. */
interface Run {
  kind: 'long' | 'new';
  result?: Streamed;
  /** Set when the stream could not run at all (connection failure, timeout). */
  error?: string;
  /** Attempts refused with `shutting_down`: when each began and when the refusal came. */
  refusals: { startedAt: number; refusedAt: number }[];
  /** performance.now() of each `going_away` and each move. */
  notices: number[];
  moves: number[];
  /** Audio seconds sent so far. */
  sentSeconds: number;
}

const refusedAttempt = (r: Streamed) => r.connections.length === 1 && r.events.length === 1 && r.events[0].type === 'error' && r.events[0].code === 'shutting_down';

const newRun = (kind: Run['kind']): Run => ({ kind, refusals: [], notices: [], moves: [], sentSeconds: 0 });

/** Streams `pcm` in real time through HAProxy, filling `rec` as it goes; never rejects (what went wrong is in `rec`). */
async function run(rec: Run, pcm: Uint8Array): Promise<Run> {
  try {
    for (;;) {
      const startedAt = performance.now();
      let refusedAt = 0;
      const result = await stream(fleet.ws('segmented'), {
        realTime: true,
        pcm,
        timeoutMs: 150_000,
        onEvent: (e) => {
          if (e.type === 'going_away') rec.notices.push(performance.now());
          if (e.type === 'error' && e.code === 'shutting_down') refusedAt = performance.now();
        },
        onMove: () => rec.moves.push(performance.now()),
        onProgress: (seconds) => (rec.sentSeconds = seconds),
      });
      if (!refusedAttempt(result)) {
        rec.result = result;
        return rec;
      }
      // HAProxy sent it to an instance that had begun draining before its health check noticed.
      rec.refusals.push({ startedAt, refusedAt });
      await sleep(RETRY_MS);
    }
  } catch (err) {
    rec.error = err instanceof Error ? err.message : String(err);
    return rec;
  }
}

/** A stream straight to the instance, without audio, that holds it up while it drains. */
async function keep(instance: Instance): Promise<Connection> {
  const conn = await connect(segmentedUrl(instance));
  await conn.send({ request: 'start', format: fixture.format });
  await conn.send({ request: 'keepalive' });
  await conn.next('ack'); // handled in order: the stream is open
  return conn;
}

interface Restart {
  name: string;
  signalledAt: number;
  /** When the stats socket first showed the instance DOWN. */
  downAt: number;
  /** HAProxy's count of connections routed to it when it went DOWN, and when its streams were gone. */
  routedAtDown: number;
  routedAtEnd: number;
  /** Its /metrics once only the keeper was left: its whole lifetime's counts. */
  lifetime: Exposition;
  drainedMs: number;
  exitCode: number | null;
  /** From SIGTERM until the new instance was UP in HAProxy. */
  restartMs: number;
}

/** SIGTERM instance `index`, wait for its streams to move away, read its counts, start it again. */
async function rollOver(index: number): Promise<Restart> {
  const instance = fleet.instances[index];
  const { name } = instance;
  const keeper = await keep(instance);
  keepers.push(keeper);
  const signalledAt = performance.now();
  process.kill(instance.launched.child.pid!, 'SIGTERM');
  let routedAtDown = -1;
  await fleet.haproxy.waitFor(`${name} DOWN after SIGTERM`, (servers) => {
    const s = servers.get(name);
    if (s?.status !== 'DOWN') return false;
    routedAtDown = s.stot;
    return true;
  });
  const downAt = performance.now();
  await waitFor(`${name}: every stream but the keeper moved away or finished before the drain deadline`, async () => (await activeStreams(instance)) === 1, {
    timeoutMs: DRAIN_MS,
    everyMs: 50,
  });
  const drainedMs = performance.now() - signalledAt;
  const lifetime = await scrape(instance.url);
  const routedAtEnd = (await fleet.haproxy.servers()).get(name)!.stot;
  await keeper.send({ request: 'stop', disconnect: true });
  await keeper.closed;
  const exitCode = await within(`${name} exits once its keeper stream ended`, instance.launched.exitCode);
  await fleet.relaunch(index);
  await fleet.haproxy.waitFor(`${name} back UP after its restart`, allUp, 20_000);
  return { name, signalledAt, downAt, routedAtDown, routedAtEnd, lifetime, drainedMs, exitCode, restartMs: performance.now() - signalledAt };
}

const sentOn = (r: Streamed) => r.connections.reduce((a, c) => a + c.sentSeconds, 0);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const spans = (segments: Segment[]) => JSON.stringify(segments.map((s) => [s.start_time, s.end_time]));

test(
  `rolling restart under load: ${LONG_STREAMS} streams of ${LONG_SECONDS} s plus a new one every second; every stream moves, keeps one timeline, and every sample is counted once`,
  { skip, timeout: 240_000 },
  async () => {
    // The references: the same audio straight to one instance, as fast as it is taken.
    const longPcm = loopedPcm(LONG_SECONDS);
    const references = await Promise.all([stream(segmentedUrl(fleet.instances[0]), { pcm: longPcm }), stream(segmentedUrl(fleet.instances[0]))]);
    const [longReference, newReference] = references.map((r) => finals(r.events));
    assert.equal(newReference.length, fixture.regions.length, 'the fixture has two spoken sentences');
    assert.ok(longReference.length >= 2 * Math.floor(LONG_SECONDS / fixture.duration), `the looped fixture: ${spans(longReference)}`);
    // That much audio pushed at once is more backlog than limits.saturation_backlog_seconds: the
    // instance reported itself saturated and HAProxy took it out; wait until it is back.
    await fleet.haproxy.waitFor('every server back in rotation after the reference runs', allUp, 30_000);

    const longs = Array.from({ length: LONG_STREAMS }, () => newRun('long'));
    const longRuns = longs.map((r) => run(r, longPcm));
    await waitFor(
      `the ${LONG_STREAMS} long streams running`,
      async () => sum(await Promise.all(fleet.instances.map(activeStreams))) === LONG_STREAMS,
      { timeoutMs: 30_000, everyMs: 50 },
    );
    const newRuns: Promise<Run>[] = [];
    const ticker = setInterval(() => newRuns.push(run(newRun('new'), fixture.pcm)), NEW_EVERY_MS);
    const restarts: Restart[] = [];
    try {
      for (let i = 0; i < FLEET_SIZE; i++) {
        const at = (i + 1) * RESTART_EVERY_S;
        await waitFor(`every long stream past ${at} s of audio`, () => longs.every((r) => r.sentSeconds >= at), { timeoutMs: 2 * RESTART_EVERY_S * 1000, everyMs: 50 });
        restarts.push(await rollOver(i));
      }
      await Promise.all(longRuns);
    } finally {
      clearInterval(ticker);
    }
    const news = await Promise.all(newRuns);
    const last = restarts.at(-1)!;
    const restartsSeconds = (last.signalledAt + last.restartMs - restarts[0].signalledAt) / 1000;

    // Every stream: one result, stream_end on its last connection, the whole audio, one timeline.
    let split = 0;
    let dropped = 0;
    for (const [i, r] of [...longs, ...news].entries()) {
      const what = `${r.kind} stream ${i}`;
      assert.equal(r.error, undefined, `${what} failed: ${r.error}`);
      const result = r.result!;
      assert.equal(result.moveFailure, undefined, `${what} could not move: ${result.moveFailure?.reason}`);
      for (const [k, c] of result.connections.entries()) {
        assert.equal(c.closeCode, 1000, `${what}, connection ${k}: closed ${c.closeCode} ${c.closeReason}`);
        if (k < result.connections.length - 1) {
          assert.equal(c.channelDurations, undefined, `${what}, connection ${k}: left for another, closed without stream_end`);
          continue;
        }
        assert.ok(c.channelDurations, `${what}, connection ${k}: no stream_end`);
        assert.ok(Math.abs(c.channelDurations[0] - c.sentSeconds) < 1e-6, `${what}, connection ${k}: server took ${c.channelDurations[0]} s of ${c.sentSeconds} s sent`);
      }
      assert.equal(result.events.at(-1)?.type, 'stream_end', `${what} ends with stream_end`);
      const replayed = sum(result.moves.map((m) => m.replayedSeconds));
      assert.ok(Math.abs(sentOn(result) - result.sentSeconds - replayed) < 1e-6, `${what}: sent ${sentOn(result)} s = ${result.sentSeconds} s + ${replayed} s again`);
      assert.equal(result.moves.length, r.moves.length);
      // A stream told to go once all its audio was out just finishes where it is.
      const notices = result.events.filter((e) => e.type === 'going_away').length;
      if (r.kind === 'long') assert.equal(result.moves.length, notices, `${what}: ${notices} going_away, ${result.moves.length} moves`);
      else assert.ok(result.moves.length <= notices, `${what}: ${notices} going_away, ${result.moves.length} moves`);
      const check = checkOneTimeline(
        finals(result.events),
        r.kind === 'long' ? longReference : newReference,
        result.moves.map((m) => m.atSeconds),
        TIMELINE,
      );
      split += check.split;
      dropped += check.dropped;
    }
    assert.equal(split, 0, 'no segment split at a move: the new stream recomputes it whole');
    // Each long stream started on an original instance, and every one of them was restarted.
    for (const [i, r] of longs.entries()) assert.ok(r.moves.length >= 1, `long stream ${i} never moved: the restarts ended after it`);

    // HAProxy: out of rotation soon after SIGTERM, and no connection routed to the instance afterwards.
    for (const r of restarts) {
      const outOfRotationMs = r.downAt - r.signalledAt;
      assert.ok(outOfRotationMs < OUT_OF_ROTATION_MS, `${r.name} out of rotation ${Math.round(outOfRotationMs)} ms after SIGTERM`);
      assert.equal(r.routedAtEnd, r.routedAtDown, `${r.name}: HAProxy routed ${r.routedAtEnd - r.routedAtDown} connections to it after it went DOWN`);
      assert.equal(r.exitCode, 0, `${r.name} exited with ${r.exitCode}`);
    }
    // A new stream refused by a draining instance was routed there before HAProxy took it out.
    const refusals = news.flatMap((r) => r.refusals);
    for (const f of refusals) {
      assert.ok(
        restarts.some((r) => f.refusedAt >= r.signalledAt && f.startedAt <= r.downAt),
        `a new stream began ${Math.round(f.startedAt - restarts[0].signalledAt)} ms after the first SIGTERM and was refused, but no instance was draining and still in rotation then`,
      );
    }

    // Zero streams lost, no sample counted that was not sent: every instance's lifetime counts against the clients' (replays included).
    for (const instance of fleet.instances) await waitFor(`${instance.name} idle after the last stream`, async () => (await activeStreams(instance)) === 0);
    const lifetimes = [...restarts.map((r) => r.lifetime), ...(await Promise.all(fleet.instances.map((i) => scrape(i.url))))];
    const accepted = [...longs, ...news].map((r) => r.result!);
    const clientsSent = sum(references.map(sentOn)) + sum(accepted.map(sentOn));
    const counted = sum(lifetimes.map((m) => m.sum('audio_received_seconds_total')));
    assert.ok(Math.abs(counted - clientsSent) < 1e-6, `audio seconds counted by the instances ${counted}, sent by the clients ${clientsSent}`);
    const outcome = (o: string) => sum(lifetimes.map((m) => m.sum('streams_total', { outcome: o })));
    assert.equal(outcome('completed'), references.length + accepted.length, 'one completed stream per client stream: its last connection');
    const movedFrom = sum(accepted.map((r) => r.moves.length));
    assert.ok(outcome('client_closed') >= movedFrom, `client_closed ${outcome('client_closed')}: at least the ${movedFrom} connections left for another`);
    assert.equal(outcome('error'), 0, 'no stream ended in an error');
    assert.ok(outcome('refused') >= refusals.length, `refusals counted ${outcome('refused')}, new-stream attempts refused ${refusals.length}`);

    // Per restart: streams told to go (going_away) and moves, from its SIGTERM until the next one's.
    const during = (k: number, times: (r: Run) => number[]) => {
      const [from, until] = [restarts[k].signalledAt, restarts[k + 1]?.signalledAt ?? Infinity];
      return sum([...longs, ...news].map((r) => times(r).filter((t) => t >= from && t < until).length));
    };
    for (const [k, r] of restarts.entries()) {
      process.stdout.write(
        `# ${r.name}: out of rotation ${Math.round(r.downAt - r.signalledAt)} ms after SIGTERM, ${during(k, (x) => x.notices)} streams told to go, ` +
          `${during(k, (x) => x.moves)} moved, drained in ${(r.drainedMs / 1000).toFixed(1)} s, back UP ${(r.restartMs / 1000).toFixed(1)} s after SIGTERM\n`,
      );
    }
    process.stdout.write(
      `# ${longs.length} long + ${news.length} new streams, ${sum(accepted.map((r) => r.moves.length))} moves, ${split} segments split at a move ` +
        `(${dropped} with a piece too short to keep), ${refusals.length} new-stream attempts refused while draining, ` +
        `${outcome('refused')} refusals in all (move attempts included), ${outcome('client_closed')} connections closed by clients (left after a move, or abandoned attempts); ` +
        `three restarts in ${restartsSeconds.toFixed(0)} s; ${counted.toFixed(3)} audio s counted = sent (replays included)\n`,
    );
  },
);
