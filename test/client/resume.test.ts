// The client resumes a stream whose connection was lost: reset mid-speech (1006), or black-holed (no
// byte either way, nothing closed: the stall watchdog gives it up). Through a real forwarder to the
// real service, in real time: every final segment comes once, within two VAD windows of an
// uninterrupted run's, and the server counts the resume.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ServerEvent } from '../../src/api/protocol.ts';
import { connectWebSocket } from '../../src/client/browser-connection.ts';
import { connect } from '../../src/client/connection.ts';
import { MovingStream } from '../../src/client/moving-stream.ts';
import { LivePcm } from '../../src/client/pcm-source.ts';
import { streamAudio, type StreamResult } from '../../src/client/stream-client.ts';
import { streamWithCut } from '../helpers/cut-stream.ts';
import { finals, segmentsOf } from '../helpers/events.ts';
import { scrape } from '../helpers/prometheus.ts';
import { speechFixture, startTestService, type TestService } from '../helpers/service.ts';
import { startSwitchProxy } from '../helpers/switch-proxy.ts';
import { runCli } from './run-cli.ts';

const fixture = speechFixture();
const [REGION_A, REGION_B] = fixture.regions;

let service: TestService;
let reference: StreamResult;
before(async () => {
  service = await startTestService();
  reference = await streamAudio({ addr: service.ws('segmented'), format: fixture.format, pcm: fixture.pcm, interimResults: true });
});
after(() => service.shutdown(0));

for (const [cut, transport] of [['reset', 'ws'], ['blackHole', 'ws'], ['reset', 'WebSocket'], ['blackHole', 'WebSocket']] as const) {
  test(`a connection lost mid-speech (${cut}, over ${transport}) is resumed from the committed point: every final once, as an uninterrupted run gives it`, { timeout: 60_000 }, async () => {
    const before = (await scrape(service.url)).value('stream_resumes_total', { route: 'segmented' });
    const { result, resumes } = await streamWithCut(service, {
      cut,
      stream: { interimResults: true, stallTimeoutMs: 1500, ...(transport === 'WebSocket' && { connect: connectWebSocket }) },
    });
    assert.equal(result.closeCode, 1000);
    assert.equal(resumes.length, 1, JSON.stringify(resumes));
    const [resume] = resumes;
    assert.equal(resume.reason, cut === 'reset' ? 'dropped (1006)' : 'stalled');
    assert.ok(resume.atSeconds >= REGION_A.end && resume.atSeconds < REGION_B.start, `resumed at ${resume.atSeconds}: in the silence after the first speech`);
    assert.ok(resume.replayedSeconds >= 0.5, `replayed ${resume.replayedSeconds} s`);
    assert.equal(resume.gapSeconds, 0);
    assert.equal(result.resumes.length, 1);

    const got = finals(result.events);
    const want = finals(reference.events);
    assert.equal(got.length, want.length, `finals ${JSON.stringify(got)}`);
    got.forEach((f, i) => {
      assert.ok(Math.abs(f.start_time - want[i].start_time) <= 0.064 && Math.abs(f.end_time - want[i].end_time) <= 0.064, `final ${i}: ${f.start_time}–${f.end_time} vs ${want[i].start_time}–${want[i].end_time}`);
    });
    const types = result.events.map((e) => e.type);
    assert.equal(types.filter((t) => t === 'active').length, want.length, 'each speech region announced once');
    assert.equal(types.filter((t) => t === 'inactive').length, want.length);
    assert.equal((await scrape(service.url)).value('stream_resumes_total', { route: 'segmented' }) - before, 1);
  });
}

test('the CLI resumes a dropped connection by itself: one stderr line, every final printed once, exit 0', { timeout: 60_000 }, async () => {
  const proxy = await startSwitchProxy(service.port);
  try {
    const run = runCli(['--input', fixture.path, '--addr', `ws://127.0.0.1:${proxy.port}/api/v1/segmented`, '--real-time']);
    await proxy.until(() => proxy.bytesTo(service.port) >= (REGION_B.start + 0.7) * 32_000, 'audio inside the second speech region');
    proxy.reset();
    const { code, stdout, stderr } = await run;
    assert.equal(code, 0, stderr);
    const lines = stderr.trimEnd().split('\n').slice(1); // after the trace_id line
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0], /^streamer-client: connection lost \(dropped \(1006\)\): resumed at \d+\.\d\d s on a new connection \(\d+\.\d\d s sent again\)$/);
    const printed = stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as ServerEvent);
    assert.equal(finals(printed).length, finals(reference.events).length, 'each final printed once');
    assert.equal(printed.filter((e) => e.type === 'stream_end').length, 1, 'the lost connection has no stream_end');
  } finally {
    await proxy.close();
  }
});

