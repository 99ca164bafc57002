// Downloads a Whisper model published by sherpa-onnx (the `asr-models` release of k2-fsa/sherpa-onnx,
// one `sherpa-onnx-whisper-<name>.tar.bz2` per model) and installs into `<models>/whisper-<name>/` only
// the files the backend loads (model.ts findWhisperFiles): `<name>-encoder.int8.onnx`,
// `<name>-decoder.int8.onnx` and `<name>-tokens.txt`.
//
// Nothing half-done is ever left in the target: the archive is streamed to a temp dir inside the
// models dir while its SHA-256 is computed, checked against the pinned hash before anything is
// unpacked, unpacked into that temp dir, and the finished directory is renamed into place. The temp
// dir is removed whatever happens.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import * as tar from 'tar';
import bz2 from 'unbzip2-stream';

export const DEFAULT_BASE_URL = 'https://github.com/k2-fsa/sherpa-onnx/releases/download/asr-models';
/** Environment variable overriding the base URL (a mirror, or a local server in tests); `--base-url` wins over it. */
export const BASE_URL_ENV = 'WHISPER_MODELS_BASE_URL';

export interface ArchiveInfo {
  /** SHA-256 (hex) of `sherpa-onnx-whisper-<name>.tar.bz2`, or null when no trustworthy hash is known. */
  sha256: string | null;
  /** Size of the archive in bytes (for the progress bar when the server sends no Content-Length). */
  bytes: number | null;
}

/**
 * The models this command installs, with the SHA-256 of each release archive. The hashes are not
 * published by sherpa-onnx in a checksums file; they are the values pinned, with the same byte sizes,
 * by several unrelated projects that verify these exact downloads (see models/README.md).
 */
export const WHISPER_ARCHIVES: Readonly<Record<string, ArchiveInfo>> = {
  'tiny.en': { sha256: '2bd6cf965c8bb3e068ef9fa2191387ee63a9dfa2a4e37582a8109641c20005dd', bytes: 118_071_777 },
  'base.en': { sha256: '475bc7052ce299c007f6d5d5407ba8601f819a2867f6eecee510ed17df581542', bytes: 208_576_005 },
  'small.en': { sha256: '0cdba2b8aaab69e04847f3427cc9709574112e67913a1a84b7fec3a8729faa9a', bytes: 635_693_775 },
};

/** The three files of `<name>` that the backend needs, as named inside the archive's top directory. */
export function neededFiles(name: string): string[] {
  return [`${name}-encoder.int8.onnx`, `${name}-decoder.int8.onnx`, `${name}-tokens.txt`];
}

export const archiveName = (name: string) => `sherpa-onnx-whisper-${name}.tar.bz2`;
export const archiveUrl = (baseUrl: string, name: string) => `${baseUrl.replace(/\/+$/, '')}/${archiveName(name)}`;

/** A failure the user can act on: the message says what went wrong and what to do. */
export class ModelFetchError extends Error {
  override name = 'ModelFetchError';
}

export type Phase = 'download' | 'unpack';

export interface FetchModelOptions {
  name: string;
  /** Directory holding the models (default `models`); the model goes to `<modelsDir>/whisper-<name>`. */
  modelsDir?: string;
  /** Default: $WHISPER_MODELS_BASE_URL, else the sherpa-onnx release. */
  baseUrl?: string;
  /** Expected SHA-256 (hex); overrides the pinned one. */
  sha256?: string;
  /** Install an archive whose hash cannot be checked (no pinned hash and no `sha256`). */
  allowUnverified?: boolean;
  /** Replace an existing target directory. */
  force?: boolean;
  signal?: AbortSignal;
  /** Progress of a phase in bytes (download: bytes received; unpack: compressed bytes read). */
  onProgress?: (phase: Phase, done: number, total: number | null) => void;
  /** Called when a phase starts. */
  onPhase?: (phase: Phase, total: number | null) => void;
  /** The manifest to use (tests); default WHISPER_ARCHIVES. */
  archives?: Readonly<Record<string, ArchiveInfo>>;
}

export type FetchModelResult =
  | { status: 'installed'; dir: string; files: string[]; sha256: string; verified: boolean; url: string }
  | { status: 'skipped'; dir: string; reason: string };

const HEX64 = /^[0-9a-f]{64}$/;

