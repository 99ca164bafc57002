// The client core asks for `stats` on every connection of a stream: after a resume the new
// connection's stats continue on the stream's timeline, delivered (they are no repeats).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ServerEvent, StatsEvent } from '../../src/api/protocol.ts';
import { streamAudio, type Resume } from '../../src/client/stream-client.ts';
import { speechFixture, startTestService, type TestService } from '../helpers/service.ts';
import { startSwitchProxy } from '../helpers/switch-proxy.ts';

const fixture = speechFixture();
const [, REGION_B] = fixture.regions;
const statsIn = (events: ServerEvent[]) => events.filter((e): e is StatsEvent => e.type === 'stats');

let service: TestService;
before(async () => {
  service = await startTestService();
});
after(() => service.shutdown(0));

test('a stream resumed on a new connection gets that connection’s stats too, on the same timeline', { timeout: 60_000 }, async () => {
  const proxy = await startSwitchProxy(service.port);
  const resumes: Resume[] = [];
  const delivered: ServerEvent[] = [];
  try {
    const running = streamAudio({
      addr: `ws://127.0.0.1:${proxy.port}/api/v1/segmented`,
      format: fixture.format,
      pcm: fixture.pcm,
      realTime: true,
      chunkBytes: 3200,
      statsIntervalMs: 250,
      onResume: (r) => resumes.push(r),
      onEvent: (e) => delivered.push(e),
    });
    await proxy.until(() => proxy.bytesTo(service.port) >= (REGION_B.start + 0.7) * 32_000, 'audio inside the second speech region');
    proxy.reset();
    const result = await running;
    assert.equal(result.closeCode, 1000);
    assert.equal(resumes.length, 1);
    const [lost, resumed] = result.connections;
    assert.ok(statsIn(lost.events).length >= 2, 'the first connection had stats');
    const second = statsIn(resumed.events);
    assert.ok(second.length >= 2, 'the new connection has stats: its start asked for them');
    assert.ok(second.every((s) => s.time >= resumes[0].atSeconds - 1e-6), 'on the timeline, from the resume point');
    assert.equal(second.at(-1)!.time, fixture.duration, 'the last stats has the whole audio');
    // Delivered: both connections' stats, the second's after its started.
    const starts = delivered.flatMap((e, i) => (e.type === 'started' ? [i] : []));
    assert.equal(starts.length, 2, 'two streams');
    const secondStarted = starts[1];
    assert.equal(statsIn(delivered.slice(secondStarted)).length, second.length, 'no stats of the new connection dropped as a repeat');
  } finally {
    await proxy.close();
  }
});
