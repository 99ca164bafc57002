import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ConnectError, connect, streamAudio } from '../../src/client/stream-client.ts';
import { S16_MONO_16K, startTestService, type TestService } from '../helpers/service.ts';

const TOKEN = 'correct-horse-battery-staple';
let service: TestService;
let protectedMetrics: TestService;
before(async () => {
  service = await startTestService({ auth: { tokens: ['another-valid-token', TOKEN] } });
  protectedMetrics = await startTestService({ auth: { tokens: [TOKEN], protect_metrics: true } });
});
after(() => Promise.all([service.shutdown(0), protectedMetrics.shutdown(0)]));

const oneSecond = new Uint8Array(32000);

for (const route of ['simple', 'segmented'] as const) {
  test(`${route}: missing and wrong tokens get HTTP 401 before the upgrade`, async () => {
    for (const headers of [undefined, { authorization: 'Bearer wrong-token-123' }, { authorization: `Basic ${TOKEN}` }]) {
      await assert.rejects(connect(service.ws(route), headers), (e: ConnectError) => e.status === 401);
    }
    await assert.rejects(connect(`${service.ws(route)}?token=wrong-token-123`), (e: ConnectError) => e.status === 401);
    await assert.rejects(connect(`${service.ws(route)}?token=${TOKEN.slice(0, -1)}`), (e: ConnectError) => e.status === 401, 'a prefix is not the token');
  });

  test(`${route}: the right token works as a bearer header and as a query parameter`, async () => {
    const viaHeader = await streamAudio({ addr: service.ws(route), format: S16_MONO_16K, pcm: oneSecond, headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(viaHeader.closeCode, 1000);
    assert.equal(viaHeader.events.at(-1)?.type, 'stream_end');
    const viaQuery = await streamAudio({ addr: `${service.ws(route)}?token=${TOKEN}`, format: S16_MONO_16K, pcm: oneSecond });
    assert.equal(viaQuery.closeCode, 1000);
  });
}

test('the 401 body carries the unauthorized code; health and metrics stay open by default', async () => {
  const res = await fetch(`${service.url}/api/v1/simple`);
  assert.equal(res.status, 401);
  assert.equal(((await res.json()) as { code: string }).code, 'unauthorized');
  assert.equal((await fetch(`${service.url}/api/v1/health`)).status, 200);
  assert.equal((await fetch(`${service.url}/api/v1/ready`)).status, 200);
  assert.equal((await fetch(`${service.url}/metrics`)).status, 200);
});

test('protect_metrics: /metrics needs the token too', async () => {
  assert.equal((await fetch(`${protectedMetrics.url}/metrics`)).status, 401);
  assert.equal((await fetch(`${protectedMetrics.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
  assert.equal((await fetch(`${protectedMetrics.url}/api/v1/health`)).status, 200);
});
