// The service as users run it: the real entrypoint in a child process, the bundled CLI client.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { newTraceparent, streamAudio } from '../src/client/stream-client.ts';
import { RELEASE_MS } from '../src/service.ts';
import { launch, writeConfig } from './helpers/launch.ts';
import { FAST_MODEL, speechFixture } from './helpers/service.ts';
import { waitFor, within } from './helpers/wait.ts';

const root = new URL('..', import.meta.url).pathname;
const fixture = speechFixture();
const fromSources = (file: string): [string, string[]] => [process.execPath, ['src/main.ts', '--config', file]];

test('npm start path: structured logs, the CLI client prints one JSON line per event, SIGTERM drains a live stream and exits 0', async () => {
  const server = await launch(fromSources, { model: FAST_MODEL });
  const { child, port } = server;
  try {
    const listening = server.entries()[0] as { msg: string; node: string; config: { model: { delay: number } } };
    assert.equal(listening.msg, 'listening');
    assert.equal(listening.config.model.delay, FAST_MODEL.delay, 'logs its effective config');
    assert.equal(listening.node, process.version, 'logs the Node version it runs on');
    assert.equal((listening.config as { auth?: unknown }).auth, 'off', 'auth off says so, not "[redacted]"');

    // As README.md says to run it: `npm run -s client`, whose stdout is events only (no npm banner), for `| jq`.
    const cli = spawn('npm', ['run', '-s', 'client', '--', '--input', fixture.path, '--addr', `ws://127.0.0.1:${port}/api/v1/segmented`, '--interim-results'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    cli.stdout.on('data', (d: Buffer) => (out += String(d)));
    const [code] = (await once(cli, 'exit')) as [number];
    assert.equal(code, 0);
    const events = out.trim().split('\n').map((l) => JSON.parse(l) as { type: string; is_final?: boolean });
    assert.equal(events.filter((e) => e.type === 'segment' && e.is_final === true).length, 2);
    assert.ok(events.some((e) => e.type === 'segment' && e.is_final === false));
    assert.equal(events.at(-1)!.type, 'stream_end');

    // SIGTERM while 10 real-time streams are live: readiness turns 503, every stream still gets all
    // its results and stream_end, then the process exits 0.
    const threeSeconds = fixture.pcm.subarray(0, 3 * 32000);
    const live = Array.from({ length: 10 }, () =>
      streamAudio({ addr: `ws://127.0.0.1:${port}/api/v1/segmented`, format: fixture.format, pcm: threeSeconds, realTime: true, chunkBytes: 3200 }),
    );
    const ready = () => fetch(`http://127.0.0.1:${port}/api/v1/ready`);
    // real-time streams of 3 s: all 10 counted at once means all 10 are live
    await waitFor('the 10 streams to be live', async () => ((await (await ready()).json()) as { active_streams: number }).active_streams === 10);
    child.kill('SIGTERM');
    await waitFor('readiness to answer 503 while draining', async () => (await ready()).status === 503);
    for (const result of await Promise.all(live)) {
      // Each was running when draining began: told once (default 30 s drain), then finished normally.
      assert.deepEqual(
        result.events.filter((e) => e.type !== 'going_away' && e.type !== 'committed').map((e) => e.type),
        ['started', 'active', 'inactive', 'segment', 'stream_end'],
      );
      assert.deepEqual(
        result.events.filter((e) => e.type === 'going_away'),
        [{ type: 'going_away', deadline_ms: 30_000 }],
      );
      assert.equal(result.closeCode, 1000);
    }
    assert.equal(await server.exitCode, 0);
  } finally {
    server.kill();
  }
});

test('tokens never appear in the logs', async () => {
  const secret = 'very-secret-token-4242';
  const server = await launch(fromSources, { model: FAST_MODEL, auth: { tokens: ['file-token-123456'] } }, { env: { STREAMER_TOKENS: secret } });
  try {
    // a rejected and an accepted connection, so that request paths get logged too
    await fetch(`http://127.0.0.1:${server.port}/api/v1/simple?token=wrong`);
    await streamAudio({ addr: `ws://127.0.0.1:${server.port}/api/v1/simple?token=${secret}`, format: fixture.format, pcm: fixture.pcm.subarray(0, 3200) });
    process.kill(server.child.pid!, 'SIGTERM');
    await server.exitCode;
  } finally {
    server.kill();
  }
  const out = server.logs.join('\n');
  assert.ok(!out.includes(secret) && !out.includes('file-token-123456'), 'a token leaked into the logs');
  const listening = server.entries().find((e) => e.msg === 'listening') as { config: { auth: unknown } };
  assert.deepEqual(listening.config.auth, { protect_metrics: false, token_count: 2 }, 'the log says how many tokens there are');
});

test('OTLP env on: spans reach the collector in the client trace, and log lines of the stream carry its trace_id', async () => {
  // a stand-in OTLP/HTTP receiver on loopback
  const bodies: string[] = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += String(d)));
    req.on('end', () => {
      if (req.url === '/v1/traces') bodies.push(body);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const otlp = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  const server = await launch(fromSources, { model: { ...FAST_MODEL, failure_rate: 1 } }, { env: { OTEL_EXPORTER_OTLP_ENDPOINT: otlp, OTEL_BSP_SCHEDULE_DELAY: '100' } });
  const traceparent = newTraceparent();
  const traceId = traceparent.split('-')[1];
  try {
    await streamAudio({ addr: `ws://127.0.0.1:${server.port}/api/v1/segmented`, format: fixture.format, pcm: fixture.pcm, traceId: traceparent });
    await waitFor('spans of the client trace at the collector', () => bodies.some((b) => b.includes(traceId)));
    process.kill(server.child.pid!, 'SIGTERM');
    await server.exitCode;
  } finally {
    server.kill();
    receiver.close();
  }
  assert.ok(bodies.some((b) => b.includes(traceId)), 'spans of the client trace were exported over OTLP');
  const failureLogs = server.logs
    .filter((l) => l.includes('"model failure"'))
    .map((l) => JSON.parse(l) as { trace_id?: string; span_id?: string });
  assert.equal(failureLogs.length, 2, 'one model failure per speech region');
  for (const l of failureLogs) {
    assert.equal(l.trace_id, traceId);
    assert.match(l.span_id ?? '', /^[0-9a-f]{16}$/);
  }
});

test('a bad config file fails fast, naming the key, exit code 2', async () => {
  const child = spawn(process.execPath, ['src/main.ts', '--config', writeConfig({ model: { delay: -1 }, limits: { max_chanels: 2 } })], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr.on('data', (d: Buffer) => (out += String(d)));
  const [code] = (await once(child, 'exit')) as [number];
  assert.equal(code, 2);
  assert.match(out, /model\.delay/);
  assert.match(out, /max_chanels/);
});

/** Runs src/main.ts to its end (for the ways it must not start): exit status and output. */
async function runMain(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['src/main.ts', ...args], {
    cwd: root,
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += String(d)));
  child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
  // A run that starts a server instead of stopping is killed (exit status null fails the test).
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** No stack frame and no native abort in what an operator reads. */
const STACK = /\n\s+at |Napi::Error|terminate called|Unhandled 'error' event/;

test('start-up failures: one line on stderr naming what failed and where, no stack trace, exit 1 or 2', async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const busyPort = (busy.address() as AddressInfo).port;
  const missingWhisper = writeConfig({ model: { backend: 'whisper', path: 'models/no-such-model' } });
  const badKey = writeConfig({ limits: { max_chanels: 2 } });
  const unknownKeyword = writeConfig({ model: { backend: 'keywords', keywords: ['hey_jarvis', 'hey_siri'] } });
  const cases: { name: string; args?: string[]; env?: NodeJS.ProcessEnv; code: number; line: RegExp; runs?: number }[] = [
    { name: 'port in use', env: { PORT: String(busyPort) }, code: 1, line: new RegExp(`^streamer: cannot listen on 127\\.0\\.0\\.1:${busyPort}: address in use\\n$`) },
    // Five runs: the process once aborted in onnxruntime (exit 134) while exiting with pools open.
    { name: 'whisper model missing', args: ['--config', missingWhisper], code: 1, line: /^streamer: cannot load the whisper model: .*no-such-model.*npm run models:fetch -- tiny\.en.*\n$/, runs: 5 },
    {
      name: 'unknown keyword',
      args: ['--config', unknownKeyword],
      code: 1,
      line: /^streamer: cannot load the keywords model: model\.keywords: no model for 'hey_siri' in \S+; available: alexa, hey_jarvis, hey_mycroft, hey_rhasspy, timer, weather\n$/,
    },
    { name: 'LOG_LEVEL=verbose', env: { LOG_LEVEL: 'verbose' }, code: 2, line: /log_level: .*\(from the environment variable LOG_LEVEL\)/ },
    { name: 'short tokens', env: { STREAMER_TOKENS: 'tok1' }, code: 2, line: /auth\.tokens\.0: .*8 characters.*STREAMER_TOKENS/ },
    { name: '--config=FILE is read', args: [`--config=${badKey}`], code: 2, line: /max_chanels/ },
    { name: '--config without a file', args: ['--config'], code: 2, line: /^error: .*--config.*\n\nusage: / },
    { name: 'an unknown flag', args: ['--bogus'], code: 2, line: /^error: .*--bogus.*\n\nusage: / },
  ];
  try {
    for (const c of cases) {
      for (let run = 0; run < (c.runs ?? 1); run++) {
        const { code, stdout, stderr } = await runMain(c.args ?? [], c.env);
        assert.equal(code, c.code, `${c.name}: exit status\n${stderr}`);
        assert.match(stderr, c.line, c.name);
        assert.doesNotMatch(stderr, STACK, `${c.name}: no stack trace`);
        assert.ok(!stdout.includes('"msg":"listening"'), `${c.name}: never listened`);
      }
    }
  } finally {
    busy.close();
  }
});

test('--help prints the usage with the exit statuses and starts nothing', async () => {
  const { code, stdout, stderr } = await runMain(['--help']);
  assert.equal(code, 0);
  assert.match(stdout, /^usage: npm start -- \[--config FILE\]/);
  assert.match(stdout, /exit status: 0 .*1 .*\n.*2 usage or config error/);
  assert.equal(stderr, '');
});

test('SIGTERM during a warm-up that never ends: the service stops without ever becoming ready, and its log does not say "ready"', { timeout: 60_000 }, async () => {
  // A model whose first inference never returns (its cost is 0.05 s × (1 + 1e9)): a stage that never returns.
  const server = await launch(fromSources, { model: { delay: 0.05, jitter: 0, warmup_penalty: 1e9, workers: 1 } }, { ready: false });
  try {
    // At once, on the 'listening' line: the signal handlers are in place before the service starts
    // (without them the process would die of the signal).
    server.child.kill('SIGTERM');
    const closed = once(server.child, 'close'); // every log line read
    assert.equal(await within('the service to exit', server.exitCode, 30_000), 0, server.logs.join('\n'));
    await closed;
    const m = server.entries().map((e) => e.msg);
    assert.ok(m.indexOf('draining') < m.indexOf('model warm-up cancelled: shutting down'), m.join(' | '));
    assert.ok(!m.some((msg) => msg?.includes('ready') && !msg.includes('not ready')), m.join(' | '));
    assert.ok(!server.logs.some((line) => line.includes('warm-up failed')), 'a cancelled warm-up is no failure');
    assert.equal(m.at(-1), 'stopped');
  } finally {
    server.kill();
  }
});

test('a second signal exits at once even while the shutdown waits on something that never answers', { timeout: 60_000 }, async () => {
  const collector = createServer(() => undefined); // a trace collector that never answers
  collector.listen(0, '127.0.0.1');
  await once(collector, 'listening');
  const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
  // The bound is far away (30 s drain + 10 s finish + 5 s): only the second signal can end it soon.
  const server = await launch(fromSources, { model: FAST_MODEL }, { env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_TIMEOUT: '60000' } });
  try {
    await streamAudio({ addr: `ws://127.0.0.1:${server.port}/api/v1/simple`, format: fixture.format, pcm: fixture.pcm.subarray(0, 32000) });
    server.child.kill('SIGTERM');
    await waitFor('the server to take the first signal', () => server.entries().some((e) => e.msg === 'shutting down'));
    const took = server.entries().find((e) => e.msg === 'shutting down')!.time as number;
    await new Promise((r) => setTimeout(r, Math.max(0, took + 1250 - Date.now()))); // past SAME_ACTION_MS (src/main.ts)
    server.child.kill('SIGTERM');
    const closed = once(server.child, 'close');
    assert.equal(await within('the service to exit', server.exitCode, 15_000), 1, server.logs.join('\n'));
    await closed;
    assert.ok(server.entries().some((e) => e.msg === 'second signal: exiting now'));
  } finally {
    server.kill();
    collector.closeAllConnections();
    collector.close();
  }
});

test('a shutdown that cannot finish (a trace collector that never answers) exits 1 at its bound: drain + finish + release time', { timeout: 60_000 }, async () => {
  // Accepts connections and never answers: the exporter's flush at shutdown waits for its own timeout (60 s).
  const collector = createServer(() => undefined);
  collector.listen(0, '127.0.0.1');
  await once(collector, 'listening');
  const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
  const shutdown = { drain_timeout_ms: 0, finish_timeout_ms: 0 };
  const server = await launch(fromSources, { model: FAST_MODEL, shutdown }, { env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_TIMEOUT: '60000' } });
  try {
    const { closeCode } = await streamAudio({ addr: `ws://127.0.0.1:${server.port}/api/v1/simple`, format: fixture.format, pcm: fixture.pcm.subarray(0, 32000) });
    assert.equal(closeCode, 1000); // its spans wait for export
    const signalled = performance.now();
    server.child.kill('SIGTERM');
    const closed = once(server.child, 'close');
    assert.equal(await within('the service to exit', server.exitCode, 30_000), 1, server.logs.join('\n'));
    await closed;
    const took = performance.now() - signalled;
    assert.ok(took >= RELEASE_MS, `exited after ${took.toFixed(0)} ms: not before its bound`);
    assert.ok(server.logs.some((l) => l === `streamer: shutdown did not finish within ${RELEASE_MS / 1000} s (drain + finish + release time): exiting with work still pending`), server.logs.join('\n'));
  } finally {
    server.kill();
    collector.closeAllConnections();
    collector.close();
  }
});
