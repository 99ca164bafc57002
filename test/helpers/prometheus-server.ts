// A real Prometheus (Debian package prometheus) for end-to-end tests, on a free loopback port with
// its data in a directory of the test's. Two shipped configs are run: otel/prometheus.yml (one
// service; `startPrometheus`) and deploy/prometheus/prometheus.yml with its targets file (a fleet;
// `startFleetPrometheus`).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import yaml from 'js-yaml';

const OTEL_DIR = new URL('../../otel/', import.meta.url).pathname;
export const FLEET_PROMETHEUS_YML = new URL('../../deploy/prometheus/prometheus.yml', import.meta.url).pathname;
/** The file deploy/prometheus/prometheus.yml reads its targets from, next to it. */
export const FLEET_TARGETS_FILE = 'streamer-targets.yml';

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

/** An element of an instant vector, its value as a number. */
export interface Sample {
  metric: Record<string, string>;
  value: number;
}

export interface TargetGroup {
  targets: string[];
  labels?: Record<string, string>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.once('error', reject);
  });
}

export class PrometheusServer {
  readonly url: string;
  private readonly child: ChildProcess;
  private stderr = '';
  private readonly exited: Promise<void>;
  private running = true;
  private readonly dir: string;
  private readonly removeDir: boolean;

  /** Runs Prometheus on `dir`/prometheus.yml (data in `dir` too; removed by stop() if `removeDir`); call ready() before querying. */
  constructor(dir: string, port: number, removeDir: boolean) {
    this.dir = dir;
    this.removeDir = removeDir;
    this.url = `http://127.0.0.1:${port}`;
    this.child = spawn(
      'prometheus',
      [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child.stderr!.on('data', (b: Buffer) => (this.stderr = (this.stderr + b.toString()).slice(-4000)));
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    void this.exited.then(() => (this.running = false));
  }

  private get lastLog(): string {
    return this.stderr.trim().split('\n').at(-1) ?? '';
  }

  /** Resolves once Prometheus answers /-/ready; stops it and throws if it exits or takes too long. */
  async ready(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) {
        await this.stop();
        throw new Error(`prometheus exited before it was ready: ${this.lastLog}`);
      }
      const ready = await fetch(`${this.url}/-/ready`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ready) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`prometheus did not answer ${this.url}/-/ready within ${timeoutMs} ms: ${this.lastLog}`);
      }
      await sleep(50);
    }
  }

  /**
   * GET /api/v1/query, evaluated at `time` (seconds since the epoch, default now); throws with
   * Prometheus' error and the expression when it is not a success.
   */
  async query(expr: string, time?: string): Promise<{ resultType: string; result: InstantSample[] }> {
    return (await this.get(expr, time)) as { resultType: string; result: InstantSample[] };
  }

  /** An instant vector, values as numbers. */
  async vector(expr: string): Promise<Sample[]> {
    const data = await this.query(expr);
    if (data.resultType !== 'vector') throw new Error(`${expr}: expected a vector, got ${data.resultType}`);
    return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  }

  /** The value of a query that must return exactly one element. */
  async scalar(expr: string): Promise<number> {
    const result = await this.vector(expr);
    if (result.length !== 1) throw new Error(`${expr}: expected one element, got ${JSON.stringify(result)}`);
    return result[0].value;
  }

  /** The raw samples of a range selector such as `x_total[10m]`, as stored (no functions applied). */
  async samples(rangeSelector: string, time?: string): Promise<RangeSeries[]> {
    const data = (await this.get(rangeSelector, time)) as { resultType: string; result: RangeSeries[] };
    if (data.resultType !== 'matrix') throw new Error(`${rangeSelector} is not a range selector (got a ${data.resultType})`);
    return data.result;
  }

  /**
   * Resolves once every one of `count` targets is up and was last scraped after `sinceMs` (epoch ms), so
   * that queries see everything that happened before `sinceMs`.
   */
  async scrapedSince(sinceMs: number, count: number, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    for (;;) {
      const res = await fetch(`${this.url}/api/v1/targets?state=active`).catch((e: Error) => e);
      if (!(res instanceof Error) && res.ok) {
        const targets = ((await res.json()) as { data: { activeTargets: { scrapeUrl: string; health: string; lastScrape: string; lastError: string }[] } }).data.activeTargets;
        if (targets.length === count && targets.every((t) => t.health === 'up' && Date.parse(t.lastScrape) > sinceMs)) return;
        last = JSON.stringify(targets.map((t) => ({ url: t.scrapeUrl, health: t.health, lastScrape: t.lastScrape, lastError: t.lastError })));
      }
      if (Date.now() > deadline) throw new Error(`Prometheus: ${count} targets not all scraped within ${timeoutMs} ms; last: ${last}\n${this.stderr}`);
      await sleep(100);
    }
  }

  async stop(): Promise<void> {
    if (this.running) {
      this.child.kill('SIGTERM');
      await Promise.race([this.exited, sleep(10_000, undefined, { ref: false })]);
      if (this.running) this.child.kill('SIGKILL');
      await this.exited;
    }
    if (this.removeDir) rmSync(this.dir, { recursive: true, force: true });
  }

  private async get(expr: string, time?: string): Promise<{ resultType: string; result: unknown }> {
    const res = await fetch(`${this.url}/api/v1/query?${new URLSearchParams({ query: expr, ...(time ? { time } : {}) })}`);
    const body = (await res.json()) as { status: string; error?: string; data: { resultType: string; result: unknown } };
    if (body.status !== 'success') throw new Error(`Prometheus answered ${res.status} (${body.error ?? 'no error message'}) to ${expr}`);
    return body.data;
  }
}

/**
 * The shipped otel/prometheus.yml and the rule files it loads, with the target moved to the test's service
 * at `127.0.0.1:<targetPort>` and a 1 s scrape interval; resolves once it answers /-/ready.
 */
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
  for (const file of (yaml.load(shipped) as { rule_files?: string[] }).rule_files ?? []) copyFileSync(join(OTEL_DIR, file), join(dir, file));
  const server = new PrometheusServer(dir, await freePort(), true);
  await server.ready(timeoutMs);
  return server;
}

/**
 * The shipped deploy/prometheus/prometheus.yml, unchanged, in `dir`, with the test's own targets
 * file next to it (the file the shipped config reads); resolves once it answers /-/ready.
 */
export async function startFleetPrometheus(dir: string, groups: TargetGroup[]): Promise<PrometheusServer> {
  copyFileSync(FLEET_PROMETHEUS_YML, join(dir, 'prometheus.yml'));
  writeFileSync(join(dir, FLEET_TARGETS_FILE), yaml.dump(groups));
  const server = new PrometheusServer(dir, await freePort(), false);
  await server.ready();
  return server;
}
