import assert from 'node:assert/strict';
import { request, type IncomingHttpHeaders } from 'node:http';
import { after, before, test } from 'node:test';
import { startTestService, type TestService } from '../helpers/service.ts';

const TOKEN = 'correct-horse-battery-staple';
let service: TestService;
before(async () => {
  service = await startTestService({ auth: { tokens: [TOKEN] } });
});
after(() => service.shutdown(0));

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A websocket opening handshake by hand, so that the refusal's status, headers and body are all visible. */
function upgrade(path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${service.url}${path}`, {
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13', ...headers },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      reject(new Error(`upgraded with ${res.statusCode}`));
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

for (const route of ['simple', 'segmented']) {
  test(`${route}: an upgrade refused for want of a token carries the JSON error and WWW-Authenticate`, async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong-token-123' }] as Array<Record<string, string>>) {
      const res = await upgrade(`/api/v1/${route}`, headers);
      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], 'Bearer');
      assert.match(res.headers['content-type'] ?? '', /^application\/json/);
      assert.equal(res.headers.connection, 'close');
      assert.equal(Number(res.headers['content-length']), Buffer.byteLength(res.body));
      assert.deepEqual(JSON.parse(res.body), { type: 'error', code: 'unauthorized', message: 'a valid bearer token is required' });
    }
  });
}

test('an upgrade on an unknown path gets the JSON 404', async () => {
  const res = await upgrade('/api/v1/nope');
  assert.equal(res.status, 404);
  assert.deepEqual(JSON.parse(res.body), { error: 'not found' });
});

test("a bad handshake that passed auth keeps ws's own 400", async () => {
  const res = await upgrade('/api/v1/segmented', { authorization: `Bearer ${TOKEN}`, 'sec-websocket-version': '99' });
  assert.equal(res.status, 400);
  assert.match(res.body, /Sec-WebSocket-Version/);
});
