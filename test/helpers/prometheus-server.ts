// A real Prometheus (Debian package prometheus) for end-to-end tests: the shipped
// otel/prometheus.yml and otel/alerts.yml, with the target moved to the test's service and a 1 s
// scrape interval, listening on a free loopback port, with its data in a temporary directory.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const OTEL_DIR = new URL('../../otel/', import.meta.url).pathname;

export const SCRAPE_INTERVAL_SECONDS = 1;

export function hasPrometheus(): boolean {
  try {
    execFileSync('prometheus', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface InstantSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface RangeSeries {
  metric: Record<string, string>;
  values: [number, string][];
}

export interface PrometheusServer {
  readonly url: string;
  /**
   * GET /api/v1/query, evaluated at `time` (seconds since the epoch, default now); throws with
   * Prometheus' error and the expression when it is not a success.
   */
  query(expr: string, time?: string): Promise<{ resultType: string; result: InstantSample[] }>;
  /** The raw samples of a range selector such as `x_total[10m]`, as stored (no functions applied). */
  samples(rangeSelector: string, time?: string): Promise<RangeSeries[]>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.once('error', reject);
  });
}

/** Starts Prometheus scraping `127.0.0.1:<targetPort>` and resolves once it answers /-/ready. */
export async function startPrometheus(targetPort: number, timeoutMs = 30_000): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), 'streamer-prom-'));
  const shipped = readFileSync(join(OTEL_DIR, 'prometheus.yml'), 'utf8');
  if (!shipped.includes('127.0.0.1:8080')) throw new Error('otel/prometheus.yml no longer targets 127.0.0.1:8080: update test/helpers/prometheus-server.ts');
  writeFileSync(
    join(dir, 'prometheus.yml'),
    shipped
      .replace('127.0.0.1:8080', `127.0.0.1:${targetPort}`)
      .replace(/scrape_interval: \d+s/g, `scrape_interval: ${SCRAPE_INTERVAL_SECONDS}s`)
      .replace(/scrape_timeout: \d+s/g, `scrape_timeout: ${SCRAPE_INTERVAL_SECONDS}s`),
  );
  copyFileSync(join(OTEL_DIR, 'alerts.yml'), join(dir, 'alerts.yml'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    'prometheus',
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let running = true;
  void exited.then(() => (running = false));

  const stop = async () => {
    if (running) {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000, undefined, { ref: false })]);
      if (running) child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const get = async (expr: string, time?: string): Promise<{ resultType: string; result: unknown }> => {
    const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr, ...(time ? { time } : {}) })}`);
    const body = (await res.json()) as { status: string; error?: string; data: { resultType: string; result: unknown } };
    if (body.status !== 'success') throw new Error(`Prometheus answered ${res.status} (${body.error ?? 'no error message'}) to ${expr}`);
    return body.data;
  };
  const server: PrometheusServer = {
    url,
    query: async (expr, time) => (await get(expr, time)) as { resultType: string; result: InstantSample[] },
    samples: async (rangeSelector, time) => {
      const data = (await get(rangeSelector, time)) as { resultType: string; result: RangeSeries[] };
      if (data.resultType !== 'matrix') throw new Error(`${rangeSelector} is not a range selector (got a ${data.resultType})`);
      return data.result;
    },
    stop,
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!running) {
      await stop();
      throw new Error(`prometheus exited before it was ready: ${stderr.trim().split('\n').at(-1) ?? ''}`);
    }
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) return server;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus did not answer ${url}/-/ready within ${timeoutMs} ms: ${stderr.trim().split('\n').at(-1) ?? ''}`);
    }
    await sleep(50);
  }
}
