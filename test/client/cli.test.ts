import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import wavefile from 'wavefile';
import type { AudioFormat, ServerEvent } from '../../src/api/protocol.ts';
import { writeWav } from '../../src/client/wav.ts';
import { type FakeServer, protocolResponder, randomBytes, startFakeServer } from './fake-server.ts';
import { runCli } from './run-cli.ts';

const EVENTS: ServerEvent[] = [
  { type: 'active', time: 0.02, channel: 1 },
  { type: 'segment', start_time: 0.02, end_time: 0.1, is_final: false, channel: 1, text: 'hé "quoted"\nline' },
  { type: 'inactive', time: 0.2, channel: 1 },
  { type: 'segment', start_time: 0.02, end_time: 0.2, is_final: true, channel: 1, count: 2880 },
];

const dir = mkdtempSync(join(tmpdir(), 'client-cli-'));
const format: AudioFormat = { channels: 2, sample_rate: 16000, bit_depth: 16, is_float: false };
const pcm = randomBytes(16000 * 4 * 0.25, 11); // 0.25 s = 4000 frames
const wavPath = join(dir, 'speech.wav');
let server: FakeServer;

before(async () => {
  writeWav(wavPath, format, pcm);
  server = await startFakeServer(protocolResponder(EVENTS));
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

void test('streams the file and prints one JSON line per server event, exit 0', async () => {
  const connP = server.nextConnection();
  const run = await runCli(['--input', wavPath, '--addr', server.url(), '--interim-results', '--chunk-size', '300']);
  assert.equal(run.code, 0, run.stderr);
  const conn = await connP;

  const lines = run.stdout.split('\n');
  assert.equal(lines.pop(), '', 'output ends with a newline');
  const expected = [...EVENTS, { type: 'stream_end', channel_durations: [0.25, 0.25] }];
  assert.equal(lines.length, expected.length);
  assert.deepEqual(lines.map((l) => JSON.parse(l) as unknown), expected);

  const { trace_id: traceId, ...start } = conn.messages[0].json as { trace_id: string };
  assert.deepEqual(start, { request: 'start', format, interim_results: true });
  assert.match(traceId, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/, 'the client starts a trace');
  assert.deepEqual(conn.messages.at(-1)!.json, { request: 'stop', disconnect: true });
  // --chunk-size is in samples per channel: 300 x 2 channels x 2 bytes
  const sizes = conn.binaries().map((b) => b.length);
  assert.deepEqual(sizes, [...Array(13).fill(1200), 4000 * 4 - 13 * 1200]);
  assert.ok(Buffer.concat(conn.binaries()).equals(Buffer.from(pcm)));
  // stderr: only the trace id (no progress bar when stderr is not a terminal)
  assert.equal(run.stderr, `trace_id ${traceId.split('-')[1]}\n`);
});

void test('defaults: 256-sample frames, no interim results, --real-time paces the audio', async () => {
  const connP = server.nextConnection();
  const started = performance.now();
  const run = await runCli(['-i', wavPath, '--addr', server.url(), '--real-time']);
  assert.equal(run.code, 0, run.stderr);
  const conn = await connP;
  const { trace_id: _, ...start } = conn.messages[0].json as { trace_id: string };
  assert.deepEqual(start, { request: 'start', format, interim_results: false });
  assert.equal(conn.binaries()[0].length, 256 * 4);
  // Pacing: frame i is never sent before t0 + i × frame duration, where t0 is when start was sent.
  // `at` counts from the server's connection, which precedes t0: a lower bound however the machine is
  // loaded (the start's own arrival time is no reference: the server may read it late). Node timers
  // may end up to 2 ms early (whole-ms delays and clock): 3 ms of slack.
  const lastFrame = conn.messages.filter((m) => m.kind === 'binary').at(-1)!.at;
  assert.ok(lastFrame >= 240 - 3, `the last frame is due 3840 frames (240 ms) after the start, arrived ${lastFrame.toFixed(1)} ms after the connection`);
  assert.ok(performance.now() - started >= 240);
});

void test('--stats asks for stats_interval_ms: 1000 ms alone, or the value given (before another flag, or with =)', async () => {
  for (const [args, ms] of [[['--stats'], 1000], [['--stats', '300', '--real-time'], 300], [['--stats=750'], 750], [['--stats', '--interim-results'], 1000]] as const) {
    const connP = server.nextConnection();
    const run = await runCli(['-i', wavPath, '--addr', server.url(), ...args]);
    assert.equal(run.code, 0, run.stderr);
    const start = (await connP).messages[0].json as { stats_interval_ms?: number };
    assert.equal(start.stats_interval_ms, ms, args.join(' '));
  }
});

void test('an unknown flag is a usage error: exit 2 with the usage on stderr', async () => {
  const run = await runCli(['--input', wavPath, '--bogus']);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /Unknown option '--bogus'/);
  assert.match(run.stderr, /Usage: npm run -s client -- --input/);
  assert.equal(run.stdout, '');
});

void test('missing --input and a bad --chunk-size are usage errors', async () => {
  const missing = await runCli(['--addr', server.url()]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /missing required option --input/);
  const bad = await runCli(['--input', wavPath, '--chunk-size', '12x']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--chunk-size must be a positive integer/);
});

void test('--help prints the usage on stdout and exits 0', async () => {
  const run = await runCli(['--help']);
  assert.equal(run.code, 0);
  assert.match(run.stdout, /--input <path>/);
  assert.match(run.stdout, /--chunk-size <n>/);
  assert.match(run.stdout, /--no-reconnect/);
});

void test('connection refused: exit 1 with "cannot connect to <addr>"', async () => {
  const gone = await startFakeServer();
  const addr = gone.url();
  await gone.close();
  const run = await runCli(['--input', wavPath, '--addr', addr]);
  assert.equal(run.code, 1);
  assert.ok(run.stderr.includes(`cannot connect to ${addr}: `), run.stderr);
  assert.equal(run.stdout, '');
});

void test('an abnormal close: events still printed, exit 1 with the close code', async () => {
  const failing = await startFakeServer((conn, msg) => {
    if (msg.json?.request === 'start') {
      conn.send({ type: 'error', message: 'internal server error', code: 'internal_error' });
      conn.ws.close(1011, 'internal error');
    }
  });
  try {
    const run = await runCli(['--input', wavPath, '--addr', failing.url()]);
    assert.equal(run.code, 1);
    assert.deepEqual(JSON.parse(run.stdout), { type: 'error', message: 'internal server error', code: 'internal_error' });
    assert.match(run.stderr, /closed with code 1011: internal error/);
  } finally {
    await failing.close();
  }
});

void test('an unsupported WAV file: exit 1 naming the format', async () => {
  const path = join(dir, 'f64.wav');
  const wav = new wavefile.WaveFile();
  wav.fromScratch(1, 16000, '64', [0, 0.25]);
  writeFileSync(path, wav.toBuffer());
  const run = await runCli(['--input', path, '--addr', server.url()]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /unsupported WAV format: 64-bit IEEE float/);
});

void test('a refusal without a JSON body (a proxy in front): exit 3, the status and its text in one line', async () => {
  const unavailable = await startFakeServer(protocolResponder([]), { verifyClient: (_info, cb) => cb(false, 503) });
  try {
    const run = await runCli(['--input', wavPath, '--addr', unavailable.url()]);
    assert.equal(run.code, 3);
    assert.equal(run.stdout, '');
    assert.equal(
      run.stderr.split('\n').slice(1).join('\n'),
      'streamer-client: server refused the connection: 503 Service Unavailable (the service is not ready or is shutting down: retry later)\n',
    );
  } finally {
    await unavailable.close();
  }
});

void test('a token in the address is masked in messages', async () => {
  const gone = await startFakeServer();
  const addr = gone.url();
  await gone.close();
  const run = await runCli(['--input', wavPath, '--addr', `${addr}?token=secret-token-123`]);
  assert.equal(run.code, 1);
  assert.ok(run.stderr.includes(`cannot connect to ${addr}?token=***: `), run.stderr);
  assert.ok(!run.stderr.includes('secret-token-123'));
});
