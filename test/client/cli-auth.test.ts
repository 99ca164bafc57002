// The command-line client against the real service with auth on: the token from --token or
// STREAMER_TOKEN, and a refused connection reported in one line with the server's reason, exit 3.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ServerEvent } from '../../src/api/protocol.ts';
import { finals } from '../helpers/events.ts';
import { speechFixture, startTestService, type TestService } from '../helpers/service.ts';
import { type Run, runCli } from './run-cli.ts';

const TOKEN = 'correct-horse-battery-staple';
const WRONG = 'wrong-token-123';
const fixture = speechFixture();
let service: TestService;
before(async () => {
  service = await startTestService({ auth: { tokens: ['another-valid-token', TOKEN] } });
});
after(() => service.shutdown(0));

const REFUSED_401 = 'streamer-client: server refused the connection: 401 unauthorized: a valid bearer token is required';

/** The fixture's two sentences, as the segmented route reports them, then stream_end: exit 0, nothing on stderr but the trace id. */
function assertTranscribed(run: Run): void {
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /^trace_id [0-9a-f]{32}\n$/);
  const events = run.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as ServerEvent);
  const got = finals(events);
  assert.equal(got.length, fixture.regions.length, run.stdout);
  got.forEach((segment, i) => {
    const region = fixture.regions[i];
    assert.ok(segment.start_time < region.end && segment.end_time > region.start, `segment ${i} overlaps speech region ${i}`);
  });
  assert.deepEqual(events.at(-1), { type: 'stream_end', channel_durations: [fixture.duration] });
}

/** Exit 3, nothing on stdout, and on stderr the trace id and exactly one line: no stack trace, no token. */
function assertRefused(run: Run, line: string): void {
  assert.equal(run.code, 3, run.stderr);
  assert.equal(run.stdout, '');
  const lines = run.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 2, run.stderr);
  assert.match(lines[0], /^trace_id [0-9a-f]{32}$/);
  assert.equal(lines[1], line);
  assert.ok(!run.stderr.includes(WRONG), 'the token is not printed');
}

test('--token TOKEN: the fixture is streamed and its segments printed', async () => {
  assertTranscribed(await runCli(['--input', fixture.path, '--addr', service.ws('segmented'), '--token', TOKEN]));
});

test('--token=TOKEN, and STREAMER_TOKEN when --token is not given; --token wins over it', async () => {
  const addr = service.ws('segmented');
  assertTranscribed(await runCli(['-i', fixture.path, '-a', addr, `--token=${TOKEN}`]));
  assertTranscribed(await runCli(['-i', fixture.path, '-a', addr], { STREAMER_TOKEN: TOKEN }));
  assertTranscribed(await runCli(['-i', fixture.path, '-a', addr, '--token', TOKEN], { STREAMER_TOKEN: WRONG }));
});

test('no token: one line with 401 and the server message, saying how to give one; exit 3', async () => {
  const run = await runCli(['--input', fixture.path, '--addr', service.ws('segmented')]);
  assertRefused(run, `${REFUSED_401} (give the service's token with --token or STREAMER_TOKEN)`);
});

test('a wrong token, by flag, by environment or in the address: one line with 401; exit 3', async () => {
  const addr = service.ws('simple');
  const line = `${REFUSED_401} (the token given was not accepted: check it with the operator)`;
  assertRefused(await runCli(['-i', fixture.path, '-a', addr, `--token=${WRONG}`]), line);
  assertRefused(await runCli(['-i', fixture.path, '-a', addr], { STREAMER_TOKEN: WRONG }), line);
  assertRefused(await runCli(['-i', fixture.path, '-a', `${addr}?token=${WRONG}`]), line);
});

test('any other refusal of the upgrade is reported the same way, with its status', async () => {
  const run = await runCli(['-i', fixture.path, '-a', service.ws('segmented').replace('segmented', 'segmnted'), '--token', TOKEN]);
  assertRefused(run, 'streamer-client: server refused the connection: 404 Not Found: not found');
});

test('an empty --token is a usage error', async () => {
  const run = await runCli(['-i', fixture.path, '--token=']);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /--token must not be empty/);
});

test('--help explains the token, where it comes from, what 401 means and exit status 3', async () => {
  const run = await runCli(['--help']);
  assert.equal(run.code, 0);
  assert.match(run.stdout, /-t, --token <token> +bearer token .*\$STREAMER_TOKEN/);
  assert.match(run.stdout, /auth\.tokens .* STREAMER_TOKENS/);
  assert.match(run.stdout, /Authorization: Bearer <token>/);
  assert.match(run.stdout, /HTTP 401/);
  assert.match(run.stdout, /^ {2}3 {2}the server refused the connection/m);
});
