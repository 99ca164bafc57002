// `npm run models:fetch`: src/model/whisper/fetch.ts against a local HTTP server serving a small
// archive laid out like sherpa-onnx's release (data/make-fetch-fixture.sh).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import {
  BASE_URL_ENV,
  fetchWhisperModel,
  ModelFetchError,
  neededFiles,
  WHISPER_ARCHIVES,
  type ArchiveInfo,
  type FetchModelOptions,
} from '../../../src/model/whisper/fetch.ts';

const ARCHIVE = await readFile(new URL('./data/sherpa-onnx-whisper-tiny.en.tar.bz2', import.meta.url));
const SHA = createHash('sha256').update(ARCHIVE).digest('hex');
// A bzip2 stream cut short: it downloads and hashes fine, and fails to unpack.
const TRUNCATED = ARCHIVE.subarray(0, Math.floor(ARCHIVE.length * 0.6));
const TRUNCATED_SHA = createHash('sha256').update(TRUNCATED).digest('hex');
const OTHER_SHA = 'ab'.repeat(32);

/** The three files the backend needs, as data/make-fetch-fixture.sh writes them. */
const EXPECTED: Record<string, Buffer> = {
  'tiny.en-encoder.int8.onnx': Buffer.from('int8 encoder \x00\x01\x02\xff\n', 'latin1'),
  'tiny.en-decoder.int8.onnx': Buffer.from('int8 decoder \x00\xfe\x80\n', 'latin1'),
  'tiny.en-tokens.txt': Buffer.from('IQ== 0\nIg== 1\n'),
};

const pinned = (sha256: string | null): Record<string, ArchiveInfo> => ({ 'tiny.en': { sha256, bytes: null } });

let server: Server;
let base: string;
const requests: string[] = [];
const cleanup: string[] = [];

before(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const send = (body: Buffer) => res.writeHead(200, { 'content-type': 'application/x-bzip2', 'content-length': body.length }).end(body);
    if (req.url === '/ok/sherpa-onnx-whisper-tiny.en.tar.bz2') send(ARCHIVE);
    else if (req.url === '/truncated/sherpa-onnx-whisper-tiny.en.tar.bz2') send(TRUNCATED);
    else res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise<void>((done) => server.close(() => done()));
  await Promise.all(cleanup.map((d) => rm(d, { recursive: true, force: true })));
});

async function modelsDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fetch-models-'));
  cleanup.push(dir);
  return dir;
}

const fetchModel = (dir: string, extra: Partial<FetchModelOptions> = {}) =>
  fetchWhisperModel({ name: 'tiny.en', modelsDir: dir, baseUrl: `${base}/ok`, archives: pinned(SHA), ...extra });

/** Fails unless `dir` holds exactly `names` (no temp dir, no partial model). */
async function assertHolds(dir: string, names: string[]) {
  assert.deepEqual((await readdir(dir)).sort(), [...names].sort());
}

async function assertInstalled(target: string) {
  await assertHolds(target, Object.keys(EXPECTED));
  for (const [name, bytes] of Object.entries(EXPECTED)) assert.deepEqual(await readFile(join(target, name)), bytes, name);
}

void test('the pinned manifest: tiny.en, base.en and small.en, each with a SHA-256 and a size', () => {
  assert.deepEqual(Object.keys(WHISPER_ARCHIVES), ['tiny.en', 'base.en', 'small.en']);
  for (const [name, info] of Object.entries(WHISPER_ARCHIVES)) {
    assert.match(info.sha256 ?? '', /^[0-9a-f]{64}$/, name);
    assert.ok((info.bytes ?? 0) > 50e6, name);
  }
  assert.deepEqual(neededFiles('base.en'), ['base.en-encoder.int8.onnx', 'base.en-decoder.int8.onnx', 'base.en-tokens.txt']);
});

void test('installs exactly the three needed files, byte for byte, into <models>/whisper-<name>, with progress', async () => {
  const dir = await modelsDir();
  const phases: string[] = [];
  const last = new Map<string, [number, number | null]>();
  const result = await fetchModel(dir, {
    onPhase: (phase) => phases.push(phase),
    onProgress: (phase, done, total) => last.set(phase, [done, total]),
  });
  const target = join(dir, 'whisper-tiny.en');
  assert.equal(result.status, 'installed');
  assert.ok(result.status === 'installed' && result.verified && result.sha256 === SHA);
  assert.equal(result.dir, target);
  await assertInstalled(target);
  await assertHolds(dir, ['whisper-tiny.en']);
  assert.deepEqual(phases, ['download', 'unpack']);
  assert.deepEqual(last.get('download'), [ARCHIVE.length, ARCHIVE.length]);
  assert.deepEqual(last.get('unpack'), [ARCHIVE.length, ARCHIVE.length]);
});

void test('the installed directory is what the Whisper backend looks for', async () => {
  const { findWhisperFiles } = await import('../../../src/model/whisper/model.ts');
  const dir = await modelsDir();
  await fetchModel(dir);
  const files = await findWhisperFiles(join(dir, 'whisper-tiny.en'));
  assert.ok(files.encoder.endsWith('tiny.en-encoder.int8.onnx') && files.decoder.endsWith('tiny.en-decoder.int8.onnx'), JSON.stringify(files));
});

void test('a wrong hash fails naming both hashes, and leaves nothing behind', async () => {
  const dir = await modelsDir();
  await assert.rejects(fetchModel(dir, { archives: pinned(OTHER_SHA) }), (e: Error) => {
    assert.ok(e instanceof ModelFetchError, String(e));
    assert.ok(e.message.includes(OTHER_SHA) && e.message.includes(SHA), e.message);
    assert.match(e.message, /mismatch/);
    return true;
  });
  await assertHolds(dir, []);
});

