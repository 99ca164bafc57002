// Whisper ONNX I/O and greedy decoding against fake models in the sherpa-onnx export's contract
// (test/helpers/whisper-models.ts): the fake decoder's next token is a function of offset +
// n_tokens, and turns into BAD when the fed caches or cross K/V are not what they should be.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { greedyDecode, type WhisperDecoderIO } from '../../../src/model/whisper/decoder.ts';
import { readOnnxMetadata, WhisperModelError, WhisperOnnx, type CrossKV } from '../../../src/model/whisper/onnx-io.ts';
import { FAKE, FAKE_PROMPT, writeFakeWhisper, type FakeWhisperFiles } from '../../helpers/whisper-models.ts';

const TARGET = [7, 3, 12, 0, 25, 25, 9, 41];
let files: FakeWhisperFiles;
let io: WhisperOnnx;
let cross: CrossKV;

before(async () => {
  files = await writeFakeWhisper({ target: TARGET });
  io = await WhisperOnnx.load(files.encoder, files.decoder, { intraOpNumThreads: 1 });
  cross = await io.encode(new Float32Array(FAKE.nMels * 3000), FAKE.nMels, 3000);
});
after(async () => {
  await io?.close();
  if (files) await rm(files.dir, { recursive: true, force: true });
});

/** Records every decodeStep call (tokens and offset) while passing it through. */
function spy(inner: WhisperOnnx): { io: WhisperDecoderIO; calls: { tokens: number[]; offset: number }[] } {
  const calls: { tokens: number[]; offset: number }[] = [];
  return {
    calls,
    io: {
      dims: inner.dims,
      emptyCache: () => inner.emptyCache(),
      decodeStep: (tokens, cache, c, offset) => {
        calls.push({ tokens: [...tokens], offset });
        return inner.decodeStep(tokens, cache, c, offset);
      },
    },
  };
}

test('reads dims and special ids from the encoder metadata', async () => {
  assert.deepEqual(io.dims, { nMels: 80, nAudioCtx: 1500, nTextLayer: 2, nTextCtx: 448, nTextState: 4, nVocab: FAKE.nVocab });
  assert.equal(io.special.sot, FAKE.sot);
  assert.equal(io.special.eot, FAKE.eot);
  assert.equal(io.special.noTimestamps, FAKE.noTimestamps);
  assert.deepEqual(io.special.sotSequence, [FAKE.sot, FAKE.en, FAKE.transcribe]);
  assert.equal(io.special.languages.get('en'), FAKE.en);
  assert.equal(io.special.isMultilingual, true);
  assert.equal((await readOnnxMetadata(files.decoder)).model_type, 'whisper-fake');
});

test('the encoder gives cross K/V of shape [L, 1, 1500, D]', () => {
  assert.deepEqual(cross.k.dims, [2, 1, 1500, 4]);
  assert.deepEqual(cross.v.dims, [2, 1, 1500, 4]);
  assert.equal((cross.k.data as Float32Array)[0], 0.5);
  assert.equal((cross.v.data as Float32Array)[123], 0.25);
});

test('greedy decoding yields exactly the known sequence and stops at eot', async () => {
  const s = spy(io);
  const prompt = [...io.special.sotSequence, io.special.noTimestamps];
  assert.deepEqual(prompt, FAKE_PROMPT);
  const ids = await greedyDecode(s.io, cross.k, cross.v, { sotSequence: prompt, eot: io.special.eot, maxTokens: 100 });
  assert.deepEqual(ids, TARGET);
  // One run for the prompt, one per generated token (the last one answers eot).
  assert.deepEqual(
    s.calls.map((c) => c.offset),
    [0, ...TARGET.map((_, i) => prompt.length + i)],
  );
  assert.deepEqual(s.calls[0].tokens, prompt);
  assert.deepEqual(
    s.calls.slice(1).map((c) => c.tokens),
    TARGET.map((t) => [t]),
  );
});

test('stops at maxTokens without another decoder run', async () => {
  const s = spy(io);
  const ids = await greedyDecode(s.io, cross.k, cross.v, { sotSequence: FAKE_PROMPT, eot: FAKE.eot, maxTokens: 3 });
  assert.deepEqual(ids, TARGET.slice(0, 3));
  assert.equal(s.calls.length, 3);
  assert.deepEqual(await greedyDecode(io, cross.k, cross.v, { sotSequence: FAKE_PROMPT, eot: FAKE.eot, maxTokens: 0 }), []);
});

