// Dead-peer detection: a connection whose peer went silent (a black-holed network path: nothing
// forwarded either way, nothing closed) is dropped once it answered neither of two pings, and its
// stream slot comes back long before the idle timeout; a peer that answers is never dropped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { scrape } from '../helpers/prometheus.ts';
import { S16_MONO_16K, speechFixture, startTestService } from '../helpers/service.ts';
import { startSwitchProxy } from '../helpers/switch-proxy.ts';
import { waitFor } from '../helpers/wait.ts';

const fixture = speechFixture();
const PING_MS = 300;

test('a half-open connection is dropped after two unanswered pings and frees its stream slot; a live one is kept', async () => {
  // An idle timeout far beyond the test: only the pings can free the slot in time.
  const service = await startTestService({ limits: { ping_interval_ms: PING_MS, idle_timeout_ms: 600_000 } });
  const proxy = await startSwitchProxy(service.port);
  const live = new WebSocket(service.ws('segmented'));
  const halfOpen = new WebSocket(`ws://127.0.0.1:${proxy.port}/api/v1/segmented`);
  const opened = Promise.all([live, halfOpen].map((ws) => new Promise((r) => ws.once('open', r))));
  for (const ws of [live, halfOpen]) ws.on('error', () => undefined);
  try {
    await opened;
    const streamsNow = async () => ((await (await fetch(`${service.url}/api/v1/ready`)).json()) as { active_streams: number }).active_streams;
    const before = (await scrape(service.url)).value('dead_peers_total');
    for (const ws of [live, halfOpen]) {
      ws.send(JSON.stringify({ request: 'start', format: S16_MONO_16K }));
      ws.send(fixture.pcm.subarray(0, 32000));
    }
    await waitFor('both streams to run', async () => (await streamsNow()) === 2);
    let livePings = 0;
    live.on('ping', () => livePings++);

    proxy.blackHole();
    const cutAt = performance.now();
    await waitFor('the half-open stream to be released', async () => (await streamsNow()) === 1, { timeoutMs: 20 * PING_MS + 10_000 });
    const freedAfter = performance.now() - cutAt;
    assert.equal((await scrape(service.url)).value('dead_peers_total') - before, 1, 'counted as a dead peer');
    // Pings go on: the peer that answers them stays.
    const pingsThen = livePings;
    await waitFor('three more pings to the live client', () => livePings >= pingsThen + 3);
    assert.equal(live.readyState, WebSocket.OPEN);
    assert.equal(await streamsNow(), 1);
    // At least the interval between two pings that both went unanswered (the first may have gone out just before the cut).
    assert.ok(freedAfter >= PING_MS * 0.9, `freed ${freedAfter.toFixed(0)} ms after the cut: too early for two unanswered pings`);
  } finally {
    live.terminate();
    halfOpen.terminate();
    await proxy.close();
    await service.shutdown(0);
  }
});
