// Fault soak: 20 concurrent segmented streams of the speech fixture for ~25 s against a model that
// fails 5 % of its inferences and crashes its worker on 2 %. Every speech segment must still get
// exactly one final answer (a final segment or an error for its channel), every stream its
// stream_end, and the metrics must count exactly the failures and panics the clients saw.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServerEvent } from '../../src/api/protocol.ts';
import { connect } from '../../src/client/stream-client.ts';
import { activeStreams, scrape } from '../helpers/prometheus.ts';
import { assertCleanError, eventually, health, isError, type ServerError } from '../helpers/robustness.ts';
import { speechFixture, startTestService, type TestService } from '../helpers/service.ts';

const LANES = 20;
const SOAK_MS = 25_000;
/** Real-time multiples the lanes stream at (lane % 3). */
const SPEEDS = [1, 2, 4];
const FRAME_BYTES = 3200; // 0.1 s of s16 mono 16 kHz

let service: TestService;
before(async () => {
  service = await startTestService({ model: { failure_rate: 0.05, panic_rate: 0.02 } });
});
after(() => service.shutdown(0));

const fixture = speechFixture();

interface StreamRecord {
  lane: number;
  interim: boolean;
  events: ServerEvent[];
  closeCode: number;
}

/** One stream of the whole fixture at `speed` × real time, then stop with disconnect. */
async function soakStream(lane: number, interim: boolean, speed: number): Promise<StreamRecord> {
  const conn = await connect(service.ws('segmented'));
  await conn.send({ request: 'start', format: fixture.format, interim_results: interim });
  const t0 = performance.now();
  for (let sent = 0; sent < fixture.pcm.length && conn.isOpen; sent += FRAME_BYTES) {
    const due = t0 + (sent / 32000 / speed) * 1000 - performance.now();
    if (due > 0) await sleep(due);
    await conn.send(fixture.pcm.subarray(sent, sent + FRAME_BYTES));
  }
  await conn.send({ request: 'stop', disconnect: true });
  let timer: NodeJS.Timeout | undefined;
  const closed = await Promise.race([conn.closed, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), 30_000)))]);
  clearTimeout(timer);
  if (!closed) conn.terminate();
  return { lane, interim, events: conn.events, closeCode: closed?.code ?? -1 };
}

interface Analysis {
  /** active/inactive events (the VAD's work, untouched by model faults). */
  vad: ServerEvent[];
  inactive: number;
  finals: number;
  finalErrors: number;
  interims: number;
  interimErrors: number;
}

/**
 * Walks a stream's events: outside speech only `active` may come; inside, interim segments or
 * interim errors until `inactive`; right after `inactive` exactly one final segment or one error
 * for the channel (OrderedOutput sends a channel's events in the order they were produced).
 */
function analyse(r: StreamRecord): Analysis {
  const where = `lane ${r.lane} (interim ${r.interim}): ${JSON.stringify(r.events)}`;
  const a: Analysis = { vad: [], inactive: 0, finals: 0, finalErrors: 0, interims: 0, interimErrors: 0 };
  let state: 'outside' | 'inside' | 'final' = 'outside';
  let active: number | null = null;
  let inactive: number | null = null;
  assert.equal(r.events[0]?.type, 'started', `first event is started: ${where}`);
  // Committed points come between the channel's events; they are checked on their own (test/api/committed.test.ts).
  const body = r.events.slice(1, -1).filter((e) => e.type !== 'committed');
  assert.equal(r.events.at(-1)?.type, 'stream_end', `last event is stream_end: ${where}`);
  assert.deepEqual((r.events.at(-1) as Extract<ServerEvent, { type: 'stream_end' }>).channel_durations, [fixture.duration], where);
  assert.equal(r.closeCode, 1000, `close code: ${where}`);
  for (const e of body) {
    assert.notEqual(e.type, 'stream_end', `one stream_end: ${where}`);
    assert.ok('channel' in e && e.channel === 0, `every event is about channel 0: ${JSON.stringify(e)} in ${where}`);
    if (e.type === 'error') {
      assertCleanError(e, `${where}: `);
      assert.ok(
        (e.code === 'model_failure' && e.message === 'model failure: inference failed') || (e.code === 'internal_error' && e.message === 'internal server error'),
        `only model faults: ${JSON.stringify(e)}`,
      );
    }
    switch (state) {
      case 'outside':
        assert.equal(e.type, 'active', `outside speech only active may come, got ${JSON.stringify(e)}: ${where}`);
        active = (e as { time: number }).time;
        a.vad.push(e);
        state = 'inside';
        break;
      case 'inside':
        if (e.type === 'inactive') {
          a.inactive++;
          a.vad.push(e);
          inactive = e.time;
          state = 'final';
        } else if (e.type === 'segment') {
          assert.equal(e.is_final, false, `inside speech only interim segments: ${where}`);
          assert.ok(r.interim, `interim segment without interim_results: ${where}`);
          assert.equal(e.start_time, active);
          a.interims++;
        } else {
          assert.equal(e.type, 'error', `inside speech: ${JSON.stringify(e)}: ${where}`);
          assert.ok(r.interim, `an error inside speech can only be an interim's: ${where}`);
          a.interimErrors++;
        }
        break;
      case 'final':
        if (e.type === 'segment') {
          assert.equal(e.is_final, true, `after inactive comes the final: ${where}`);
          assert.equal(e.start_time, active);
          assert.equal(e.end_time, inactive);
          assert.equal(e.count, Math.round((e.end_time - e.start_time) * 16000), 'the model got the whole segment');
          a.finals++;
        } else {
          assert.equal(e.type, 'error', `after inactive comes the final or its error, got ${JSON.stringify(e)}: ${where}`);
          a.finalErrors++;
        }
        state = 'outside';
        break;
    }
  }
  assert.equal(state, 'outside', `the stream ended inside a segment: ${where}`);
  assert.equal(a.finals + a.finalErrors, a.inactive, `one final answer per segment: ${where}`);
  return a;
}