/** Downloads, verifies and installs one model; see the file comment. Throws ModelFetchError on any failure it can explain. */
export async function fetchWhisperModel(options: FetchModelOptions): Promise<FetchModelResult> {
  const { name, force = false } = options;
  const archives = options.archives ?? WHISPER_ARCHIVES;
  const info = Object.hasOwn(archives, name) ? archives[name] : undefined;
  if (info === undefined) {
    throw new ModelFetchError(`unknown model '${name}': choose one of ${Object.keys(archives).join(', ')}`);
  }
  const supplied = options.sha256?.trim().toLowerCase();
  if (supplied !== undefined && !HEX64.test(supplied)) {
    throw new ModelFetchError(`--sha256 must be 64 hexadecimal digits, got '${options.sha256}'`);
  }
  const expected = supplied ?? info.sha256;
  if (expected === null && !options.allowUnverified) {
    throw new ModelFetchError(
      `no pinned SHA-256 is known for ${archiveName(name)}: pass --sha256 <hex> with a hash you trust, ` +
        `or --allow-unverified to install it unchecked (the computed hash is printed so you can pin it)`,
    );
  }

  const modelsDir = resolve(options.modelsDir ?? 'models');
  const target = join(modelsDir, `whisper-${name}`);
  const exists = await stat(target).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return false;
      throw err;
    },
  );
  if (exists && !force) {
    return { status: 'skipped', dir: target, reason: `${target} already exists (pass --force to replace it)` };
  }

  const baseUrl = options.baseUrl ?? process.env[BASE_URL_ENV] ?? DEFAULT_BASE_URL;
  const url = archiveUrl(baseUrl, name);
  await mkdir(modelsDir, { recursive: true });
  const work = await mkdtemp(join(modelsDir, `.fetch-whisper-${name}-`));
  try {
    const archive = join(work, archiveName(name));
    const actual = await download(url, archive, info.bytes, options);
    if (expected !== null && actual !== expected) {
      throw new ModelFetchError(
        `SHA-256 mismatch for ${url}: expected ${expected}, got ${actual}; nothing was installed` +
          (supplied === undefined ? ' (if the release was replaced upstream and you trust the new file, pass --sha256 with its hash)' : ''),
      );
    }

    const staging = join(work, `whisper-${name}`);
    await mkdir(staging);
    const files = await unpack(archive, staging, name, options);

    if (exists) {
      // --force: move the old directory into the temp dir (removed below), then put the new one in
      // place; should that fail, the old one goes back.
      const old = join(work, 'replaced');
      await rename(target, old);
      try {
        await rename(staging, target);
      } catch (err) {
        await rename(old, target);
        throw err;
      }
    } else {
      await rename(staging, target);
    }
    return { status: 'installed', dir: target, files: files.map((f) => join(target, f)), sha256: actual, verified: expected !== null, url };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Streams `url` to `file`, returning the SHA-256 of the bytes received. */
async function download(url: string, file: string, knownBytes: number | null, options: FetchModelOptions): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url, { signal: options.signal, redirect: 'follow' });
  } catch (err) {
    if (options.signal?.aborted) throw err;
    const cause = (err as Error & { cause?: unknown }).cause;
    throw new ModelFetchError(`GET ${url} failed: ${cause instanceof Error ? cause.message : (err as Error).message}`);
  }
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    throw new ModelFetchError(`GET ${url} failed: HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
  }
  const length = Number(response.headers.get('content-length'));
  const total = Number.isSafeInteger(length) && length > 0 ? length : knownBytes;
  options.onPhase?.('download', total);
  const hash = createHash('sha256');
  let received = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      received += chunk.length;
      options.onProgress?.('download', received, total);
      callback(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), meter, createWriteStream(file), { signal: options.signal });
  } catch (err) {
    if (options.signal?.aborted) throw err;
    throw new ModelFetchError(`GET ${url}: the download broke off after ${received} bytes: ${(err as Error).message}`);
  }
  if (Number.isSafeInteger(length) && length > 0 && received !== length) {
    throw new ModelFetchError(`GET ${url}: received ${received} bytes, the server announced ${length}`);
  }
  return hash.digest('hex');
}

/**
 * Extracts the needed files of `name` (regular files at `sherpa-onnx-whisper-<name>/<file>`) from
 * the .tar.bz2 into `dir`, without the top directory; everything else in the archive is skipped.
 */
async function unpack(archive: string, dir: string, name: string, options: FetchModelOptions): Promise<string[]> {
  const wanted = new Set(neededFiles(name).map((f) => `sherpa-onnx-whisper-${name}/${f}`));
  const seen = new Set<string>();
  const total = (await stat(archive)).size;
  options.onPhase?.('unpack', total);
  let read = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      read += chunk.length;
      options.onProgress?.('unpack', read, total);
      callback(null, chunk);
    },
  });
  const extract = tar.x({
    cwd: dir,
    strip: 1,
    strict: true,
    filter: (path, entry) => {
      const normalized = path.replace(/^\.\//, '');
      const keep = wanted.has(normalized) && 'type' in entry && entry.type === 'File';
      if (keep) seen.add(normalized);
      return keep;
    },
  });
  try {
    await pipeline(createReadStream(archive), meter, bz2(), extract, { signal: options.signal });
  } catch (err) {
    if (options.signal?.aborted) throw err;
    throw new ModelFetchError(`cannot unpack ${archiveName(name)}: ${(err as Error).message}`);
  }
  const missing = [...wanted].filter((f) => !seen.has(f));
  if (missing.length > 0) {
    throw new ModelFetchError(`${archiveName(name)} does not hold ${missing.join(', ')}; nothing was installed`);
  }
  return neededFiles(name);
}
