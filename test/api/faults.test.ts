import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServerEvent } from '../../src/api/protocol.ts';
import { streamAudio } from '../../src/client/stream-client.ts';
import { scrape } from '../helpers/prometheus.ts';
import { withoutCommits } from '../helpers/robustness.ts';
import { speechFixture, startTestService } from '../helpers/service.ts';

const fixture = speechFixture();
const errorsOf = (events: ServerEvent[]) => events.filter((e): e is Extract<ServerEvent, { type: 'error' }> => e.type === 'error');

test('failure_rate 1: one error event per segment for its channel, and the stream completes', async () => {
  const service = await startTestService({ model: { failure_rate: 1 } });
  try {
    const before = await scrape(service.url);
    const { events, closeCode } = await streamAudio({ addr: service.ws('segmented'), format: fixture.format, pcm: fixture.pcm });
    assert.deepEqual(withoutCommits(events).map((e) => e.type), ['started', 'active', 'inactive', 'error', 'active', 'inactive', 'error', 'stream_end']);
    const after = await scrape(service.url);
    assert.equal(after.value('model_failures_total') - before.value('model_failures_total'), errorsOf(events).length);
    assert.equal(after.value('rtf_count', { pipeline: 'model' }), before.value('rtf_count', { pipeline: 'model' }), 'failed work records no RTF');
    assert.equal(after.sum('task_panics_total'), before.sum('task_panics_total'));
    for (const e of errorsOf(events)) {
      assert.equal(e.channel, 0);
      assert.equal(e.code, 'model_failure');
    }
    assert.equal(closeCode, 1000);
    const health = (await (await fetch(`${service.url}/api/v1/health`)).json()) as { status: string };
    assert.equal(health.status, 'healthy', 'a reported failure is not a panic');
  } finally {
    await service.shutdown(0);
  }
});

test('panic_rate 1: "internal server error" per segment, no crash, the health turns degraded and the next stream works', async () => {
  const service = await startTestService({ model: { panic_rate: 1 } });
  try {
    const scraped = await scrape(service.url);
    let panicEvents = 0;
    for (let round = 0; round < 2; round++) {
      const result = await streamAudio({ addr: service.ws('simple'), format: fixture.format, pcm: fixture.pcm, chunkBytes: 64_000 });
      const [events, closeCode] = [withoutCommits(result.events), result.closeCode];
      const errors = errorsOf(events);
      assert.ok(errors.length >= 1);
      assert.equal(errors.length, events.length - 2, 'every result is an error (besides started and stream_end)');
      for (const e of errors) assert.deepEqual(e, { type: 'error', message: 'internal server error', code: 'internal_error', channel: 0 });
      panicEvents += errors.length;
      assert.equal(events.at(-1)?.type, 'stream_end');
      assert.equal(closeCode, 1000);
    }
    const now = await scrape(service.url);
    const panicked = now.value('task_panics_total', { task: 'inference' }) - scraped.value('task_panics_total', { task: 'inference' });
    assert.equal(panicked, panicEvents);
    assert.ok(panicked >= 2);
    const health = await fetch(`${service.url}/api/v1/health`);
    assert.equal(health.status, 200);
    const body = (await health.json()) as { status: string; panics: number };
    assert.equal(body.status, 'degraded');
    assert.ok(body.panics >= panicked);
  } finally {
    await service.shutdown(0);
  }
});
