// Worker thread of the Whisper backend: the whole inference of one segment (log-mel of each 30 s
// window, encoder, greedy decoding) runs here, off the event loop. onnxruntime-node runs a session
// synchronously on the thread that calls it, so the sessions live in the worker, loaded on its first job.
import { greedyDecode } from './decoder.ts';
import { CHUNK_SECONDS, logMel, SAMPLE_RATE } from './features.ts';
import { WhisperOnnx } from './onnx-io.ts';

export interface WhisperJob {
  /** 16 kHz mono samples (transferred). */
  samples: Float32Array;
  encoder: string;
  decoder: string;
  threads: number;
  sotSequence: number[];
  eot: number;
  maxTokens: number;
  suppress: number[];
  suppressAtBegin: number[];
}

/** Token ids per consecutive 30 s window, or why the model could not produce them. */
export type WhisperJobResult = { ok: true; ids: number[][] } | { ok: false; error: string };

export const WINDOW_SAMPLES = CHUNK_SECONDS * SAMPLE_RATE;

/** Consecutive 30 s windows; the last one may be shorter (padded with zeros by logMel). At least one. */
export function windowCount(samples: number): number {
  return Math.max(1, Math.ceil(samples / WINDOW_SAMPLES));
}

let loaded: { key: string; onnx: Promise<WhisperOnnx> } | null = null;

function sessions(job: WhisperJob): Promise<WhisperOnnx> {
  const key = `${job.encoder}|${job.decoder}|${job.threads}`;
  if (!loaded || loaded.key !== key) loaded = { key, onnx: WhisperOnnx.load(job.encoder, job.decoder, { intraOpNumThreads: job.threads }) };
  return loaded.onnx;
}

async function infer(job: WhisperJob): Promise<WhisperJobResult> {
  let onnx: WhisperOnnx;
  try {
    onnx = await sessions(job);
  } catch (err) {
    loaded = null; // try again on the next job
    return { ok: false, error: `loading the model: ${err instanceof Error ? err.message : String(err)}` };
  }
  try {
    const ids: number[][] = [];
    for (let w = 0; w < windowCount(job.samples.length); w++) {
      const mel = logMel(job.samples.subarray(w * WINDOW_SAMPLES, (w + 1) * WINDOW_SAMPLES), { nMels: onnx.dims.nMels });
      const cross = await onnx.encode(mel.data, mel.nMels, mel.frames);
      ids.push(await greedyDecode(onnx, cross.k, cross.v, job));
    }
    return { ok: true, ids };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

export default infer;
