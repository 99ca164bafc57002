// Pipeline stages and the histogram buckets each one needs. Decoding and VAD run ~1000× faster
// than real time, the model near real time: one bucket set cannot resolve both, so every stage
// gets its own boundaries (same metric names, one family each on /metrics).

export const STAGES = ['audio_decoding', 'vad', 'model'] as const;
export type Stage = (typeof STAGES)[number];

export interface StageBuckets {
  /** processing seconds / audio seconds */
  rtf: number[];
  /** wall seconds of one unit of stage work */
  processing: number[];
  /** audio seconds in one unit of stage work */
  media: number[];
}

export const STAGE_BUCKETS: Record<Stage, StageBuckets> = {
  // One unit = one binary frame decoded and resampled (typically 10–100 ms of audio).
  audio_decoding: {
    rtf: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    processing: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1],
    media: [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
  },
  // One unit = one batched Silero run: 1 to a few hundred 512-sample (32 ms) windows.
  vad: {
    rtf: [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.125, 0.25, 0.5, 1],
    processing: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
    media: [0.032, 0.064, 0.128, 0.256, 0.512, 1, 2, 4, 8],
  },
  // One unit = one inference: a speech segment, an interim, or a simple-mode chunk.
  model: {
    rtf: [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10],
    processing: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    media: [0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60],
  },
};
