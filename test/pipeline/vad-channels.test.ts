// The segmented runner opens a VAD channel per stream channel and closes it on every way out, so the
// VAD's batching never waits for a stream that is gone: with the longest batching bound (100 ms), a
// lone stream after others ended (normally, or by the client dropping) starts its jobs at once.
// A job that waits for a gone stream waits the whole bound; one that starts at once waits a turn of
// the event loop. So the share of jobs that waited over half the bound tells them apart, and a loaded
// machine that delays some jobs cannot make most of them wait that long.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect, streamAudio } from '../../src/client/stream-client.ts';
import { activeStreams, scrape, type Exposition } from '../helpers/prometheus.ts';
import { S16_MONO_16K, speechFixture, startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait.ts';

let service: TestService;
before(async () => {
  service = await startTestService({ vad: { batch_wait_ms: 100 } });
});
after(() => service.shutdown(0));

const fixture = speechFixture();

/** VAD jobs so far, and those that waited over 50 ms (half the bound) for company. */
const waits = (e: Exposition) => {
  const jobs = e.value('vad_batch_wait_seconds_count');
  return { jobs, overHalf: jobs - e.value('vad_batch_wait_seconds_bucket', { le: '0.05' }) };
};

/** The share of a lone stream's VAD jobs that waited over half the batching bound. */
async function loneStreamWaitedShare(): Promise<number> {
  const before = waits(await scrape(service.url));
  const { closeCode } = await streamAudio({ addr: service.ws('segmented'), format: fixture.format, pcm: fixture.pcm, chunkBytes: 3200 });
  assert.equal(closeCode, 1000);
  const after = waits(await scrape(service.url));
  const jobs = after.jobs - before.jobs;
  assert.ok(jobs >= 10, `${jobs} VAD jobs`);
  return (after.overHalf - before.overHalf) / jobs;
}

const segmentedAudioSeconds = async () => (await scrape(service.url)).value('audio_received_seconds_total', { route: 'segmented' });

test('after streams that ended normally, a lone stream does not wait for them', async () => {
  await Promise.all([0, 1, 2].map(() => streamAudio({ addr: service.ws('segmented'), format: fixture.format, pcm: fixture.pcm, chunkBytes: 3200 })));
  const share = await loneStreamWaitedShare();
  assert.ok(share < 0.5, `${(share * 100).toFixed(0)} % of the lone stream's VAD jobs waited over 50 ms (bound: 100 ms)`);
});

test('after streams whose clients dropped mid-stream, a lone stream does not wait for them', async () => {
  for (let i = 0; i < 3; i++) {
    const received = await segmentedAudioSeconds();
    const conn = await connect(service.ws('segmented'));
    await conn.send({ request: 'start', format: { ...S16_MONO_16K, channels: 2 } });
    await conn.send(new Uint8Array(16000 * 2 * 2)); // 0.5 s of stereo silence
    // the stream runs (its VAD channels are open) and has its audio before the client drops
    await waitFor('the server to receive the 0.5 s', async () => (await segmentedAudioSeconds()) - received >= 0.5);
    conn.terminate();
    await conn.closed;
  }
  await waitFor('the server to see the drops', async () => (await activeStreams(service)) === 0);
  const share = await loneStreamWaitedShare();
  assert.ok(share < 0.5, `${(share * 100).toFixed(0)} % of the lone stream's VAD jobs waited over 50 ms (bound: 100 ms)`);
});