test('the caches each run returns are what the next run is fed', async () => {
  // The fake decoder adds 1 (k) and 2 (v) to the caches; at its j-th run it expects j and 2j.
  const s = spy(io);
  let last: Float32Array | undefined;
  const tracking: WhisperDecoderIO = {
    ...s.io,
    decodeStep: async (tokens, cache, c, offset) => {
      const r = await s.io.decodeStep(tokens, cache, c, offset);
      last = r.cache.k.data as Float32Array;
      return r;
    },
  };
  await greedyDecode(tracking, cross.k, cross.v, { sotSequence: FAKE_PROMPT, eot: FAKE.eot, maxTokens: 100 });
  assert.ok(last && last.every((x) => x === s.calls.length), `final k cache should hold ${s.calls.length} everywhere`);

  // A decoder loop that drops the returned caches gets BAD from the second run on.
  const forgetful: WhisperDecoderIO = { ...s.io, decodeStep: (tokens, _cache, c, offset) => io.decodeStep(tokens, io.emptyCache(), c, offset) };
  const ids = await greedyDecode(forgetful, cross.k, cross.v, { sotSequence: FAKE_PROMPT, eot: FAKE.eot, maxTokens: 3 });
  assert.deepEqual(ids, [TARGET[0], FAKE.bad, FAKE.bad]);
});

test('a wrong offset or a wrong cross K/V yields a wrong token (the fake decoder observes them)', async () => {
  const cache = io.emptyCache();
  const good = await io.decodeStep(FAKE_PROMPT, cache, cross, 0);
  assert.equal(argmax(good.lastLogits), TARGET[0]);
  // Every position but the last answers BAD: the decoder must read the last one.
  assert.equal(argmax(good.logits.subarray(0, FAKE.nVocab)), FAKE.bad);
  const shifted = await io.decodeStep([TARGET[0]], good.cache, cross, FAKE_PROMPT.length + 1);
  assert.notEqual(argmax(shifted.lastLogits), TARGET[1]);
  const swapped = await io.decodeStep(FAKE_PROMPT, io.emptyCache(), { k: cross.v, v: cross.k }, 0);
  assert.equal(argmax(swapped.lastLogits), FAKE.bad);
});

test('guards the decoder context: offset + tokens ≤ n_text_ctx', async () => {
  await assert.rejects(io.decodeStep([1], io.emptyCache(), cross, FAKE.nTextCtx), /exceeds the decoder context \(n_text_ctx 448\)/);
  // A long target stops when the context is full: 448 - 4 prompt tokens can be generated.
  const long = await writeFakeWhisper({ target: Array.from({ length: 460 }, (_, i) => i % 40) });
  const longIo = await WhisperOnnx.load(long.encoder, long.decoder);
  try {
    const ids = await greedyDecode(longIo, cross.k, cross.v, { sotSequence: FAKE_PROMPT, eot: FAKE.eot, maxTokens: 1000 });
    assert.equal(ids.length, FAKE.nTextCtx - FAKE_PROMPT.length + 1);
  } finally {
    await longIo.close();
    await rm(long.dir, { recursive: true, force: true });
  }
});

test('a missing or renamed decoder input is a clear error naming the file and the input', async () => {
  const bad = await writeFakeWhisper({ target: TARGET, renameDecoderInputs: { offset: 'offsets' } });
  try {
    await assert.rejects(WhisperOnnx.load(bad.encoder, bad.decoder), (err: Error) => {
      assert.ok(err instanceof WhisperModelError, String(err));
      assert.ok(err.message.includes(bad.decoder), err.message);
      assert.match(err.message, /no input named 'offset'/);
      return true;
    });
  } finally {
    await rm(bad.dir, { recursive: true, force: true });
  }
});

test('dims missing from the metadata come from the tensor shapes; a missing special id is an error', async () => {
  const noDims = await writeFakeWhisper({ target: TARGET, omitMetadata: ['n_text_ctx', 'n_text_state', 'n_vocab', 'n_mels'] });
  const noEot = await writeFakeWhisper({ target: TARGET, omitMetadata: ['eot'] });
  try {
    const m = await WhisperOnnx.load(noDims.encoder, noDims.decoder);
    assert.deepEqual(m.dims, io.dims);
    await m.close();
    await assert.rejects(WhisperOnnx.load(noEot.encoder, noEot.decoder), (err: Error) => {
      assert.ok(err.message.includes(noEot.encoder) && err.message.includes("metadata 'eot' is missing"), err.message);
      return true;
    });
  } finally {
    await rm(noDims.dir, { recursive: true, force: true });
    await rm(noEot.dir, { recursive: true, force: true });
  }
});

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}
