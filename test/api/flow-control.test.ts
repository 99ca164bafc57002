import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
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
  });
  return { flow, events, setBehind: (s: number) => (behind = s) };
}

test('reading pauses once when the stream falls more than the limit behind, and resumes at half of it', async () => {
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
    await sleep(60);
    assert.deepEqual(events, ['counted', 'pause'], 'above half the limit: still paused');
    setBehind(1);
    await sleep(60);
    assert.deepEqual(events, ['counted', 'pause', 'resume']);
  } finally {
    flow.stop();
  }
});

test('the idle timeout fires after a silence, not while messages keep coming, and never after stop', async () => {
  // Margins are wide (messages every 50 ms against a 400 ms timeout) so that a loaded machine's
  // late timers cannot make a busy session look idle.
  const { flow, events } = harness(400);
  for (let i = 0; i < 10; i++) {
    await sleep(50);
    flow.received(performance.now());
  }
  assert.deepEqual(events, [], '500 ms of messages every 50 ms: not idle');
  await sleep(700);
  assert.deepEqual(events, ['idle']);
  flow.stop();

  const stopped = harness(30);
  stopped.flow.stop();
  await sleep(100);
  assert.deepEqual(stopped.events, []);
});
