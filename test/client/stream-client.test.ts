import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { AudioFormat, ServerEvent } from '../../src/api/protocol.ts';
import { ConnectError, connect, streamAudio } from '../../src/client/stream-client.ts';
import { waitFor } from '../helpers/wait.ts';
import { type FakeServer, protocolResponder, randomBytes, rng, startFakeServer } from './fake-server.ts';

const S16_STEREO: AudioFormat = { channels: 2, sample_rate: 16000, bit_depth: 16, is_float: false };
const F32_MONO: AudioFormat = { channels: 1, sample_rate: 8000, bit_depth: 32, is_float: true };

const SCRIPT: ServerEvent[] = [
  { type: 'active', time: 0.1, channel: 0 },
  { type: 'active', time: 0.12, channel: 1 },
  { type: 'segment', start_time: 0.1, end_time: 0.6, is_final: false, channel: 0, count: 8000 },
  { type: 'inactive', time: 0.9, channel: 0 },
  { type: 'segment', start_time: 0.1, end_time: 0.9, is_final: true, channel: 0, count: 12800, extra: { nested: [1, 2] } },
  { type: 'some_future_event', whatever: true } as unknown as ServerEvent,
];

let server: FakeServer;
before(async () => {
  server = await startFakeServer(protocolResponder(SCRIPT));
});
after(() => server.close());

void test('streamAudio sends start, every PCM byte in random-size frames (odd sizes too), stop; returns events in order', async () => {
  const pcm = randomBytes(16000 * 4 * 0.5, 1); // 0.5 s of s16 stereo
  const r = rng(42);
  const sizes: number[] = [];
  const chunkBytes = () => {
    const n = 1 + Math.floor(r() * 1500);
    sizes.push(n);
    return n;
  };
  const seen: ServerEvent[] = [];
  const progress: Array<[number, number]> = [];
  const connP = server.nextConnection();
  const result = await streamAudio({
    addr: server.url(),
    format: S16_STEREO,
    pcm,
    chunkBytes,
    interimResults: true,
    vad: { threshold: 0.6, min_silence_ms: 300 },
    traceId: '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01',
    headers: { authorization: 'Bearer t0ken' },
    onEvent: (e) => seen.push(e),
    onProgress: (s, t) => progress.push([s, t]),
    timeoutMs: 10_000,
  });
  const conn = await connP;

  assert.equal(conn.path, '/api/v1/segmented');
  assert.equal(conn.headers.authorization, 'Bearer t0ken');
  const first = conn.messages[0];
  assert.equal(first.kind, 'text');
  assert.deepEqual(first.json, {
    request: 'start',
    format: S16_STEREO,
    interim_results: true,
    vad: { threshold: 0.6, min_silence_ms: 300 },
    trace_id: '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01',
  });
  const last = conn.messages.at(-1)!;
  assert.equal(last.kind, 'text');
  assert.deepEqual(last.json, { request: 'stop', disconnect: true });
  // nothing but binary frames in between
  const middle = conn.messages.slice(1, -1);
  assert.ok(middle.every((m) => m.kind === 'binary'));

  const frames = conn.binaries();
  assert.ok(Buffer.concat(frames).equals(Buffer.from(pcm)), 'concatenated payload equals the PCM exactly');
  // each frame has the size the function asked for (the last one clamped to what was left)
  assert.deepEqual(frames.map((f) => f.length).slice(0, -1), sizes.slice(0, frames.length - 1));
  assert.ok(frames.at(-1)!.length <= sizes[frames.length - 1]);
  assert.ok(frames.some((f) => f.length % 2 === 1), 'some frames split a sample');
  assert.ok(frames.some((f) => f.length % 4 !== 0 && f.length % 2 === 0), 'some frames split a stereo frame');

  const expected = [...SCRIPT, { type: 'stream_end', channel_durations: [0.5, 0.5] }];
  assert.deepEqual(result.events, expected);
  assert.deepEqual(seen, expected, 'onEvent saw every event in order');
  assert.equal(result.closeCode, 1000);
  assert.equal(result.closeReason, 'done');

  assert.equal(progress.length, frames.length);
  assert.deepEqual(progress.at(-1), [0.5, 0.5]);
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i][0] > progress[i - 1][0]);
});

