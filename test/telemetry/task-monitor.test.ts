// A task monitor's running totals: waits and idle times measured across threads can come out a little
// negative (two clocks); they count as 0, so that the exported counters never go down.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LONG_DELAY_SECONDS, SLOW_POLL_SECONDS, TaskMonitor } from '../../src/telemetry/task-monitor.ts';

test('a negative scheduling delay or idle time counts as 0, and is still counted as one', () => {
  const m = new TaskMonitor('inference');
  m.scheduled(-0.002);
  m.scheduled(0.003);
  m.idled(-1);
  m.idled(0.5);
  assert.equal(m.totals.scheduled, 2);
  assert.equal(m.totals.schedulingDelay, 0.003);
  assert.equal(m.totals.idled, 2);
  assert.equal(m.totals.idleDuration, 0.5);
});

test('long delays and slow polls are counted from their thresholds', () => {
  const m = new TaskMonitor('inference');
  m.scheduled(LONG_DELAY_SECONDS / 2);
  m.scheduled(LONG_DELAY_SECONDS);
  m.poll(SLOW_POLL_SECONDS / 2);
  m.poll(SLOW_POLL_SECONDS);
  assert.deepEqual([m.totals.longDelays, m.totals.fastPolls, m.totals.slowPolls, m.totals.polls], [1, 1, 1, 2]);
  assert.equal(m.totals.slowPollDuration, SLOW_POLL_SECONDS);
});
