// What the VAD keeps of one channel between its requests, and what a request reads its windows
// from. The model's state and context carry over from each window to the next, so a channel
// awaits each request before making its next.
import type { SpanContext } from '../telemetry/tracing.ts';
import { VAD_CONTEXT, VAD_STATE } from './window.ts';

export class VadChannelState {
  /** Layer 0 (128) then layer 1 (128) of the model's recurrent state. */
  readonly state = new Float32Array(2 * VAD_STATE);
  /** The last 64 samples analysed: the context in front of the next window. */
  readonly context = new Float32Array(VAD_CONTEXT);
  /** The last 64 samples of the request in a job: the context once the job is answered. */
  readonly nextContext = new Float32Array(VAD_CONTEXT);
  /** The channel's span, linked from the batch spans that analyse it (when tracing). */
  link?: SpanContext;
  /** Opened with SileroVad.openChannel and not closed yet: counted among the channels that may join a batch. */
  open = false;
}

/**
 * Consecutive windows of a channel, read when their job is put together: a request then needs no
 * copy of its own (a copy per frame was a main-thread hot spot at hundreds of streams). Its
 * samples must stay unchanged until the request is answered.
 */
export interface WindowSource {
  readonly length: number;
  copyTo(into: Float32Array, at: number): void;
}