void test('streamAudio with a fixed chunk size, no optional start fields', async () => {
  const pcm = randomBytes(4 * 1000 + 3 * 4, 2);
  const connP = server.nextConnection();
  const result = await streamAudio({ addr: server.url('/api/v1/simple'), format: F32_MONO, pcm, chunkBytes: 1000 });
  const conn = await connP;
  assert.equal(conn.path, '/api/v1/simple');
  assert.deepEqual(conn.messages[0].json, { request: 'start', format: F32_MONO, interim_results: false });
  assert.deepEqual(
    conn.binaries().map((b) => b.length),
    [1000, 1000, 1000, 1000, 12],
  );
  assert.ok(Buffer.concat(conn.binaries()).equals(Buffer.from(pcm)));
  assert.equal(result.closeCode, 1000);
  assert.equal(result.events.at(-1)!.type, 'stream_end');
});

void test('disconnect false: resolves after stream_end and the client closes with 1000', async () => {
  const connP = server.nextConnection();
  const result = await streamAudio({
    addr: server.url(),
    format: F32_MONO,
    pcm: randomBytes(800, 3),
    disconnect: false,
    timeoutMs: 10_000,
  });
  const conn = await connP;
  assert.deepEqual(conn.messages.at(-1)!.json, { request: 'stop', disconnect: false });
  assert.deepEqual(result.events.at(-1), { type: 'stream_end', channel_durations: [0.025] });
  assert.equal(result.closeCode, 1000);
  assert.equal((await conn.closed).code, 1000, 'the server saw the client close with 1000');
});

/** How early a Node timer may end: its delay is truncated to whole ms, and its clock read in whole ms. */
const TIMER_SLACK_MS = 3;

/** A virtual pacing clock whose every sleep ends `lateMs` late, as timers do on a busy machine. */
function lateClock(lateMs: number) {
  const clock = {
    t: 0,
    sleeps: [] as number[],
    now: () => clock.t,
    sleep: async (ms: number) => {
      clock.sleeps.push(ms);
      clock.t += ms + lateMs;
    },
  };
  return clock;
}

void test('real-time pacing sends frame i at t0 + bytes before it / byte rate: late wake-ups do not accumulate (virtual clock)', async () => {
  // 0.3 s of 8 kHz f32 mono = 9600 bytes, in 960-byte (30 ms) frames; every sleep ends 7 ms late
  const clock = lateClock(7);
  const sentAt: number[] = [];
  const connP = server.nextConnection();
  const result = await streamAudio({
    addr: server.url(),
    format: F32_MONO,
    pcm: randomBytes(9600, 4),
    chunkBytes: 960,
    realTime: true,
    clock,
    onProgress: () => sentAt.push(clock.t),
    timeoutMs: 10_000,
  });
  // frame 0 at once; frame i as soon as the sleep toward its due time i × 30 ms ends: 7 ms after it,
  // whatever the earlier frames' lateness (a sender sleeping 30 ms per frame would drift 7 ms per frame)
  assert.deepEqual(sentAt, Array.from({ length: 10 }, (_, i) => (i === 0 ? 0 : i * 30 + 7)));
  assert.deepEqual(clock.sleeps, [30, ...Array(8).fill(23)]);
  const conn = await connP;
  assert.equal(conn.binaries().length, 10);
  assert.equal(result.closeCode, 1000);
});

void test('real-time pacing on the real clock: no frame arrives before its due time', async () => {
  const connP = server.nextConnection();
  const startedAt = performance.now();
  const result = await streamAudio({ addr: server.url(), format: F32_MONO, pcm: randomBytes(9600, 4), chunkBytes: 960, realTime: true, timeoutMs: 10_000 });
  const conn = await connP;
  // `at` counts from the server's connection, which precedes the client's t0 (taken after start was sent)
  const arrivals = conn.messages.filter((m) => m.kind === 'binary').map((m) => m.at);
  assert.equal(arrivals.length, 10);
  // Node truncates a timer's delay and reads its clock in whole ms: a timer may end up to 2 ms early.
  // How late frames may come depends on the machine's load: not checked.
  arrivals.forEach((at, i) => assert.ok(at >= i * 30 - TIMER_SLACK_MS, `frame ${i} arrived ${at.toFixed(1)} ms after the connection, due at ${i * 30} ms`));
  assert.ok(performance.now() - startedAt >= 270 - TIMER_SLACK_MS);
  assert.equal(result.closeCode, 1000);
});

