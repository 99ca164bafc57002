// A whole-file pass of openWakeWord, written here independently of the streaming code: the
// melspectrogram of the whole file in one run (as openWakeWord's offline feature extraction does;
// its 80 dB floor then follows the file's loudest frame rather than each step's), every embedding
// in batches, then each head over its window at every 80 ms step, with the same detection rule
// (threshold crossing, 1.04 s refractory, first 5 steps 0). Detections match the streaming path's
// up to a step or two where the floor makes the scores differ. Before the file: digital silence.
import * as ort from 'onnxruntime-node';
import type { SpotterFiles } from '../../../src/model/keywords/spotter.ts';
import type { Detection } from '../../helpers/keywords.ts';

const options = { intraOpNumThreads: 1 };

export async function wholeFilePass(files: SpotterFiles, samples: Float32Array, threshold: number): Promise<{ detections: Detection[]; steps: number }> {
  const mel = await ort.InferenceSession.create(files.melspectrogram, options);
  const embedding = await ort.InferenceSession.create(files.embedding, options);
  const steps = Math.floor(samples.length / 1280);
  // 480 samples of silence before the audio: the first step's frames see them, as in streaming.
  const input = new Float32Array(480 + steps * 1280);
  for (let i = 0; i < steps * 1280; i++) input[480 + i] = samples[i] * 32768;
  const spec = (await mel.run({ input: new ort.Tensor('float32', input, [1, input.length]) })).output.data as Float32Array;
  // 76 frames of digital silence in front (a stream starts after silence), then the file's. A run
  // over silence alone gives 8 equal frames: the floor is relative to the run's own maximum.
  const silent = (await mel.run({ input: new ort.Tensor('float32', new Float32Array(480 + 1280), [1, 1760]) })).output.data as Float32Array;
  const frames = new Float32Array((76 + steps * 8) * 32);
  for (let i = 0; i < 76 * 32; i++) frames[i] = silent[i % 32] / 10 + 2;
  for (let i = 0; i < steps * 8 * 32; i++) frames[76 * 32 + i] = spec[i] / 10 + 2;

  const embed = async (from: number, count: number) => {
    const batch = frames.slice(from * 32, (from + (count - 1) * 8 + 76) * 32);
    const windows = new Float32Array(count * 76 * 32);
    for (let w = 0; w < count; w++) windows.set(batch.subarray(w * 8 * 32, (w * 8 + 76) * 32), w * 76 * 32);
    const out = await embedding.run({ input_1: new ort.Tensor('float32', windows, [count, 76, 32, 1]) });
    return out[embedding.outputNames[0]].data as Float32Array;
  };
  const rest = await embed(0, 1); // the window before any audio: silence
  const embeddings = new Float32Array(steps * 96);
  for (let s = 0; s < steps; s += 64) embeddings.set(await embed((s + 1) * 8, Math.min(64, steps - s)), s * 96);

  const detections: Detection[] = [];
  for (const head of files.heads) {
    const session = await ort.InferenceSession.create(head.path, options);
    const input = session.inputMetadata[0];
    if (!input.isTensor) throw new Error(`${head.path}: its input is not a tensor`);
    const k = input.shape[1] as number;
    const history = new Float32Array((k + steps) * 96);
    for (let i = 0; i < k; i++) history.set(rest, i * 96);
    history.set(embeddings, k * 96);
    let previous = 0;
    let lastFired = -Infinity;
    for (let s = 0; s < steps; s++) {
      const window = history.slice((s + 1) * 96, (s + 1 + k) * 96);
      const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', window, [1, k, 96]) });
      const score = s < 5 ? 0 : (out[session.outputNames[0]].data as Float32Array)[0];
      if (score >= threshold && previous < threshold && s - lastFired >= 13) {
        lastFired = s;
        detections.push({ keyword: head.name, score, time: ((s + 1) * 1280) / 16000 });
      }
      previous = score;
    }
    await session.release();
  }
  await Promise.all([mel.release(), embedding.release()]);
  return { detections: detections.sort((a, b) => a.time - b.time), steps };
}
