// The command-line client's --stats: it asks the real service for the stream's live stats and
// prints each as one readable line on stderr, stdout keeping only the JSON result events.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { STATS_INTERVAL_MS } from '../../src/api/protocol.ts';
import { STATS_INTERVAL_BOUNDS } from '../../src/client/stats-line.ts';
import { speechFixture, startTestService, type TestService } from '../helpers/service.ts';
import { runCli } from './run-cli.ts';

const fixture = speechFixture();
const STATS_LINE = /^streamer-client: stats (\d+\.\d\d) s: lag (\d+\.\d\d) s, (?:model RTF (\d+\.\d{3})|no model run), (speaking|silence)$/;

let service: TestService;
before(async () => {
  service = await startTestService({ model: { delay: 0.005, constant_factor: 0.05 } });
});
after(() => service.shutdown(0));

void test('--stats 500 on a real-time stream: a stats line on stderr every ~500 ms, none on stdout', { timeout: 60_000 }, async () => {
  const started = performance.now();
  const run = await runCli(['--input', fixture.path, '--addr', service.ws('segmented'), '--real-time', '--stats', '500']);
  const wallMs = performance.now() - started;
  assert.equal(run.code, 0, run.stderr);

  const stderr = run.stderr.trimEnd().split('\n');
  assert.match(stderr[0], /^trace_id [0-9a-f]{32}$/);
  const lines = stderr.slice(1);
  const parsed = lines.map((l) => {
    const m = STATS_LINE.exec(l);
    assert.ok(m, `not a stats line: ${l}`);
    return { time: Number(m[1]), lag: Number(m[2]), rtf: m[3] === undefined ? null : Number(m[3]), speaking: m[4] === 'speaking' };
  });
  // The 8 s file takes at least 8 s of wall time: at most one line per 500 ms of the run (plus the
  // last one), at least half that many on a loaded machine.
  assert.ok(parsed.length >= Math.floor(fixture.duration / 0.5 / 2) && parsed.length <= Math.floor(wallMs / 500) + 1, `${parsed.length} lines in ${Math.round(wallMs)} ms`);
  for (let i = 1; i < parsed.length; i++) assert.ok(parsed[i].time >= parsed[i - 1].time, 'the stream time never goes back');
  assert.equal(parsed.at(-1)!.time, Number(fixture.duration.toFixed(2)), 'the last line has the whole file');
  assert.ok(parsed.some((p) => p.speaking) && parsed.some((p) => !p.speaking), 'speech and silence both show');
  assert.ok(parsed.some((p) => p.rtf !== null && p.rtf > 0 && p.rtf < 1), 'a plausible model RTF');
  assert.ok(parsed.every((p) => p.lag < 5), 'a real-time stream is not seconds behind');

  const events = run.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { type: string });
  assert.ok(!events.some((e) => e.type === 'stats'), 'stats are not result events');
  assert.equal(events.at(-1)?.type, 'stream_end');
});

void test('without --stats no stats line; a bad --stats is a usage error', async () => {
  const plain = await runCli(['--input', fixture.path, '--addr', service.ws('simple')]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stderr, /^trace_id [0-9a-f]{32}\n$/);
  for (const bad of ['100', '60001', '1.5', 'fast']) {
    const run = await runCli(['--input', fixture.path, '--addr', service.ws('simple'), '--stats', bad]);
    assert.equal(run.code, 2, bad);
    assert.match(run.stderr, /--stats must be a whole number of milliseconds from 250 to 60000/, bad);
  }
});

void test('--help documents --stats', async () => {
  const run = await runCli(['--help']);
  assert.match(run.stdout, /--stats \[ms\]/);
  assert.match(run.stdout, /streamer-client: stats 12\.34 s: lag 0\.05 s, model RTF 0\.031, speaking/);
});

test("the client's bounds for --stats are the server's for start.stats_interval_ms", () => {
  assert.deepEqual(STATS_INTERVAL_BOUNDS, STATS_INTERVAL_MS);
});
