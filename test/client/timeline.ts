// What "one timeline" means for a stream that moved: its final segments, connection after connection,
// are those of a single-stream reference run of the same audio, each within one VAD window, except a
// segment in progress at a move, which comes in two pieces that tile the reference segment: the first
// ends exactly at the move, the second starts there (within a window). (The client moves on the VAD's
// window grid, so a move in silence changes nothing; in speech, the new stream's VAD starts afresh.)
import assert from 'node:assert/strict';
import type { ServerEvent } from '../../src/api/protocol.ts';

export type Segment = Extract<ServerEvent, { type: 'segment' }>;

/** Silero's window at 16 kHz (512 samples). */
export const VAD_WINDOW_S = 512 / 16000;
const TOLERANCE_S = VAD_WINDOW_S + 1e-6; // times are sums of floats

export const finals = (events: ServerEvent[]) => events.filter((e): e is Segment => e.type === 'segment' && e.is_final !== false);

const near = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol;

/** Asserts one timeline; returns how many reference segments were split at a move. */
export function assertOneTimeline(got: Segment[], reference: Segment[], moveTimes: number[]): number {
  const detail = `got ${JSON.stringify(got.map((s) => [s.start_time, s.end_time]))}, reference ${JSON.stringify(reference.map((s) => [s.start_time, s.end_time]))}, moves at ${moveTimes.join(', ')} s`;
  const joined: Array<{ start: number; end: number; splitAt?: number }> = [];
  for (const s of got) {
    const prev = joined.at(-1);
    const move = prev && moveTimes.find((t) => near(prev.end, t, 1e-9) && near(s.start_time, t, TOLERANCE_S));
    if (prev && move !== undefined) {
      prev.end = s.end_time;
      prev.splitAt = move;
    } else {
      joined.push({ start: s.start_time, end: s.end_time });
    }
  }
  assert.equal(joined.length, reference.length, `one segment (or its pieces) per reference segment: ${detail}`);
  for (const [i, r] of reference.entries()) {
    assert.ok(near(joined[i].start, r.start_time, TOLERANCE_S), `segment ${i} starts at ${joined[i].start}, reference ${r.start_time}: ${detail}`);
    assert.ok(near(joined[i].end, r.end_time, TOLERANCE_S), `segment ${i} ends at ${joined[i].end}, reference ${r.end_time}: ${detail}`);
  }
  return joined.filter((j) => j.splitAt !== undefined).length;
}
