// The production image, built from the real Dockerfile by podman (test/deploy/build-image.sh, on a
// stand-in for node:24-trixie-slim, which cannot be pulled here) and run as a container runtime
// runs it (test/helpers/image.ts): its root read-only, as its user, with its own Env, WorkingDir and
// Entrypoint. Both routes stream real audio through it with the simulated and the keywords backend,
// /metrics counts them, its HEALTHCHECK passes, and SIGTERM during a stream drains it (exit 0).
// The image's own layers stay within 130 MB. Skipped where podman cannot run; never under CI.
import assert from 'node:assert/strict';
import { CLIENT_MODULES } from '../../src/api/page.ts';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import type { ServerEvent } from '../../src/api/protocol.ts';
import { streamAudio } from '../../src/client/stream-client.ts';
import { buildImage, envOf, freePort, ImageRoot, IN_CI, inspectImage, layersAbove, whyNoImage, type Built, type ImageInfo } from '../helpers/image.ts';
import { assertDetections, FIXTURE_KEYWORDS, keywordFixture, type Detection } from '../helpers/keywords.ts';
import { groupGone, type Launched } from '../helpers/launch.ts';
import { scrape } from '../helpers/prometheus.ts';
import { FAST_MODEL, speechFixture } from '../helpers/service.ts';

