// The model stage's contract: 16 kHz mono samples in, output fields out (src/api puts them into
// `segment` events, e.g. `count`, `text`).

/** A model's output fields. */
export type ModelOutput = Record<string, unknown>;

/**
 * The model's output, or a failure it reported (bad input, inference error: the stream goes on).
 * `computeSeconds`: time the model itself worked, excluding any wait for a free worker; the
 * model-stage RTF is computed from it when given.
 */
export type InferenceResult = ({ ok: true; output: ModelOutput } | { ok: false; error: string }) & { computeSeconds?: number };

export interface Model {
  readonly name: string;
  /**
   * Runs inference. Resolves with the model's output or a reported failure; rejects with a
   * TaskPanic when the backend crashed (counted by the task wrapper, worker replaced).
   */
  infer(samples: Float32Array): Promise<InferenceResult>;
  /** Pays one-off start-up costs (the first inference of each instance) before the server is ready. */
  warmup(): Promise<void>;
  close(): Promise<void>;
}
