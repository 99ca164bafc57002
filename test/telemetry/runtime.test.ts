import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { RuntimeNodeInstrumentation } from '@opentelemetry/instrumentation-runtime-node';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { EVENTLOOP_DELAY_BUCKETS, RUNTIME_VIEWS, startRuntimeMetrics } from '../../src/telemetry/runtime.ts';
import { waitFor } from '../helpers/wait.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const runtimeModule = join(root, 'src', 'telemetry', 'runtime.ts');

/** The library's instruments whose value resets on every collect: none of them may be exported. */
const WINDOWED = [
  'nodejs.eventloop.delay.min',
  'nodejs.eventloop.delay.max',
  'nodejs.eventloop.delay.mean',
  'nodejs.eventloop.delay.stddev',
  'nodejs.eventloop.delay.p50',
  'nodejs.eventloop.delay.p90',
  'nodejs.eventloop.delay.p99',
  'nodejs.eventloop.utilization',
];
const WINDOWED_PROM = /nodejs_eventloop_delay_|eventloop_delay_(min|max|mean|p50|p90|p99|stddev)|nodejs_eventloop_utilization/;

const serializer = new PrometheusSerializer();

interface Scraper {
  scrape(): Promise<string>;
}

function scraper(exporter: PrometheusExporter): Scraper {
  return {
    async scrape() {
      const { resourceMetrics, errors } = await exporter.collect();
      assert.deepEqual(errors, []);
      return serializer.serialize(resourceMetrics);
    },
  };
}

function setup(readers = 1, views = RUNTIME_VIEWS): { provider: MeterProvider; scrapers: Scraper[] } {
  const exporters = Array.from({ length: readers }, () => new PrometheusExporter({ preventServerStart: true }));
  return { provider: new MeterProvider({ readers: exporters, views }), scrapers: exporters.map(scraper) };
}

function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // block the event loop
  }
}

/** Every exposition line of eventloop_delay_seconds (HELP/TYPE/UNIT and samples). */
function delayLines(text: string): string[] {
  return text.split('\n').filter((l) => /^(# \w+ )?eventloop_delay_seconds(_bucket|_sum|_count)?[{ ]/.test(l));
}

interface Hist {
  count: number;
  sum: number;
  buckets: Map<string, number>;
}

function histogram(text: string): Hist {
  const h: Hist = { count: NaN, sum: NaN, buckets: new Map() };
  for (const line of text.split('\n')) {
    const m = /^eventloop_delay_seconds_(bucket|sum|count)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (m[1] === 'count') h.count = value;
    else if (m[1] === 'sum') h.sum = value;
    else h.buckets.set(/le="([^"]+)"/.exec(m[2] ?? '')![1], value);
  }
  return h;
}

function bucket(h: Hist, le: string): number {
  const n = h.buckets.get(le);
  assert.ok(n !== undefined, `no bucket le="${le}"`);
  return n;
}

function typeLines(text: string): string[] {
  return text.split('\n').filter((l) => l.startsWith('# TYPE '));
}

/** Advances mocked setTimeout by `ms` in steps of `stepMs`, so that a timer re-armed when it fires fires again. */
function advance(t: { mock: { timers: { tick(ms: number): void } } }, ms: number, stepMs: number): void {
  for (let done = 0; done < ms; done += stepMs) t.mock.timers.tick(Math.min(stepMs, ms - done));
}

/**
 * Resolves once the library's own 10 ms event-loop sampler (monitorEventLoopDelay, monitoringPrecision
 * 10) has had time for the 5 samples it needs before it reports its delay gauges: a sampler like it,
 * started after it, has 10. Collecting is not involved (a collect resets the library's sampler).
 */
async function libraryHasSamples(): Promise<void> {
  const like = monitorEventLoopDelay({ resolution: 10 });
  like.enable();
  try {
    await waitFor('10 samples of a 10 ms event-loop delay sampler', () => like.count >= 10);
  } finally {
    like.disable();
  }
}

test('a 200 ms block shows up in eventloop_delay_seconds above 0.1 s', async (t) => {
  const { provider, scrapers } = setup();
  const runtime = startRuntimeMetrics(provider, { sampleIntervalMs: 20 });
  t.after(() => runtime.stop()); // also when an assertion fails: stop() is idempotent
  busyWait(200); // the probe's first timer is due in 20 ms: it fires ~180 ms late
  await waitFor('the probe to record its late timer', async () => histogram(await scrapers[0].scrape()).count > 0);
  runtime.stop();

  const text = await scrapers[0].scrape();
  assert.ok(text.includes('# TYPE eventloop_delay_seconds histogram\n'), text);
  const h = histogram(text);
  assert.deepEqual([...h.buckets.keys()], [...EVENTLOOP_DELAY_BUCKETS.map(String), '+Inf']);
  assert.ok(h.count > 0, `count ${h.count}`);
  assert.equal(bucket(h, '+Inf'), h.count);
  assert.ok(bucket(h, '0.1') < bucket(h, '+Inf'), `no sample above 0.1 s:\n${delayLines(text).join('\n')}`);
  assert.ok(h.sum >= 0.15, `sum ${h.sum}`);
});

test('the probe samples every sampleIntervalMs (mocked timers)', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { provider, scrapers } = setup();
  const runtime = startRuntimeMetrics(provider, { sampleIntervalMs: 50 });
  t.after(() => runtime.stop()); // also when an assertion fails: stop() is idempotent
  advance(t, 420, 10);
  runtime.stop();
  const h = histogram(await scrapers[0].scrape());
  assert.equal(h.count, 8, 'one sample per 50 ms in 420 ms');
  assert.throws(() => startRuntimeMetrics(provider, { sampleIntervalMs: 0 }), RangeError);
});

