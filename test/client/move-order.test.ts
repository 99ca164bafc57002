// The move's wire exchange, byte for byte, against a scripted server: which requests each connection
// gets, where the audio is cut, and the order in which a moved stream reports its events.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AudioFormat, ServerEvent } from '../../src/api/protocol.ts';
import { moveStepFrames } from '../../src/client/moving-stream.ts';
import { streamAudio } from '../../src/client/stream-client.ts';
import { type FakeConnection, randomBytes, rng, startFakeServer } from './fake-server.ts';

const STEREO: AudioFormat = { channels: 2, sample_rate: 16000, bit_depth: 16, is_float: false };
const BYTES_PER_SECOND = 64_000;

const audioBytes = (c: FakeConnection) => c.binaries().reduce((n, b) => n + b.length, 0);

/**
 * The first connection gets `going_away` once `noticeAfter` bytes of audio came; each connection answers
 * `stop` with one segment and `stream_end`; when there is a second connection, the first answers only after
 * the second's stop, so that the new connection's events arrive before the old one's last ones.
 */
async function movingServer(noticeAfter: number) {
  let secondStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (secondStopped = resolve));
  let noticed = false;
  const server = await startFakeServer((conn, msg) => {
    const first = server.connections[0] === conn;
    if (first && msg.kind === 'binary' && !noticed && audioBytes(conn) >= noticeAfter) {
      noticed = true;
      conn.send({ type: 'going_away', deadline_ms: 5000 });
    }
    if (msg.json?.request === 'keepalive') conn.send({ type: 'ack', request: 'keepalive' });
    if (msg.json?.request !== 'stop') return;
    const offset = Number(conn.messages[0].json?.time_offset ?? 0);
    const seconds = audioBytes(conn) / BYTES_PER_SECOND;
    const answer = () => {
      conn.send({ type: 'segment', start_time: offset, end_time: offset + seconds, is_final: true, channel: 0 });
      conn.send({ type: 'stream_end', channel_durations: [seconds, seconds] });
      conn.ws.close(1000, 'done');
    };
    if (first && server.connections.length > 1) stopped.then(answer, () => {});
    else if (first) answer();
    else {
      answer();
      secondStopped();
    }
  });
  return server;
}

void test('the move: start with time_offset and a confirming keepalive on the new connection, stop on the old, every byte once, cut on the 32 ms grid', async () => {
  const server = await movingServer(0.3 * BYTES_PER_SECOND);
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
    const cut = audioBytes(old);
    assert.equal(cut % (512 * 4), 0, `the old stream got ${cut} bytes: whole 512-frame windows`);
    assert.ok(cut >= 0.3 * BYTES_PER_SECOND && cut < BYTES_PER_SECOND);
    assert.ok(Buffer.concat([...old.binaries(), ...next.binaries()]).equals(Buffer.from(pcm)), 'every byte once, in order');

    assert.deepEqual(old.texts(), [
      { request: 'start', format: STEREO, interim_results: false },
      { request: 'stop', disconnect: true },
    ]);
    assert.deepEqual(next.texts(), [
      { request: 'start', format: STEREO, interim_results: false, time_offset: cut / BYTES_PER_SECOND },
      { request: 'keepalive' },
      { request: 'stop', disconnect: true },
    ]);
    // Nothing for the new stream before it was confirmed; nothing for the old one after its stop.
    const keepaliveAt = next.messages.findIndex((m) => m.json?.request === 'keepalive');
    assert.ok(next.messages.slice(0, keepaliveAt).every((m) => m.kind === 'text'));
    assert.equal(old.messages.at(-1)!.json?.request, 'stop');

    const x = cut / BYTES_PER_SECOND;
    const y = audioBytes(next) / BYTES_PER_SECOND;
    assert.ok(Math.abs(x + y - 1) < 1e-12);
    const expected = [
      { type: 'going_away', deadline_ms: 5000 },
      { type: 'segment', start_time: 0, end_time: x, is_final: true, channel: 0 },
      { type: 'stream_end', channel_durations: [x, x] },
      { type: 'segment', start_time: x, end_time: x + y, is_final: true, channel: 0 },
      { type: 'stream_end', channel_durations: [y, y] },
    ];
    assert.deepEqual(result.events, expected, 'the old connection’s events first, though the new one’s came earlier; no ack');
    assert.deepEqual(seen, expected);
    assert.deepEqual(
      result.moves.map(({ heldMs: _, ...m }) => m),
      [{ atSeconds: x, from: 0, to: 1, deadlineMs: 5000, attempts: 1 }],
    );
    assert.deepEqual(
      result.connections.map((c) => [c.timeOffset, c.sentSeconds, c.closeCode]),
      [
        [0, x, 1000],
        [x, y, 1000],
      ],
    );
  } finally {
    await server.close();
  }
});

void test('reconnect: false ignores going_away: one connection, as before', async () => {
  const server = await movingServer(0.2 * BYTES_PER_SECOND);
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
      ['going_away', 'segment', 'stream_end'],
    );
    assert.deepEqual([result.moves, result.moveFailure, result.closeCode], [[], undefined, 1000]);
  } finally {
    await server.close();
  }
});

/** A pacing clock that stands still from `freezeAtMs` on, until `thaw()`: the sender waits there as long as the test wants. */
function freezingClock(freezeAtMs: number) {
  let thawed = false;
  const waiting: (() => void)[] = [];
  const clock = {
    t: 0,
    now: () => clock.t,
    sleep: (ms: number, signal: AbortSignal) =>
      new Promise<void>((resolve, reject) => {
        const wake = () => {
          clock.t += ms;
          resolve();
        };
        if (thawed || clock.t + ms < freezeAtMs) return wake();
        waiting.push(wake);
        signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      }),
    thaw: () => {
      thawed = true;
      for (const wake of waiting.splice(0)) wake();
    },
  };
  return clock;
}

void test('the old stream closes while a new connection waits for a move point: the move failure is reported, not lost', async () => {
  // The new connection opens; before the sender reaches a move point (its clock stands still), the
  // server closes the old stream. The mover's hold then ends without one: audio was left, so it failed.
  const clock = freezingClock(300);
  let second: Promise<void> | undefined;
  const server = await startFakeServer((conn, msg) => {
    if (server.connections[0] === conn && msg.kind === 'binary' && !second && audioBytes(conn) >= 0.1 * BYTES_PER_SECOND) {
      second = server.nextConnection().then(async () => {
        conn.ws.close(1001, 'server shutting down');
        await conn.closed; // the client answered the close: its connection is not open any more
        clock.thaw();
      });
      conn.send({ type: 'going_away', deadline_ms: 5000 });
    }
  });
  try {
    const failures: unknown[] = [];
    const pcm = randomBytes(BYTES_PER_SECOND, 8); // 1 s; the clock stops at 0.3 s
    const result = await streamAudio({ addr: server.url(), format: STEREO, pcm, chunkBytes: 3201, realTime: true, clock, onMoveFailed: (f) => failures.push(f), timeoutMs: 10_000 });
    await second;
    assert.equal(server.connections.length, 2, 'one new connection was opened');
    assert.deepEqual(server.connections[1].texts(), [], 'and not given the stream');
    assert.deepEqual(result.moves, []);
    assert.equal(result.closeCode, 1001);
    assert.ok(result.sentSeconds < 1, `sent ${result.sentSeconds} s`);
    assert.deepEqual(failures, [result.moveFailure]);
    assert.match(result.moveFailure?.reason ?? '', /^no new connection took the stream before the server closed it \(last attempt: .+\)$/);
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
