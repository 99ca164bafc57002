// The Whisper tokens file of sherpa-onnx's export (`<model>-tokens.txt`): one token a line,
// `<base64 of the token's raw bytes> <id>`. sherpa-onnx's scripts/whisper/export-onnx.py copies
// openai/whisper's assets/{gpt2,multilingual}.tiktoken as it is, so the file holds the byte-level
// BPE ("mergeable") tokens only, ids 0…n−1 (n = 50256 English-only, 50257 multilingual), and no
// special tokens: sherpa-onnx reads their ids from the encoder's metadata instead.
//
// Special tokens therefore follow whisper's tokenizer.py (get_encoding): starting at n,
//   <|endoftext|>, <|startoftranscript|>, one <|xx|> per language (99; 100 for large-v3),
//   <|translate|>, <|transcribe|>, <|startoflm|>, <|startofprev|>, <|nospeech|>,
//   <|notimestamps|>, then 1501 timestamps <|0.00|> … <|30.00|>.
// If the file does list special tokens (base64 of their names, e.g. "PHxlbmRvZnRleHR8Pg==" for
// <|endoftext|>), those ids win and the first special token is the file's <|endoftext|>.
//
// decode() joins the bytes of all ordinary tokens and decodes UTF-8 once at the end, so a
// character split across tokens comes out whole; invalid sequences become U+FFFD. Special tokens
// (every id from <|endoftext|> up) are skipped.

/** Whisper's language codes, in tokenizer.py's LANGUAGES order (the order of the language tokens). */
export const WHISPER_LANGUAGES: readonly string[] = [
  'en', 'zh', 'de', 'es', 'ru', 'ko', 'fr', 'ja', 'pt', 'tr', 'pl', 'ca', 'nl', 'ar', 'sv', 'it', 'id',
  'hi', 'fi', 'vi', 'he', 'uk', 'el', 'ms', 'cs', 'ro', 'da', 'hu', 'ta', 'no', 'th', 'ur', 'hr', 'bg',
  'lt', 'la', 'mi', 'ml', 'cy', 'sk', 'te', 'fa', 'lv', 'bn', 'sr', 'az', 'sl', 'kn', 'et', 'mk', 'br',
  'eu', 'is', 'hy', 'ne', 'mn', 'bs', 'kk', 'sq', 'sw', 'gl', 'mr', 'pa', 'si', 'km', 'sn', 'yo', 'so',
  'af', 'oc', 'ka', 'be', 'tg', 'sd', 'gu', 'am', 'yi', 'lo', 'uz', 'fo', 'ht', 'ps', 'tk', 'nn', 'mt',
  'sa', 'lb', 'my', 'bo', 'tl', 'mg', 'as', 'tt', 'haw', 'ln', 'ha', 'ba', 'jw', 'su', 'yue',
];

export interface LoadTokensOptions {
  /** Language tokens in the model: 99, or 100 for large-v3. Default 99. */
  numLanguages?: number;
}

