// The one exposition reader (page, tests, benchmark): samples with their labels and values, the
// text format's escapes and special values, and a line it cannot read is an error, not a skip.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseExposition, sumOf } from '../../src/client/exposition.ts';

const TEXT = [
  '# HELP streams_total Streams ended',
  '# TYPE streams_total counter',
  'streams_total{route="simple",outcome="completed"} 3',
  'streams_total{route="segmented",outcome="completed"} 4',
  'streams_total{route="segmented",outcome="error"} 1 1700000000000',
  'rtf_bucket{le="+Inf"} 7',
  'note{text="a \\"quoted\\" back\\\\slash\\nline"} -Inf',
  'up +Inf',
  'ratio NaN',
  'uptime_seconds 12.5e0',
  '',
].join('\n');

test('samples keep their order, labels and values (with the special values)', () => {
  const samples = parseExposition(TEXT);
  assert.deepEqual(samples.slice(0, 3), [
    { name: 'streams_total', labels: { route: 'simple', outcome: 'completed' }, value: 3 },
    { name: 'streams_total', labels: { route: 'segmented', outcome: 'completed' }, value: 4 },
    { name: 'streams_total', labels: { route: 'segmented', outcome: 'error' }, value: 1 },
  ]);
  assert.deepEqual(samples[3], { name: 'rtf_bucket', labels: { le: '+Inf' }, value: 7 });
  assert.deepEqual(samples[4], { name: 'note', labels: { text: 'a "quoted" back\\slash\nline' }, value: -Infinity });
  assert.equal(samples[5].value, Infinity);
  assert.ok(Number.isNaN(samples[6].value));
  assert.equal(samples[7].value, 12.5);
  assert.equal(samples.length, 8);
});

test('sumOf adds the samples whose labels include the match', () => {
  const samples = parseExposition(TEXT);
  assert.equal(sumOf(samples, 'streams_total'), 8);
  assert.equal(sumOf(samples, 'streams_total', { route: 'segmented' }), 5);
  assert.equal(sumOf(samples, 'streams_total', { route: 'segmented', outcome: 'error' }), 1);
  assert.equal(sumOf(samples, 'streams_total', { route: 'none' }), 0);
  assert.equal(sumOf(samples, 'absent'), 0);
});

test('a line that is not a sample is an error', () => {
  assert.throws(() => parseExposition('streams_total{route="simple"}\n'), /unparsable exposition line: streams_total\{route="simple"\}/);
  assert.throws(() => parseExposition('<html>502 Bad Gateway</html>'), /unparsable exposition line/);
});
