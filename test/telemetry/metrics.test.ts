// /metrics compared with ground truth: real server, real client, real audio.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ServerEvent } from '../../src/api/protocol.ts';
import { streamAudio, type StreamResult } from '../../src/client/stream-client.ts';
import { TASK_NAMES } from '../../src/task.ts';
import { FINAL_PHASES } from '../../src/telemetry/final-phases.ts';
import { STAGE_BUCKETS } from '../../src/telemetry/stages.ts';
import { scrape, type Exposition } from '../helpers/prometheus.ts';
import { promtoolCheckMetrics, requirePromtool } from '../helpers/promtool.ts';
import { speechFixture, startTestService, type TestService } from '../helpers/service.ts';

const fixture = speechFixture();
const CHUNK = 4000; // bytes per binary frame: fixture.pcm has 256080 bytes → 65 frames
const frames = Math.ceil(fixture.pcm.length / CHUNK);

let service: TestService;
before(async () => {
  service = await startTestService();
});
after(() => service.shutdown(0));

const segments = (r: StreamResult, final?: boolean) =>
  r.events.filter((e): e is Extract<ServerEvent, { type: 'segment' }> => e.type === 'segment' && (final === undefined || (e.is_final ?? true) === final));
const delta = (a: Exposition, b: Exposition, name: string, labels = {}) => b.value(name, labels) - a.value(name, labels);
const stream = (route: 'simple' | 'segmented', interimResults = false) =>
  streamAudio({ addr: service.ws(route), format: fixture.format, pcm: fixture.pcm, chunkBytes: CHUNK, interimResults });

test('counters of rare events exist at 0 from start-up, so that increase() sees the first one', async () => {
  const exposition = await scrape(service.url);
  for (const task of TASK_NAMES) assert.ok(exposition.has('task_panics_total', { task }), task);
  for (const task of TASK_NAMES) assert.ok(exposition.has('task_slow_polls_total', { task }), task);
  assert.ok(exposition.has('model_failures_total'));
});