test('scraping does not change the histogram: two scrapers, one scraping 20× as often, agree', async (t) => {
  const { provider, scrapers } = setup(2);
  const [busy, rare] = scrapers;
  const runtime = startRuntimeMetrics(provider, { sampleIntervalMs: 5 });
  t.after(() => runtime.stop()); // also when an assertion fails: stop() is idempotent

  let previous: Hist = { count: 0, sum: 0, buckets: new Map() }; // nothing recorded yet
  /** Two collects in a row: each sees the histogram only grow. */
  const scrapeTwice = async () => {
    for (const text of [await busy.scrape(), await busy.scrape()]) {
      const h = histogram(text);
      assert.ok(h.count >= previous.count, `count went from ${previous.count} to ${h.count}`);
      assert.ok(h.sum >= previous.sum, `sum went from ${previous.sum} to ${h.sum}`);
      for (const [le, n] of h.buckets) assert.ok(n >= (previous.buckets.get(le) ?? 0), `bucket le="${le}" decreased`);
      previous = h;
    }
  };
  for (let i = 0; i < 10; i++) {
    await sleep(15);
    if (i % 3 === 0) busyWait(30);
    await scrapeTwice();
  }
  await waitFor('more than 10 probe samples', async () => {
    await scrapeTwice();
    return previous.count > 10;
  });
  runtime.stop();

  // Stopped: no sample can land between these collects.
  const first = delayLines(await busy.scrape());
  const second = delayLines(await busy.scrape());
  assert.deepEqual(second, first);
  assert.equal(first.length, 3 + EVENTLOOP_DELAY_BUCKETS.length + 1 + 2, first.join('\n')); // HELP UNIT TYPE, buckets, sum, count
  assert.ok(histogram(first.join('\n')).count > 10, 'the probe did not run');
  // The scraper that collected only once sees exactly the same cumulative histogram.
  assert.deepEqual(delayLines(await rare.scrape()), first);
  // And nothing is recorded after stop(): a probe timer left armed (due within 5 ms) would fire
  // before this 50 ms one, however loaded the machine.
  await sleep(50);
  assert.deepEqual(delayLines(await busy.scrape()), first);
});

test('the runtime library metrics are exported, its resetting gauges are not', async (t) => {
  const { provider, scrapers } = setup();
  // default monitoringPrecision is 10 ms: after 150 ms the library would have its >= 5 samples to report
  const runtime = startRuntimeMetrics(provider);
  t.after(() => runtime.stop()); // also when an assertion fails: stop() is idempotent
  const junk: number[][] = [];
  for (let i = 0; i < 200_000; i++) junk.push([i, i, i, i]); // some garbage, for a GC sample
  junk.length = 0;
  busyWait(30);
  await libraryHasSamples();
  const text = await scrapers[0].scrape();
  const again = await scrapers[0].scrape();
  runtime.stop();
  for (const line of typeLines(text)) t.diagnostic(line);

  for (const exposition of [text, again]) {
    for (const line of exposition.split('\n')) assert.doesNotMatch(line, WINDOWED_PROM);
  }
  const types = typeLines(text);
  for (const expected of [
    '# TYPE nodejs_eventloop_time_total counter',
    '# TYPE v8js_memory_heap_used gauge',
    '# TYPE v8js_memory_heap_space_size gauge',
    '# TYPE v8js_gc_duration histogram',
    '# TYPE eventloop_delay_seconds histogram',
  ]) {
    assert.ok(types.includes(expected), `missing ${expected} in\n${types.join('\n')}`);
  }
  assert.match(text, /^nodejs_eventloop_time_total\{[^}]*nodejs_eventloop_state="active"[^}]*\} [0-9.e+-]+$/m);
  assert.match(text, /^nodejs_eventloop_time_total\{[^}]*nodejs_eventloop_state="idle"[^}]*\} [0-9.e+-]+$/m);
  const oldSpace = /^v8js_memory_heap_used\{[^}]*v8js_heap_space_name="old_space"[^}]*\} (\S+)$/m.exec(text);
  assert.ok(oldSpace && Number(oldSpace[1]) > 0, 'no v8js_memory_heap_used for old_space');
  assert.match(text, /^v8js_gc_duration_count\{[^}]*\} [1-9]/m);
});

