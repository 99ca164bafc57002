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

async function query(promUrl: string, expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
  assert.equal(body.status, 'success', expr);
  return body.data.result;
}

test('Prometheus scrapes /metrics: up is 1 and per-stage RTF quantiles come back for vad and model', { timeout: 90_000 }, async (t) => {
  if (!hasPrometheus()) {
    if (process.env.CI) assert.fail('prometheus must be installed in CI (.ci/run installs it)');
    t.skip('prometheus not installed');
    return;
  }
  const service = await startTestService();
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
    // traffic on both routes for a few scrape intervals
    const fixture = speechFixture();
    const deadline = Date.now() + 8_000;
    while (Date.now() < deadline) {
      await Promise.all([
        streamAudio({ addr: service.ws('segmented'), format: fixture.format, pcm: fixture.pcm, chunkBytes: 8000 }),
        streamAudio({ addr: service.ws('simple'), format: fixture.format, pcm: fixture.pcm, chunkBytes: 8000 }),
      ]);
    }
    await new Promise((r) => setTimeout(r, 2_500)); // a last scrape after the traffic

    const up = await query(promUrl, 'up{job="streamer"}');
    assert.equal(up.length, 1);
    assert.equal(up[0].value[1], '1');
    const quantiles = await query(promUrl, 'histogram_quantile(0.5, sum by (le, pipeline) (rate(rtf_bucket[1m])))');
    const byStage = Object.fromEntries(quantiles.map((r) => [r.metric.pipeline, Number(r.value[1])]));
    for (const stage of ['vad', 'model', 'audio_decoding']) {
      assert.ok(Number.isFinite(byStage[stage]) && byStage[stage] > 0, `${stage}: ${byStage[stage]}`);
    }
    assert.ok(byStage.vad < 1 && byStage.model > byStage.vad, JSON.stringify(byStage));
    // fleet RTF per stage, as the dashboard computes it
    const fleet = await query(promUrl, 'sum by (pipeline) (rate(processing_duration_seconds_sum[1m])) / sum by (pipeline) (rate(media_duration_seconds_sum[1m]))');
    assert.equal(fleet.length, 3);
  } finally {
    prometheus.kill('SIGTERM');
    await service.shutdown(0);
    rmSync(dir, { recursive: true, force: true });
  }
});
