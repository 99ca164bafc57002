// What a resumed stream may deliver, given what the lost connection delivered: scripted events.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServerEvent } from '../../src/api/protocol.ts';
import { DeliveredLog } from '../../src/client/resume-filter.ts';

const active = (time: number, channel = 0): ServerEvent => ({ type: 'active', time, channel });
const inactive = (time: number, channel = 0): ServerEvent => ({ type: 'inactive', time, channel });
const seg = (start: number, end: number, isFinal?: boolean, channel = 0): ServerEvent => ({ type: 'segment', start_time: start, end_time: end, channel, ...(isFinal === undefined ? {} : { is_final: isFinal }) });
const failure = (channel = 0): ServerEvent => ({ type: 'error', code: 'model_failure', message: 'model failure: x', channel });

function deliver(log: DeliveredLog, events: ServerEvent[]): void {
  for (const e of events) log.delivered(e);
}
const passed = (log: DeliveredLog, events: ServerEvent[]) => events.filter(log.resumeFilter());

test('a final whose committed point was lost comes again after the resume: the repeat is dropped whole', () => {
  const log = new DeliveredLog();
  deliver(log, [active(1), seg(1, 1.5, false), inactive(3.3), seg(1, 3.3, true)]); // then the drop; committed was at 0.96
  const resumed = [{ type: 'started', stream_id: 'b' } as ServerEvent, active(1.02), seg(1.02, 1.52, false), inactive(3.28), seg(1.02, 3.28, true), active(4.8), inactive(7), seg(4.8, 7, true)];
  assert.deepEqual(passed(log, resumed), [resumed[0], active(4.8), inactive(7), seg(4.8, 7, true)]);
});

test('a segment in progress at the drop: its active is not repeated, the rest of it comes from the new stream', () => {
  const log = new DeliveredLog();
  deliver(log, [active(1), inactive(3.3), seg(1, 3.3, true), active(4.8), seg(4.8, 5.3, false)]);
  const resumed = [active(4.832), seg(4.832, 5.332, false), inactive(7), seg(4.832, 7, true)];
  assert.deepEqual(passed(log, resumed), resumed.slice(1));
  const twoWindows = [active(16.642, 1), inactive(18, 1)];
  deliver(log, [active(16.578, 1)]);
  assert.deepEqual(passed(log, twoWindows), [inactive(18, 1)], 'two windows apart (64 ms, a float sum a hair over it) is the same start');
  const drifted = [active(4.9), inactive(7), seg(4.9, 7, true)];
  assert.deepEqual(passed(log, drifted), drifted, 'a start found more than two windows apart is another boundary: passed');
});

test('a failure that stood for a final counts as the final; channels are apart', () => {
  const log = new DeliveredLog();
  deliver(log, [active(1, 1), inactive(3, 1), failure(1), active(2, 0)]);
  const resumed = [active(1.01, 1), inactive(3.01, 1), failure(1), active(2.01, 0), inactive(4, 0), seg(2.01, 4, true, 0), active(5, 1)];
  assert.deepEqual(passed(log, resumed), [inactive(4, 0), seg(2.01, 4, true, 0), active(5, 1)]);
});

test('simple route: where a resume can start, and chunks already delivered are not delivered again', () => {
  const log = new DeliveredLog();
  assert.equal(log.chunksDeliveredTo(2), null);
  deliver(log, [seg(0, 0.25, undefined, 0), seg(0, 0.3, undefined, 1), seg(0.25, 0.5, undefined, 0)]);
  assert.equal(log.chunksDeliveredTo(2), 0.3, 'the least over the channels');
  // From 0.3 on: channel 0's chunk up to 0.5 repeats; one that reaches past 0.5 carries new audio and passes, overlap and all.
  assert.deepEqual(passed(log, [seg(0.3, 0.5, undefined, 0), seg(0.3, 0.55, undefined, 1)]), [seg(0.3, 0.55, undefined, 1)]);
  assert.deepEqual(passed(log, [seg(0.3, 0.55, undefined, 0)]), [seg(0.3, 0.55, undefined, 0)]);
});

test('stats of the resumed stream pass, even inside a segment dropped as a repeat: they are the new connection’s own', () => {
  const log = new DeliveredLog();
  deliver(log, [active(1), inactive(3.3), seg(1, 3.3, true)]);
  const stats = (time: number): ServerEvent => ({ type: 'stats', time, audio_received: time, backlog_seconds: { audio_decoding: 0, vad: 0, model: 0 }, lag_seconds: 0, model_runs: 0, model_audio_seconds: 0, model_processing_seconds: 0, model_rtf: null, vad: { speaking: [true] } });
  const resumed = [active(1.02), stats(2), inactive(3.28), stats(3), seg(1.02, 3.28, true), stats(4)];
  assert.deepEqual(passed(log, resumed), [stats(2), stats(3), stats(4)]);
});
