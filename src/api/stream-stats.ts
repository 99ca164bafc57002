// A stream's `stats` events (docs/protocol.md): every interval of wall time, the pipeline's snapshot
// of the stream (the figures its metrics are recorded from) as the protocol's event. The model
// figures cover the runs since the previous event, so the events of a stream add up to its whole.
import { microseconds } from '../audio/format.ts';
import type { StreamSnapshot } from '../pipeline/stream.ts';
import type { StageTotals } from '../telemetry/stage-tally.ts';
import type { StatsEvent } from './protocol.ts';

/** Audio waiting per stage, as the session's backlog source reports it (vad and model summed over channels). */
export interface SessionBacklog {
  audio_decoding: number;
  vad?: number;
  model?: number;
}

/**
 * Seconds of audio a stream is behind: waiting to be decoded, analysed or inferred (vad and model
 * per channel). Flow control pauses reading past limits.max_backlog_seconds of it.
 */
export function lagSeconds(b: SessionBacklog, channels: number): number {
  return b.audio_decoding + ((b.vad ?? 0) + (b.model ?? 0)) / channels;
}

const NO_RUNS: StageTotals = { runs: 0, processingSeconds: 0, mediaSeconds: 0 };

/** The event for `now`, whose audio still to decode is `decoding` seconds, with the model runs since `before`. */
export function toStatsEvent(now: StreamSnapshot, decoding: number, before: StageTotals = NO_RUNS): StatsEvent {
  const perChannel = (seconds: number) => microseconds(seconds / now.channels);
  const backlog = {
    audio_decoding: microseconds(decoding),
    ...(now.route === 'segmented' ? { vad: perChannel(now.backlog.vad) } : {}),
    model: perChannel(now.backlog.model),
  };
  const processing = now.model.processingSeconds - before.processingSeconds;
  const media = now.model.mediaSeconds - before.mediaSeconds;
  return {
    type: 'stats',
    time: now.time,
    audio_received: now.receivedSeconds,
    backlog_seconds: backlog,
    lag_seconds: microseconds(lagSeconds({ audio_decoding: decoding, ...now.backlog }, now.channels)),
    model_runs: now.model.runs - before.runs,
    model_audio_seconds: microseconds(media),
    model_processing_seconds: microseconds(processing),
    model_rtf: media > 0 ? microseconds(processing / media) : null,
    ...(now.speaking ? { vad: { speaking: now.speaking } } : {}),
  };
}

/** Sends a stream's `stats` every `intervalMs` until stopped; `flush()` sends one now (the last, before `stream_end`). */
export class StatsTimer {
  private before: StageTotals = NO_RUNS;
  private timer: NodeJS.Timeout | null;

  private readonly read: () => { snapshot: StreamSnapshot; decoding: number };
  private readonly deliver: (event: StatsEvent) => void;
  constructor(intervalMs: number, read: () => { snapshot: StreamSnapshot; decoding: number }, deliver: (event: StatsEvent) => void) {
    this.read = read;
    this.deliver = deliver;
    this.timer = setInterval(() => this.flush(), intervalMs).unref();
  }

  flush(): void {
    if (!this.timer) return;
    const { snapshot, decoding } = this.read();
    this.deliver(toStatsEvent(snapshot, decoding, this.before));
    this.before = snapshot.model;
  }

  /** No more events: the stream ended. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