void test('without realTime the audio is sent as fast as possible: no pacing sleep', async () => {
  const clock = lateClock(0);
  await streamAudio({ addr: server.url(), format: F32_MONO, pcm: randomBytes(8000 * 4 * 5, 5), chunkBytes: 4096, clock });
  assert.deepEqual(clock.sleeps, [], '5 s of audio must not be paced');
});

void test('a server that closes early (protocol error) gives its events and close code', async () => {
  const strict = await startFakeServer((conn, msg) => {
    if (msg.kind === 'text' && msg.json?.request === 'start') {
      conn.send({ type: 'error', message: 'unsupported format: bit_depth 16', code: 'unsupported_format' });
      conn.ws.close(1008, 'unsupported format');
    }
  });
  try {
    const result = await streamAudio({ addr: strict.url(), format: S16_STEREO, pcm: randomBytes(64000, 6), chunkBytes: 64, timeoutMs: 10_000 });
    assert.deepEqual(result.events, [{ type: 'error', message: 'unsupported format: bit_depth 16', code: 'unsupported_format' }]);
    assert.equal(result.closeCode, 1008);
    assert.equal(result.closeReason, 'unsupported format');
  } finally {
    await strict.close();
  }
});

void test('rejects after timeoutMs when the server never finishes', async () => {
  const silent = await startFakeServer(() => {});
  try {
    await assert.rejects(
      streamAudio({ addr: silent.url(), format: F32_MONO, pcm: randomBytes(400, 7), timeoutMs: 300 }),
      /timed out after 300 ms/,
    );
    const [conn] = silent.connections;
    assert.equal((await conn.closed).code, 1006, 'the client dropped the connection');
  } finally {
    await silent.close();
  }
});

void test('the timeout also stops a real-time sender', async () => {
  const silent = await startFakeServer(() => {});
  try {
    await assert.rejects(
      streamAudio({ addr: silent.url(), format: F32_MONO, pcm: randomBytes(32000 * 10, 8), realTime: true, timeoutMs: 200 }),
      /timed out/,
    );
    const [conn] = silent.connections;
    await conn.closed;
    const count = conn.binaries().length;
    // a sender left running would send a frame every 32 ms: several inside this 200 ms, however loaded the machine
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(conn.binaries().length, count, 'no frames after the timeout');
    assert.ok(count < 313, `sent ${count} of the 313 frames: stopped before the end`);
  } finally {
    await silent.close();
  }
});

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

void test('connection refused rejects with a clear ConnectError', async () => {
  const addr = `ws://127.0.0.1:${await closedPort()}/api/v1/segmented`;
  await assert.rejects(streamAudio({ addr, format: F32_MONO, pcm: new Uint8Array(4) }), (err: Error) => {
    assert.ok(err instanceof ConnectError);
    assert.match(err.message, new RegExp(`^cannot connect to ${addr.replace(/[/.]/g, '\\$&')}: .*ECONNREFUSED`));
    return true;
  });
});

void test('an HTTP refusal of the upgrade rejects with its status', async () => {
  const guarded = await startFakeServer(protocolResponder([]), {
    verifyClient: (info, cb) => cb(info.req.headers.authorization === 'Bearer ok', 401),
  });
  try {
    await assert.rejects(connect(guarded.url()), (err: Error) => {
      assert.ok(err instanceof ConnectError);
      assert.equal(err.status, 401);
      assert.match(err.message, /HTTP 401/);
      return true;
    });
    const conn = await connect(guarded.url(), { authorization: 'Bearer ok' });
    assert.ok(conn.isOpen);
    await conn.close();
  } finally {
    await guarded.close();
  }
});

