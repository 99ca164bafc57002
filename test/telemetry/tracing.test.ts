// Traces: the client's traceparent is the parent of the stream span; channels, inferences and VAD
// batches follow. Tracing is installed once per process: this file has its own process.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { newTraceparent, streamAudio } from '../../src/client/stream-client.ts';
import { parseConfig } from '../../src/config.ts';
import { startService, type Service } from '../../src/service.ts';
import { segmentsOf } from '../helpers/events.ts';
import { FAST_MODEL, speechFixture } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait.ts';

const exporter = new InMemorySpanExporter();
let service: Service;
before(async () => {
  service = await startService(parseConfig({ host: '127.0.0.1', port: 0, model: FAST_MODEL }), { spanExporter: exporter });
  await service.warm;
});
after(() => service.shutdown(0));

const fixture = speechFixture();
const ws = (route: string) => `${service.url.replace('http', 'ws')}/api/v1/${route}`;
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
/** The stream's span and its channel spans end just after stream_end is sent. */
const streamSpansEnded = (traceId?: string) =>
  waitFor('the stream and channel spans to end', () => {
    const spans = exporter.getFinishedSpans().filter((s) => traceId === undefined || s.spanContext().traceId === traceId);
    return spans.some((s) => s.name === 'stream') && spans.some((s) => s.name === 'channel');
  });

test("the client's traceparent is the parent of the stream span; channels, inferences and VAD batches follow", async () => {
  exporter.reset();
  const traceparent = newTraceparent();
  const [, traceId, clientSpanId] = traceparent.split('-');
  const { events } = await streamAudio({ addr: ws('segmented'), format: fixture.format, pcm: fixture.pcm, traceId: traceparent, interimResults: true });
  await streamSpansEnded(traceId);
  const spans = exporter.getFinishedSpans();
  const ofTrace = spans.filter((s) => s.spanContext().traceId === traceId);

  const stream = ofTrace.find((s) => s.name === 'stream');
  assert.ok(stream, 'a stream span in the client trace');
  assert.equal(parentOf(stream), clientSpanId);
  assert.equal(stream.attributes.route, 'segmented');
  assert.equal(stream.attributes.outcome, 'completed');
  assert.equal(stream.attributes.audio_seconds, fixture.duration);

  const channels = ofTrace.filter((s) => s.name === 'channel');
  assert.equal(channels.length, 1);
  assert.equal(parentOf(channels[0]), stream.spanContext().spanId);

  const inferences = ofTrace.filter((s) => s.name === 'inference');
  const segments = segmentsOf(events);
  assert.equal(inferences.length, segments.length, 'one inference span per segment sent');
  for (const i of inferences) {
    assert.equal(parentOf(i), channels[0].spanContext().spanId);
    assert.equal(i.attributes.outcome, 'ok');
    assert.ok((i.attributes.audio_seconds as number) > 0);
    assert.ok((i.attributes.rtf as number) > 0);
  }
  assert.equal(inferences.filter((i) => i.attributes.is_final === true).length, 2);

  // VAD batches are their own roots, linked to the channel spans they analysed
  const batches = spans.filter((s) => s.name === 'vad.batch' && s.links.some((l) => l.context.spanId === channels[0].spanContext().spanId));
  assert.ok(batches.length > 0);
  const windows = batches.reduce((n, b) => n + (b.attributes.windows as number), 0);
  assert.equal(windows, Math.ceil((fixture.duration * 16000) / 512), 'every window of the channel is in a linked batch');
  for (const b of batches) {
    assert.equal(parentOf(b), undefined);
    assert.ok((b.attributes.rtf as number) > 0 && (b.attributes.audio_seconds as number) > 0);
  }
});

test('without a traceparent the stream starts its own trace', async () => {
  exporter.reset();
  await streamAudio({ addr: ws('simple'), format: fixture.format, pcm: fixture.pcm.subarray(0, 32000) });
  await streamSpansEnded();
  const stream = exporter.getFinishedSpans().find((s) => s.name === 'stream');
  assert.ok(stream);
  assert.equal(parentOf(stream), undefined);
});

/** Runs installTracing in a fresh process with `env`; returns what it decided and whether spans record. */
function freshProcess(env: Record<string, string>): { installed: boolean; recording: boolean } {
  const code = `
    import { installTracing, tracer } from './src/telemetry/tracing.ts';
    const installed = installTracing({ serviceName: 's', serviceVersion: 'v', env: process.env });
    const span = tracer().startSpan('probe');
    console.log(JSON.stringify({ installed, recording: span.isRecording() }));
    span.end();
    process.exit(0);`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', code], {
    cwd: new URL('../../', import.meta.url).pathname,
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  return JSON.parse(String(out).trim().split('\n').at(-1)!) as { installed: boolean; recording: boolean };
}

test('with no exporter configured no tracer provider is installed and spans do not record; the OTLP env turns it on', () => {
  assert.deepEqual(freshProcess({}), { installed: false, recording: false });
  assert.deepEqual(freshProcess({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_TRACES_EXPORTER: 'none' }), { installed: false, recording: false });
  assert.deepEqual(freshProcess({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }), { installed: true, recording: true });
});
