// Every series the service can export is on its very first scrape, at 0: a counter series that
// appears at 1 hides its first event from rate() and increase(), and an absent series cannot be told
// from a scrape that failed. The expected label sets are built from the code's own lists.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { STREAM_OUTCOMES } from '../../src/api/live-stream.ts';
import { PROTOCOL_ERROR_CODES } from '../../src/api/protocol.ts';
import { connect, streamAudio } from '../../src/client/stream-client.ts';
import { ROUTE_RESULTS, ROUTES } from '../../src/pipeline/stream-context.ts';
import { TASK_NAMES } from '../../src/task.ts';
import { FINAL_PHASES } from '../../src/telemetry/final-phases.ts';
import { METRIC } from '../../src/telemetry/names.ts';
import { STAGES } from '../../src/telemetry/stages.ts';
import { scrape, type Exposition, type Labels } from '../helpers/prometheus.ts';
import { speechFixture, startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait.ts';

const fixture = speechFixture();
const CHUNK = 4000;

/** Runtime instrumentation: its label sets (GC kinds, heap spaces) come and go with the runtime. */
const isRuntime = (key: string) => /^(nodejs_|v8js_|eventloop_|process_|target_info)/.test(key);

/** Counters and up-down counters, with every label set the code can record. */
function counterSeries(): [string, Labels][] {
  const out: [string, Labels][] = [];
  for (const task of TASK_NAMES) out.push(['task_panics_total', { task }]);
  for (const name of ['model_failures_total', 'active_connections', 'audio_received_bytes_total', 'vad_speech_seconds_total']) out.push([name, {}]);
  for (const code of PROTOCOL_ERROR_CODES) out.push(['protocol_errors_total', { code }]);
  for (const route of ROUTES) {
    for (const name of ['active_streams', 'audio_received_seconds_total', 'inbound_pauses_total']) out.push([name, { route }]);
    for (const outcome of STREAM_OUTCOMES) out.push(['streams_total', { route, outcome }]);
    out.push(['segments_total', { route, final: 'true' }]);
    if (ROUTE_RESULTS[route].interims) out.push(['segments_total', { route, final: 'false' }]);
  }
  return out;
}

/** Histograms, with every label set the code can record. */
function histogramSeries(): [string, Labels][] {
  const out: [string, Labels][] = [];
  for (const route of ROUTES) {
    out.push(['time_to_first_result_seconds', { route }]);
    for (const endpoint of ROUTE_RESULTS[route].endpoints) out.push(['final_result_latency_seconds', { route, endpoint }]);
  }
  for (const phase of FINAL_PHASES) out.push(['final_result_phase_seconds', { phase }]);
  out.push(['vad_batch_size', {}], ['vad_batch_wait_seconds', {}]);
  for (const pipeline of STAGES) for (const name of ['rtf', 'processing_duration_seconds', 'media_duration_seconds']) out.push([name, { pipeline }]);
  return out;
}

const show = (name: string, labels: Labels) => `${name}${JSON.stringify(labels)}`;

let service: TestService;
let first: Exposition;
before(async () => {
  // One stream at a time: a second start is refused (streams_total{outcome="refused"}).
  service = await startTestService({ limits: { max_streams: 1 } });
  first = await scrape(service.url);
});
after(() => service.shutdown(0));

test('on the first scrape, before any stream, every known label set of every counter is there at 0', () => {
  const missing = counterSeries().filter(([name, labels]) => !first.has(name, labels));
  assert.deepEqual(missing.map(([n, l]) => show(n, l)), [], 'counter series missing before the first event: create them at 0 (src/telemetry/zero-series.ts)');
  for (const [name, labels] of counterSeries()) assert.equal(first.value(name, labels), 0, show(name, labels));
});

test('on the first scrape, every known label set of every histogram is there, empty', () => {
  for (const [name, labels] of histogramSeries()) {
    assert.ok(first.has(`${name}_count`, labels), `${show(name, labels)} missing`);
    assert.equal(first.value(`${name}_count`, labels), 0, `${show(name, labels)}: count`);
    assert.equal(first.value(`${name}_sum`, labels), 0, `${show(name, labels)}: sum`);
    const buckets = first.buckets(name, labels);
    assert.ok(buckets.length > 1 && buckets.at(-1) === Infinity, `${show(name, labels)}: buckets ${buckets.join()}`);
    for (const le of buckets) assert.equal(first.value(`${name}_bucket`, { ...labels, le: le === Infinity ? '+Inf' : String(le) }), 0);
  }
});

test('on the first scrape, every instrument of src/telemetry/names.ts has its series', () => {
  const names = first.names();
  const absent = Object.values(METRIC).filter((m) => ![m, `${m}_total`, `${m}_count`].some((n) => names.has(n)));
  assert.deepEqual(absent, [], 'instruments with no series before their first record: create their series at 0 (src/telemetry/zero-series.ts)');
});

/** start, half the audio, finalize, the rest, stop: results from every endpoint the route has. */
async function streamWithFinalize(route: 'simple' | 'segmented'): Promise<void> {
  const conn = await connect(service.ws(route));
  await conn.send({ request: 'start', format: fixture.format, interim_results: true });
  await conn.next('started');
  const half = Math.floor(fixture.pcm.length / 2 / CHUNK) * CHUNK;
  for (let i = 0; i < fixture.pcm.length; i += CHUNK) {
    if (i === half) {
      await conn.send({ request: 'finalize' });
      await conn.next((e) => e.type === 'ack' && e.request === 'finalize');
    }
    await conn.send(fixture.pcm.subarray(i, i + CHUNK));
  }
  await conn.send({ request: 'stop' });
  await conn.next('stream_end');
  await conn.close();
}

test('traffic on both routes (finalize, interims, refusal, protocol error, client gone) creates no series the first scrape did not have', async () => {
  const before = await scrape(service.url);
  await streamWithFinalize('segmented');
  await streamWithFinalize('simple');
  const plain = await streamAudio({ addr: service.ws('simple'), format: fixture.format, pcm: fixture.pcm, chunkBytes: CHUNK });
  assert.equal(plain.closeCode, 1000);
  // A stream held open: a second start is refused; then the client leaves with its stream running.
  const holder = await connect(service.ws('segmented'));
  await holder.send({ request: 'start', format: fixture.format });
  await holder.next('started');
  await holder.send('this is not json');
  assert.equal((await holder.next('error')).code, 'invalid_json');
  const refused = await connect(service.ws('simple'));
  await refused.send({ request: 'start', format: fixture.format });
  assert.equal((await refused.next('error')).code, 'too_many_streams');
  await refused.closed;
  await holder.send(fixture.pcm.subarray(0, CHUNK));
  await holder.close();
  await waitFor('the dropped stream is counted', async () => (await scrape(service.url)).value('streams_total', { route: 'segmented', outcome: 'client_closed' }) === 1);

  const now = await scrape(service.url);
  // The traffic did record with the label values of each kind (the check below is not vacuous).
  const moved = (name: string, labels: Labels) => now.value(name, labels) > before.value(name, labels);
  for (const [name, labels] of [
    ['segments_total', { route: 'segmented', final: 'false' }],
    ['segments_total', { route: 'simple', final: 'true' }],
    ['streams_total', { route: 'simple', outcome: 'completed' }],
    ['streams_total', { route: 'simple', outcome: 'refused' }],
    ['protocol_errors_total', { code: 'too_many_streams' }],
    ['protocol_errors_total', { code: 'invalid_json' }],
    ['final_result_latency_seconds_count', { route: 'segmented', endpoint: 'vad' }],
    ['final_result_latency_seconds_count', { route: 'simple', endpoint: 'end_of_audio' }],
    ['rtf_count', { pipeline: 'model' }],
  ] as const) {
    assert.ok(moved(name, labels), `${show(name, labels)} did not move`);
  }
  const added = [...now.series.keys()].filter((key) => !isRuntime(key) && !first.series.has(key));
  assert.deepEqual(added, [], 'series recorded by traffic but not on the first scrape: add their label values to the lists of src/known-labels.ts');
});

test('with telemetry off (no-op instruments) the service starts, streams, and /metrics answers 404', async () => {
  const off = await startTestService({ telemetry: { enabled: false } });
  try {
    assert.equal((await fetch(`${off.url}/metrics`)).status, 404);
    const r = await streamAudio({ addr: off.ws('segmented'), format: fixture.format, pcm: fixture.pcm, chunkBytes: CHUNK, interimResults: true });
    assert.equal(r.closeCode, 1000);
    assert.ok(r.events.some((e) => e.type === 'segment'));
  } finally {
    await off.shutdown(0);
  }
});
