// The move's wire exchange, byte for byte, against a scripted server: which requests each connection
// gets, which audio each gets (the new one: from the old one's committed point, again), and which
// events a moved stream reports.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AudioFormat, ServerEvent } from '../../src/api/protocol.ts';
import { moveStepFrames } from '../../src/client/moving-stream.ts';
import { streamAudio } from '../../src/client/stream-client.ts';
import { type FakeConnection, randomBytes, rng, startFakeServer } from './fake-server.ts';

const STEREO: AudioFormat = { channels: 2, sample_rate: 16000, bit_depth: 16, is_float: false };
const BYTES_PER_SECOND = 64_000;

const audioBytes = (c: FakeConnection) => c.binaries().reduce((n, b) => n + b.length, 0);

/** Bytes of s16 stereo audio at 16 kHz in `seconds`. */
const bytesOf = (seconds: number) => Math.round(seconds * BYTES_PER_SECOND);

/**
 * Every connection answers `start` with `started` and `stop` with one final segment of what it got and
 * `stream_end`. The first one sends `committed` at COMMITTED once it got 0.2 s of audio, and
 * `going_away` at 0.3 s (or `goingAwayAfter`); with `closeOldOnNew` it closes (1001) as soon as the
 * second connection arrives.
 */
const COMMITTED = 0.128;
async function movingServer(options: { goingAwayAfter?: number; closeOldOnNew?: boolean } = {}) {
  let noticed = false;
  let committed = false;
  const server = await startFakeServer((conn, msg) => {
    const first = server.connections[0] === conn;
    const offset = Number(conn.messages[0]?.json?.time_offset ?? 0);
    if (msg.json?.request === 'start') {
      conn.send({ type: 'started', stream_id: `s${server.connections.indexOf(conn)}` });
    }
    if (first && msg.kind === 'binary') {
      if (!committed && audioBytes(conn) >= bytesOf(0.2)) {
        committed = true;
        conn.send({ type: 'committed', time: COMMITTED });
      }
      if (!noticed && audioBytes(conn) >= bytesOf(options.goingAwayAfter ?? 0.3)) {
        noticed = true;
        conn.send({ type: 'going_away', deadline_ms: 5000 });
        if (options.closeOldOnNew) void server.nextConnection().then(() => conn.ws.close(1001, 'server shutting down'));
      }
    }
    if (msg.json?.request !== 'stop') return;
    const seconds = audioBytes(conn) / BYTES_PER_SECOND;
    if (offset + seconds > 0.3) conn.send({ type: 'segment', start_time: offset === 0 ? 0.3 : offset, end_time: offset + seconds, is_final: true, channel: 0 });
    conn.send({ type: 'stream_end', channel_durations: [seconds, seconds] });
    conn.ws.close(1000, 'done');
  });
  return server;
}

