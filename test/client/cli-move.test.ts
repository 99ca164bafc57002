// The command-line client when its server drains (real services, real time): it moves the stream by
// itself and says so in one stderr line, prints events on one timeline, and --no-reconnect keeps
// the old behaviour.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ServerEvent } from '../../src/api/protocol.ts';
import { streamAudio } from '../../src/client/stream-client.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { audioReceived, drain, fixture, startDrainingPair } from '../helpers/draining-pair.ts';
import { runCli } from './run-cli.ts';
import { finals, type Segment } from '../helpers/events.ts';
import { checkOneTimeline, VAD_WINDOW_S } from '../helpers/timeline.ts';

let b: TestService;
let reference: Segment[];
before(async () => {
  b = await startTestService();
  reference = finals((await streamAudio({ addr: b.ws('segmented'), format: fixture.format, pcm: fixture.pcm })).events);
});
after(() => b.shutdown(0));

const printed = (stdout: string) => stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as ServerEvent);
const stderrLines = (stderr: string) => stderr.trimEnd().split('\n').slice(1); // after the trace_id line

test('the CLI moves its stream when the server drains: one stderr line, one timeline, no sentence split, exit 0', { timeout: 60_000 }, async () => {
  const pair = await startDrainingPair();
  try {
    const bBefore = await audioReceived(b);
    const run = runCli(['--input', fixture.path, '--addr', pair.addr, '--real-time']);
    await pair.audioToA(2.5);
    pair.proxy.switchTo(b.port);
    drain(pair, 30_000);
    const { code, stdout, stderr } = await run;
    assert.equal(code, 0, stderr);

    const lines = stderrLines(stderr);
    assert.equal(lines.length, 1, stderr);
    const m = /^streamer-client: server going away \(deadline 30000 ms\): moved the stream at (\d+\.\d\d) s to a new connection \((\d+\.\d\d) s sent again\)$/.exec(lines[0]);
    assert.ok(m, lines[0]);
    const at = Number(m[1]);
    assert.ok(at > 0.5 && at < fixture.regions[0].start, `took over at ${at} s: the committed point before the first sentence`);
    assert.ok(Number(m[2]) > 1, `sent again ${m[2]} s`);

    const events = printed(stdout);
    const ends = events.filter((e): e is Extract<ServerEvent, { type: 'stream_end' }> => e.type === 'stream_end');
    assert.equal(ends.length, 1, 'one stream_end: the old connection was closed, not stopped');
    assert.ok(Math.abs(ends[0].channel_durations[0] - (fixture.duration - at)) < 0.006, `the new stream got ${ends[0].channel_durations[0]} s`);
    assert.deepEqual(
      events.map((e) => e.type).filter((t) => t === 'going_away' || t === 'stream_end'),
      ['going_away', 'stream_end'],
    );
    assert.deepEqual(checkOneTimeline(finals(events), reference, [at], { toleranceS: 2 * VAD_WINDOW_S, exactBeforeFirstMove: true }), { split: 0, dropped: 0 }, 'no sentence split');

    const onB = (await audioReceived(b)) - bBefore;
    assert.ok(Math.abs(onB - (fixture.duration - at)) < 0.006, `B received ${onB} s: the audio from the take-over point`);
    assert.deepEqual([pair.proxy.connections(pair.a.port), pair.proxy.connections(b.port)], [1, 1]);
  } finally {
    await pair.close();
  }
});

test('--no-reconnect: the stream stays on the draining server, which finishes it at the deadline and closes with 1001 (exit 1)', { timeout: 60_000 }, async () => {
  const pair = await startDrainingPair({ keeper: false });
  try {
    const run = runCli(['--input', fixture.path, '--addr', pair.addr, '--real-time', '--no-reconnect']);
    await pair.audioToA(2);
    pair.proxy.switchTo(b.port); // a ready instance is there: the client must not use it
    drain(pair, 1500);
    const { code, stdout, stderr } = await run;
    assert.equal(code, 1);
    assert.deepEqual(stderrLines(stderr), [`streamer-client: connection to ${pair.addr} closed with code 1001: server shutting down`]);
    const events = printed(stdout);
    assert.equal(events.filter((e) => e.type === 'going_away').length, 1);
    const end = events.at(-1);
    assert.equal(end?.type, 'stream_end', 'the stream was finished: results and stream_end before the close');
    const [got] = end.channel_durations;
    assert.ok(got > 3 && got < fixture.duration, `the old stream got ${got} s: cut at the deadline`);
    assert.deepEqual([pair.proxy.connections(pair.a.port), pair.proxy.connections(b.port)], [1, 0], 'no second connection');
  } finally {
    await pair.close();
  }
});

test('no instance ready before the deadline: the CLI stays on the old stream and reports it in one line (exit 1)', { timeout: 60_000 }, async () => {
  const pair = await startDrainingPair({ keeper: false });
  try {
    const run = runCli(['--input', fixture.path, '--addr', pair.addr, '--real-time']);
    await pair.audioToA(2);
    drain(pair, 1500); // the forwarder keeps pointing at A, which refuses new streams while draining
    const { code, stdout, stderr } = await run;
    assert.equal(code, 1);
    const lines = stderrLines(stderr);
    assert.equal(lines.length, 1, stderr);
    assert.match(
      lines[0],
      /^streamer-client: server going away \(deadline 1500 ms\): could not move the stream: no new connection took the stream before the (deadline|server closed it) \(last attempt: .+\); the server closed it with code 1001: server shutting down after \d+\.\d\d of 8\.00 s of audio$/,
    );
    assert.equal(printed(stdout).at(-1)?.type, 'stream_end');
    assert.ok(pair.proxy.connections(pair.a.port) >= 3, 'the client tried new connections');
  } finally {
    await pair.close();
  }
});
