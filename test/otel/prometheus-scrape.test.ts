// A real Prometheus (Debian package) scrapes the real service with the shipped otel/prometheus.yml
// (target pointed at the test's port) while traffic flows on both routes, with model failures.
// Then every PromQL query of docs/metrics.md runs through Prometheus' HTTP API: each must return data,
// and where the truth is known (from the raw samples Prometheus stored), the right numbers.
import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import { connect, streamAudio, type Connection } from '../../src/client/stream-client.ts';
import { FINAL_PHASES } from '../../src/telemetry/final-phases.ts';
import { STAGES } from '../../src/telemetry/stages.ts';
import { TASK_NAMES } from '../../src/task.ts';
import { scrape } from '../helpers/prometheus.ts';
import { hasPrometheus, startPrometheus, type InstantSample, type PrometheusServer } from '../helpers/prometheus-server.ts';
import { speechFixture, startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait.ts';
import { allExprs } from './artifacts.ts';
import { metricsDocQueries } from './cookbook.ts';
import { metricNamesIn } from './promql.ts';

const IN_CI = ['true', '1'].includes((process.env.CI ?? '').toLowerCase());
/** High enough that a few dozen inferences surely include failures and successes. */
const FAILURE_RATE = 0.3;
/** Traffic lasts at least this long, so that rates span several scrapes. */
const TRAFFIC_SECONDS = 5;
/** Waiting for Prometheus: a few scrape intervals, polled every 100 ms (each poll is a query). */
const PROMETHEUS_WAIT = { timeoutMs: 20_000, everyMs: 100 };

const fixture = speechFixture();
let service: TestService | undefined;
let prometheus: PrometheusServer | undefined;
/** Held open while the queries run: active_streams must read 1. */
let openStream: Connection | undefined;
/** Timestamp (s) of the scrape the queries are evaluated at: rate() does not extrapolate past it. */
let evalTime = '';
const client = { streams: 0, modelFailures: 0, segments: 0 };

function skipWithoutPrometheus(t: TestContext): boolean {
  if (prometheus) return false;
  if (IN_CI) assert.fail('prometheus must be installed in CI (.ci/run installs the Debian package prometheus)');
  t.skip('prometheus not installed');
  return true;
}

/** One stream on each route at once, with interim results on the segmented route. */
async function streamBothRoutes(): Promise<void> {
  const results = await Promise.all([
    streamAudio({ addr: service!.ws('segmented'), format: fixture.format, pcm: fixture.pcm, chunkBytes: 8000, interimResults: true }),
    streamAudio({ addr: service!.ws('simple'), format: fixture.format, pcm: fixture.pcm, chunkBytes: 8000 }),
  ]);
  for (const r of results) {
    assert.equal(r.closeCode, 1000, `a stream closed with ${r.closeCode} ${r.closeReason}`);
    assert.equal(r.events.at(-1)?.type, 'stream_end');
    client.streams++;
    client.segments += r.events.filter((e) => e.type === 'segment').length;
    client.modelFailures += r.events.filter((e) => e.type === 'error' && e.code === 'model_failure').length;
  }
}

/** A protocol error, answered with an `error` event (the connection stays open). */
async function sendJunk(conn: Connection): Promise<void> {
  await conn.send('this is not json');
  const error = await conn.next('error');
  assert.equal(error.code, 'invalid_json');
}

/** Series whose stored value must equal /metrics before the queries run. */
const SETTLED = ['model_failures_total', 'processing_duration_seconds_count', 'segments_total', 'audio_received_seconds_total', 'protocol_errors_total'];

/** Prometheus' latest scrape has what /metrics has now (a missing series counts as 0 on both sides). */
async function prometheusIsCurrent(): Promise<boolean> {
  const exposition = await scrape(service!.url);
  for (const name of SETTLED) {
    const stored = await prometheus!.query(`sum(${name})`);
    const [a, b] = [Number(stored.result[0]?.value[1] ?? 0), exposition.sum(name)];
    if (Math.abs(a - b) > 1e-9 * Math.abs(b)) return false; // sums of the same floats in another order
  }
  return true;
}

before(
  async () => {
    if (!hasPrometheus()) return;
    service = await startTestService({ model: { failure_rate: FAILURE_RATE } });
    // Warm-up before Prometheus starts, so that every series exists at its first scrape: rate()
    // then sees all of the traffic below and extrapolates by little (the stored increase is exact).
    await streamBothRoutes();
    const junk = await connect(service.ws('segmented'));
    await sendJunk(junk);
    await junk.close();
    prometheus = await startPrometheus(service.port);
    await waitFor('Prometheus to have scraped the warmed-up service', prometheusIsCurrent, PROMETHEUS_WAIT);
    Object.assign(client, { streams: 0, segments: 0, modelFailures: 0 });
    const deadline = Date.now() + TRAFFIC_SECONDS * 1000;
    while (Date.now() < deadline || client.modelFailures === 0) {
      await streamBothRoutes();
      if (Date.now() > deadline + 30_000) assert.fail(`no model failure in ${client.streams} streams with failure_rate ${FAILURE_RATE}`);
    }
    // A protocol error (protocol_errors_total increases), then a stream held open while the queries run.
    openStream = await connect(service.ws('segmented'));
    await sendJunk(openStream);
    await openStream.send({ request: 'start', format: fixture.format });
    await openStream.send({ request: 'keepalive' });
    await openStream.next('ack');
    const prom = prometheus;
    await waitFor(
      'a scrape in Prometheus with the open stream and the final counters',
      async () => Number((await prom.query('sum(active_streams)')).result[0]?.value[1]) === 1 && (await prometheusIsCurrent()),
      PROMETHEUS_WAIT,
    );
    evalTime = (await prom.query('timestamp(up{job="streamer"})')).result[0].value[1];
  },
  { timeout: 90_000 },
);

after(async () => {
  await openStream?.close();
  await prometheus?.stop();
  await service?.shutdown(0);
});

/** `expr` evaluated at `time` (default now), as an instant vector. */
const query = async (expr: string, time?: string): Promise<InstantSample[]> => {
  const data = await prometheus!.query(expr, time);
  assert.equal(data.resultType, 'vector', `${expr}: an instant vector`);
  return data.result;
};
/** `expr` evaluated at the settled scrape. */
const queryAtScrape = (expr: string) => query(expr, evalTime);

/**
 * What Prometheus stored for a counter: its increase over the samples, and the most that rate()
 * can make of it. rate() extrapolates from the first sample back towards the start of its window,
 * but never past the point where the counter would be 0, so
 * increase / window <= rate <= (increase + first value) / window. The warm-up before Prometheus
 * started keeps first values small, and evaluating at a scrape's timestamp leaves nothing to
 * extrapolate forward.
 */
interface Stored {
  increase: number;
  atMost: number;
}

/** Stored counters of `selector`, summed by `label`'s value ('' without a label). */
async function stored(selector: string, label?: string): Promise<Record<string, Stored>> {
  const out: Record<string, Stored> = {};
  for (const series of await prometheus!.samples(`${selector}[1h]`, evalTime)) {
    const values = series.values.map(([, v]) => Number(v));
    let increase = 0;
    for (let i = 1; i < values.length; i++) increase += values[i] >= values[i - 1] ? values[i] - values[i - 1] : values[i]; // a reset starts from 0
    const key = label ? series.metric[label] : '';
    const sum = (out[key] ??= { increase: 0, atMost: 0 });
    sum.increase += increase;
    sum.atMost += increase + values[0];
  }
  return out;
}

const value = (s: InstantSample) => Number(s.value[1]);

function byLabel(result: InstantSample[], label: string): Record<string, number> {
  return Object.fromEntries(result.map((s) => [s.metric[label], value(s)]));
}

function assertWithin(actual: number, low: number, high: number, what: string): void {
  assert.ok(low > 0 && Number.isFinite(high), `${what}: bounds ${low} … ${high} from the stored samples`);
  const slack = 1e-9 * high; // float rounding
  assert.ok(actual >= low - slack && actual <= high + slack, `${what}: ${actual}, expected ${low} … ${high} from the stored samples`);
}

/** The window of a cookbook rate, e.g. 300 for `[5m]` (one per query). */
function windowSeconds(expr: string): number {
  const windows = new Set([...expr.matchAll(/\[(\d+)([smh])\]/g)].map(([, n, u]) => Number(n) * { s: 1, m: 60, h: 3600 }[u as 's' | 'm' | 'h']));
  assert.equal(windows.size, 1, `${expr}: one rate window`);
  return [...windows][0];
}

interface Truth {
  what: string;
  /** Which cookbook query it checks, by the series it reads. */
  reads: (names: string[]) => boolean;
  check(result: InstantSample[], expr: string): Promise<void>;
}

const readsExactly = (...wanted: string[]) => (names: string[]) => [...names].sort().join() === [...wanted].sort().join();
const stagesOf = (result: InstantSample[]) => Object.keys(byLabel(result, 'pipeline')).sort();

/** docs/metrics.md's failure ratio, and the dashboard's. */
const FAILURE_SHARE: Truth = {
  what: 'model failure ratio = stored failures / (failures + successful inferences)',
  reads: (names) => names.includes('model_failures_total'),
  async check(result) {
    assert.equal(result.length, 1, 'one fleet-wide ratio');
    const ratio = value(result[0]);
    assert.ok(ratio > 0 && ratio < 1, `failure ratio ${ratio}: a share, between 0 and 1`);
    const failed = (await stored('model_failures_total'))[''];
    const succeeded = (await stored('processing_duration_seconds_count{pipeline="model"}'))[''];
    const what = `failure ratio (${failed.increase} failed, ${succeeded.increase} succeeded)`;
    assertWithin(ratio, failed.increase / (failed.increase + succeeded.atMost), failed.atMost / (failed.atMost + succeeded.increase), what);
  },
};

const TRUTHS: Truth[] = [
  {
    what: 'fleet RTF per stage = stored processing seconds / audio seconds',
    reads: readsExactly('processing_duration_seconds_sum', 'media_duration_seconds_sum'),
    async check(result) {
      assert.deepEqual(stagesOf(result), [...STAGES].sort());
      const processing = await stored('processing_duration_seconds_sum', 'pipeline');
      const media = await stored('media_duration_seconds_sum', 'pipeline');
      for (const [stage, rtf] of Object.entries(byLabel(result, 'pipeline'))) {
        const [p, m] = [processing[stage], media[stage]];
        assertWithin(rtf, p.increase / m.atMost, p.atMost / m.increase, `${stage} RTF`);
      }
    },
  },
  {
    what: 'p95 RTF per stage is finite and positive',
    reads: readsExactly('rtf_bucket'),
    async check(result) {
      assert.deepEqual(stagesOf(result), [...STAGES].sort());
      for (const [stage, rtf] of Object.entries(byLabel(result, 'pipeline'))) assert.ok(Number.isFinite(rtf) && rtf > 0, `${stage}: p95 RTF ${rtf}`);
    },
  },
  {
    what: 'processing seconds per second per stage = stored increase / window',
    reads: readsExactly('processing_duration_seconds_sum'),
    async check(result, expr) {
      assert.deepEqual(stagesOf(result), [...STAGES].sort());
      const processing = await stored('processing_duration_seconds_sum', 'pipeline');
      const window = windowSeconds(expr);
      for (const [stage, rate] of Object.entries(byLabel(result, 'pipeline'))) {
        assertWithin(rate, processing[stage].increase / window, processing[stage].atMost / window, `${stage} processing s/s`);
      }
    },
  },
  {
    what: 'audio seconds per second = stored increase / window',
    reads: readsExactly('audio_received_seconds_total'),
    async check(result, expr) {
      assert.equal(result.length, 1);
      const received = (await stored('audio_received_seconds_total'))[''];
      const window = windowSeconds(expr);
      assertWithin(value(result[0]), received.increase / window, received.atMost / window, 'audio s/s');
      // Every stream after the first scrape, whole: the stored increase is exactly the audio sent.
      const sent = client.streams * fixture.duration;
      assert.ok(Math.abs(received.increase - sent) < 1e-6 * sent, `${received.increase} s received, ${client.streams} streams of ${fixture.duration} s sent`);
    },
  },
  {
    what: 'streams running = the one held open',
    reads: readsExactly('active_streams'),
    async check(result) {
      assert.deepEqual(result.map(value), [1]);
    },
  },
  {
    what: 'backlog per stage is 0 once every stream has been processed',
    reads: readsExactly('stage_backlog_seconds'),
    async check(result) {
      assert.deepEqual(stagesOf(result), [...STAGES].sort());
      assert.deepEqual(byLabel(result, 'pipeline'), Object.fromEntries(STAGES.map((s) => [s, 0])));
    },
  },
  {
    what: 'p95 final-result latency after a VAD endpoint is finite and positive',
    reads: readsExactly('final_result_latency_seconds_bucket'),
    async check(result) {
      assert.equal(result.length, 1);
      assert.ok(value(result[0]) > 0 && Number.isFinite(value(result[0])), `${value(result[0])}`);
    },
  },
  {
    what: 'mean seconds per VAD final by phase = stored phase seconds / finals, and the phases add up to the stored latency',
    reads: readsExactly('final_result_phase_seconds_sum', 'final_result_phase_seconds_count'),
    async check(result) {
      assert.deepEqual(Object.keys(byLabel(result, 'phase')).sort(), [...FINAL_PHASES].sort());
      const seconds = await stored('final_result_phase_seconds_sum', 'phase');
      const finals = await stored('final_result_phase_seconds_count', 'phase');
      for (const [phase, mean] of Object.entries(byLabel(result, 'phase'))) {
        const [s, n] = [seconds[phase], finals[phase]];
        assert.ok(n.increase > 0, `${phase}: finals stored`);
        // A phase may be 0 in every final (no model wait on an idle service): then so is its mean.
        if (s.atMost === 0) assert.equal(mean, 0, `${phase} mean`);
        else assert.ok(mean >= s.increase / n.atMost - 1e-12 && mean <= s.atMost / n.increase + 1e-12, `${phase} mean ${mean}: ${s.increase}/${n.atMost} … ${s.atMost}/${n.increase}`);
      }
      const latency = (await stored('final_result_latency_seconds_sum{route="segmented",endpoint="vad"}'))[''];
      const phases = Object.values(seconds).reduce((a, b) => a + b.increase, 0);
      assert.ok(Math.abs(phases - latency.increase) < 1e-6, `Σ phases ${phases} s, latency ${latency.increase} s`);
    },
  },
  {
    what: 'p99 per phase is finite and no larger than the largest bucket',
    reads: readsExactly('final_result_phase_seconds_bucket'),
    async check(result) {
      assert.deepEqual(Object.keys(byLabel(result, 'phase')).sort(), [...FINAL_PHASES].sort());
      for (const [phase, p99] of Object.entries(byLabel(result, 'phase'))) assert.ok(p99 >= 0 && p99 <= 10, `${phase}: p99 ${p99}`);
    },
  },
  {
    what: 'panics: 0 for every task (the simulated model only fails, it does not crash)',
    reads: readsExactly('task_panics_total'),
    async check(result) {
      assert.deepEqual(Object.keys(byLabel(result, 'task')).sort(), [...TASK_NAMES].sort());
      assert.ok(result.every((s) => value(s) === 0), JSON.stringify(result));
    },
  },
  FAILURE_SHARE,
  {
    what: 'share of slow polls per task is between 0 and 1',
    reads: readsExactly('task_slow_polls_total', 'task_polls_total'),
    async check(result) {
      assert.deepEqual(Object.keys(byLabel(result, 'task')).sort(), [...TASK_NAMES].sort());
      for (const s of result) assert.ok(value(s) >= 0 && value(s) <= 1, `${s.metric.task}: ${value(s)}`);
    },
  },
  {
    what: 'p99 event-loop delay is finite and positive',
    reads: readsExactly('eventloop_delay_seconds_bucket'),
    async check(result) {
      assert.equal(result.length, 1);
      assert.ok(value(result[0]) > 0 && Number.isFinite(value(result[0])), `${value(result[0])}`);
    },
  },
];

test('every PromQL query of docs/metrics.md returns data from a real Prometheus, and the known values are right', { timeout: 60_000 }, async (t) => {
  if (skipWithoutPrometheus(t)) return;
  const queries = metricsDocQueries();
  assert.ok(queries.filter((q) => q.heading === 'PromQL cookbook').length >= 10, `${queries.length} queries found in docs/metrics.md's promql blocks`);
  t.diagnostic(`client side: ${client.streams} streams, ${client.segments} segments, ${client.modelFailures} model failures`);
  const checked = new Set<Truth>();
  const failures: string[] = [];
  for (const q of queries) {
    const where = `docs/metrics.md:${q.line} (${q.comment})`;
    try {
      const result = await queryAtScrape(q.expr);
      assert.ok(result.length > 0, 'no result: check that the label sets on both sides of each binary operator match (on/ignoring, or sum on both sides)');
      for (const s of result) assert.ok(Number.isFinite(value(s)), `${JSON.stringify(s.metric)}: ${s.value[1]}`);
      const truths = TRUTHS.filter((tr) => tr.reads(metricNamesIn(q.expr)));
      assert.ok(truths.length <= 1, `matched several checks: ${truths.map((tr) => tr.what).join('; ')}`);
      for (const tr of truths) {
        checked.add(tr);
        await tr.check(result, q.expr);
      }
      t.diagnostic(`${where}: ${result.map((s) => `${JSON.stringify(s.metric)} ${s.value[1]}`).join(', ')}`);
    } catch (err) {
      failures.push(`${where} ${q.expr}\n    ${(err as Error).message.split('\n')[0]}`);
    }
  }
  assert.deepEqual(failures, [], 'cookbook queries that are wrong');
  const unmatched = TRUTHS.filter((tr) => !checked.has(tr)).map((tr) => tr.what);
  assert.deepEqual(unmatched, [], 'checks whose cookbook query is gone from docs/metrics.md (update TRUTHS with the doc)');
});

test('Prometheus scrapes /metrics: up is 1 and per-stage RTF quantiles come back for vad and model', { timeout: 30_000 }, async (t) => {
  if (skipWithoutPrometheus(t)) return;
  const up = await query('up{job="streamer"}');
  assert.equal(up.length, 1);
  assert.equal(up[0].value[1], '1');
  const quantiles = await query('histogram_quantile(0.5, sum by (le, pipeline) (rate(rtf_bucket[1m])))');
  const byStage = byLabel(quantiles, 'pipeline');
  for (const stage of STAGES) {
    assert.ok(Number.isFinite(byStage[stage]) && byStage[stage] > 0, `${stage}: ${byStage[stage]}`);
  }
  assert.ok(byStage.vad < 1 && byStage.model > byStage.vad, JSON.stringify(byStage));
});

test('every otel/dashboard.json panel query and otel/alerts.yml expression (less its threshold) returns data; the dashboard failure share is right', { timeout: 30_000 }, async (t) => {
  if (skipWithoutPrometheus(t)) return;
  const exprs = allExprs().map(({ source, expr }) => {
    if (source.startsWith('alerts.yml')) {
      // The alert fires on a comparison with a threshold; what it compares must exist.
      const m = /^(.*?)\s*(?:==|!=|>=|<=|>|<)\s*[0-9.]+$/s.exec(expr.trim());
      assert.ok(m, `${source}: expected "<expression> <comparison> <number>", got ${expr}`);
      return { source, expr: m[1] };
    }
    // Grafana variables: every instance, 5-minute windows.
    return { source, expr: expr.replaceAll('$instance', '.+').replace(/\$\{?__rate_interval\}?/g, '5m') };
  });
  assert.ok(exprs.length >= 40, `${exprs.length} expressions`);
  const empty: string[] = [];
  let sharesChecked = 0;
  for (const { source, expr } of exprs) {
    const result = await queryAtScrape(expr);
    if (result.length === 0) empty.push(`${source}: ${expr}`);
    if (source.startsWith('dashboard.json') && FAILURE_SHARE.reads(metricNamesIn(expr)) && metricNamesIn(expr).length > 1) {
      sharesChecked++;
      await FAILURE_SHARE.check(result, expr);
    }
  }
  assert.equal(sharesChecked, 1, 'the dashboard shows the model failure share');
  assert.deepEqual(empty, [], 'expressions that return nothing after traffic on both routes (labels that differ across a binary operator?)');
});
