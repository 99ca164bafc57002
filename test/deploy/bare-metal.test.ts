// The bare-metal fleet configs (deploy/haproxy, deploy/prometheus), checked by the tools themselves
// and against the service: `haproxy -c` with the addresses given and without them, `promtool check
// config` (which reads the targets file too), and the settings the fleet relies on (test/fleet/
// runs them for real).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import yaml from 'js-yaml';
import { parseConfig } from '../../src/config.ts';
import { HAPROXY_CFG, haproxyEnv } from '../fleet/haproxy.ts';
import { FLEET_PROMETHEUS_YML as PROMETHEUS_YML, FLEET_TARGETS_FILE as TARGETS_FILE } from '../helpers/prometheus-server.ts';

const root = new URL('../../', import.meta.url).pathname;
const cfg = readFileSync(HAPROXY_CFG, 'utf8');

function missing(tool: string): string | false {
  if (spawnSync(tool, ['--version']).error === undefined) return false;
  if (process.env.CI) throw new Error(`${tool} must be installed in CI (.ci/run installs it from Debian)`);
  return `${tool} not installed`;
}

/** The lines of one section (`backend streamer`, `defaults`), comments and blank lines left out. */
function section(header: string): string[] {
  const lines = cfg.split('\n');
  const start = lines.indexOf(header);
  assert.ok(start >= 0, `haproxy.cfg has a "${header}" section`);
  const body: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (/^\S/.test(line)) break;
    if (line.trim() && !line.trim().startsWith('#')) body.push(line.trim());
  }
  return body;
}

/** An HAProxy time (`300ms`, `30s`, `1h`) in milliseconds. */
function ms(time: string): number {
  const m = /^(\d+)(us|ms|s|m|h|d)?$/.exec(time);
  assert.ok(m, `not an HAProxy time: ${time}`);
  const unit = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 'ms']!;
  return Number(m[1]) * unit;
}

function checkCfg(env: NodeJS.ProcessEnv) {
  const dir = mkdtempSync(join(tmpdir(), 'streamer-haproxy-'));
  try {
    const r = spawnSync('haproxy', ['-c', '-f', HAPROXY_CFG], { env: { ...process.env, ...env, STREAMER_HAPROXY_SOCKET: join(dir, 's.sock') }, encoding: 'utf8' });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const haproxyMissing = missing('haproxy');

test('haproxy -c accepts the shipped cfg with the instances’ addresses in the environment', { skip: haproxyMissing }, () => {
  const { status, output } = checkCfg(haproxyEnv(['10.0.0.11:8080', '10.0.0.12:8080', '10.0.0.13:8080'], '127.0.0.1:8080'));
  assert.equal(status, 0, output);
});

test('without an instance address, haproxy refuses the cfg with one line saying what to set', { skip: haproxyMissing }, () => {
  const env = haproxyEnv(['10.0.0.11:8080', '10.0.0.12:8080'], '127.0.0.1:8080');
  const { status, output } = checkCfg(env);
  assert.notEqual(status, 0);
  const alerts = output.split('\n').filter((l) => l.includes('[ALERT]') && l.includes('STREAMER_'));
  assert.equal(alerts.length, 1, output);
  assert.match(alerts[0], /set STREAMER_1, STREAMER_2 and STREAMER_3 to the instances' host:port/);
});

test('the cfg balances streams by open connections, keeps quiet websockets, and checks readiness fast', () => {
  const backend = section('backend streamer');
  assert.ok(backend.includes('balance leastconn'));
  assert.ok(backend.includes('http-check send meth GET uri /api/v1/ready'));
  assert.ok(backend.includes('http-check expect status 200'), 'draining, saturated, full and warming-up instances answer 503');
  const deployment = yaml.load(readFileSync(join(root, 'deploy/kubernetes/base/deployment.yaml'), 'utf8')) as { spec: { template: { spec: { containers: { readinessProbe: { httpGet: { path: string } } }[] } } } };
  assert.equal(deployment.spec.template.spec.containers[0].readinessProbe.httpGet.path, '/api/v1/ready', 'the same readiness as in Kubernetes');

  const checks = backend.find((l) => l.startsWith('default-server'))!;
  const [inter, fall] = [ms(/ inter (\S+)/.exec(checks)![1]), Number(/ fall (\d+)/.exec(checks)![1])];
  assert.ok(inter * fall <= 1000, `out of rotation within about a second: inter ${inter} ms × fall ${fall}`);
  assert.ok(!backend.some((l) => l.includes('on-marked-down shutdown-sessions')), 'a server marked down keeps its streams');

  const servers = backend.filter((l) => l.startsWith('server '));
  assert.deepEqual(servers, ['server streamer-1 "${STREAMER_1}"', 'server streamer-2 "${STREAMER_2}"', 'server streamer-3 "${STREAMER_3}"']);

  const tunnel = ms(/^timeout tunnel (\S+)$/m.exec(section('defaults').join('\n'))![1]);
  const idle = parseConfig({}).limits.idle_timeout_ms;
  assert.ok(tunnel > idle, `timeout tunnel (${tunnel} ms) above the service's idle timeout (${idle} ms): the service ends idle streams, and says why`);
});

test('promtool accepts the shipped Prometheus config and its targets file; both name the same three instances as the HAProxy example', { skip: missing('promtool') }, () => {
  const r = spawnSync('promtool', ['check', 'config', PROMETHEUS_YML], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  const config = yaml.load(readFileSync(PROMETHEUS_YML, 'utf8')) as { scrape_configs: { job_name: string; metrics_path: string; file_sd_configs: { files: string[] }[] }[] };
  const [job] = config.scrape_configs;
  assert.equal(job.job_name, 'streamer', 'job="streamer", as the alerts and the autoscaling queries expect');
  assert.equal(job.metrics_path, '/metrics');
  assert.deepEqual(job.file_sd_configs, [{ files: [TARGETS_FILE] }], 'the file test/fleet writes');
  const targets = yaml.load(readFileSync(join(root, 'deploy/prometheus', TARGETS_FILE), 'utf8')) as { targets: string[] }[];
  const example = /^#\s+STREAMER_1=(\S+) STREAMER_2=(\S+) STREAMER_3=(\S+)/m.exec(cfg)!.slice(1);
  assert.deepEqual(targets.flatMap((g) => g.targets), example);
});