const TAG = 'localhost/streamer:test';
/** The image's own layers (everything above its base), on amd64. */
const OWN_LAYERS_LIMIT_MB = 130;
const BUILD_TIMEOUT_MS = 20 * 60_000;
const repo = new URL('../../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
const MB = (bytes: number) => (bytes / 1e6).toFixed(1);

/** The service's config for each backend, given to the container as `--config /mnt/NAME.json`. */
const CONFIGS = {
  simulated: { model: FAST_MODEL },
  keywords: { model: { backend: 'keywords', keywords: FIXTURE_KEYWORDS, workers: 2 } },
};

const unavailable = whyNoImage();
let built: Built;
let info: ImageInfo;
let root: ImageRoot;
let configDir: string;

before(
  async () => {
    if (unavailable) {
      if (IN_CI) throw new Error(`CI=true but the image cannot be built here: ${unavailable}. .ci/run installs podman, buildah and debootstrap and runs as root.`);
      return;
    }
    built = await buildImage(TAG, BUILD_TIMEOUT_MS);
    info = inspectImage(TAG);
    // Readable by the image's user: the service reads its config as uid 1000.
    configDir = mkdtempSync(join(tmpdir(), 'streamer-image-config-'));
    chmodSync(configDir, 0o755);
    for (const [name, config] of Object.entries(CONFIGS)) writeFileSync(join(configDir, `${name}.json`), JSON.stringify(config), { mode: 0o644 });
    root = new ImageRoot(TAG, configDir);
  },
  { timeout: BUILD_TIMEOUT_MS + 60_000 },
);

after(() => {
  root?.close();
  if (configDir) rmSync(configDir, { recursive: true, force: true });
});

/** False (and the test skipped) where the image cannot be built and run. */
function runs(t: TestContext): boolean {
  if (!unavailable) return true;
  t.skip(unavailable);
  return false;
}

test('the build: its times, and the layers above the base within the target', (t) => {
  if (!runs(t)) return;
  for (const line of built.lines) t.diagnostic(line);
  t.diagnostic(`stand-in and image: ${built.seconds.toFixed(0)} s`);
  const base = inspectImage(built.base);
  const layers = layersAbove(TAG, built.base);
  for (const l of layers.filter((x) => x.size > 0)) t.diagnostic(`${MB(l.size).padStart(7)} MB  ${l.createdBy.replace(/^.*?\/bin\/sh -c (#\(nop\) )?/, '').slice(0, 90)}`);
  const own = info.Size - base.Size;
  t.diagnostic(`image ${MB(info.Size)} MB = base ${MB(base.Size)} MB + its own layers ${MB(own)} MB (${info.Architecture})`);
  assert.ok(own <= OWN_LAYERS_LIMIT_MB * 1e6, `the image's own layers are ${MB(own)} MB, over ${OWN_LAYERS_LIMIT_MB} MB`);
  // Only this platform's onnxruntime binaries (the Dockerfile picks them by TARGETARCH).
  const ort = join(root.dir, 'app/node_modules/onnxruntime-node/bin/napi-v6');
  const arch = { amd64: 'x64', arm64: 'arm64' }[info.Architecture];
  assert.deepEqual(readdirSync(ort), ['linux']);
  assert.deepEqual(readdirSync(join(ort, 'linux')), [arch]);
});

test("the image's config: its user is the manifests' 1000:1000, node dist/main.js is the process (nothing from the base's CMD), production dependencies only", (t) => {
  if (!runs(t)) return;
  assert.deepEqual(root.user(info), { uid: 1000, gid: 1000 }, "deploy/kubernetes runs it as runAsUser/runAsGroup 1000");
  assert.deepEqual(ImageRoot.commandOf(info, []), ['node', 'dist/main.js'], 'exec form: node itself gets the runtime’s SIGTERM');
  assert.deepEqual(Object.keys(info.Config.ExposedPorts ?? {}), [`${envOf(info).PORT}/tcp`], 'EXPOSE is the port it listens on');
  const app = join(root.dir, info.Config.WorkingDir!);
  assert.ok(!existsSync(join(app, 'src')), 'no sources in the image');
  for (const dev of Object.keys(pkg.devDependencies)) assert.ok(!existsSync(join(app, 'node_modules', dev)), `dev dependency ${dev} is not installed`);
  for (const dep of Object.keys(pkg.dependencies)) assert.ok(existsSync(join(app, 'node_modules', dep)), `dependency ${dep} is installed`);
});

type Seg = Extract<ServerEvent, { type: 'segment' }>;
const segments = (events: ServerEvent[]) => events.filter((e): e is Seg => e.type === 'segment');
const finals = (events: ServerEvent[]) => segments(events).filter((s) => s.is_final === true);
const detections = (segs: Seg[]) => segs.flatMap((s) => (s.keywords ?? []) as Detection[]);

/** The image serving `backend`'s config (given as the container's arguments) on 127.0.0.1 at a free port. */
async function start(backend: keyof typeof CONFIGS): Promise<{ server: Launched; env: Record<string, string>; ws: (route: string) => string; url: string }> {
  const env = { HOST: '127.0.0.1', PORT: String(await freePort()), LOG_LEVEL: 'info' };
  const server = await root.run(info, env, ['--config', `/mnt/${backend}.json`]);
  assert.equal(String(server.port), env.PORT);
  return { server, env, ws: (route) => `ws://127.0.0.1:${server.port}/api/v1/${route}`, url: `http://127.0.0.1:${server.port}` };
}

/**
 * One run of the image with `backend`: it is node from the image as its user, `exercise` streams
 * through it, then its HEALTHCHECK passes and SIGTERM during a stream drains it. The process group
 * is gone before the test ends (and the root is unmounted), whatever failed.
 */
async function runImage(backend: keyof typeof CONFIGS, exercise: (ws: (route: string) => string, url: string) => Promise<void>): Promise<void> {
  const { server, env, ws, url } = await start(backend);
  try {
    assertIsImageNode(server);
    await exercise(ws, url);
    assert.equal(await root.healthcheck(info, env), 0, 'HEALTHCHECK');
    await assertDrains(server, ws);
  } finally {
    server.kill();
    await groupGone(server.child.pid!).catch(() => undefined);
  }
}

/** The process the runtime signals is node from the image, as its user. */
function assertIsImageNode(server: Launched): void {
  const pid = server.child.pid!;
  assert.equal(readlinkSync(`/proc/${pid}/exe`), join(root.dir, 'usr/local/bin/node'));
  const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1];
  assert.equal(uid, '1000');
}

