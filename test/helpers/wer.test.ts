// The word error rate helper used by the real-model test (test/model/whisper/real-model.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizeWords, wordEditDistance, wordErrorRate } from './wer.ts';

const REF = 'the quick brown fox jumps over the lazy dog';

void test('normalization: lower case, punctuation dropped, hyphens split words', () => {
  assert.deepEqual(normalizeWords(' The quick, brown FOX — jumps!  "Don\'t" well-known 42. '), ['the', 'quick', 'brown', 'fox', 'jumps', 'dont', 'well', 'known', '42']);
  assert.deepEqual(normalizeWords('...'), []);
});

void test('identical text (up to case and punctuation) is 0', () => {
  assert.equal(wordErrorRate(REF, 'The quick brown fox jumps over the lazy dog.'), 0);
});

void test('substitutions, deletions and insertions each count one, over the reference length', () => {
  assert.equal(wordErrorRate(REF, 'the quick brown box jumps over the lazy dog'), 1 / 9); // substitution
  assert.equal(wordErrorRate(REF, 'the quick fox jumps over the lazy dog'), 1 / 9); // deletion
  assert.equal(wordErrorRate(REF, 'the very quick brown fox jumps over the lazy dog'), 1 / 9); // insertion
  assert.equal(wordErrorRate(REF, 'a quick brown fox jumped over lazy dogs'), 4 / 9);
  assert.equal(wordErrorRate(REF, ''), 1);
  assert.equal(wordErrorRate('a b', 'x y z w'), 2);
});

void test('the distance is the minimum edit count, not a position-by-position comparison', () => {
  // Shifted by one word: one deletion plus one insertion, not nine substitutions.
  assert.equal(wordEditDistance(REF.split(' '), ['a', ...REF.split(' ').slice(0, -1)]), 2);
  assert.equal(wordEditDistance(['a', 'b', 'c'], ['c', 'b', 'a']), 2);
  assert.equal(wordEditDistance([], ['x']), 1);
});

void test('an empty reference is an error, not a division by zero', () => {
  assert.throws(() => wordErrorRate(' , ', 'anything'), /reference has no words/);
});
