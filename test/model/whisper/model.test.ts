// The Whisper backend behind the Model interface, on fake models in the sherpa-onnx export's
// contract (test/helpers/whisper-models.ts): the fake decoder emits TARGET after the prompt, and
// the fake tokens file maps id i to " w<i>".
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseConfig, type WhisperModelConfig } from '../../../src/config.ts';
import { loadModel } from '../../../src/model/index.ts';
import { logMel } from '../../../src/model/whisper/features.ts';
import { WhisperModel } from '../../../src/model/whisper/model.ts';
import { jobsSince, testContext, threadCpu } from '../../helpers/context.ts';
import { writeFakeWhisper, type FakeWhisperFiles } from '../../helpers/whisper-models.ts';

const TARGET = [7, 3, 12, 25, 25, 9, 41];
const KNOWN_TEXT = 'w7 w3 w12 w25 w25 w9 w41';

const { read, service, jobs } = testContext();
const inferenceJobs = async () => (await read()).value('task_polls_total', { task: 'inference' });

let files: FakeWhisperFiles;
let model: WhisperModel;
const cleanup: string[] = [];

const whisperConfig = (path: string, extra: Record<string, unknown> = {}) => parseConfig({ model: { backend: 'whisper', path, ...extra } }).model as WhisperModelConfig;

function tone(seconds: number, hz = 440): Float32Array {
  const out = new Float32Array(Math.round(seconds * 16_000));
  for (let i = 0; i < out.length; i++) out[i] = 0.3 * Math.sin((2 * Math.PI * hz * i) / 16_000);
  return out;
}

before(async () => {
  files = await writeFakeWhisper({ target: TARGET, anyAudio: true });
  cleanup.push(files.dir);
  model = await WhisperModel.load(whisperConfig(files.dir), service);
});
after(async () => {
  await model?.close();
  await Promise.all(cleanup.map((d) => rm(d, { recursive: true, force: true })));
});

test('config: the whisper backend and its defaults; simulated stays the default', () => {
  assert.deepEqual(parseConfig({ model: { backend: 'whisper' } }).model, {
    backend: 'whisper',
    path: 'models/whisper-tiny.en',
    threads: 1,
    language: 'en',
    max_tokens: 128,
    workers: 1,
  });
  assert.equal(parseConfig({}).model.backend, 'simulated');
  assert.throws(() => parseConfig({ model: { backend: 'whisper', delay: 1 } }), /model.*delay/);
  assert.throws(() => parseConfig({ model: { backend: 'whisper', max_tokens: 0 } }), /model\.max_tokens/);
  assert.throws(() => parseConfig({ model: { backend: 'nope' } }), /model\.backend/);
});

test('1 s of a tone: the fake model\'s known text, with compute time', async () => {
  const result = await model.infer(tone(1));
  assert.ok(result.ok, JSON.stringify(result));
  assert.deepEqual(result.output, { text: KNOWN_TEXT });
  assert.ok(result.computeSeconds! > 0, `computeSeconds ${result.computeSeconds}`);
});

test('65 s is decoded as three 30 s windows, texts joined with a space', async () => {
  const result = await model.infer(tone(65));
  assert.ok(result.ok, JSON.stringify(result));
  assert.equal(result.output.text, [KNOWN_TEXT, KNOWN_TEXT, KNOWN_TEXT].join(' '));
});

test('features run on the inference worker pool: one job per inference', async () => {
  const before = await inferenceJobs();
  await model.infer(tone(0.5));
  await model.infer(tone(2));
  assert.equal((await inferenceJobs()) - before, 2);
});

test('concurrent inferences all succeed (bounded encoder/decoder runs)', async () => {
  const results = await Promise.all(Array.from({ length: 4 }, (_, i) => model.infer(tone(0.5 + i * 0.25))));
  for (const r of results) assert.deepEqual(r.ok && r.output, { text: KNOWN_TEXT });
});

test('a view into a larger buffer is copied, not detached', async () => {
  const whole = tone(3);
  const view = whole.subarray(16_000, 32_000);
  const result = await model.infer(view);
  assert.ok(result.ok);
  assert.equal(whole.length, 48_000, 'the caller\'s buffer is intact');
});

