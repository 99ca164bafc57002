// The client core asks for `stats` on every connection of a stream: after a resume the new
// connection's stats continue on the stream's timeline, delivered (they are no repeats).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ServerEvent, StatsEvent } from '../../src/api/protocol.ts';
import { speechFixture, startTestService, type TestService } from '../helpers/service.ts';
import { streamWithCut } from '../helpers/cut-stream.ts';

const fixture = speechFixture();
const statsIn = (events: ServerEvent[]) => events.filter((e): e is StatsEvent => e.type === 'stats');

let service: TestService;
before(async () => {
  service = await startTestService();
});
after(() => service.shutdown(0));

test('a stream resumed on a new connection gets that connection’s stats too, on the same timeline', { timeout: 60_000 }, async () => {
  const delivered: ServerEvent[] = [];
  const { result, resumes } = await streamWithCut(service, { stream: { statsIntervalMs: 250, onEvent: (e) => delivered.push(e) } });
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
});