void test('the move: start at the last committed point on the new connection, the audio from there again, the old connection closed, every final once', async () => {
  const server = await movingServer();
  try {
    const pcm = randomBytes(BYTES_PER_SECOND, 21); // 1 s of s16 stereo
    const r = rng(5);
    const seen: ServerEvent[] = [];
    const result = await streamAudio({
      addr: server.url(),
      format: STEREO,
      pcm,
      chunkBytes: () => 1 + Math.floor(r() * 3000), // odd sizes: frames split samples and channels
      realTime: true,
      onEvent: (e) => seen.push(e),
      timeoutMs: 10_000,
    });
    const [old, next] = server.connections;
    assert.equal(server.connections.length, 2);
    const from = bytesOf(COMMITTED);
    assert.ok(Buffer.concat(old.binaries()).equals(Buffer.from(pcm.subarray(0, audioBytes(old)))), 'the old connection got the audio from the start');
    assert.ok(Buffer.concat(next.binaries()).equals(Buffer.from(pcm.subarray(from))), 'the new one got everything from the committed point, once');
    assert.ok(audioBytes(old) >= bytesOf(0.3), 'the old stream had gone past the committed point');

    assert.deepEqual(old.texts(), [{ request: 'start', format: STEREO, interim_results: false }], 'the old stream was not stopped: it was closed');
    assert.equal((await old.closed).code, 1000);
    assert.deepEqual(next.texts(), [
      { request: 'start', format: STEREO, interim_results: false, time_offset: COMMITTED },
      { request: 'stop', disconnect: true },
    ]);
    // Audio went to the new stream only once it started (the first frame after its start).
    assert.equal(next.messages[1].kind, 'binary');

    const expected: ServerEvent[] = [
      { type: 'started', stream_id: 's0' },
      { type: 'committed', time: COMMITTED },
      { type: 'going_away', deadline_ms: 5000 },
      { type: 'started', stream_id: 's1' },
      { type: 'segment', start_time: COMMITTED, end_time: 1, is_final: true, channel: 0 },
      { type: 'stream_end', channel_durations: [1 - COMMITTED, 1 - COMMITTED] },
    ];
    assert.deepEqual(result.events, expected);
    assert.deepEqual(seen, result.events);
    assert.deepEqual(result.moves, [{ atSeconds: COMMITTED, from: 0, to: 1, deadlineMs: 5000, attempts: 1, replayedSeconds: (audioBytes(old) - from) / BYTES_PER_SECOND }]);
    assert.deepEqual(
      result.connections.map((c) => [c.timeOffset, c.closeCode]),
      [
        [0, 1000],
        [COMMITTED, 1000],
      ],
    );
  } finally {
    await server.close();
  }
});

void test('reconnect: false ignores going_away: one connection, as before', async () => {
  const server = await movingServer({ goingAwayAfter: 0.2 });
  try {
    const pcm = randomBytes(BYTES_PER_SECOND / 2, 3);
    const result = await streamAudio({ addr: server.url(), format: STEREO, pcm, chunkBytes: 3200, realTime: true, reconnect: false, timeoutMs: 10_000 });
    assert.equal(server.connections.length, 1, 'no new connection');
    assert.deepEqual(server.connections[0].texts(), [
      { request: 'start', format: STEREO, interim_results: false },
      { request: 'stop', disconnect: true },
    ]);
    assert.ok(Buffer.concat(server.connections[0].binaries()).equals(Buffer.from(pcm)));
    assert.deepEqual(
      result.events.map((e) => e.type),
      ['started', 'committed', 'going_away', 'segment', 'stream_end'],
    );
    assert.deepEqual([result.moves, result.moveFailure, result.closeCode], [[], undefined, 1000]);
  } finally {
    await server.close();
  }
});

void test('the old stream closes (1001) while the new connection opens: the new one still takes the stream from the committed point', async () => {
  const server = await movingServer({ closeOldOnNew: true });
  try {
    const pcm = randomBytes(BYTES_PER_SECOND, 8);
    const result = await streamAudio({ addr: server.url(), format: STEREO, pcm, chunkBytes: 3201, realTime: true, timeoutMs: 10_000 });
    assert.equal(server.connections.length, 2);
    const [old, next] = server.connections;
    assert.equal((await old.closed).code, 1001);
    assert.ok(Buffer.concat(next.binaries()).equals(Buffer.from(pcm.subarray(bytesOf(COMMITTED)))), 'the new stream got the audio from the committed point');
    assert.equal(result.moves.length, 1);
    assert.equal(result.moveFailure, undefined);
    assert.equal(result.closeCode, 1000);
    assert.equal(result.sentSeconds, 1);
  } finally {
    await server.close();
  }
});

void test('move points: the fewest frames that make whole 32 ms windows', () => {
  assert.deepEqual(
    [16000, 48000, 8000, 44100, 22050, 11025, 12345].map(moveStepFrames),
    [512, 1536, 256, 7056, 3528, 1764, 1],
  );
});
