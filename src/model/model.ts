// The model stage's contract: 16 kHz mono samples in, output fields out (src/api puts them into
// `segment` events, e.g. `count`, `text`, `keywords`). A model runs either on self-contained audio
// (`infer`: a speech segment) or on a channel's audio piece after piece (`openChannel`): a streaming
// model keeps state between the pieces of a channel; a stateless one runs each piece on its own.

import type { WorkerRun } from '../task-timing.ts';

/** A model's output fields. */
export type ModelOutput = Record<string, unknown>;

/**
 * The model's output, or a failure it reported (bad input, inference error: the stream goes on).
 * `computeSeconds`: time the model itself worked, excluding any wait for a free worker; the
 * model-stage RTF is computed from it when given. `ran`: when it ran on its worker (this thread's
 * performance.now() ms), for the breakdown of final-result latency.
 */
export type InferenceResult = ({ ok: true; output: ModelOutput } | { ok: false; error: string }) & { computeSeconds?: number; ran?: WorkerRun };

export interface Inference {
  /**
   * Runs inference. `start`: the index of `samples[0]` in the stream's 16 kHz samples (default 0);
   * times in the output are `start`-based seconds plus `timeOffset` (the stream's time offset, so
   * that they are on the client's timeline). Resolves with the model's output or a reported failure;
   * rejects with a TaskPanic when the backend crashed (counted by the task wrapper, worker replaced).
   */
  infer(samples: Float32Array, start?: number, timeOffset?: number): Promise<InferenceResult>;
}

/**
 * One channel's audio, in order: each `infer` takes the piece that follows the previous one (the
 * caller may call again before the previous call resolved; a streaming model runs them in order).
 */
export interface ModelChannel extends Inference {
  /** The channel's audio ended or was abandoned: its state can go (once pending pieces ran). */
  close(): void;
}

export interface Model extends Inference {
  readonly name: string;
  /** A channel of a stream whose audio will be given piece after piece (simple mode). */
  openChannel(): ModelChannel;
  /** Pays one-off start-up costs (the first inference of each instance) before the server is ready. */
  warmup(): Promise<void>;
  close(): Promise<void>;
}

/** The channel of a model without state between pieces: every piece is an independent `infer`. */
export function statelessChannel(model: Inference): ModelChannel {
  return { infer: (samples, start, timeOffset) => model.infer(samples, start, timeOffset), close: () => undefined };
}