void test('connect: scripted exchange with next(), raw text, second stream and close()', async () => {
  const events: ServerEvent[] = [{ type: 'active', time: 0, channel: 0 }, { type: 'inactive', time: 0.05, channel: 0 }];
  const scripted = await startFakeServer(protocolResponder(events));
  try {
    const serverConnP = scripted.nextConnection();
    const conn = await connect(scripted.url());
    const serverConn = await serverConnP;
    await conn.send({ request: 'start', format: F32_MONO });
    await conn.send(new Uint8Array([1, 2, 3]));
    await conn.send('{not json');
    await conn.send({ request: 'stop', disconnect: false });
    // let every event arrive before asking: next() must still find them, in order
    await waitFor('the 3 scripted events', () => conn.events.length === 3);
    const inactive = await conn.next((e) => e.type === 'inactive');
    assert.equal(inactive.type === 'inactive' && inactive.time, 0.05);
    const end = await conn.next('stream_end');
    assert.deepEqual(end.channel_durations, [3 / 32000]);
    // the active before the inactive was skipped by the predicate and is not returned later
    await assert.rejects(conn.next('active', 100), /no matching event within 100 ms/);

    // second stream on the same socket; next() waits for events that have not arrived yet
    const nextEnd = conn.next('stream_end', 5000);
    await conn.send({ request: 'start', format: F32_MONO });
    await conn.send(new Uint8Array(8));
    await conn.send({ request: 'stop', disconnect: true });
    assert.deepEqual((await nextEnd).channel_durations, [0.00025]);
    assert.deepEqual(await conn.closed, { code: 1000, reason: 'done' });
    assert.equal(conn.isOpen, false);
    await assert.rejects(conn.next(), /connection closed \(1000 done\) before a matching event/);
    await assert.rejects(conn.send({ request: 'keepalive' }), /not open/);

    assert.deepEqual(
      serverConn.messages.map((m) => (m.kind === 'binary' ? [...m.bytes!] : m.text)),
      [
        '{"request":"start","format":{"channels":1,"sample_rate":8000,"bit_depth":32,"is_float":true}}',
        [1, 2, 3],
        '{not json',
        '{"request":"stop","disconnect":false}',
        '{"request":"start","format":{"channels":1,"sample_rate":8000,"bit_depth":32,"is_float":true}}',
        [0, 0, 0, 0, 0, 0, 0, 0],
        '{"request":"stop","disconnect":true}',
      ],
    );
    assert.deepEqual(conn.events.map((e) => e.type), ['active', 'inactive', 'stream_end', 'active', 'inactive', 'stream_end']);
  } finally {
    await scripted.close();
  }
});

void test('connect: next() rejects when the socket closes first; close() reports the code', async () => {
  const closer = await startFakeServer((conn, msg) => {
    if (msg.json?.request === 'finalize') conn.send({ type: 'ack', request: 'finalize' });
    if (msg.json?.request === 'keepalive') conn.ws.close(1011, 'boom');
  });
  try {
    const conn = await connect(closer.url());
    await conn.send({ request: 'finalize' });
    assert.deepEqual(await conn.next('ack', 5000), { type: 'ack', request: 'finalize' });
    const waiting = conn.next('stream_end', 5000);
    await conn.send({ request: 'keepalive' });
    await assert.rejects(waiting, /connection closed \(1011 boom\)/);
    assert.deepEqual(await conn.close(), { code: 1011, reason: 'boom' });

    const conn2 = await connect(closer.url());
    assert.deepEqual(await conn2.close(4000, 'bye'), { code: 4000, reason: 'bye' });
  } finally {
    await closer.close();
  }
});

void test('connect: non-JSON server frames are kept apart from events', async () => {
  const odd = await startFakeServer((conn) => {
    conn.ws.send('not json');
    conn.ws.send('[1,2]');
    conn.send({ type: 'stream_end', channel_durations: [] });
  });
  try {
    const conn = await connect(odd.url());
    await conn.send({ request: 'keepalive' });
    await conn.next('stream_end', 5000);
    assert.deepEqual(conn.invalidFrames, ['not json', '[1,2]']);
    assert.deepEqual(conn.events, [{ type: 'stream_end', channel_durations: [] }]);
    await conn.close();
  } finally {
    await odd.close();
  }
});
