// Static checks of the operator artifacts in otel/: promtool on the Prometheus config, the alert
// rules and their unit tests; YAML structure of the collector config; the Grafana dashboard; and
// every PromQL expression against the metric catalogue. Without promtool on PATH the promtool
// tests are skipped, except under CI=true where they fail (CI installs the Debian package prometheus).
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { allExprs, allPanels, alertGroups, dashboard, loadYaml, readOtel, REPO_DIR, yamlParser } from './artifacts.ts';
import { requirePromtool } from '../helpers/promtool.ts';
import { dashboardQueries, loadSlos } from '../../otel/slo-rules.ts';
import { CATALOGUE_SERIES, PER_STAGE_SERIES } from './catalogue.ts';
import { aggregationsIn, metricNamesIn } from './promql.ts';

const execFileP = promisify(execFile);
/** Runs promtool from the repository root; skips the test without promtool (fails under CI=true). */
async function promtool(t: TestContext, ...args: string[]): Promise<string | undefined> {
  if (!(await requirePromtool(t))) return undefined;
  try {
    const { stdout, stderr } = await execFileP('promtool', args, { cwd: REPO_DIR });
    return stdout + stderr;
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    assert.fail(`promtool ${args.join(' ')} failed (exit ${e.code}):\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

// ------------------------------------------------------------------------------------ promtool

test('promtool check config otel/prometheus.yml', async (t) => {
  const out = await promtool(t, 'check', 'config', 'otel/prometheus.yml');
  if (out !== undefined) assert.match(out, /SUCCESS: 2 rule files found/);
});

test('promtool check rules otel/alerts.yml', async (t) => {
  const out = await promtool(t, 'check', 'rules', 'otel/alerts.yml');
  if (out !== undefined) assert.match(out, /SUCCESS: 4 rules found/);
});

test('promtool test rules otel/alerts.test.yml', async (t) => {
  const out = await promtool(t, 'test', 'rules', 'otel/alerts.test.yml');
  if (out !== undefined) assert.match(out, /SUCCESS/);
});

test('promtool check rules otel/slo-rules.yml (generated from otel/slos.yml)', async (t) => {
  const out = await promtool(t, 'check', 'rules', 'otel/slo-rules.yml');
  // Per SLO: 7 recording rules (5m ... 3d) and 2 alerts (page, ticket).
  if (out !== undefined) assert.match(out, /SUCCESS: 18 rules found/);
});

// Outage, slow leak and recovery of both SLOs; the good month in a file of its own (hourly steps).
for (const file of ['otel/slo-rules.test.yml', 'otel/slo-rules.month.test.yml']) {
  test(`promtool test rules ${file}`, { timeout: 180_000 }, async (t) => {
    const out = await promtool(t, 'test', 'rules', file);
    if (out !== undefined) assert.match(out, /SUCCESS/);
  });
}

test('every dashboard expression is valid PromQL (promtool check rules on them as recording rules)', async (t) => {
  const exprs = allExprs().filter((e) => e.source.startsWith('dashboard.json'));
  const dir = await mkdtemp(join(tmpdir(), 'streamer-dashboard-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // Grafana interval variables only appear in ranges; other variables only inside strings.
  const rules = exprs.map((e, i) => {
    const expr = e.expr.replace(/\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}/g, '5m');
    return `      - record: dashboard:expr_${i}\n        expr: ${JSON.stringify(expr)}\n`;
  });
  await writeFile(join(dir, 'dashboard.rules.yml'), `groups:\n  - name: dashboard\n    rules:\n${rules.join('')}`);
  const out = await promtool(t, 'check', 'rules', join(dir, 'dashboard.rules.yml'));
  if (out !== undefined) assert.match(out, new RegExp(`SUCCESS: ${exprs.length} rules found`));
});

// ------------------------------------------------------------------------------------ content

test('prometheus.yml scrapes the service as job streamer and loads alerts.yml and slo-rules.yml', (t) => {
  t.diagnostic(`YAML parsed with ${yamlParser()?.name}`);
  const cfg = loadYaml('prometheus.yml') as {
    rule_files: string[];
    scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
  };
  assert.deepEqual(cfg.rule_files, ['alerts.yml', 'slo-rules.yml']);
  const job = cfg.scrape_configs.find((s) => s.job_name === 'streamer');
  assert.ok(job, 'a scrape config with job_name streamer');
  assert.equal(job.metrics_path ?? '/metrics', '/metrics');
  assert.deepEqual(job.static_configs.flatMap((s) => s.targets), ['127.0.0.1:8080']);
});

test('alerts.yml: group streamer has the four alerts, each with a severity, a summary and a description', () => {
  const groups = alertGroups();
  assert.deepEqual(groups.map((g) => g.name), ['streamer']);
  const rules = groups[0].rules;
  assert.deepEqual(rules.map((r) => r.alert), ['ModelRtfHigh', 'TaskPanics', 'EventLoopDelayHigh', 'StreamerDown']);
  for (const r of rules) {
    assert.match(r.labels?.severity ?? '', /^(critical|warning|info)$/, `${r.alert}: severity label`);
    assert.ok(r.annotations?.summary, `${r.alert}: summary annotation`);
    assert.ok(r.annotations?.description, `${r.alert}: description annotation`);
  }
  const byName = Object.fromEntries(rules.map((r) => [r.alert, r]));
  assert.equal(byName.ModelRtfHigh.expr, 'histogram_quantile(0.95, sum by (pipeline, le) (rate(rtf_bucket{pipeline="model"}[5m]))) > 1');
  assert.equal(byName.ModelRtfHigh.for, '5m');
  assert.equal(byName.TaskPanics.expr, 'increase(task_panics_total[5m]) > 0');
  assert.equal(byName.StreamerDown.expr, 'up{job="streamer"} == 0');
  assert.equal(byName.StreamerDown.for, '1m');
  assert.deepEqual(metricNamesIn(byName.EventLoopDelayHigh.expr), ['eventloop_delay_seconds_bucket']);
});

test('collector.yaml parses as YAML and its pipelines only use defined components', (t) => {
  const p = yamlParser();
  assert.ok(p, 'a YAML parser (js-yaml in node_modules, or python3 with PyYAML)');
  t.diagnostic(`YAML parsed with ${p.name}`);
  const text = readOtel('collector.yaml');
  assert.match(text, /otelcol-contrib --config otel\/collector\.yaml/, 'the header says how to run it');
  const cfg = p.load(text);
  assert.ok(isRecord(cfg), 'a YAML mapping');

  const section = (name: string): Record<string, unknown> => {
    const s = cfg[name] ?? {};
    assert.ok(isRecord(s), `${name}: a mapping`);
    return s;
  };
  const receivers = section('receivers');
  const processors = section('processors');
  const exporters = section('exporters');
  const connectors = section('connectors');
  const extensions = section('extensions');
  const service = section('service');
  assert.ok(isRecord(service.pipelines), 'service.pipelines');

  const defined = (kind: string, ids: unknown, ...sections: Record<string, unknown>[]) => {
    assert.ok(Array.isArray(ids), `${kind}: a list`);
    for (const id of ids) assert.ok(sections.some((s) => String(id) in s), `${kind}: "${String(id)}" is not defined`);
    return ids.map(String);
  };
  for (const [name, pipeline] of Object.entries(service.pipelines)) {
    assert.match(name, /^(metrics|traces|logs)(\/[\w-]+)?$/, `pipeline id ${name}`);
    assert.ok(isRecord(pipeline), `pipeline ${name}: a mapping`);
    assert.ok(defined(`${name}.receivers`, pipeline.receivers, receivers, connectors).length > 0, `${name}: a receiver`);
    defined(`${name}.processors`, pipeline.processors ?? [], processors);
    assert.ok(defined(`${name}.exporters`, pipeline.exporters, exporters, connectors).length > 0, `${name}: an exporter`);
  }
  defined('service.extensions', service.extensions ?? [], extensions);

  // What this deployment needs: pull from /metrics, batch, debug + OTLP/HTTP to ${env:OTLP_ENDPOINT}.
  const metrics = service.pipelines.metrics as Record<string, string[]>;
  assert.ok(metrics, 'a metrics pipeline');
  assert.ok(metrics.receivers.includes('prometheus'));
  assert.ok(metrics.processors.includes('batch'));
  assert.deepEqual([...metrics.exporters].sort(), ['debug', 'otlphttp']);
  const scrape = (receivers.prometheus as { config: { scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[] } })
    .config.scrape_configs;
  assert.equal(scrape.length, 1);
  assert.equal(scrape[0].job_name, 'streamer');
  assert.equal(scrape[0].metrics_path ?? '/metrics', '/metrics');
  assert.deepEqual(scrape[0].static_configs.flatMap((s) => s.targets), ['127.0.0.1:8080']);
  assert.equal((exporters.otlphttp as { endpoint: string }).endpoint, '${env:OTLP_ENDPOINT}');
});

test('dashboard.json parses, uses the ${DS_PROMETHEUS} datasource, and every panel has a target with an expr', () => {
  const d = dashboard();
  assert.ok(d.schemaVersion >= 36 && d.schemaVersion <= 41, `schemaVersion ${d.schemaVersion}`);
  assert.ok(d.uid && d.title);
  assert.ok(d.__inputs?.some((i) => i.name === 'DS_PROMETHEUS' && i.type === 'datasource' && i.pluginId === 'prometheus'));
  assert.ok(d.templating.list.some((v) => v.name === 'DS_PROMETHEUS' && v.type === 'datasource' && v.query === 'prometheus'));

  const panels = allPanels(d);
  const ids = panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  const graphs = panels.filter((p) => p.type !== 'row');
  assert.ok(graphs.length >= 20, `${graphs.length} panels`);
  for (const p of graphs) {
    assert.ok(p.title, `panel ${p.id} has a title`);
    assert.equal(p.datasource?.uid, '${DS_PROMETHEUS}', `"${p.title}": datasource`);
    const targets = p.targets ?? [];
    assert.ok(targets.length > 0, `"${p.title}": at least one target`);
    assert.ok(targets.some((tg) => (tg.expr ?? '').trim() !== ''), `"${p.title}": a target with a non-empty expr`);
    for (const tg of targets) {
      assert.ok((tg.expr ?? '').trim() !== '', `"${p.title}" ${tg.refId}: empty expr`);
      assert.equal(tg.datasource?.uid, '${DS_PROMETHEUS}', `"${p.title}" ${tg.refId}: datasource`);
    }
    const { x, y, w, h } = p.gridPos ?? { x: -1, y: -1, w: 0, h: 0 };
    assert.ok(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 24, `"${p.title}": gridPos`);
  }
});

test('dashboard.json: the SLO row (SLI now, error budget left over 30 days, burn rate) reads each SLO as otel/slo-rules.ts defines it', () => {
  const panels = dashboard().panels;
  const row = panels.findIndex((p) => p.type === 'row' && p.title.startsWith('Service level objectives'));
  assert.ok(row >= 0, 'a row "Service level objectives"');
  const slo = panels.slice(row + 1, panels.findIndex((p, i) => i > row && p.type === 'row'));
  const file = loadSlos();
  const wanted = { 'SLI now (5m)': 'sli', 'Error budget left (30 d)': 'budgetLeft', 'Burn rate (1h)': 'burnRate' } as const;
  assert.deepEqual(slo.map((p) => p.title), Object.keys(wanted));
  for (const p of slo) {
    const pick = wanted[p.title as keyof typeof wanted];
    // One target per SLO, named after it; edit the panel when otel/slos.yml changes.
    assert.deepEqual(
      (p.targets ?? []).map((t) => [t.legendFormat, t.expr]),
      file.slos.map((s) => [s.title, dashboardQueries(s, file.window)[pick]]),
      `"${p.title}"`,
    );
  }
  assert.match(dashboardQueries(file.slos[0], file.window).budgetLeft, /\[30d\]/, 'the budget is over the SLO window');
});

test('every expression reads only catalogue series names', () => {
  const unknown = allExprs().flatMap(({ source, expr }) =>
    metricNamesIn(expr)
      .filter((name) => !CATALOGUE_SERIES.has(name))
      .map((name) => `${source}: ${name}`),
  );
  assert.deepEqual(unknown, []);
});

test('aggregations over the per-stage histograms keep pipeline in by()', () => {
  const offenders: string[] = [];
  let checked = 0;
  for (const { source, expr } of allExprs()) {
    for (const agg of aggregationsIn(expr)) {
      if (!metricNamesIn(agg.argument).some((n) => PER_STAGE_SERIES.has(n))) continue;
      checked++;
      if (agg.grouping !== 'by' || !agg.labels.includes('pipeline')) offenders.push(`${source}: ${agg.op} ${agg.grouping ?? ''} (${agg.labels.join(', ')}) (${agg.argument})`);
    }
  }
  assert.ok(checked >= 10, `${checked} aggregations checked`);
  assert.deepEqual(offenders, []);
});