/** SIGTERM during a real-time stream: going_away, its results and stream_end, then exit 0 and nothing left. */
async function assertDrains(server: Launched, ws: (route: string) => string): Promise<void> {
  const speech = speechFixture();
  let signalled = false;
  const result = await streamAudio({
    addr: ws('segmented'),
    format: speech.format,
    pcm: speech.pcm.subarray(0, 3 * 32_000),
    realTime: true,
    chunkBytes: 3200,
    onEvent: (e) => {
      if (e.type === 'active' && !signalled) {
        signalled = true;
        process.kill(server.child.pid!, 'SIGTERM');
      }
    },
  });
  assert.ok(signalled, 'the stream was live when SIGTERM came');
  const types = result.events.map((e) => e.type);
  assert.deepEqual(
    result.events.filter((e) => e.type === 'going_away'),
    [{ type: 'going_away', deadline_ms: 30_000 }],
  );
  assert.ok(types.indexOf('going_away') < types.indexOf('segment'), `told before its last results: ${types.join(' ')}`);
  assert.equal(finals(result.events).length, 1, 'the utterance under way when the drain began is finished');
  assert.equal(types.at(-1), 'stream_end');
  assert.equal(result.closeCode, 1000);
  assert.equal(await server.exitCode, 0, server.logs.join('\n'));
  assert.equal(server.entries().find((e) => e.msg === 'draining')?.active_streams, 1);
  await groupGone(server.child.pid!);
}

/** A hang guard only: a run takes seconds. */
const RUN_TIMEOUT_MS = 180_000;

test('simulated backend: both routes, /metrics, the HEALTHCHECK, and SIGTERM during a stream drains it', { timeout: RUN_TIMEOUT_MS }, async (t) => {
  if (!runs(t)) return;
  await runImage('simulated', async (ws, url) => {
    const speech = speechFixture();
    const before = await scrape(url);
    const segmented = await streamAudio({ addr: ws('segmented'), format: speech.format, pcm: speech.pcm });
    assert.equal(finals(segmented.events).length, speech.regions.length, 'one final segment per utterance');
    assert.equal(segmented.events.at(-1)?.type, 'stream_end');
    const simple = await streamAudio({ addr: ws('simple'), format: speech.format, pcm: speech.pcm });
    const counts = segments(simple.events).map((s) => s.count as number);
    assert.equal(
      counts.reduce((a, b) => a + b, 0),
      speech.pcm.byteLength / 2,
      'simple segments tile the whole audio',
    );
    const metrics = await scrape(url);
    assert.equal(metrics.value('streams_total', { route: 'simple', outcome: 'completed' }), 1);
    assert.equal(metrics.value('streams_total', { route: 'segmented', outcome: 'completed' }), 1);
    assert.equal(metrics.value('rtf_count', { pipeline: 'model' }) - before.value('rtf_count', { pipeline: 'model' }), segments(simple.events).length + segments(segmented.events).length, 'one model call per segment sent');
    // The page and the client modules it streams with, served from the image's dist/.
    for (const path of ['/', '/page/app.js', ...CLIENT_MODULES.map((m) => `/page/lib/${m}.js`)]) {
      const res = await fetch(`${url}${path}`);
      assert.equal(res.status, 200, path);
      assert.ok((await res.text()).length > 500, `${path} has content`);
    }
  });
});

test("keywords backend (openWakeWord's models from the image): both routes find the fixture's keywords, /metrics, SIGTERM drains", { timeout: RUN_TIMEOUT_MS }, async (t) => {
  if (!runs(t)) return;
  await runImage('keywords', async (ws, url) => {
    const fixture = keywordFixture();
    const before = await scrape(url);
    let calls = 0;
    for (const route of ['simple', 'segmented']) {
      const { events, closeCode } = await streamAudio({ addr: ws(route), format: fixture.format, pcm: fixture.pcm });
      assert.equal(closeCode, 1000);
      assert.deepEqual(events.filter((e) => e.type === 'error'), []);
      calls += segments(events).length;
      const results = route === 'simple' ? segments(events) : finals(events);
      assertDetections(detections(results), fixture.regions, route);
      if (route === 'segmented') assert.equal(results.length, fixture.regions.length, 'one final segment per utterance');
    }
    const metrics = await scrape(url);
    const delta = (name: string) => metrics.value(name, { pipeline: 'model' }) - before.value(name, { pipeline: 'model' });
    assert.equal(delta('rtf_count'), calls, 'one model-stage RTF sample per model call');
    const processing = delta('processing_duration_seconds_sum');
    assert.ok(processing > 0.01 && processing < delta('media_duration_seconds_sum'), `the real model's processing: ${processing} s`);
    assert.equal(metrics.value('streams_total', { route: 'segmented', outcome: 'completed' }), 1);
  });
});
