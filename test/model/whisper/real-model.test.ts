// End to end with a real Whisper model, when one has been downloaded (`npm run models:fetch -- tiny.en`):
// the real service with the whisper backend transcribes an espeak-ng sentence
// (test/fixtures/quick-brown-fox.wav) streamed on the segmented route, to within a word error rate
// of 0.3. With no model under models/whisper-*/ the test is skipped, saying how to get one.
// WHISPER_TEST_MODEL_DIR points it at another model directory.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { readWav } from '../../../src/client/wav.ts';
import { streamAudio } from '../../../src/client/stream-client.ts';
import { parseConfig } from '../../../src/config.ts';
import { findWhisperFiles } from '../../../src/model/whisper/model.ts';
import { startService } from '../../../src/service.ts';
import { finals } from '../../helpers/events.ts';
import { wordErrorRate } from '../../helpers/wer.ts';

const SPOKEN = 'the quick brown fox jumps over the lazy dog'; // QUICK_FOX_TEXT in test/fixtures/make-fixtures.sh
const MAX_WER = 0.3;
const MODELS = new URL('../../../models/', import.meta.url).pathname;

/** The model directory to use: $WHISPER_TEST_MODEL_DIR, else models/whisper-tiny.en, else the first complete models/whisper-*. */
async function findModel(): Promise<string | undefined> {
  const fromEnv = process.env.WHISPER_TEST_MODEL_DIR;
  if (fromEnv) return fromEnv;
  let names: string[];
  try {
    names = await readdir(MODELS);
  } catch {
    return undefined;
  }
  const candidates = names.filter((n) => n.startsWith('whisper-')).sort((a, b) => Number(b === 'whisper-tiny.en') - Number(a === 'whisper-tiny.en') || a.localeCompare(b));
  for (const name of candidates) {
    const dir = join(MODELS, name);
    if (await findWhisperFiles(dir).then(() => true, () => false)) return dir;
  }
  return undefined;
}

const modelDir = await findModel();
const skip = modelDir === undefined ? 'no Whisper model under models/whisper-*/: run `npm run models:fetch -- tiny.en` to enable this test' : false;

void test(`a real Whisper model transcribes the quick-brown-fox fixture on the segmented route (WER < ${MAX_WER})`, { skip, timeout: 300_000 }, async (t) => {
  const service = await startService(parseConfig({ host: '127.0.0.1', port: 0, model: { backend: 'whisper', path: modelDir!, workers: 1 } }));
  try {
    await service.warm;
    const wav = readWav(new URL('../../fixtures/quick-brown-fox.wav', import.meta.url).pathname);
    const { events, closeCode } = await streamAudio({
      addr: `${service.url.replace('http', 'ws')}/api/v1/segmented`,
      format: wav.format,
      pcm: wav.pcm,
      timeoutMs: 240_000,
    });
    assert.equal(closeCode, 1000);
    const errors = events.filter((e) => e.type === 'error');
    assert.equal(errors.length, 0, JSON.stringify(errors));
    const segments = finals(events);
    assert.ok(segments.length >= 1, `no final segment in ${JSON.stringify(events)}`);
    for (const s of segments) assert.equal(typeof s.text, 'string', JSON.stringify(s));
    const text = segments.map((s) => s.text as string).join(' ');
    const wer = wordErrorRate(SPOKEN, text);
    t.diagnostic(`model ${modelDir}: "${text}" (WER ${wer.toFixed(3)}, ${segments.length} segment(s))`);
    assert.ok(wer < MAX_WER, `WER ${wer.toFixed(3)} >= ${MAX_WER}: heard "${text}", said "${SPOKEN}"`);
  } finally {
    await service.shutdown(0);
  }
});
