// What a channel's pipeline reports, in the service's own terms (times in seconds on the client's
// timeline: since the start of the stream, plus its time offset). src/api/events.ts turns them
// into the protocol's events.
import type { ModelOutput } from '../model/index.ts';
import type { InferenceTiming } from '../task-timing.ts';

export type ChannelEvent =
  /** Speech started (segmented route). */
  | { kind: 'active'; channel: number; time: number }
  /** Speech ended (segmented route). */
  | { kind: 'inactive'; channel: number; time: number }
  /** The model's output for [start, end); `isFinal` is absent on the simple route. `timing`: when it ran and came back (not sent). */
  | { kind: 'result'; channel: number; start: number; end: number; isFinal?: boolean; output: ModelOutput; timing?: InferenceTiming }
  /** The model reported a failure (`reason` is its own words), or the pipeline crashed (`internal`). */
  | { kind: 'failure'; channel: number; cause: 'model'; reason: string }
  | { kind: 'failure'; channel: number; cause: 'internal' }
  /**
   * Everything of this channel about audio before `time` has been sent, and nothing more will be
   * (not sent itself: the stream's committed point is the least of its channels').
   */
  | { kind: 'settled'; channel: number; time: number };

/** What a stream sends: its channels' events, and its committed point when that advances. */
export type StreamEvent = Exclude<ChannelEvent, { kind: 'settled' }> | { kind: 'committed'; time: number };

/** Where a channel's events go, in order. */
export type Send = (event: ChannelEvent) => void;
/** Where a stream's events go. */
export type SendStream = (event: StreamEvent) => void;