test('warmup runs one inference; loadModel picks the backend', async () => {
  await model.warmup();
  const loaded = await loadModel(whisperConfig(files.dir), service);
  try {
    assert.equal(loaded.name, 'whisper');
  } finally {
    await loaded.close();
  }
});

test('a missing model directory: the error names it, the files expected and models/README.md', async () => {
  const dir = join(tmpdir(), `no-such-whisper-${process.pid}`);
  await assert.rejects(WhisperModel.load(whisperConfig(dir), service), (e: Error) => {
    assert.ok(e.message.includes(dir), e.message);
    assert.match(e.message, /-encoder\.int8\.onnx/);
    assert.match(e.message, /-tokens\.txt/);
    assert.match(e.message, /models\/README\.md/);
    return true;
  });
});

test('a directory without a complete model fails the same way', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'partial-whisper-'));
  cleanup.push(dir);
  await writeFile(join(dir, 'tiny.en-encoder.int8.onnx'), '');
  await assert.rejects(WhisperModel.load(whisperConfig(dir), service), (e: Error) => e.message.includes(dir) && /no complete model/.test(e.message) && /models\/README\.md/.test(e.message));
});

test('int8 files are preferred over float32 ones', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'int8-whisper-'));
  cleanup.push(dir);
  await writeFakeWhisper({ target: TARGET, dir, name: 'm', anyAudio: true });
  // An "int8" pair with a different target: the loaded model's text tells which pair was picked.
  const int8 = await writeFakeWhisper({ target: [1, 2], name: 'int8tmp', anyAudio: true });
  cleanup.push(int8.dir);
  const { copyFile } = await import('node:fs/promises');
  await copyFile(int8.encoder, join(dir, 'm-encoder.int8.onnx'));
  await copyFile(int8.decoder, join(dir, 'm-decoder.int8.onnx'));
  const m = await WhisperModel.load(whisperConfig(dir), service);
  try {
    assert.match(m.files.encoder, /m-encoder\.int8\.onnx$/);
    assert.match(m.files.decoder, /m-decoder\.int8\.onnx$/);
    assert.deepEqual(await m.infer(tone(1)).then((r) => r.ok && r.output), { text: 'w1 w2' });
  } finally {
    await m.close();
  }
});

test('a model that breaks after start-up (decoder file corrupted): a reported failure, not a crash', async () => {
  const broken = await writeFakeWhisper({ target: TARGET, anyAudio: true });
  cleanup.push(broken.dir);
  const m = await WhisperModel.load(whisperConfig(broken.dir), service);
  try {
    // The workers load their sessions on their first job: a decoder that cannot be loaded then fails it.
    await writeFile(broken.decoder, 'not an onnx model');
    const result = await m.infer(tone(1));
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.error, 'inference failed');
  } finally {
    await m.close();
  }
});

// How long the event loop stalls meanwhile needs idle cores: the benchmark reports it (npm run bench
// -- --only offload). Here: CPU time of this thread, which other load on the machine does not inflate.
test("inference runs on a worker: the event loop's thread does almost none of a 65 s segment's work", async () => {
  const m = await WhisperModel.load(whisperConfig(files.dir), service);
  try {
    await m.warmup();
    const samples = tone(65);
    // The log-mel of its three 30 s windows alone, run on this thread: what inference here would cost it at least.
    const here = await threadCpu(async () => {
      for (let w = 0; w < 3; w++) logMel(samples.subarray(w * 30 * 16_000, (w + 1) * 30 * 16_000));
    });
    const before = await jobs('inference');
    const { value: result, cpuSeconds } = await threadCpu(() => m.infer(samples));
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(result.output.text, [KNOWN_TEXT, KNOWN_TEXT, KNOWN_TEXT].join(' '));
    assert.deepEqual(jobsSince(before, await jobs('inference')), { all: 1, onWorker: 1 }, 'one inference job, on the pool');
    assert.ok(
      cpuSeconds < here.cpuSeconds / 4,
      `this thread used ${(cpuSeconds * 1000).toFixed(1)} ms of CPU during the inference; the log-mel alone costs it ${(here.cpuSeconds * 1000).toFixed(1)} ms`,
    );
  } finally {
    await m.close();
  }
});
