import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadTokens } from '../../../src/model/whisper/tokens.ts';

const b64 = (bytes: number[] | string): string =>
  (typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes)).toString('base64');

// A small vocabulary laid out like a tiktoken file: ids 0…n−1, raw bytes base64-encoded.
const VOCAB: (number[] | string)[] = [
  'Hello', // 0
  ' world', // 1
  ' caf', // 2
  [0xc3], // 3: first byte of "é"
  [0xa9], // 4: second byte of "é"
  [0xf0, 0x9f], // 5: first half of "😀" (F0 9F 98 80)
  [0x98], // 6
  [0x80], // 7
  '!', // 8
  [0xff], // 9: never valid UTF-8
  [0xef, 0xbb, 0xbf], // 10: a byte-order mark, kept as U+FEFF
];
const N = VOCAB.length;
const FILE = VOCAB.map((bytes, id) => `${b64(bytes)} ${id}`).join('\n') + '\n';

test('decodes ordinary tokens, joining characters split across tokens', () => {
  const tok = loadTokens(FILE);
  assert.equal(tok.decode([0, 1, 8]), 'Hello world!');
  assert.equal(tok.decode([2, 3, 4]), ' café');
  assert.equal(tok.decode([5, 6, 7, 8]), '😀!');
  assert.equal(tok.decode([]), '');
  assert.equal(tok.decode([10, 0]), '\uFEFFHello');
  assert.deepEqual([...tok.tokenBytes(3)], [0xc3]);
});

test('invalid UTF-8 becomes U+FFFD', () => {
  const tok = loadTokens(FILE);
  assert.equal(tok.decode([0, 9, 8]), 'Hello\uFFFD!');
  assert.equal(tok.decode([2, 3]), ' caf\uFFFD'); // "é" cut short
  assert.equal(tok.decode([5, 6, 0]), '\uFFFDHello'); // a truncated 4-byte sequence is one U+FFFD
});

test("special tokens follow whisper's layout after the file's last token and are skipped", () => {
  const tok = loadTokens(FILE);
  assert.equal(tok.firstSpecial, N);
  assert.equal(tok.tokenId('<|endoftext|>'), N);
  assert.equal(tok.tokenId('<|startoftranscript|>'), N + 1);
  assert.equal(tok.tokenId('<|en|>'), N + 2);
  assert.equal(tok.tokenId('<|zh|>'), N + 3);
  assert.equal(tok.tokenId('<|translate|>'), N + 2 + 99);
  assert.equal(tok.tokenId('<|transcribe|>'), N + 3 + 99);
  assert.equal(tok.tokenId('<|nospeech|>'), N + 6 + 99);
  assert.equal(tok.tokenId('<|notimestamps|>'), N + 7 + 99);
  assert.equal(tok.tokenId('<|0.00|>'), N + 8 + 99);
  assert.equal(tok.tokenId('<|30.00|>'), N + 8 + 99 + 1500);
  assert.equal(tok.vocabSize, N + 8 + 99 + 1501);
  const sot = [N + 1, tok.tokenId('<|en|>'), tok.tokenId('<|transcribe|>'), tok.tokenId('<|notimestamps|>')];
  assert.equal(tok.decode([...sot, 2, 3, tok.tokenId('<|0.00|>'), 4, N]), ' café');
  assert.ok(tok.isSpecial(N) && !tok.isSpecial(N - 1));
  // large-v3 has one more language (yue), which shifts everything after the language tokens
  const v3 = loadTokens(FILE, { numLanguages: 100 });
  assert.equal(v3.tokenId('<|yue|>'), N + 2 + 99);
  assert.equal(v3.tokenId('<|transcribe|>'), N + 3 + 100);
  assert.throws(() => tok.tokenId('<|yue|>'), /unknown token "<\|yue\|>"/);
});

test('the real multilingual and English-only layouts give whisper’s well-known ids', () => {
  const file = (n: number) => Array.from({ length: n }, (_, id) => `${b64(`t${id}`)} ${id}`).join('\n');
  const multi = loadTokens(file(50_257));
  assert.deepEqual(
    ['<|endoftext|>', '<|startoftranscript|>', '<|en|>', '<|transcribe|>', '<|notimestamps|>'].map((s) => multi.tokenId(s)),
    [50257, 50258, 50259, 50359, 50363],
  );
  assert.equal(multi.vocabSize, 51865);
  const english = loadTokens(file(50_256));
  assert.deepEqual(
    ['<|endoftext|>', '<|startoftranscript|>', '<|startofprev|>', '<|notimestamps|>'].map((s) => english.tokenId(s)),
    [50256, 50257, 50360, 50362],
  );
  assert.equal(english.vocabSize, 51864);
});

test('special tokens listed in the file (base64 of their names) take precedence', () => {
  const withSpecials = FILE + `${b64('<|endoftext|>')} ${N}\n${b64('<|startoftranscript|>')} ${N + 1}\n`;
  const tok = loadTokens(withSpecials);
  assert.equal(tok.firstSpecial, N);
  assert.equal(tok.tokenId('<|endoftext|>'), N);
  assert.equal(tok.tokenId('<|startoftranscript|>'), N + 1);
  assert.equal(tok.decode([N + 1, 0, N]), 'Hello');
});

test('ordinary tokens can be looked up by their text', () => {
  const tok = loadTokens(FILE);
  assert.equal(tok.tokenId(' world'), 1);
  assert.throws(() => tok.tokenId(' nope'), /unknown token " nope"/);
});

test('unknown ids are an error with a clear message', () => {
  const tok = loadTokens(FILE);
  assert.throws(() => tok.decode([0, tok.vocabSize]), (e: Error) => {
    assert.ok(e instanceof RangeError);
    assert.match(e.message, new RegExp(`unknown token id ${tok.vocabSize}: ordinary tokens are 0…${N - 1}`));
    return true;
  });
  assert.throws(() => tok.decode([-1]), /unknown token id -1/);
  assert.throws(() => tok.decode([1.5]), /unknown token id 1.5/);
  const gap = loadTokens(`${b64('a')} 0\n${b64('c')} 2\n`); // id 1 missing from the file
  assert.equal(gap.decode([0, 2]), 'ac');
  assert.throws(() => gap.decode([1]), /unknown token id 1/);
});

test('malformed files are rejected with the line number', () => {
  assert.throws(() => loadTokens(''), /no tokens/);
  assert.throws(() => loadTokens(`${b64('a')} 0\n${b64('b')}\n`), /line 2: expected "<base64> <id>"/);
  assert.throws(() => loadTokens(`${b64('a')} 0\n*** 1\n`), /line 2: "\*\*\*" is not base64/);
  assert.throws(() => loadTokens(`${b64('a')} x\n`), /line 1: "x" is not a token id/);
  assert.throws(() => loadTokens(`${b64('a')} 0\n${b64('b')} 0\n`), /line 2: token id 0 appears twice/);
  // CRLF line endings and blank lines are fine
  assert.equal(loadTokens(`${b64('a')} 0\r\n\r\n${b64('b')} 1\r\n`).decode([0, 1]), 'ab');
});
