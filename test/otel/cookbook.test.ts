import assert from 'node:assert/strict';
import { test } from 'node:test';
import { promqlQueries, metricsDocQueries } from './cookbook.ts';

test('promqlQueries: one query per line of each promql block, with the comments above it and its heading', () => {
  const md = [
    '# Title',
    '### PromQL cookbook',
    '',
    '```promql',
    '# rates',
    '# (two comment lines)',
    'sum(rate(a_total[5m]))',
    'sum(rate(b_total[5m]))',
    '# share',
    'x / y',
    '',
    'z',
    '```',
    '```sh',
    'not_promql --flag',
    '```',
    '## Other',
    '  ~~~~ PromQL',
    '```',
    'up == 0',
    '~~~~',
    '````',
    '```promql',
    'inside_a_longer_fence',
    '````',
  ].join('\n');
  assert.deepEqual(promqlQueries(md), [
    { expr: 'sum(rate(a_total[5m]))', comment: 'rates (two comment lines)', heading: 'PromQL cookbook', line: 7 },
    { expr: 'sum(rate(b_total[5m]))', comment: 'rates (two comment lines)', heading: 'PromQL cookbook', line: 8 },
    { expr: 'x / y', comment: 'share', heading: 'PromQL cookbook', line: 10 },
    { expr: 'z', comment: '', heading: 'PromQL cookbook', line: 12 },
    { expr: '```', comment: '', heading: 'Other', line: 19 },
    { expr: 'up == 0', comment: '', heading: 'Other', line: 20 },
  ]);
});

test("docs/metrics.md's cookbook is found", () => {
  const cookbook = metricsDocQueries().filter((q) => q.heading === 'PromQL cookbook');
  assert.ok(cookbook.length >= 10, `${cookbook.length} queries`);
  assert.ok(cookbook.some((q) => q.expr.includes('model_failures_total')));
});
