// The SLOs as code (otel/slos.yml) and what is generated from them (otel/slo-rules.ts): the committed
// rules and the PrometheusRule's SLO groups are fresh; every SLO has its error ratio over each
// window and the workbook's page and ticket alerts; the SLIs read exported series only; and on a
// fresh service every series an SLI reads exists at 0 from the first scrape, so the ratios are
// defined (0/0 is "no traffic", not "no data") and rate() sees the first bad event.
// The promtool unit tests of the rules run in configs.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import yaml from 'js-yaml';
import { alertName, BURN_ALERTS, generate, loadSlos, recordName, RULES_FILE, WINDOWS } from '../../otel/slo-rules.ts';
import { parseKey, scrape } from '../helpers/prometheus.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { REPO_DIR } from './artifacts.ts';
import { CATALOGUE_SERIES } from './catalogue.ts';
import { metricNamesIn, selectorsIn } from './promql.ts';

const slos = loadSlos();
const committed = (path: string) => readFileSync(`${REPO_DIR}${path}`, 'utf8');

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  labels?: Record<string, string>;
}

test('the committed SLO rules and the PrometheusRule are what otel/slo-rules.ts generates from otel/slos.yml (npm run slo:rules)', () => {
  for (const [path, text] of Object.entries(generate())) assert.equal(committed(path), text, `${path} is stale: run npm run slo:rules`);
});

test('the freshness check can fail: another objective generates other rules', () => {
  const changed = { ...slos, slos: slos.slos.map((s) => ({ ...s, objective: 0.9 })) };
  assert.notEqual(generate(changed)[RULES_FILE], committed(RULES_FILE));
});

test('two SLOs over 30 days, each with its error ratio over 5m ... 3d and a page and a ticket alert on them', () => {
  assert.equal(slos.window, '30d');
  assert.deepEqual(
    slos.slos.map((s) => [s.name, s.objective]),
    [
      ['end_of_speech_latency', 0.99],
      ['stream_success', 0.995],
    ],
  );
  const groups = (yaml.load(committed(RULES_FILE)) as { groups: { name: string; rules: Rule[] }[] }).groups;
  assert.deepEqual(groups.map((g) => g.name), slos.slos.map((s) => `slo-${s.name}`));
  for (const [i, slo] of slos.slos.entries()) {
    const rules = groups[i].rules;
    const records = rules.filter((r) => r.record);
    assert.deepEqual(records.map((r) => r.record), WINDOWS.map(recordName));
    for (const r of records) assert.deepEqual(r.labels, { slo: slo.name });
    assert.deepEqual(WINDOWS, ['5m', '30m', '1h', '2h', '6h', '1d', '3d']);
    const alerts = rules.filter((r) => r.alert);
    assert.deepEqual(alerts.map((a) => [a.alert, a.labels?.severity]), [
      [alertName(slo, 'Page'), 'critical'],
      [alertName(slo, 'Ticket'), 'warning'],
    ]);
    // The workbook's pairs: every (factor, long, short) is in its alert's expression.
    for (const [j, { conditions }] of BURN_ALERTS.entries()) {
      for (const { factor, long, short } of conditions) {
        for (const w of [long, short]) assert.ok(alerts[j].expr.includes(`${recordName(w)}{slo="${slo.name}"} > ${factor} * (1 - ${slo.objective})`), `${alerts[j].alert}: ${factor}x over ${w}`);
      }
    }
    assert.deepEqual(BURN_ALERTS.map((a) => a.conditions.map((c) => `${c.factor}x ${c.long}/${c.short}`)), [
      ['14.4x 1h/5m', '6x 6h/30m'],
      ['3x 1d/2h', '1x 3d/6h'],
    ]);
  }
});

test('the SLIs read only series the service exports', () => {
  for (const slo of slos.slos) {
    for (const q of [slo.errors, slo.total]) assert.deepEqual(metricNamesIn(q).filter((n) => !CATALOGUE_SERIES.has(n)), [], q);
  }
});

// ------------------------------------------------------------------ zero series on a fresh service

type Matcher = { label: string; op: string; value: string };

function matchersOf(text: string): Matcher[] {
  return [...text.matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map(([, label, op, value]) => ({ label, op, value }));
}

function matches(labels: Record<string, string>, m: Matcher): boolean {
  const v = labels[m.label] ?? '';
  switch (m.op) {
    case '=':
      return v === m.value;
    case '!=':
      return v !== m.value;
    case '=~':
      return new RegExp(`^(?:${m.value})$`).test(v);
    default:
      return !new RegExp(`^(?:${m.value})$`).test(v);
  }
}

let service: TestService;
before(async () => {
  service = await startTestService();
});
after(() => service.shutdown(0));

test('a fresh service exports every series the SLIs read, at 0, before any traffic (le="1" bucket, outcomes)', async () => {
  const exposition = await scrape(service.url);
  const found: string[] = [];
  for (const slo of slos.slos) {
    for (const { name, matchers } of [slo.errors, slo.total].flatMap((q) => selectorsIn(q))) {
      const wanted = matchersOf(matchers);
      const series = [...exposition.series].map(([k, value]) => ({ ...parseKey(k), value })).filter((s) => s.name === name && wanted.every((m) => matches(s.labels, m)));
      assert.ok(series.length > 0, `${slo.name}: no series ${name}{${matchers}} on a fresh /metrics`);
      for (const s of series) assert.equal(s.value, 0, `${name}${JSON.stringify(s.labels)}`);
      found.push(...series.map((s) => `${name}${JSON.stringify(s.labels)}`));
    }
  }
  // What the SLIs need, by name: the 1 s bucket of VAD finals, every outcome but refused.
  const has = (what: string) => assert.ok(found.includes(what), `${what} among ${found.join(', ')}`);
  has('final_result_latency_seconds_bucket{"endpoint":"vad","le":"1","route":"segmented"}');
  has('final_result_latency_seconds_count{"endpoint":"vad","route":"segmented"}');
  for (const route of ['simple', 'segmented']) {
    for (const outcome of ['completed', 'client_closed', 'slow_consumer', 'error']) has(`streams_total{"outcome":"${outcome}","route":"${route}"}`);
  }
  assert.ok(!found.some((f) => f.includes('"refused"')), 'refused streams are not counted');
});
