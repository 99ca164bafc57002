// Flow control on a mocked clock: no test here waits for real time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlowControl } from '../../src/api/flow-control.ts';

function harness(idleTimeoutMs = 60_000) {
  const events: string[] = [];
  let behind = 0;
  const flow = new FlowControl({
    idleTimeoutMs,
    maxBacklogSeconds: 2,
    behindSeconds: () => behind,
    onIdle: () => events.push('idle'),
    pause: () => events.push('pause'),
    resume: () => events.push('resume'),
    onPause: () => events.push('counted'),
    now: () => Date.now(),
  });
  return { flow, events, setBehind: (s: number) => (behind = s) };
}

test('reading pauses once when the stream falls more than the limit behind, and resumes at half of it when work is done', () => {
  const { flow, events, setBehind } = harness();
  try {
    setBehind(2);
    flow.checkBacklog();
    assert.deepEqual(events, [], 'at the limit: still reading');
    setBehind(3);
    flow.checkBacklog();
    flow.checkBacklog();
    assert.deepEqual(events, ['counted', 'pause'], 'paused once');
    setBehind(1.5);
    flow.progressed();
    assert.deepEqual(events, ['counted', 'pause'], 'above half the limit: still paused');
    setBehind(1);
    flow.progressed();
    flow.progressed();
    assert.deepEqual(events, ['counted', 'pause', 'resume'], 'resumed once');
    flow.progressed();
    setBehind(3);
    flow.checkBacklog();
    assert.deepEqual(events, ['counted', 'pause', 'resume', 'counted', 'pause'], 'pauses again when it falls behind again');
  } finally {
    flow.stop();
  }
});

test('the idle timeout fires after a silence, not while messages keep coming, and never after stop', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const { flow, events } = harness(400);
  for (let i = 0; i < 10; i++) {
    t.mock.timers.tick(50);
    flow.received(Date.now());
  }
  assert.deepEqual(events, [], '500 ms of messages every 50 ms: not idle');
  t.mock.timers.tick(399);
  assert.deepEqual(events, [], '399 ms after the last message: not idle yet');
  t.mock.timers.tick(1);
  assert.deepEqual(events, ['idle'], '400 ms after the last message: idle');
  flow.stop();

  const stopped = harness(30);
  stopped.flow.stop();
  t.mock.timers.tick(100);
  assert.deepEqual(stopped.events, []);
});

test('a paused session that is stopped never resumes', () => {
  const { flow, events, setBehind } = harness();
  setBehind(3);
  flow.checkBacklog();
  flow.stop();
  setBehind(0);
  flow.progressed();
  assert.deepEqual(events, ['counted', 'pause']);
});

test('a session paused by backpressure is not idle: its client is waiting for us, and the timeout restarts on resume', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const { flow, events, setBehind } = harness(400);
  try {
    setBehind(3);
    flow.checkBacklog();
    t.mock.timers.tick(2_000); // five idle timeouts long, paused all along
    assert.deepEqual(events, ['counted', 'pause'], 'no idle_timeout while paused');
    setBehind(0);
    flow.progressed();
    t.mock.timers.tick(399);
    assert.deepEqual(events, ['counted', 'pause', 'resume'], 'the timeout counts from the resume');
    t.mock.timers.tick(401);
    assert.deepEqual(events, ['counted', 'pause', 'resume', 'idle'], 'silent after the resume: idle');
  } finally {
    flow.stop();
  }
});
