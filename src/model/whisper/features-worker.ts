// Worker thread of the Whisper backend: the log-mel spectrogram of each 30 s window, off the
// event loop (the encoder and decoder run on onnxruntime's own threads).
import { timedJob } from '../../task-worker.ts';
import { CHUNK_SECONDS, logMel, SAMPLE_RATE } from './features.ts';

export interface FeatureJob {
  /** 16 kHz mono samples (transferred). */
  samples: Float32Array;
  nMels: number;
}

export interface FeatureResult {
  /** One row-major [nMels × frames] spectrogram per consecutive 30 s window of the samples. */
  windows: Float32Array[];
  nMels: number;
  frames: number;
}

export const WINDOW_SAMPLES = CHUNK_SECONDS * SAMPLE_RATE;

/** Consecutive 30 s windows; the last one may be shorter (padded with zeros by logMel). At least one. */
export function windowCount(samples: number): number {
  return Math.max(1, Math.ceil(samples / WINDOW_SAMPLES));
}

function extract(job: FeatureJob): FeatureResult {
  const windows: Float32Array[] = [];
  let frames = 0;
  for (let w = 0; w < windowCount(job.samples.length); w++) {
    const mel = logMel(job.samples.subarray(w * WINDOW_SAMPLES, (w + 1) * WINDOW_SAMPLES), { nMels: job.nMels });
    windows.push(mel.data);
    frames = mel.frames;
  }
  return { windows, nMels: job.nMels, frames };
}

export default timedJob(extract);