export interface Tokenizer {
  /** The UTF-8 text of the ordinary tokens among ids; special tokens are skipped. Throws on unknown ids. */
  decode(ids: readonly number[]): string;
  /** The id of a special token (`<|endoftext|>`, `<|en|>`, `<|0.00|>`, …) or of an ordinary token's text. */
  tokenId(name: string): number;
  /** The raw bytes of an ordinary token. */
  tokenBytes(id: number): Uint8Array;
  /** The id of `<|endoftext|>`, the first special token: every id from here up is special. */
  readonly firstSpecial: number;
  /** One past the last token id (the last timestamp token). */
  readonly vocabSize: number;
  isSpecial(id: number): boolean;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const SPECIAL_NAME = /^<\|[^\s]*\|>$/;

function specialNames(numLanguages: number): string[] {
  return [
    '<|endoftext|>',
    '<|startoftranscript|>',
    ...WHISPER_LANGUAGES.slice(0, numLanguages).map((code) => `<|${code}|>`),
    '<|translate|>',
    '<|transcribe|>',
    '<|startoflm|>',
    '<|startofprev|>',
    '<|nospeech|>',
    '<|notimestamps|>',
    ...Array.from({ length: 1501 }, (_, i) => `<|${(i * 0.02).toFixed(2)}|>`),
  ];
}

/** Parses a sherpa-onnx Whisper tokens file. */
export function loadTokens(text: string, options: LoadTokensOptions = {}): Tokenizer {
  const numLanguages = options.numLanguages ?? 99;
  if (!Number.isInteger(numLanguages) || numLanguages < 0 || numLanguages > WHISPER_LANGUAGES.length) {
    throw new RangeError(`numLanguages must be an integer in 0…${WHISPER_LANGUAGES.length}, got ${numLanguages}`);
  }
  const bytesById = new Map<number, Uint8Array>();
  const idByKey = new Map<string, number>(); // key: the bytes as a latin1 string
  const namedSpecials = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    const fields = line.split(/\s+/);
    const where = `tokens file line ${i + 1}`;
    if (fields.length !== 2) throw new Error(`${where}: expected "<base64> <id>", got ${JSON.stringify(line)}`);
    const [b64, idText] = fields;
    if (!BASE64.test(b64)) throw new Error(`${where}: ${JSON.stringify(b64)} is not base64`);
    if (!/^\d+$/.test(idText)) throw new Error(`${where}: ${JSON.stringify(idText)} is not a token id`);
    const id = Number(idText);
    if (bytesById.has(id)) throw new Error(`${where}: token id ${id} appears twice`);
    const bytes = new Uint8Array(Buffer.from(b64, 'base64'));
    bytesById.set(id, bytes);
    const key = Buffer.from(bytes).toString('latin1');
    if (!idByKey.has(key)) idByKey.set(key, id);
    if (SPECIAL_NAME.test(key)) namedSpecials.set(key, id);
  }
  if (bytesById.size === 0) throw new Error('tokens file has no tokens');

  let firstSpecial = namedSpecials.get('<|endoftext|>');
  if (firstSpecial === undefined) {
    firstSpecial = 0;
    for (const id of bytesById.keys()) firstSpecial = Math.max(firstSpecial, id + 1);
  }
  const specials = new Map<string, number>();
  const names = specialNames(numLanguages);
  names.forEach((name, i) => specials.set(name, firstSpecial + i));
  for (const [name, id] of namedSpecials) if (id >= firstSpecial) specials.set(name, id);
  let vocabSize = firstSpecial + names.length;
  for (const id of specials.values()) vocabSize = Math.max(vocabSize, id + 1);
  const eot = firstSpecial;

  const isSpecial = (id: number): boolean => id >= eot && id < vocabSize;
  const tokenBytes = (id: number): Uint8Array => {
    const bytes = Number.isInteger(id) && id < eot ? bytesById.get(id) : undefined;
    if (bytes === undefined) {
      throw new RangeError(
        `unknown token id ${id}: ordinary tokens are 0…${eot - 1} (as listed in the tokens file), special ones ${eot}…${vocabSize - 1}`,
      );
    }
    return bytes;
  };
  const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  return {
    firstSpecial: eot,
    vocabSize,
    isSpecial,
    tokenBytes,
    decode(ids) {
      const parts: Uint8Array[] = [];
      let length = 0;
      for (const id of ids) {
        if (isSpecial(id)) continue;
        const bytes = tokenBytes(id);
        parts.push(bytes);
        length += bytes.length;
      }
      const all = new Uint8Array(length);
      let offset = 0;
      for (const part of parts) {
        all.set(part, offset);
        offset += part.length;
      }
      return decoder.decode(all);
    },
    tokenId(name) {
      const special = specials.get(name);
      if (special !== undefined) return special;
      const id = idByKey.get(Buffer.from(name, 'utf8').toString('latin1'));
      if (id !== undefined && id < eot) return id;
      throw new Error(`unknown token ${JSON.stringify(name)}`);
    },
  };
}
