// Word error rate, for checking a real model's transcript against the text that was spoken.

/** Lower-cased words: hyphens and dashes split words, other punctuation is dropped ("Don't," → "dont"). */
export function normalizeWords(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[-\u2010-\u2015]/g, ' ')
    .replace(/[^\p{L}\p{N}\s]/gu, '')
    .split(/\s+/)
    .filter((w) => w !== '');
}

/** Word-level Levenshtein distance: the fewest substitutions, deletions and insertions turning `ref` into `hyp`. */
export function wordEditDistance(ref: string[], hyp: string[]): number {
  let previous = Array.from({ length: hyp.length + 1 }, (_, j) => j);
  for (let i = 1; i <= ref.length; i++) {
    const current = [i];
    for (let j = 1; j <= hyp.length; j++) {
      const substitution = previous[j - 1] + (ref[i - 1] === hyp[j - 1] ? 0 : 1);
      current.push(Math.min(substitution, previous[j] + 1, current[j - 1] + 1));
    }
    previous = current;
  }
  return previous[hyp.length];
}

/**
 * (substitutions + deletions + insertions) / words in the reference, after normalizeWords on both.
 * Can exceed 1 (many insertions). Throws when the reference has no words.
 */
export function wordErrorRate(reference: string, hypothesis: string): number {
  const ref = normalizeWords(reference);
  if (ref.length === 0) throw new Error('word error rate: the reference has no words');
  return wordEditDistance(ref, normalizeWords(hypothesis)) / ref.length;
}
