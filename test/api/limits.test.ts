import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import type { ServerEvent } from '../../src/api/protocol.ts';
import { connect, streamAudio } from '../../src/client/stream-client.ts';
import { segmentsOf } from '../helpers/events.ts';
import { scrape } from '../helpers/prometheus.ts';
import { S16_MONO_16K, speechFixture, startTestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait.ts';

const fixture = speechFixture();
const seconds = (n: number) => fixture.pcm.subarray(0, n * 32000);

// The timer itself is tested on a mocked clock (flow-control.test.ts); here, its wiring. The client
// that keeps talking sends its next keepalive as soon as the last one is acked, so its longest silence
// is one round trip, never a guessed sleep that a loaded machine could stretch past the timeout.
test('idle timeout: no message for idle_timeout_ms → idle_timeout error and close 1008; messages keep it alive', async () => {
  const service = await startTestService({ limits: { idle_timeout_ms: 1000 } });
  try {
    const alive = await connect(service.ws('simple'));
    const idle = await connect(service.ws('simple'));
    let idleClosed = false;
    const closed = idle.closed.finally(() => (idleClosed = true));
    let keepalives = 0;
    while (!idleClosed) {
      await alive.send({ request: 'keepalive' });
      await alive.next((e) => e.type === 'ack' && e.request === 'keepalive');
      keepalives++;
    }
    assert.equal((await idle.next('error')).code, 'idle_timeout');
    assert.equal((await closed).code, 1008);
    // alive connected first: it outlived the idle one's timeout
    assert.ok(alive.isOpen, `a client that keeps talking is not timed out (${keepalives} keepalives)`);
    await alive.close();
  } finally {
    await service.shutdown(0);
  }
});

test('max_stream_seconds: audio up to the cut is still answered (stream_end), then stream_too_long and close 1008', async () => {
  const service = await startTestService({ limits: { max_stream_seconds: 2 } });
  try {
    const { events, closeCode } = await streamAudio({ addr: service.ws('simple'), format: S16_MONO_16K, pcm: seconds(4), chunkBytes: 3200 });
    const end = events.find((e) => e.type === 'stream_end') as Extract<ServerEvent, { type: 'stream_end' }>;
    assert.ok(end.channel_durations[0] > 2 && end.channel_durations[0] <= 2.1, `cut after ${end.channel_durations[0]} s`);
    const segs = segmentsOf(events);
    assert.equal(segs.at(-1)!.end_time, end.channel_durations[0], 'every received sample was answered');
    assert.equal(events.at(-1)?.type, 'error');
    assert.equal((events.at(-1) as { code: string }).code, 'stream_too_long');
    assert.equal(closeCode, 1008);
  } finally {
    await service.shutdown(0);
  }
});

test('inbound backpressure: a stream far behind stops being read until it catches up, and no audio is lost', async () => {
  // a slow model with one inference in flight: simple mode falls behind a client sending 8 s at once
  const service = await startTestService({ model: { delay: 0.15 }, pipeline: { simple_max_inflight: 1 }, limits: { max_backlog_seconds: 1 } });
  try {
    const before = await scrape(service.url);
    const { events } = await streamAudio({ addr: service.ws('simple'), format: fixture.format, pcm: fixture.pcm, chunkBytes: 1600 });
    const after = await scrape(service.url);
    assert.ok(after.value('inbound_pauses_total', { route: 'simple' }) > before.value('inbound_pauses_total', { route: 'simple' }), 'reading was paused');
    const segs = segmentsOf(events);
    for (let i = 1; i < segs.length; i++) assert.equal(segs[i].start_time, segs[i - 1].end_time);
    assert.equal(segs.at(-1)!.end_time, fixture.duration);
    // Without backpressure the whole 8 s would queue behind the first inference and come back as one
    // chunk. With it, a chunk holds at most the bound plus what was already read from the socket when
    // reading paused (ws delivers its buffered data: one 64 KiB socket read = 2.05 s of s16 at 16 kHz).
    const bound = 1 + 65536 / 32000 + 0.05;
    for (const s of segs) assert.ok(s.end_time - s.start_time < bound, `chunk of ${s.end_time - s.start_time} s`);
    assert.ok(segs.length >= 4, `${segs.length} chunks`);
  } finally {
    await service.shutdown(0);
  }
});

test('a slow reader with a fast writer is ended with slow_consumer; memory stays bounded; other streams complete', async () => {
  const service = await startTestService({ limits: { max_outbound_bytes: 64 * 1024 } });
  try {
    const rssBefore = process.memoryUsage().rss;
    const other = streamAudio({ addr: service.ws('segmented'), format: fixture.format, pcm: fixture.pcm, chunkBytes: 3200, realTime: false });
    // A raw client that never reads from its socket but floods keepalives (each answered by an ack).
    const slow = new WebSocket(service.ws('simple'));
    await new Promise((r) => slow.once('open', r));
    (slow as unknown as { _socket: { pause(): void } })._socket.pause();
    const closed = new Promise<number>((r) => slow.once('close', (code) => r(code)));
    const keepalive = JSON.stringify({ request: 'keepalive' });
    let sent = 0;
    // The kernel buffers unread acks before the server's own queue grows: on loopback up to the
    // receiver's tcp_rmem maximum (32 MiB here) plus the sender's tcp_wmem (4 MiB). 4 M keepalives
    // ask for 160 MB of acks, far beyond that; the flood stops as soon as the server cuts it off.
    const flood = async () => {
      while (slow.readyState === WebSocket.OPEN && sent < 4_000_000) {
        for (let i = 0; i < 1000; i++) slow.send(keepalive);
        sent += 1000;
        await new Promise((r) => setImmediate(r));
      }
    };
    await Promise.race([flood(), closed]);
    const code = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 15_000))]);
    assert.notEqual(code, -1, 'the slow client was disconnected');
    const ack = 40; // bytes per {"type":"ack","request":"keepalive"} frame
    assert.ok(sent * ack > 64 * 1024, 'the client asked for more than the outbound bound');
    const result = await other;
    assert.equal(segmentsOf(result.events).length, 2, 'the well-behaved stream is unaffected');
    const growth = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    assert.ok(growth < 150, `RSS grew ${growth.toFixed(0)} MiB (bound: 150 MiB for server and clients in this process)`);
    const after = await scrape(service.url);
    assert.ok(after.value('protocol_errors_total', { code: 'slow_consumer' }) >= 1);
  } finally {
    await service.shutdown(0);
  }
});