test(`fault soak: ${LANES} concurrent segmented streams for ${SOAK_MS / 1000} s, failure_rate 0.05, panic_rate 0.02`, async (t) => {
  const before = await scrape(service.url);
  const started = performance.now();
  const records: StreamRecord[] = [];
  const lane = async (i: number) => {
    const interim = i % 2 === 0;
    const speed = SPEEDS[i % SPEEDS.length];
    await sleep(i * 50); // staggered, so segments do not all end at the same instant
    // a stream starts only if it can finish inside the soak window
    while (performance.now() - started + (fixture.duration / speed) * 1000 < SOAK_MS) records.push(await soakStream(i, interim, speed));
  };
  await Promise.all(Array.from({ length: LANES }, (_, i) => lane(i)));
  const elapsed = (performance.now() - started) / 1000;

  const analyses = records.map(analyse);
  // the VAD's segmentation is the same in every stream, whatever the model did
  for (const a of analyses) assert.deepEqual(a.vad, analyses[0].vad, 'same active/inactive events in every stream');
  assert.equal(analyses[0].inactive, 2, 'the fixture has two sentences');
  const interimCounts = new Set(analyses.filter((_, i) => records[i].interim).map((a) => a.interims + a.interimErrors));
  assert.equal(interimCounts.size, 1, `every interim stream has the same number of interim answers: ${[...interimCounts].join(', ')}`);

  const channelErrors = records.flatMap((r): ServerError[] => r.events.filter(isError));
  const modelFailures = channelErrors.filter((e) => e.code === 'model_failure').length;
  const panicked = channelErrors.filter((e) => e.message === 'internal server error').length;
  const sum = (f: (a: Analysis) => number) => analyses.reduce((n, a) => n + f(a), 0);
  t.diagnostic(
    `${records.length} streams in ${elapsed.toFixed(1)} s; ${sum((a) => a.inactive)} segments: ${sum((a) => a.finals)} finals + ${sum((a) => a.finalErrors)} final errors; ` +
      `${sum((a) => a.interims)} interims + ${sum((a) => a.interimErrors)} interim errors; ${modelFailures} model_failure, ${panicked} internal server error`,
  );
  assert.ok(records.length >= LANES, 'every lane ran at least one stream');

  assert.ok(await eventually(async () => (await activeStreams(service)) === 0, 10_000), 'active_streams back to 0');
  const now = await scrape(service.url);
  assert.equal(now.value('model_failures_total') - before.value('model_failures_total'), modelFailures, 'model_failures_total counts every model_failure event');
  assert.equal(
    now.value('task_panics_total', { task: 'inference' }) - before.value('task_panics_total', { task: 'inference' }),
    panicked,
    'task_panics_total{task="inference"} counts every "internal server error"',
  );
  assert.equal(now.sum('task_panics_total') - before.sum('task_panics_total'), panicked, 'no other task panicked');
  assert.equal(now.sum('protocol_errors_total') - before.sum('protocol_errors_total'), 0, 'no protocol error');
  const h = await health(service);
  assert.equal(h.status, 200);
  assert.deepEqual(h.body, panicked > 0 ? { status: 'degraded', panics: panicked } : { status: 'healthy' });
});
