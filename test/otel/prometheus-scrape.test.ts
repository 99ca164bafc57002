// A real Prometheus (Debian package) scrapes the real service with the shipped otel/prometheus.yml
// (target pointed at the test's port) while traffic flows on both routes.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { streamAudio } from '../../src/client/stream-client.ts';
import { speechFixture, startTestService } from '../helpers/service.ts';

const root = new URL('../../', import.meta.url).pathname;

function hasPrometheus(): boolean {
  try {
    execFileSync('prometheus', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

type Sample = { metric: Record<string, string>; value: [number, string] };

async function query(promUrl: string, expr: string): Promise<Sample[]> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; data: { result: Sample[] } };
  assert.equal(body.status, 'success', expr);
  return body.data.result;
}

const UP = 'up{job="streamer"}';
const STAGE_RTF = 'histogram_quantile(0.5, sum by (le, pipeline) (rate(rtf_bucket[1m])))';
/** Fleet RTF per stage, as the dashboard computes it. */
const FLEET_RTF = 'sum by (pipeline) (rate(processing_duration_seconds_sum[1m])) / sum by (pipeline) (rate(media_duration_seconds_sum[1m]))';
const STAGES = ['vad', 'model', 'audio_decoding'];
const MODEL_RTF = 0.5;

/** What Prometheus answers now (null while it is not up yet). */
async function answers(promUrl: string): Promise<{ up: Sample[]; byStage: Record<string, number>; fleet: Sample[] } | null> {
  try {
    const up = await query(promUrl, UP);
    const byStage = Object.fromEntries((await query(promUrl, STAGE_RTF)).map((r) => [r.metric.pipeline, Number(r.value[1])]));
    return { up, byStage, fleet: await query(promUrl, FLEET_RTF) };
  } catch {
    return null;
  }
}

/** Rates need two scrapes that saw traffic: true once every stage has a finite RTF quantile and a fleet RTF. */
const complete = (a: Awaited<ReturnType<typeof answers>>) =>
  a !== null && a.up[0]?.value[1] === '1' && STAGES.every((s) => Number.isFinite(a.byStage[s]) && a.byStage[s] > 0) && a.fleet.length === 3;

test('Prometheus scrapes /metrics: up is 1 and per-stage RTF quantiles come back for vad and model', { timeout: 90_000 }, async (t) => {
  if (!hasPrometheus()) {
    if (process.env.CI) assert.fail('prometheus must be installed in CI (.ci/run installs it)');
    t.skip('prometheus not installed');
    return;
  }
  // Each inference costs 0.5 × its audio: the model's RTF has a floor that no VAD job comes near.
  const service = await startTestService({ model: { constant_factor: MODEL_RTF } });
  const dir = mkdtempSync(join(tmpdir(), 'streamer-prom-'));
  // The shipped config, with the scrape target moved to this service and a short interval.
  const shipped = readFileSync(join(root, 'otel/prometheus.yml'), 'utf8');
  assert.match(shipped, /127\.0\.0\.1:8080/);
  writeFileSync(
    join(dir, 'prometheus.yml'),
    shipped.replace('127.0.0.1:8080', `127.0.0.1:${service.port}`).replace(/scrape_interval: \d+s/g, 'scrape_interval: 1s').replace(/scrape_timeout: \d+s/g, 'scrape_timeout: 1s'),
  );
  copyFileSync(join(root, 'otel/alerts.yml'), join(dir, 'alerts.yml'));
  const port = await freePort();
  const prometheus = spawn(
    'prometheus',
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: 'ignore' },
  );
  const promUrl = `http://127.0.0.1:${port}`;
  try {
    // traffic on both routes until Prometheus has scraped enough of it (however long start-up and
    // scrapes take on this machine)
    const fixture = speechFixture();
    const deadline = performance.now() + 60_000;
    let seen = await answers(promUrl);
    while (!complete(seen) && performance.now() < deadline) {
      await Promise.all([
        streamAudio({ addr: service.ws('segmented'), format: fixture.format, pcm: fixture.pcm, chunkBytes: 8000 }),
        streamAudio({ addr: service.ws('simple'), format: fixture.format, pcm: fixture.pcm, chunkBytes: 8000 }),
      ]);
      seen = await answers(promUrl);
    }
    assert.ok(seen, 'Prometheus answers queries');
    const { up, byStage, fleet } = seen;
    assert.equal(up.length, 1);
    assert.equal(up[0].value[1], '1');
    for (const stage of STAGES) {
      assert.ok(Number.isFinite(byStage[stage]) && byStage[stage] > 0, `${stage}: ${byStage[stage]}`);
    }
    // the model's series hold the model's inferences (each at RTF ≥ 0.5, whatever the load), not the
    // VAD's; the VAD's own speed depends on the machine's load (the benchmark measures it)
    assert.ok(byStage.model >= MODEL_RTF, JSON.stringify(byStage));
    assert.equal(fleet.length, 3);
  } finally {
    prometheus.kill('SIGTERM');
    await service.shutdown(0);
    rmSync(dir, { recursive: true, force: true });
  }
});