test('control: without the views the library does export the resetting gauges', async (t) => {
  // Same wait as above: proves that their absence there is the views' doing.
  const { provider, scrapers } = setup(1, []);
  const instrumentation = new RuntimeNodeInstrumentation({ enabled: false });
  instrumentation.setMeterProvider(provider);
  instrumentation.enable();
  t.after(() => instrumentation.disable());
  busyWait(30);
  await libraryHasSamples();
  const text = await scrapers[0].scrape();
  instrumentation.disable();
  for (const name of WINDOWED) {
    const prom = name.replaceAll('.', '_');
    assert.match(text, new RegExp(`^# TYPE ${prom} gauge$`, 'm'));
    assert.match(text, new RegExp(`^${prom}(\\{[^}]*\\})? \\S+$`, 'm'));
  }
});

test('the probe timer never holds the event loop', async (t) => {
  const { provider, scrapers } = setup();
  const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const runtime = startRuntimeMetrics(provider, { sampleIntervalMs: 5 });
  t.after(() => runtime.stop()); // also when an assertion fails: stop() is idempotent
  assert.equal(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length, before);
  await waitFor('the probe to re-arm its timer', async () => histogram(await scrapers[0].scrape()).count >= 2);
  runtime.stop();
  assert.equal(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length, before);
  runtime.stop(); // idempotent
});

test('starts on one provider share one probe; it stops with the last handle (mocked timers)', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { provider, scrapers } = setup();
  const count = async () => histogram(await scrapers[0].scrape()).count;
  const a = startRuntimeMetrics(provider, { sampleIntervalMs: 10 });
  const b = startRuntimeMetrics(provider, { sampleIntervalMs: 10 });
  t.after(() => {
    a.stop();
    b.stop();
  });
  advance(t, 200, 10);
  assert.equal(await count(), 20, 'one probe at 10 ms over 200 ms (two would record 40)');
  a.stop();
  a.stop(); // idempotent: does not stop b's share
  advance(t, 60, 10);
  assert.equal(await count(), 26, 'the probe stopped with the first handle');
  b.stop();
  const final = delayLines(await scrapers[0].scrape());
  advance(t, 40, 10);
  assert.deepEqual(delayLines(await scrapers[0].scrape()), final, 'the probe runs after the last stop()');
  // stopped: starting again works and samples again
  const c = startRuntimeMetrics(provider, { sampleIntervalMs: 10 });
  t.after(() => c.stop());
  advance(t, 40, 10);
  c.stop();
  assert.equal(await count(), 30);
});

/** A child process that starts runtime metrics and returns: it must exit by itself. */
function runChild(callStop: boolean): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const code = `
    const { MeterProvider } = await import('@opentelemetry/sdk-metrics');
    const { startRuntimeMetrics } = await import(${JSON.stringify(pathToFileURL(runtimeModule).href)});
    const runtime = startRuntimeMetrics(new MeterProvider(), { sampleIntervalMs: 5 });
    setTimeout(() => { ${callStop ? 'runtime.stop();' : ''} console.log('done'); }, 100);
  `;
  const t0 = performance.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--input-type=module', '--eval', code],
      { cwd: root, timeout: 15_000 },
      (err, stdout, stderr) => {
        const exit: unknown = err ? (err as { code?: unknown }).code : 0;
        resolve({ code: typeof exit === 'number' ? exit : null, stdout, stderr, ms: performance.now() - t0 });
      },
    );
  });
}

test('a process with runtime metrics exits by itself, stopped or not', async () => {
  const [stopped, running] = await Promise.all([runChild(true), runChild(false)]);
  for (const [label, run] of [['stopped', stopped], ['not stopped', running]] as const) {
    assert.equal(run.code, 0, `${label}: exit ${run.code} after ${Math.round(run.ms)} ms\n${run.stderr}`);
    assert.equal(run.stdout, 'done\n', label);
  }
});