test('draining: new streams are refused with shutting_down (close 1013), running ones finish with stream_end and close 1001', async () => {
  // The checks below run before the drain deadline: 2 s leaves a loaded machine room for them.
  const service = await startTestService({ shutdown: { drain_timeout_ms: 2000 } });
  const running = await connect(service.ws('simple'));
  await running.send({ request: 'start', format: S16_MONO_16K });
  await running.send(seconds(1));
  const idle = await connect(service.ws('simple'));
  const stopping = service.shutdown(); // draining from this call on
  const ready = await fetch(`${service.url}/api/v1/ready`);
  assert.equal(ready.status, 503, 'readiness answers 503 while draining');
  assert.equal(((await ready.json()) as { draining: boolean }).draining, true);
  await idle.send({ request: 'start', format: S16_MONO_16K });
  assert.equal((await idle.next('error')).code, 'shutting_down');
  assert.equal((await idle.closed).code, 1013);
  // the running stream never sent stop: at the deadline it is finished and closed
  const end = await running.next('stream_end');
  assert.deepEqual(end.channel_durations, [1]);
  assert.equal((await running.closed).code, 1001);
  await stopping;
});

test('readiness is 503 while measured saturation (stage backlog per stream) is over the bound, 200 once it drains', async () => {
  const service = await startTestService({ model: { delay: 0.3 }, pipeline: { simple_max_inflight: 1 }, limits: { saturation_backlog_seconds: 0.5 } });
  try {
    const readiness = async () => {
      const r = await fetch(`${service.url}/api/v1/ready`);
      return { status: r.status, body: (await r.json()) as { saturated: boolean } };
    };
    assert.equal((await readiness()).status, 200);
    const conn = await connect(service.ws('simple'));
    await conn.send({ request: 'start', format: S16_MONO_16K });
    await conn.send(seconds(3)); // 3 s at once: the model (0.3 s per call, one in flight) falls behind
    await waitFor('readiness to report saturation', async () => {
      const r = await readiness();
      return r.status === 503 && r.body.saturated;
    });
    await conn.send({ request: 'stop', disconnect: true });
    await conn.next('stream_end');
    const after = await readiness();
    assert.equal(after.status, 200);
    assert.equal(after.body.saturated, false);
  } finally {
    await service.shutdown(0);
  }
});