test('per-stage histograms, load counters and latency agree with what was sent and received', async () => {
  const before = await scrape(service.url);
  const seg = await stream('segmented', true);
  const simple = await stream('simple');
  const after = await scrape(service.url);

  // audio: bytes, and seconds per channel, through decoding
  assert.equal(delta(before, after, 'audio_received_bytes_total'), 2 * fixture.pcm.length);
  assert.ok(Math.abs(delta(before, after, 'media_duration_seconds_sum', { pipeline: 'audio_decoding' }) - 2 * fixture.duration) < 0.01);
  assert.equal(delta(before, after, 'media_duration_seconds_count', { pipeline: 'audio_decoding' }), 2 * frames);
  assert.ok(Math.abs(delta(before, after, 'audio_received_seconds_total', { route: 'segmented' }) - fixture.duration) < 0.01);
  // VAD: every window of the segmented stream went through a batch; the batches cover its audio exactly
  const windows = Math.ceil((fixture.duration * 16000) / 512);
  assert.equal(delta(before, after, 'vad_batch_size_sum'), windows);
  // one RTF sample and one batching wait per job; a job runs the model once per window of its
  // longest request (a channel that fell behind sends several), so at least as many runs as jobs
  const jobs = delta(before, after, 'vad_batch_wait_seconds_count');
  assert.equal(delta(before, after, 'rtf_count', { pipeline: 'vad' }), jobs, 'one RTF sample per job');
  assert.ok(jobs > 0 && delta(before, after, 'vad_batch_size_count') >= jobs);
  assert.ok(Math.abs(delta(before, after, 'media_duration_seconds_sum', { pipeline: 'vad' }) - fixture.duration) < 0.001);
  // model: one RTF sample per segment sent; media = the audio in those segments
  const sent = [...segments(seg), ...segments(simple)];
  assert.equal(delta(before, after, 'rtf_count', { pipeline: 'model' }), sent.length);
  const modelSeconds = sent.reduce((s, e) => s + (e.end_time - e.start_time), 0);
  assert.ok(Math.abs(delta(before, after, 'media_duration_seconds_sum', { pipeline: 'model' }) - modelSeconds) < 0.001);
  // model processing time is the workers' run time: the same measurement the inference task monitor polls
  const modelProcessing = delta(before, after, 'processing_duration_seconds_sum', { pipeline: 'model' });
  assert.ok(modelProcessing > 0);
  assert.ok(Math.abs(modelProcessing - delta(before, after, 'task_poll_duration_seconds_total', { task: 'inference' })) < 1e-6);

  // segments and speech
  assert.equal(delta(before, after, 'segments_total', { route: 'segmented', final: 'true' }), segments(seg, true).length);
  assert.equal(delta(before, after, 'segments_total', { route: 'segmented', final: 'false' }), segments(seg, false).length);
  assert.equal(delta(before, after, 'segments_total', { route: 'simple', final: 'true' }), segments(simple).length);
  const speech = segments(seg, true).reduce((s, e) => s + (e.end_time - e.start_time), 0);
  assert.ok(Math.abs(delta(before, after, 'vad_speech_seconds_total') - speech) < 0.001);

  // streams and load return to idle
  assert.equal(delta(before, after, 'streams_total', { route: 'segmented', outcome: 'completed' }), 1);
  assert.equal(delta(before, after, 'streams_total', { route: 'simple', outcome: 'completed' }), 1);
  assert.equal(after.value('active_streams', { route: 'segmented' }), 0);
  assert.equal(after.value('active_streams', { route: 'simple' }), 0);
  assert.equal(after.value('active_connections'), 0);
  for (const pipeline of ['audio_decoding', 'vad', 'model']) assert.equal(after.value('stage_backlog_seconds', { pipeline }), 0);

  // latency: one first-result per stream; one VAD-endpoint final per speech region
  assert.equal(delta(before, after, 'time_to_first_result_seconds_count', { route: 'segmented' }), 1);
  assert.equal(delta(before, after, 'time_to_first_result_seconds_count', { route: 'simple' }), 1);
  assert.equal(delta(before, after, 'final_result_latency_seconds_count', { route: 'segmented', endpoint: 'vad' }), fixture.regions.length);
  // the stop sends what is queued at once, in chunks of at most pipeline.simple_max_chunk_ms (2 s):
  // a stream sent faster than the model runs may have several seconds queued then
  const stopChunks = delta(before, after, 'final_result_latency_seconds_count', { route: 'simple', endpoint: 'end_of_audio' });
  assert.ok(stopChunks >= 1 && stopChunks <= Math.ceil(fixture.duration / 2), `${stopChunks} chunks sent by the stop`);
  const simpleFinals =
    delta(before, after, 'final_result_latency_seconds_count', { route: 'simple', endpoint: 'chunk' }) +
    delta(before, after, 'final_result_latency_seconds_count', { route: 'simple', endpoint: 'end_of_audio' });
  assert.equal(simpleFinals, segments(simple).length);
  // breakdown: every phase once per VAD-endpoint final, and the phases add up to those finals' latency
  // (that no phase is negative is finalPhases' clamp: test/telemetry/final-phases.test.ts)
  let phaseSeconds = 0;
  for (const phase of FINAL_PHASES) {
    assert.equal(delta(before, after, 'final_result_phase_seconds_count', { phase }), fixture.regions.length, `phase ${phase}: one per VAD final`);
    phaseSeconds += delta(before, after, 'final_result_phase_seconds_sum', { phase });
  }
  const vadFinalSeconds = delta(before, after, 'final_result_latency_seconds_sum', { route: 'segmented', endpoint: 'vad' });
  assert.ok(vadFinalSeconds > 0 && Math.abs(phaseSeconds - vadFinalSeconds) < 1e-6, `phases ${phaseSeconds} s, latency ${vadFinalSeconds} s`);
  assert.ok(delta(before, after, 'final_result_phase_seconds_sum', { phase: 'vad_run' }) > 0, 'the VAD runs are in it');
  assert.ok(delta(before, after, 'final_result_phase_seconds_sum', { phase: 'model_run' }) > 0, 'the model runs are in it');

  // target_info names the service
  assert.ok(after.has('target_info', { service_name: 'streamer', service_version: '0.1.0' }));
});