void test('--sha256 replaces the pinned hash, and must be 64 hex digits', async () => {
  const dir = await modelsDir();
  const result = await fetchModel(dir, { archives: pinned(OTHER_SHA), sha256: SHA.toUpperCase() });
  assert.equal(result.status, 'installed');
  await assertInstalled(join(dir, 'whisper-tiny.en'));
  await assert.rejects(fetchModel(await modelsDir(), { sha256: 'abc' }), /--sha256 must be 64 hexadecimal digits/);
});

void test('HTTP 404 fails with the status and the URL, and leaves nothing behind', async () => {
  const dir = await modelsDir();
  await assert.rejects(fetchModel(dir, { baseUrl: `${base}/missing/` }), (e: Error) => {
    assert.ok(e instanceof ModelFetchError, String(e));
    assert.match(e.message, /HTTP 404/);
    assert.ok(e.message.includes(`${base}/missing/sherpa-onnx-whisper-tiny.en.tar.bz2`), e.message);
    return true;
  });
  await assertHolds(dir, []);
});

void test('an archive that does not unpack fails and leaves nothing behind', async () => {
  const dir = await modelsDir();
  await assert.rejects(fetchModel(dir, { baseUrl: `${base}/truncated`, archives: pinned(TRUNCATED_SHA) }), (e: Error) => {
    assert.ok(e instanceof ModelFetchError, String(e));
    assert.match(e.message, /cannot unpack|does not hold/);
    return true;
  });
  await assertHolds(dir, []);
});

void test('an existing target is skipped without a download; --force replaces it', async () => {
  const dir = await modelsDir();
  const target = join(dir, 'whisper-tiny.en');
  await mkdir(target);
  await writeFile(join(target, 'mine.txt'), 'keep me');
  const before = requests.length;
  const skipped = await fetchModel(dir);
  assert.equal(skipped.status, 'skipped');
  assert.ok(skipped.status === 'skipped' && /already exists.*--force/.test(skipped.reason), JSON.stringify(skipped));
  assert.equal(requests.length, before, 'nothing downloaded');
  assert.equal(await readFile(join(target, 'mine.txt'), 'utf8'), 'keep me');

  const replaced = await fetchModel(dir, { force: true });
  assert.equal(replaced.status, 'installed');
  await assertInstalled(target);
  await assertHolds(dir, ['whisper-tiny.en']);
});

void test('an unknown model name fails listing the choices', async () => {
  await assert.rejects(
    fetchWhisperModel({ name: 'huge.en', modelsDir: await modelsDir(), baseUrl: `${base}/ok` }),
    (e: Error) => e instanceof ModelFetchError && /unknown model 'huge\.en'.*tiny\.en, base\.en, small\.en/.test(e.message),
  );
});

void test('no pinned hash: refused before downloading, unless --sha256 or --allow-unverified', async () => {
  const dir = await modelsDir();
  const before = requests.length;
  await assert.rejects(fetchModel(dir, { archives: pinned(null) }), /no pinned SHA-256.*--sha256.*--allow-unverified/);
  assert.equal(requests.length, before, 'nothing downloaded');
  await assertHolds(dir, []);

  const unverified = await fetchModel(dir, { archives: pinned(null), allowUnverified: true });
  assert.ok(unverified.status === 'installed' && !unverified.verified && unverified.sha256 === SHA, JSON.stringify(unverified));
  await assertInstalled(join(dir, 'whisper-tiny.en'));
});

void test(`the base URL comes from $${BASE_URL_ENV} when not given`, async () => {
  const dir = await modelsDir();
  process.env[BASE_URL_ENV] = `${base}/ok/`;
  try {
    const result = await fetchWhisperModel({ name: 'tiny.en', modelsDir: dir, archives: pinned(SHA) });
    assert.ok(result.status === 'installed' && result.url === `${base}/ok/sherpa-onnx-whisper-tiny.en.tar.bz2`, JSON.stringify(result));
  } finally {
    delete process.env[BASE_URL_ENV];
  }
});

void test('the CLI: installs with --sha256, skips an existing target, reports 404 and usage errors', async () => {
  const run = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, ['src/model/whisper/fetch-cli.ts', ...args], {
        cwd: new URL('../../../', import.meta.url).pathname,
        env: { ...process.env, [BASE_URL_ENV]: `${base}/ok` },
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const dir = await modelsDir();
  // The real pinned hash does not match the fixture: refused, nothing installed.
  let r = await run('tiny.en', '--models-dir', dir);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`expected ${WHISPER_ARCHIVES['tiny.en'].sha256}, got ${SHA}`));
  await assertHolds(dir, []);

  r = await run('tiny.en', '--models-dir', dir, '--sha256', SHA);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /installed .*whisper-tiny\.en.*verified/);
  await assertInstalled(join(dir, 'whisper-tiny.en'));

  r = await run('tiny.en', '--models-dir', dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /skipped: .*already exists/);

  r = await run('base.en', '--models-dir', dir, '--base-url', `${base}/missing`);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /HTTP 404/);

  r = await run('huge.en');
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /tiny\.en, base\.en, small\.en/);
  r = await run('--help');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /npm run models:fetch -- <name>/);
});

void test('the backend\'s missing-model error names the fetch command for that directory', async () => {
  const { findWhisperFiles } = await import('../../../src/model/whisper/model.ts');
  const dir = await modelsDir();
  await assert.rejects(findWhisperFiles(join(dir, 'whisper-base.en')), /npm run models:fetch -- base\.en/);
  await assert.rejects(findWhisperFiles(join(dir, 'elsewhere')), /npm run models:fetch -- tiny\.en/);
});
