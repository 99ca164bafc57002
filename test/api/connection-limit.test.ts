// Thousands of connections that never start a stream: the connection cap holds exactly, the ones
// past it are refused before the upgrade (503, too_many_connections), readiness says the instance
// is full, the start timeout gives the slots back, and a stream running meanwhile is unaffected.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { streamAudio } from '../../src/client/stream-client.ts';
import { scrape } from '../helpers/prometheus.ts';
import { comparable } from '../helpers/robustness.ts';
import { speechFixture, startTestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait.ts';

const fixture = speechFixture();
const MAX_CONNECTIONS = 1500;
const ATTEMPTS = 2500;
const START_TIMEOUT_MS = 15_000;

type Attempt = { ws: WebSocket; outcome: Promise<{ opened: true } | { opened: false; status: number; body: string }> };

function attempt(url: string): Attempt {
  const ws = new WebSocket(url);
  ws.on('error', () => undefined);
  const outcome = new Promise<{ opened: true } | { opened: false; status: number; body: string }>((resolve) => {
    ws.once('open', () => resolve({ opened: true }));
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => {
        req.destroy(); // ws leaves a refused handshake to whoever listens for it
        ws.terminate();
        resolve({ opened: false, status: res.statusCode ?? 0, body });
      });
    });
  });
  return { ws, outcome };
}

test(`${ATTEMPTS} idle connections against a cap of ${MAX_CONNECTIONS}: the cap holds, the start timeout frees the slots, a running stream is unaffected`, { timeout: 120_000 }, async () => {
  // The count is exact only while no start timeout fires during the flood (a slot it frees is taken by
  // a later attempt): on a loaded machine 2,500 handshakes took more than 3 s, so the timeout is
  // longer than any flood, and the slots come back after it.
  const service = await startTestService({ limits: { max_connections: MAX_CONNECTIONS, start_timeout_ms: START_TIMEOUT_MS } });
  const attempts: Attempt[] = [];
  try {
    const stream = (realTime = false) => streamAudio({ addr: service.ws('segmented'), format: fixture.format, pcm: fixture.pcm, chunkBytes: 3200, realTime });
    const reference = await stream();
    const errorsBefore = (await scrape(service.url)).value('protocol_errors_total', { code: 'too_many_connections' });

    // A real-time stream first: it holds one slot throughout the flood.
    const running = stream(true);
    await waitFor('the stream to run', async () => ((await (await fetch(`${service.url}/api/v1/ready`)).json()) as { active_streams: number }).active_streams === 1);
    for (let i = 0; i < ATTEMPTS; i += 250) {
      for (let j = i; j < Math.min(ATTEMPTS, i + 250); j++) attempts.push(attempt(service.ws(j % 2 ? 'simple' : 'segmented')));
      await Promise.all(attempts.slice(i).map((a) => a.outcome));
    }
    const outcomes = await Promise.all(attempts.map((a) => a.outcome));
    const timedOut = attempts.filter((a, i) => outcomes[i].opened && a.ws.readyState !== WebSocket.OPEN).length;
    assert.equal(timedOut, 0, `the flood outlasted the ${START_TIMEOUT_MS} ms start timeout: ${timedOut} connections were closed during it`);
    const opened = outcomes.filter((o) => o.opened).length;
    const refused = outcomes.filter((o) => !o.opened);
    assert.equal(opened, MAX_CONNECTIONS - 1, 'every slot but the running stream’s');
    assert.equal(refused.length, ATTEMPTS - opened);
    for (const r of refused) {
      assert.equal(r.status, 503);
      assert.equal((JSON.parse(r.body) as { code: string }).code, 'too_many_connections');
    }
    const ready = await fetch(`${service.url}/api/v1/ready`);
    assert.equal(ready.status, 503, 'a full instance is not ready');
    assert.equal(((await ready.json()) as { connections: number }).connections, MAX_CONNECTIONS);
    const errorsAfter = (await scrape(service.url)).value('protocol_errors_total', { code: 'too_many_connections' });
    assert.equal(errorsAfter - errorsBefore, refused.length, 'each refusal counted');

    // None of them starts a stream: the start timeout closes each, and the slots come back.
    await waitFor('the idle connections to be closed by the server', () => attempts.every((a) => a.ws.readyState === WebSocket.CLOSED), { timeoutMs: 60_000 });
    await waitFor('readiness to come back', async () => (await fetch(`${service.url}/api/v1/ready`)).status === 200, { timeoutMs: 30_000 });
    const result = await running;
    assert.equal(result.closeCode, 1000);
    assert.deepEqual(comparable(result.events), comparable(reference.events), 'the running stream got exactly what it gets alone');
    const after = await stream();
    assert.equal(after.closeCode, 1000, 'a new connection is taken');
  } finally {
    for (const a of attempts) a.ws.terminate();
    await service.shutdown(0);
  }
});