test('task monitors count the work done, by deltas: fast + slow = total polls', async () => {
  const before = await scrape(service.url);
  const result = await stream('simple');
  const after = await scrape(service.url);
  const d = (name: string, task: string) => delta(before, after, name, { task });

  assert.equal(d('task_polls_total', 'audio_decoding'), frames, 'one decoding poll per binary frame');
  assert.equal(d('task_instrumented_total', 'audio_decoding'), 1);
  assert.equal(d('task_dropped_total', 'audio_decoding'), 1);
  // a frame's decoding is timed once: its poll and its stage processing time are the same measurement
  const decodingProcessing = delta(before, after, 'processing_duration_seconds_sum', { pipeline: 'audio_decoding' });
  assert.ok(decodingProcessing > 0);
  assert.ok(Math.abs(d('task_poll_duration_seconds_total', 'audio_decoding') - decodingProcessing) < 1e-6);
  assert.equal(d('task_polls_total', 'client_receiver'), frames + 2, 'start + frames + stop');
  assert.equal(d('task_scheduled_total', 'client_receiver'), frames + 2);
  assert.equal(d('task_instrumented_total', 'client_receiver'), 1);
  assert.equal(d('task_dropped_total', 'client_receiver'), 1);
  assert.equal(d('task_polls_total', 'inference'), segments(result).length, 'one inference job per chunk');
  assert.equal(d('task_instrumented_total', 'inference'), d('task_dropped_total', 'inference'));
  for (const task of ['audio_decoding', 'client_receiver', 'inference', 'route']) {
    assert.equal(after.value('task_fast_polls_total', { task }) + after.value('task_slow_polls_total', { task }), after.value('task_polls_total', { task }), task);
    assert.ok(after.value('task_slow_poll_duration_seconds_total', { task }) <= after.value('task_poll_duration_seconds_total', { task }) + 1e-9);
  }
  // each inference job's wait for a thread is recorded (that it is never negative: test/telemetry/task-monitor.test.ts)
  assert.equal(d('task_scheduled_total', 'inference'), segments(result).length, 'one scheduling delay per inference job');
});

test('scraping changes nothing: two scrapes with no traffic in between are identical, and counters are monotonic', async () => {
  await stream('segmented');
  const a = await scrape(service.url);
  const b = await scrape(service.url);
  // Runtime gauges move with time on their own (heap, event-loop samples); everything of ours must not.
  const ours = (name: string) => !/^(nodejs_|v8js_|eventloop_|process_)/.test(name);
  for (const [key, value] of a.series) {
    const name = key.slice(0, key.indexOf('{'));
    if (ours(name)) assert.equal(b.series.get(key), value, key);
  }
  const c = await (async () => {
    await stream('simple');
    return scrape(service.url);
  })();
  for (const [key, value] of b.series) {
    if (/_total\{|_count\{|_sum\{|_bucket\{/.test(key) && ours(key)) assert.ok((c.series.get(key) ?? 0) >= value, `${key} went down`);
  }
});

test('rtf buckets are chosen per stage, in one family', async () => {
  await stream('segmented');
  const exposition = await scrape(service.url);
  const bounds = (pipeline: 'vad' | 'model' | 'audio_decoding') => exposition.buckets('rtf', { pipeline });
  assert.deepEqual(bounds('vad'), [...STAGE_BUCKETS.vad.rtf, Infinity]);
  assert.deepEqual(bounds('model'), [...STAGE_BUCKETS.model.rtf, Infinity]);
  assert.notDeepEqual(bounds('vad'), bounds('model'));
  assert.equal(exposition.text.match(/^# TYPE rtf /gm)?.length, 1);
  assert.equal(exposition.text.match(/^# HELP rtf /gm)?.length, 1);
});

test('promtool check metrics accepts the exposition after traffic on both routes', async (t) => {
  if (!(await requirePromtool(t))) return;
  await stream('segmented', true);
  await stream('simple');
  const text = (await scrape(service.url)).text;
  assert.equal(await promtoolCheckMetrics(text), '', 'promtool reports nothing');
});
