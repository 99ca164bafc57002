// A draining instance behind the shipped HAProxy config: SIGTERM while it serves a long stream;
// once HAProxy's health check has seen its readiness turn 503, every new stream lands on the other
// two, while the draining one is still up and listening; the long stream goes on until the drain
// deadline, then gets its results, `stream_end` and close 1001.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { missingTools, startFleet, type Fleet } from './fleet.ts';
import { finals } from '../helpers/events.ts';
import { activeStreams } from '../helpers/prometheus.ts';
import { fixture, INSTANCE_CONFIG, stream, streamsEnded } from './streams.ts';

const skip = missingTools();
const DRAIN_MS = 5_000;
/** The shipped check: inter 300ms, fall 2. "Within about a second", with room for a busy machine. */
const OUT_OF_ROTATION_MS = 3_000;

let fleet: Fleet;
before(async () => {
  if (!skip) fleet = await startFleet({ ...INSTANCE_CONFIG, shutdown: { drain_timeout_ms: DRAIN_MS } });
});
after(() => fleet?.stop());

test('draining: after SIGTERM, HAProxy takes the instance out within about a second and new streams land on the other two', { skip, timeout: 60_000 }, async () => {
  // A long stream (the fixture four times over, 32 s in real time), live before the signal; it does not
  // move on going_away (the client's default), so that it shows what the draining instance does.
  let live!: () => void;
  const isLive = new Promise<void>((resolve) => (live = resolve));
  const long = stream(fleet.ws('segmented'), {
    realTime: true,
    pcm: Buffer.concat(Array(4).fill(fixture.pcm) as Buffer[]),
    onEvent: (e) => e.type === 'active' && live(),
    reconnect: false,
  });
  await isLive;
  const active = await Promise.all(fleet.instances.map(activeStreams));
  assert.deepEqual([...active].sort(), [0, 0, 1], `one instance has the long stream: ${active.join(', ')}`);
  const draining = fleet.instances[active.indexOf(1)];
  const others = fleet.instances.filter((i) => i !== draining);
  let exited = false;
  const exitCode = draining.launched.exitCode.then((code) => ((exited = true), code));

  const routedBefore = (await fleet.haproxy.servers()).get(draining.name)!.stot;
  const endedBefore = await Promise.all(others.map(streamsEnded));
  const signalledAt = performance.now();
  process.kill(draining.launched.child.pid!, 'SIGTERM');
  await fleet.haproxy.waitFor(`${draining.name} DOWN`, (s) => s.get(draining.name)?.status === 'DOWN', 10_000);
  const outOfRotationMs = performance.now() - signalledAt;
  assert.ok(outOfRotationMs < OUT_OF_ROTATION_MS, `out of rotation ${Math.round(outOfRotationMs)} ms after SIGTERM`);
  const ready = await fetch(`${draining.url}/api/v1/ready`);
  assert.equal(ready.status, 503, 'still listening, answering not ready');
  assert.equal(((await ready.json()) as { draining: boolean }).draining, true);

  // New streams while it drains: all go to the other two and complete there.
  const NEW = 12;
  const results = await Promise.all(Array.from({ length: NEW }, () => stream(fleet.ws('segmented'))));
  assert.equal(exited, false, 'the draining instance was still up during the new streams (else the test proves nothing)');
  for (const [i, r] of results.entries()) {
    assert.equal(r.closeCode, 1000, `new stream ${i}: closed ${r.closeCode} ${r.closeReason}`);
    assert.equal(finals(r.events).length, fixture.regions.length, `new stream ${i}: every final result`);
  }
  const served = (await Promise.all(others.map(streamsEnded))).map((n, i) => n - endedBefore[i]);
  assert.equal(served.reduce((a, b) => a + b, 0), NEW, `new streams ended on the other two: ${served.join(', ')}`);
  assert.equal((await fleet.haproxy.servers()).get(draining.name)!.stot, routedBefore, 'HAProxy sent no connection to the draining instance');

  // The long stream: cut at the drain deadline, with its results and stream_end first.
  const l = await long;
  assert.equal(l.closeCode, 1001, `long stream closed ${l.closeCode} ${l.closeReason}`);
  assert.equal(l.events.at(-1)?.type, 'stream_end');
  assert.ok(finals(l.events).length >= fixture.regions.length, 'the speech before the deadline got its final results');
  assert.deepEqual(l.events.filter((e) => e.type === 'error'), [], 'no error: the stream finished cleanly at the deadline');
  assert.equal(await exitCode, 0, 'the drained instance exits 0');
  process.stdout.write(`# out of rotation ${Math.round(outOfRotationMs)} ms after SIGTERM\n`);
});
