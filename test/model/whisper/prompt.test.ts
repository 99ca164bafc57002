// The decoder prompt for English-only and multilingual exports, with whisper's real token ids
// (tokenizer.py: multilingual sot 50258, <|en|> 50259, <|de|> 50261, transcribe 50359,
// notimestamps 50363; English-only sot 50257, notimestamps 50362).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { promptFor } from '../../../src/model/whisper/model.ts';
import type { WhisperSpecialTokens } from '../../../src/model/whisper/onnx-io.ts';

const multilingual: WhisperSpecialTokens = {
  sot: 50258,
  eot: 50257,
  sotSequence: [50258, 50259, 50359], // what export-onnx.py writes: sot, <|en|>, transcribe
  transcribe: 50359,
  translate: 50358,
  noTimestamps: 50363,
  isMultilingual: true,
  languages: new Map([
    ['en', 50259],
    ['zh', 50260],
    ['de', 50261],
  ]),
};

const englishOnly: WhisperSpecialTokens = {
  sot: 50257,
  eot: 50256,
  sotSequence: [50257],
  transcribe: 50358,
  translate: 50357,
  noTimestamps: 50362,
  isMultilingual: false,
  languages: new Map([['en', 50258]]),
};

void test('multilingual: the configured language replaces the one in sot_sequence, then no_timestamps', () => {
  assert.deepEqual(promptFor(multilingual, 'de', 'm.onnx'), [50258, 50261, 50359, 50363]);
  assert.deepEqual(promptFor(multilingual, 'en', 'm.onnx'), [50258, 50259, 50359, 50363]);
  assert.deepEqual(multilingual.sotSequence, [50258, 50259, 50359], 'the metadata is not changed');
});

void test('multilingual: a sot_sequence without a language token gets one after sot', () => {
  assert.deepEqual(promptFor({ ...multilingual, sotSequence: [50258, 50359] }, 'zh', 'm.onnx'), [50258, 50260, 50359, 50363]);
});

void test('multilingual: an unknown language fails naming the model and the languages it has', () => {
  assert.throws(() => promptFor(multilingual, 'xx', 'models/m/m-encoder.onnx'), /models\/m\/m-encoder\.onnx: language 'xx' is not one of the model's \(en, zh, de\)/);
});

void test('English-only: no language token in the prompt, and any language but en fails clearly', () => {
  assert.deepEqual(promptFor(englishOnly, 'en', 'm.onnx'), [50257, 50362]);
  assert.throws(() => promptFor(englishOnly, 'de', 'tiny.en-encoder.onnx'), /tiny\.en-encoder\.onnx: an English-only model cannot transcribe language 'de'/);
});