test('simple route: a resume starts at the end of the last chunk delivered, so the chunks still tile the audio once', { timeout: 60_000 }, async () => {
  const { result, resumes } = await streamWithCut(service, { route: 'simple', atSeconds: 3 });
  assert.equal(result.closeCode, 1000);
  assert.equal(resumes.length, 1);
  const chunks = segmentsOf(result.events);
  assert.equal(chunks[0].start_time, 0);
  for (let i = 1; i < chunks.length; i++) assert.equal(chunks[i].start_time, chunks[i - 1].end_time, `chunk ${i} starts where chunk ${i - 1} ended: ${JSON.stringify(chunks.map((c) => [c.start_time, c.end_time]))}`);
  assert.equal(chunks.at(-1)!.end_time, fixture.duration);
  assert.equal(chunks.reduce((n, c) => n + (c.count as number), 0), fixture.pcm.byteLength / 2, 'every sample in exactly one chunk');
  assert.ok(resumes[0].atSeconds > 2 && resumes[0].atSeconds <= 3.1, `resumed at ${resumes[0].atSeconds} s: the end of the last chunk delivered`);
});

test('a replay buffer shorter than the audio since the committed point: the resume starts after the oldest audio kept, and reports the gap', { timeout: 60_000 }, async () => {
  // Cut 0.7 s into the second speech region: its committed point is before the region, more than 0.5 s back.
  const { result, resumes } = await streamWithCut(service, { stream: { maxReplaySeconds: 0.5 } });
  assert.equal(result.closeCode, 1000);
  assert.equal(resumes.length, 1, JSON.stringify(resumes));
  const [r] = resumes;
  assert.ok(r.replayedSeconds <= 0.5 + 1e-9 && r.replayedSeconds > 0.5 - 0.032 - 0.1, `sent again ${r.replayedSeconds} s: the 0.5 s kept, on the VAD grid`);
  assert.ok(r.gapSeconds > 0.1, `a gap of ${r.gapSeconds} s reported`);
  assert.ok(r.atSeconds > REGION_B.start, `resumed at ${r.atSeconds} s, inside the speech: the audio before it was not kept`);
  assert.equal(Math.round(r.atSeconds * 16000) % 512, 0, 'the resume point is on the VAD grid');
});

test('a live source keeps only the audio a resume may send again: at most maxReplaySeconds before what was sent', { timeout: 60_000 }, async () => {
  const source = new LivePcm();
  let sentBytes = 0;
  let mostKept = 0;
  const stream = new MovingStream(
    {
      addr: service.ws('segmented'),
      format: fixture.format,
      source,
      connect,
      maxReplaySeconds: 1,
      onProgress: (sent) => {
        sentBytes = sent * 32_000;
        mostKept = Math.max(mostKept, sentBytes - source.start);
      },
    },
    AbortSignal.timeout(30_000),
  );
  const running = stream.run();
  for (let at = 0; at < fixture.pcm.byteLength; at += 3200) {
    source.append(fixture.pcm.slice(at, at + 3200)); // a copy, as a microphone block is
    await new Promise((r) => setImmediate(r));
  }
  source.end();
  const result = await running;
  assert.equal(result.closeCode, 1000);
  assert.equal(result.sentSeconds, fixture.duration);
  assert.ok(mostKept > 0.9 * 32_000 && mostKept <= 32_000 + 3200, `kept at most ${mostKept / 32_000} s behind what was sent (1 s, plus one block)`);
  assert.ok(source.start >= fixture.pcm.byteLength - 32_000 - 3200, `released up to ${source.start} of ${fixture.pcm.byteLength} bytes`);
  assert.throws(() => source.read(0, 10), /not kept/);
});
