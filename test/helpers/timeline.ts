// What "one timeline" means for a stream that moved: its final segments, connection after connection,
// are those of a single-stream reference run of the same audio, each within one VAD window, except a
// segment in progress at a move, which comes in pieces that tile the reference segment: the first
// starts at the reference start, each ends exactly at a move and the next starts there (within a
// window), the last ends at the reference end. (The client moves on the VAD's window grid, so a move
// in silence changes nothing; in speech, the new stream's VAD starts afresh.)
//
// Options for streams that moved at arbitrary points (test/fleet): Silero is a recurrent model, and a
// new stream starts its state from zero, so after a move an edge may land a window further from the
// reference's than one window (measured: up to 64 ms, `toleranceS`), while segments that ended before
// the first move are the reference's exactly. A move close to a segment's edge leaves a piece
// shorter than the VAD's min_speech_ms, which the VAD drops by design; with `droppedPieceS` set, such
// a missing piece is accepted when the move lies within that distance of the reference edge (the
// remaining piece then starts or ends at the move).
import assert from 'node:assert/strict';
import type { Segment } from './events.ts';

/** Silero's window at 16 kHz (512 samples). */
export const VAD_WINDOW_S = 512 / 16000;

const near = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol;

/**
 * How far from a segment's edge a move may leave a piece the VAD drops: speech shorter than
 * `min_speech_ms` is dropped, and the segment's edge is `speech_pad_ms` beyond its speech; plus one
 * window, where speech is detected.
 */
export const droppedPieceLimit = (vad: { min_speech_ms: number; speech_pad_ms: number }) => (vad.min_speech_ms + vad.speech_pad_ms) / 1000 + VAD_WINDOW_S;

export interface TimelineCheck {
  /** Reference segments that a move split into pieces (both pieces there). */
  split: number;
  /** Reference segments one of whose pieces the VAD dropped as too short (only with `droppedPieceS`). */
  dropped: number;
}

export interface TimelineOptions {
  /** How far an edge may be from the reference's after a move (default one VAD window). */
  toleranceS?: number;
  /** Accept a piece the VAD dropped as too short when the move is this close to the reference edge. */
  droppedPieceS?: number;
  /** Segments that ended before the first move must be the reference's exactly. */
  exactBeforeFirstMove?: boolean;
}

/** Asserts one timeline (see the top of this file); says how many reference segments a move split. */
export function checkOneTimeline(got: Segment[], reference: Segment[], moveTimes: number[], options: TimelineOptions = {}): TimelineCheck {
  const tolerance = (options.toleranceS ?? VAD_WINDOW_S) + 1e-6; // times are sums of floats
  const firstMove = Math.min(...moveTimes);
  const detail = () =>
    `got ${JSON.stringify(got.map((s) => [s.start_time, s.end_time]))}, reference ${JSON.stringify(reference.map((s) => [s.start_time, s.end_time]))}, moves at ${moveTimes.join(', ')} s`;
  const joined: Array<{ start: number; end: number; split: boolean }> = [];
  for (const s of got) {
    const prev = joined.at(-1);
    const move = prev && moveTimes.find((t) => near(prev.end, t, 1e-9) && near(s.start_time, t, tolerance));
    if (prev && move !== undefined) {
      prev.end = s.end_time;
      prev.split = true;
    } else {
      joined.push({ start: s.start_time, end: s.end_time, split: false });
    }
  }
  assert.equal(joined.length, reference.length, `one segment (or its pieces) per reference segment: ${detail()}`);
  const limit = options.droppedPieceS;
  let dropped = 0;
  // Before the first move the stream is the reference run itself.
  const exact = (t: number) => (options.exactBeforeFirstMove && t < firstMove ? 1e-6 : tolerance);
  for (const [i, r] of reference.entries()) {
    const j = joined[i];
    // A first piece dropped: what is left starts at a move shortly after the reference start.
    const startDropped =
      !near(j.start, r.start_time, exact(r.start_time)) && limit !== undefined && moveTimes.some((t) => near(j.start, t, tolerance) && t > r.start_time && t - r.start_time <= limit);
    // A last piece dropped: what is left ends exactly at a move shortly before the reference end.
    const endDropped = !near(j.end, r.end_time, exact(r.end_time)) && limit !== undefined && moveTimes.some((t) => near(j.end, t, 1e-9) && t < r.end_time && r.end_time - t <= limit);
    assert.ok(startDropped || near(j.start, r.start_time, exact(r.start_time)), `segment ${i} starts at ${j.start}, reference ${r.start_time}: ${detail()}`);
    assert.ok(endDropped || near(j.end, r.end_time, exact(r.end_time)), `segment ${i} ends at ${j.end}, reference ${r.end_time}: ${detail()}`);
    if (startDropped || endDropped) dropped++;
  }
  return { split: joined.filter((j) => j.split).length, dropped };
}

/** Asserts one timeline, no piece missing; returns how many reference segments were split at a move. */
export function assertOneTimeline(got: Segment[], reference: Segment[], moveTimes: number[]): number {
  return checkOneTimeline(got, reference, moveTimes).split;
}
