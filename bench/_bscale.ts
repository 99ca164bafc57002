import * as ort from 'onnxruntime-node';
import { bundledVadModelPath } from '../src/vad/silero.ts';
const s = await ort.InferenceSession.create(bundledVadModelPath(), { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
const sr = new ort.Tensor('int64', BigInt64Array.from([16000n]), []);
for (const B of [64, 64]) {
  const input = new Float32Array(B * 576).map(() => (Math.random() - 0.5) * 0.1);
  const st = new Float32Array(2 * B * 128);
  const runs = Math.max(20, Math.round(40000 / B));
  for (let i = 0; i < 10; i++) await s.run({ input: new ort.Tensor('float32', input, [B, 576]), state: new ort.Tensor('float32', st, [2, B, 128]), sr });
  const t = process.cpuUsage();
  for (let i = 0; i < runs; i++) await s.run({ input: new ort.Tensor('float32', input, [B, 576]), state: new ort.Tensor('float32', st, [2, B, 128]), sr });
  const c = process.cpuUsage(t);
  const perWin = (c.user + c.system) / runs / B;
  console.log(`B=${B}: ${perWin.toFixed(1)} µs/window = ${(perWin * 31.25 / 1e6).toFixed(5)} CPU-s/audio-s`);
}
