// Every series name that otel/alerts.yml and otel/dashboard.json read must be on the real
// service's /metrics after real traffic: a typo or a renamed instrument would otherwise leave an
// alert that can never fire and an empty panel, with no error anywhere.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect, streamAudio } from '../../src/client/stream-client.ts';
import { speechFixture, startTestService, type TestService } from '../helpers/service.ts';
import { eventually } from '../helpers/wait.ts';
import { allExprs } from './artifacts.ts';
import { metricNamesIn } from './promql.ts';

/** Prometheus' own series (not exported by the service). */
const SCRAPER_SERIES = new Set(['up']);

/** Series names on a Prometheus text exposition: the name before `{` or a space, `#` lines skipped. */
export function seriesNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const raw of exposition.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?=[{\s])/.exec(line);
    if (m) names.add(m[1]);
  }
  return names;
}

const fixture = speechFixture();
let service: TestService;

before(async () => {
  service = await startTestService();
});
after(() => service.shutdown(0));

async function scrape(): Promise<string> {
  const res = await fetch(`${service.url}/metrics`);
  const body = await res.text();
  assert.equal(res.status, 200, `GET /metrics answered ${res.status}: ${body.slice(0, 200)}`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/, 'Prometheus text exposition');
  return body;
}

/** Series name → where otel/alerts.yml and otel/dashboard.json read it. */
function wantedNames(): Map<string, string[]> {
  const wanted = new Map<string, string[]>();
  for (const { source, expr } of allExprs()) {
    for (const name of metricNamesIn(expr)) {
      if (!SCRAPER_SERIES.has(name)) wanted.set(name, [...(wanted.get(name) ?? []), source]);
    }
  }
  return wanted;
}

// Runs first: no stream yet. An absence alert (absent(), "no data") must mean a scrape problem,
// never a quiet service, and increase() must see the first event of every series.
test('the series names used by otel/alerts.yml and otel/dashboard.json are all on the first /metrics, before any traffic', async () => {
  const wanted = wantedNames();
  const names = seriesNames(await scrape());
  const missing = [...wanted.keys()].filter((n) => !names.has(n));
  assert.deepEqual(
    missing.map((n) => `${n} (used by ${wanted.get(n)!.join('; ')})`),
    [],
    'series read by the alerts/dashboard but absent before the first event: create them at 0 (src/telemetry/zero-series.ts)',
  );
});

test('the series names used by otel/alerts.yml and otel/dashboard.json are all on a live /metrics after traffic', async (t) => {
  // Real traffic on both routes: whole streams with results, interim segments on the segmented route.
  const [simple, segmented] = await Promise.all([
    streamAudio({ addr: service.ws('simple'), format: fixture.format, pcm: fixture.pcm }),
    streamAudio({ addr: service.ws('segmented'), format: fixture.format, pcm: fixture.pcm, interimResults: true }),
  ]);
  for (const [route, r] of [['simple', simple], ['segmented', segmented]] as const) {
    assert.equal(r.closeCode, 1000, `${route}: closed normally`);
    assert.ok(r.events.some((e) => e.type === 'segment'), `${route}: got segments`);
    assert.equal(r.events.at(-1)?.type, 'stream_end', `${route}: stream_end`);
  }
  // A protocol error (the stream goes on).
  const conn = await connect(service.ws('segmented'));
  await conn.send('this is not json');
  const error = await conn.next('error');
  assert.equal(error.code, 'invalid_json');
  await conn.close();

  const wanted = wantedNames();
  assert.ok(wanted.size >= 25, `${wanted.size} names referenced`);

  // Metrics recorded when a stream ends may land just after the socket closes: scrape until none is missing.
  let names = new Set<string>();
  let missing: string[] = [];
  await eventually(async () => {
    names = seriesNames(await scrape());
    missing = [...wanted.keys()].filter((n) => !names.has(n));
    return missing.length === 0;
  });
  t.diagnostic(`${wanted.size} referenced names, ${names.size} series names on /metrics`);
  assert.deepEqual(
    missing.map((n) => `${n} (used by ${wanted.get(n)!.join('; ')})`),
    [],
    'series read by the alerts/dashboard but not exported. Counters of rare events (task_panics_total, ' +
      'model_failures_total, ...) must be exported at 0 from start-up (counter.add(0, attrs) for each label set): ' +
      'otherwise the series does not exist before the first event and increase() misses that first event.',
  );
});

test('seriesNames parses exposition lines', () => {
  const text = [
    '# HELP rtf processing time / audio duration',
    '# TYPE rtf histogram',
    'rtf_bucket{pipeline="model",le="+Inf"} 3',
    'rtf_sum{pipeline="model"} 1.5',
    'active_connections 2',
    'target_info{service_name="streamer"} 1',
    '',
  ].join('\n');
  assert.deepEqual([...seriesNames(text)], ['rtf_bucket', 'rtf_sum', 'active_connections', 'target_info']);
});
