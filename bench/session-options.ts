// onnxruntime session options for the VAD, measured rather than guessed: the VAD stage's own job
// code (src/vad/silero-job.ts) on sessions created with each candidate option set, at 1, 32 and
// 128 channels per model run, over the same audio. CPU is the process's (onnxruntime's threads
// included); `vs ours` is each cost over that of the options the service uses (the first row).
//
//   node bench/session-options.ts [--seconds 60] [--reps 3]
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { runVadJob } from '../src/vad/silero-job.ts';
import { bundledVadModelPath } from '../src/vad/silero.ts';
import { VAD_CONTEXT, VAD_STATE, VAD_WINDOW } from '../src/vad/window.ts';
import { loadFixture, loopPcm, SAMPLE_RATE, toFloat32 } from './fixture.ts';
import { cpuSecondsSince, median } from './stats.ts';

const CANDIDATES: { name: string; options: ort.InferenceSession.SessionOptions }[] = [
  { name: 'intra 1, inter 1, all (ours)', options: { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' } },
  { name: 'intra 2, inter 1, all', options: { intraOpNumThreads: 2, interOpNumThreads: 1, graphOptimizationLevel: 'all' } },
  { name: 'intra 1, inter 1, extended', options: { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'extended' } },
  { name: 'intra 1, inter 1, basic', options: { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'basic' } },
  { name: 'intra 1, inter 1, disabled', options: { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'disabled' } },
  { name: 'onnxruntime defaults', options: {} },
];
const BATCHES = [1, 32, 128];

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '60' }, reps: { type: 'string', default: '3' } } });
const audioSeconds = Number(values.seconds);
const reps = Number(values.reps);
const samples = toFloat32(loopPcm(loadFixture(), audioSeconds + 1));

/** `steps` model runs of `batch` channels (one window each per run), channel c reading the audio from its own offset. */
async function run(session: ort.InferenceSession, batch: number, steps: number): Promise<void> {
  const state = new Float32Array(batch * 2 * VAD_STATE);
  for (let step = 0; step < steps; step++) {
    const audio = new Float32Array(batch * (VAD_CONTEXT + VAD_WINDOW));
    for (let c = 0; c < batch; c++) {
      const at = (step * VAD_WINDOW + c * 997) % (samples.length - VAD_CONTEXT - VAD_WINDOW);
      audio.set(samples.subarray(at, at + VAD_CONTEXT + VAD_WINDOW), c * (VAD_CONTEXT + VAD_WINDOW));
    }
    await runVadJob(session, { windows: new Int32Array(batch).fill(1), audio, state, probs: new Float32Array(batch) }); // state updated in place
  }
}

// Every session is created and warmed up first, and the repetitions go round all of them in turn,
// so that JIT warm-up and drifting machine load do not favour whichever runs first.
const sessions = await Promise.all(CANDIDATES.map(({ options }) => ort.InferenceSession.create(bundledVadModelPath(), options)));
const stepsOf = (batch: number) => Math.ceil((audioSeconds * SAMPLE_RATE) / VAD_WINDOW / batch);
for (const session of sessions) for (const batch of BATCHES) await run(session, batch, Math.min(stepsOf(batch), 20));
const cpu = sessions.map(() => BATCHES.map((): number[] => []));
for (let r = 0; r < reps; r++) {
  for (const [i, session] of sessions.entries()) {
    for (const [j, batch] of BATCHES.entries()) {
      const since = process.cpuUsage();
      await run(session, batch, stepsOf(batch));
      cpu[i][j].push(cpuSecondsSince(since));
    }
  }
}
await Promise.all(sessions.map((s) => s.release()));
const perAudioSecond = cpu.map((perBatch) =>
  perBatch.map((c, j) => (median(c) ?? NaN) / ((stepsOf(BATCHES[j]) * BATCHES[j] * VAD_WINDOW) / SAMPLE_RATE)),
);
const rows = CANDIDATES.map(({ name }, i) => [
  name,
  ...BATCHES.flatMap((_, j) => [perAudioSecond[i][j].toFixed(5), `${(perAudioSecond[i][j] / perAudioSecond[0][j]).toFixed(2)}x`]),
]);

const header = ['session options', ...BATCHES.flatMap((b) => [`B=${b} CPU-s/audio-s`, 'vs ours'])];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
process.stdout.write(`VAD session options: ${audioSeconds} s of audio per cell, median of ${reps}\n${line(header)}\n`);
for (const r of rows) process.stdout.write(`${line(r)}\n`);
process.stdout.write('vs ours > 1: costs more than the options the service uses.\n');
