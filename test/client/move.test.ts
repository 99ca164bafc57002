// streamAudio moves a live stream when its server drains: two in-process services behind a TCP
// forwarder that plays the load balancer (new connections go where the test points it). The speech
// fixture is streamed in real time; the drain begins once a given amount of audio reached instance A.
// The new connection takes over from the old stream's last committed point and is sent the audio
// from there again (docs/protocol.md, "Moving a stream to another instance").
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { streamAudio, type StreamOptions, type StreamResult } from '../../src/client/stream-client.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { audioReceived as received, drain, type DrainingPair, fixture, startDrainingPair } from '../helpers/draining-pair.ts';
import { finals, type Segment } from '../helpers/events.ts';
import { checkOneTimeline, VAD_WINDOW_S } from '../helpers/timeline.ts';

/** Odd, so frames split samples: the take-over must still happen on a whole sample (on the VAD's 32 ms grid, in fact). */
const CHUNK = 3201;

let b: TestService;
let reference: Segment[];
before(async () => {
  b = await startTestService();
  reference = finals((await streamAudio({ addr: b.ws('segmented'), format: fixture.format, pcm: fixture.pcm, chunkBytes: CHUNK })).events);
  assert.equal(reference.length, fixture.regions.length);
});
after(() => b.shutdown(0));

/** Streams the fixture in real time through the forwarder; A starts draining once `drainAtSeconds` of audio reached it. */
async function streamWithDrain(
  s: DrainingPair,
  drainAtSeconds: number,
  drainMs: number,
  extra: Partial<StreamOptions> = {},
  beforeDrain = () => {},
): Promise<{ result: StreamResult; seen: unknown[] }> {
  const seen: unknown[] = [];
  const run = streamAudio({ addr: s.addr, format: fixture.format, pcm: fixture.pcm, chunkBytes: CHUNK, realTime: true, onEvent: (e) => seen.push(e), timeoutMs: 60_000, ...extra });
  await s.audioToA(drainAtSeconds);
  beforeDrain();
  drain(s, drainMs);
  return { result: await run, seen };
}

test('a draining server: the stream moves to a new connection from the last committed point; the sentence in progress is recomputed whole, every final once', { timeout: 60_000 }, async () => {
  const s = await startDrainingPair();
  try {
    const bBefore = await received(b);
    const moves: unknown[] = [];
    const { result, seen } = await streamWithDrain(s, 2, 30_000, { onMove: (m) => moves.push(m) }, () => s.proxy.switchTo(b.port));

    // One move, from connection 0 to 1, taking over where the first sentence (1.0–3.28 s) began: its
    // committed point, on the 32 ms grid, before the speech (padding included).
    assert.equal(result.moves.length, 1, JSON.stringify(result.moves));
    const [move] = result.moves;
    assert.deepEqual(moves, result.moves, 'onMove saw the move');
    assert.deepEqual({ ...move, atSeconds: 0, replayedSeconds: 0 }, { atSeconds: 0, from: 0, to: 1, deadlineMs: 30_000, attempts: 1, replayedSeconds: 0 });
    assert.ok(move.atSeconds > 0.5 && move.atSeconds < fixture.regions[0].start, `took over at ${move.atSeconds} s`);
    assert.equal(Math.round(move.atSeconds * 16000) % 512, 0, `${move.atSeconds} s is a whole number of 32 ms VAD windows`);
    assert.ok(move.replayedSeconds >= 2 - move.atSeconds - 0.1, `sent again ${move.replayedSeconds} s`);
    assert.equal(result.moveFailure, undefined);

    // The old connection was closed by the client; the new one carried the stream from the take-over point.
    const [old, next] = result.connections;
    assert.equal(result.connections.length, 2);
    assert.deepEqual([old.timeOffset, next.timeOffset], [0, move.atSeconds]);
    assert.equal(old.channelDurations, undefined, 'the old stream was not stopped: the new one recomputes it');
    assert.ok(Math.abs(next.channelDurations![0] - (fixture.duration - move.atSeconds)) < 1e-6, `the new stream got ${next.channelDurations![0]} s`);
    assert.equal(result.sentSeconds, fixture.duration);
    const onB = (await received(b)) - bBefore;
    assert.ok(Math.abs(onB - (fixture.duration - move.atSeconds)) < 1e-3, `B received ${onB} s`);
    assert.equal(s.proxy.connections(s.a.port), 1);
    assert.equal(s.proxy.connections(b.port), 1);
    assert.deepEqual([old.closeCode, next.closeCode, result.closeCode], [1000, 1000, 1000]);

    // One timeline, no segment split: the first sentence comes once, whole, from the new stream.
    const check = checkOneTimeline(finals(result.events), reference, [move.atSeconds], { toleranceS: 2 * VAD_WINDOW_S, exactBeforeFirstMove: true });
    assert.deepEqual(check, { split: 0, dropped: 0 });
    assert.deepEqual(
      result.events.filter((e) => e.type === 'stream_end' || e.type === 'going_away' || e.type === 'active').map((e) => e.type),
      ['active', 'going_away', 'active', 'stream_end'],
      'the first sentence announced once (by the old stream: the new one\'s repeat is dropped), the notice, the second sentence, one stream_end',
    );
    assert.deepEqual(seen, result.events, 'onEvent got the events connection after connection');
  } finally {
    await s.close();
  }
});

