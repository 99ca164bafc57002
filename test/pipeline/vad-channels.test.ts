// The segmented runner opens a VAD channel per stream channel and closes it on every way out, so the
// VAD's batching never waits for a stream that is gone: with a long batching bound (100 ms), a
// lone stream after others ended (normally, or by the client dropping) starts its jobs at once.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect, streamAudio } from '../../src/client/stream-client.ts';
import { scrape } from '../helpers/prometheus.ts';
import { S16_MONO_16K, speechFixture, startTestService, type TestService } from '../helpers/service.ts';

let service: TestService;
before(async () => {
  service = await startTestService({ vad: { batch_wait_ms: 100 } });
});
after(() => service.shutdown(0));

const fixture = speechFixture();

/** Mean batching wait (s) of the VAD jobs of one lone stream of the fixture. */
async function loneStreamWait(): Promise<number> {
  const before = await scrape(service.url);
  const { closeCode } = await streamAudio({ addr: service.ws('segmented'), format: fixture.format, pcm: fixture.pcm, chunkBytes: 3200 });
  assert.equal(closeCode, 1000);
  const after = await scrape(service.url);
  const jobs = after.value('vad_batch_wait_seconds_count') - before.value('vad_batch_wait_seconds_count');
  assert.ok(jobs > 0);
  return (after.value('vad_batch_wait_seconds_sum') - before.value('vad_batch_wait_seconds_sum')) / jobs;
}

test('after streams that ended normally, a lone stream does not wait for them', async () => {
  await Promise.all([0, 1, 2].map(() => streamAudio({ addr: service.ws('segmented'), format: fixture.format, pcm: fixture.pcm, chunkBytes: 3200 })));
  const wait = await loneStreamWait();
  assert.ok(wait < 0.05, `mean batching wait ${(wait * 1000).toFixed(0)} ms with a 100 ms bound`);
});

test('after streams whose clients dropped mid-stream, a lone stream does not wait for them', async () => {
  for (let i = 0; i < 3; i++) {
    const conn = await connect(service.ws('segmented'));
    await conn.send({ request: 'start', format: { ...S16_MONO_16K, channels: 2 } });
    await conn.send(new Uint8Array(16000 * 2 * 2)); // 0.5 s of stereo silence
    await new Promise((r) => setTimeout(r, 50));
    conn.terminate();
    await conn.closed;
  }
  await new Promise((r) => setTimeout(r, 100)); // the server sees the drops
  const wait = await loneStreamWait();
  assert.ok(wait < 0.05, `mean batching wait ${(wait * 1000).toFixed(0)} ms with a 100 ms bound`);
});
