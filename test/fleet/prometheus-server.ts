// A real Prometheus (Debian package) running the shipped deploy/prometheus/prometheus.yml, unchanged,
// with the test's own streamer-targets.yml next to it (the file the shipped config reads).
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import yaml from 'js-yaml';

export const PROMETHEUS_YML = new URL('../../deploy/prometheus/prometheus.yml', import.meta.url).pathname;
export const TARGETS_FILE = 'streamer-targets.yml';

export interface TargetGroup {
  targets: string[];
  labels?: Record<string, string>;
}

export interface Sample {
  metric: Record<string, string>;
  value: number;
}

export class PrometheusServer {
  readonly url: string;
  readonly child: ChildProcess;
  readonly output: string[] = [];
  readonly exited: Promise<number | null>;

  /** Starts Prometheus in `dir` (config, targets and data all there), listening on 127.0.0.1:`port`. */
  constructor(dir: string, port: number, groups: TargetGroup[]) {
    copyFileSync(PROMETHEUS_YML, join(dir, 'prometheus.yml'));
    writeFileSync(join(dir, TARGETS_FILE), yaml.dump(groups));
    this.url = `http://127.0.0.1:${port}`;
    this.child = spawn(
      'prometheus',
      [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child.stderr!.on('data', (d: Buffer) => this.output.push(d.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** An instant query; throws with Prometheus's own error when it fails. */
  async query(expr: string): Promise<Sample[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; error?: string; data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } };
    if (body.status !== 'success') throw new Error(`Prometheus rejected ${expr}: ${body.error}`);
    if (body.data.resultType !== 'vector') throw new Error(`${expr}: expected a vector, got ${body.data.resultType}`);
    return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  }

  /** The value of a query that must return exactly one element. */
  async scalar(expr: string): Promise<number> {
    const result = await this.query(expr);
    if (result.length !== 1) throw new Error(`${expr}: expected one element, got ${JSON.stringify(result)}`);
    return result[0].value;
  }

  /** Resolves once Prometheus serves queries. */
  async ready(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await fetch(`${this.url}/-/ready`).catch(() => null))?.status !== 200) {
      if (this.child.exitCode !== null || Date.now() > deadline) throw new Error(`Prometheus did not become ready within ${timeoutMs} ms:\n${this.output.join('')}`);
      await sleep(100);
    }
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
      if (Date.now() > deadline) throw new Error(`Prometheus: ${count} targets not all scraped within ${timeoutMs} ms; last: ${last}\n${this.output.join('')}`);
      await sleep(100);
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await this.exited;
  }
}
