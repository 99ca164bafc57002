import assert from 'node:assert/strict';
import { test } from 'node:test';
import { aggregationsIn, metricNamesIn, selectorsIn } from './promql.ts';

test('metricNamesIn: the alert expressions', () => {
  assert.deepEqual(metricNamesIn('histogram_quantile(0.95, sum by (pipeline, le) (rate(rtf_bucket{pipeline="model"}[5m])))'), ['rtf_bucket']);
  assert.deepEqual(metricNamesIn('up{job="streamer"} == 0'), ['up']);
  assert.deepEqual(metricNamesIn('increase(task_panics_total[5m]) > 0'), ['task_panics_total']);
  assert.deepEqual(metricNamesIn('histogram_quantile(0.99, sum by (job, instance, le) (rate(eventloop_delay_seconds_bucket[5m]))) > 0.1'), [
    'eventloop_delay_seconds_bucket',
  ]);
});

test('metricNamesIn: binary expressions keep every operand, deduplicated, in order', () => {
  assert.deepEqual(
    metricNamesIn('sum by (pipeline) (rate(processing_duration_seconds_sum[5m])) / sum by (pipeline) (rate(media_duration_seconds_sum[5m]))'),
    ['processing_duration_seconds_sum', 'media_duration_seconds_sum'],
  );
  assert.deepEqual(metricNamesIn('sum(rate(a_total[5m])) / sum(rate(b_total[5m])) + sum(rate(a_total[1h]))'), ['a_total', 'b_total']);
  assert.deepEqual(metricNamesIn('1 - (errors_total / requests_total)'), ['errors_total', 'requests_total']);
});

test('metricNamesIn: skips keywords, label lists, strings, numbers, durations and Grafana variables', () => {
  assert.deepEqual(
    metricNamesIn('sum without (instance) (rate(x_total{a="by (nope)", b=~"c|{d}", e!~\'f\'}[5m] offset 1h30m))'),
    ['x_total'],
  );
  assert.deepEqual(metricNamesIn('a and on (job) group_left (version) b'), ['a', 'b']);
  assert.deepEqual(metricNamesIn('a * ignoring (pipeline) group_right b or c unless d'), ['a', 'b', 'c', 'd']);
  assert.deepEqual(metricNamesIn('x > bool 1e-3 AND y < Inf or z != NaN'), ['x', 'y', 'z']);
  assert.deepEqual(metricNamesIn('max_over_time(rate(x_total[5m])[1h:1m]) @ start() + 0x1F'), ['x_total']);
  assert.deepEqual(metricNamesIn('sum(rate(x_total{instance=~"$instance"}[$__rate_interval])) * $factor + ${scale}'), ['x_total']);
  assert.deepEqual(metricNamesIn('sum(rate(x_total[5m])) by (route) # a comment naming not_a_metric'), ['x_total']);
  assert.deepEqual(metricNamesIn('label_replace(up, "dst", "$1", "src", "(.*)")'), ['up']);
  assert.deepEqual(metricNamesIn('atan2(a, b) + a atan2 b'), ['a', 'b']);
  assert.deepEqual(metricNamesIn('{__name__="streams_total", route="simple"}'), ['streams_total']);
  assert.deepEqual(metricNamesIn('vector(1) + time()'), []);
});

test('selectorsIn: names with their matchers', () => {
  assert.deepEqual(selectorsIn('sum(rate(a{x="1"}[5m])) / ignoring (pipeline) b{pipeline="model"} + c'), [
    { name: 'a', matchers: 'x="1"' },
    { name: 'b', matchers: 'pipeline="model"' },
    { name: 'c', matchers: '' },
  ]);
});

test('aggregationsIn: prefix and postfix grouping, and the aggregated argument', () => {
  const [outer, inner] = aggregationsIn('sum by (pipeline, le) (rate(rtf_bucket[5m])) / sum(rate(x[5m])) without (instance)');
  assert.deepEqual(outer, { op: 'sum', grouping: 'by', labels: ['pipeline', 'le'], argument: 'rate(rtf_bucket[5m])' });
  assert.deepEqual(inner, { op: 'sum', grouping: 'without', labels: ['instance'], argument: 'rate(x[5m])' });
  assert.deepEqual(aggregationsIn('max(a) + topk(3, count by (job) (b))'), [
    { op: 'max', grouping: null, labels: [], argument: 'a' },
    { op: 'topk', grouping: null, labels: [], argument: '3, count by (job) (b)' },
    { op: 'count', grouping: 'by', labels: ['job'], argument: 'b' },
  ]);
  assert.deepEqual(aggregationsIn('count + rate(sum[5m])'), [], 'metrics named like operators are not aggregations');
});