test('no instance ready at first: the move is retried with backoff and succeeds once one is', { timeout: 60_000 }, async () => {
  const s = await startDrainingPair();
  try {
    // The proxy keeps sending new connections to A, which refuses new streams while draining.
    const run = streamWithDrain(s, 4.2, 30_000);
    await s.proxy.until(() => s.proxy.connections(s.a.port) >= 3, 'two refused attempts');
    s.proxy.switchTo(b.port);
    const { result } = await run;
    assert.equal(result.moves.length, 1);
    const attempts = s.proxy.connections(s.a.port) - 1 + s.proxy.connections(b.port);
    assert.equal(result.moves[0].attempts, attempts, 'every connection tried is counted');
    assert.ok(attempts >= 3);
    const [move] = result.moves;
    assert.ok(move.atSeconds > fixture.regions[0].end && move.atSeconds < fixture.regions[1].start, `took over at ${move.atSeconds} s: in the silence after the first sentence`);
    const last = result.connections.at(-1)!;
    assert.ok(Math.abs(last.channelDurations![0] - (fixture.duration - move.atSeconds)) < 1e-6, `the new stream got ${last.channelDurations![0]} s`);
    assert.equal(result.closeCode, 1000);
    assert.deepEqual(checkOneTimeline(finals(result.events), reference, [move.atSeconds], { toleranceS: 2 * VAD_WINDOW_S, exactBeforeFirstMove: true }), { split: 0, dropped: 0 });
    assert.equal(result.events.filter((e) => e.type === 'error').length, 0, 'the refusals of the failed attempts are not the stream’s events');
  } finally {
    await s.close();
  }
});

test('no instance ready before the deadline: the stream stays where it is until the server closes it, and says why', { timeout: 60_000 }, async () => {
  const s = await startDrainingPair({ keeper: false });
  try {
    const failures: unknown[] = [];
    const { result } = await streamWithDrain(s, 2, 1500, { onMoveFailed: (f) => failures.push(f) });
    assert.deepEqual(result.moves, []);
    assert.ok(result.moveFailure, 'a move failure is reported');
    assert.deepEqual(failures, [result.moveFailure]);
    const { attempts, reason, deadlineMs, noticeAtSeconds } = result.moveFailure;
    assert.equal(deadlineMs, 1500);
    assert.ok(noticeAtSeconds >= 2 && noticeAtSeconds < 3, `notice at ${noticeAtSeconds} s`);
    // Every attempt went to the draining instance (one more connection when the last was cut short by the close).
    const tried = s.proxy.connections(s.a.port) - 1;
    assert.ok(attempts >= 2 && (tried === attempts || tried === attempts + 1), `${attempts} attempts, ${tried} connections tried`);
    assert.match(
      reason,
      /^no new connection took the stream before the (deadline|server closed it) \(last attempt: the new connection (refused the stream: server is shutting down \(shutting_down\)|closed \(1001\) before taking the stream)\)$/,
    );
    // The old stream went on until the deadline, then got its results and stream_end, and 1001.
    assert.equal(result.connections.length, 1);
    assert.equal(result.closeCode, 1001);
    assert.equal(result.events.at(-1)?.type, 'stream_end');
    assert.ok(result.sentSeconds > noticeAtSeconds + 1 && result.sentSeconds < fixture.duration, `sent ${result.sentSeconds} s`);
  } finally {
    await s.close();
  }
});
