// One fleet under load (three instances, the shipped HAProxy config in front, the shipped Prometheus
// config scraping each): streams spread over every instance with the results of a single instance;
// the fleet's metrics, summed over instances by Prometheus, equal what the clients sent and got; and
// the autoscaling queries of deploy/kubernetes give the replica count their thresholds imply.
// The tests share one fleet and run in any order: the spread traffic runs before them all, and
// `truth` accumulates everything the clients did.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import yaml from 'js-yaml';
import { connect, type Connection } from '../../src/client/stream-client.ts';
import { metricsDocQueries } from '../otel/cookbook.ts';
import { allUp, FLEET_SIZE, missingTools, startFleet, targetLabels, type Fleet } from './fleet.ts';
import { finals } from '../helpers/events.ts';
import { activeStreams } from '../helpers/prometheus.ts';
import { INSTANCE_CONFIG, segmentedUrl, stream, streamsEnded, type Streamed, fixture } from './streams.ts';

const root = new URL('../../', import.meta.url).pathname;
const skip = missingTools();
const TIMEOUT = 60_000;

let fleet: Fleet;
let spread: Awaited<ReturnType<typeof spreadTraffic>>;
before(async () => {
  if (skip) return;
  fleet = await startFleet(INSTANCE_CONFIG);
  spread = await spreadTraffic();
});
after(() => fleet?.stop());

/** Ground truth: what the clients sent and received, over every test of this file. */
const truth = { audioSeconds: 0, finalSegments: 0, completed: 0 };
let lastTrafficAt = 0;
function account(r: Streamed): void {
  truth.audioSeconds += r.sentSeconds;
  truth.finalSegments += finals(r.events).length;
  if (r.events.some((e) => e.type === 'stream_end')) truth.completed++;
  lastTrafficAt = Date.now();
}

const STREAMS = 60;

/** A single-instance reference run, then STREAMS concurrent streams of the same audio through HAProxy. */
async function spreadTraffic() {
  // The fixture twice over, in real time: 16 s, so that Prometheus (every 5 s) scrapes each instance
  // at least twice while results come, which the fleet RTF below needs (rate() takes two samples).
  const pcm = Buffer.concat([fixture.pcm, fixture.pcm]);
  // The reference: the same audio straight to one instance, as fast as it is taken.
  const reference = await stream(segmentedUrl(fleet.instances[0]), { pcm });
  account(reference);
  assert.equal(finals(reference.events).length, 2 * fixture.regions.length, 'the fixture has two spoken sentences');
  // 16 s of audio pushed at once is more backlog than limits.saturation_backlog_seconds: that
  // instance reported itself saturated and HAProxy took it out; wait until it is back.
  await fleet.haproxy.waitFor('every server back in rotation after the reference run', allUp);

  const before = await Promise.all(fleet.instances.map(streamsEnded));
  const results = await Promise.all(Array.from({ length: STREAMS }, () => stream(fleet.ws('segmented'), { realTime: true, pcm })));
  results.forEach(account);
  const served = (await Promise.all(fleet.instances.map(streamsEnded))).map((n, i) => n - before[i]);
  return { reference, results, served };
}

test('spread: 60 concurrent streams through HAProxy reach every instance (≥ 20 % each), each with the single-instance results', { skip, timeout: TIMEOUT }, () => {
  const { reference, results, served } = spread;
  results.forEach((r, i) => {
    assert.equal(r.closeCode, 1000, `stream ${i}: closed ${r.closeCode} ${r.closeReason}`);
    assert.equal(r.events.at(-1)?.type, 'stream_end', `stream ${i} ends with stream_end`);
    // Same boundaries, same model output: the simulated model and the VAD are deterministic.
    assert.deepEqual(finals(r.events), finals(reference.events), `stream ${i}: final segments differ from the reference run`);
  });
  assert.equal(served.reduce((a, b) => a + b, 0), STREAMS, `streams ended per instance: ${served.join(', ')}`);
  for (const [i, n] of served.entries()) assert.ok(n >= STREAMS * 0.2, `${fleet.instances[i].name} served ${n} of ${STREAMS} streams (${served.join(', ')})`);
});

/** A query of the docs/metrics.md's PromQL cookbook, by the first words of its comment. */
function cookbook(comment: string): string {
  const found = metricsDocQueries().find((q) => q.heading === 'PromQL cookbook' && q.comment.startsWith(comment));
  assert.ok(found, `docs/metrics.md's PromQL cookbook has no "# ${comment}" query`);
  return found.expr;
}

test('fleet metrics: Prometheus sums over instances equal what the clients sent and received; fleet RTF is finite per stage', { skip, timeout: TIMEOUT }, async () => {
  assert.ok(truth.completed > STREAMS, 'the spread traffic is in');
  await fleet.prometheus.scrapedSince(lastTrafficAt, FLEET_SIZE);
  const prom = fleet.prometheus;
  const audio = await prom.scalar('sum(audio_received_seconds_total{job="streamer"})');
  assert.ok(Math.abs(audio - truth.audioSeconds) < 1e-6, `audio seconds received: Prometheus ${audio}, clients sent ${truth.audioSeconds}`);
  assert.equal(await prom.scalar('sum(segments_total{job="streamer", final="true"})'), truth.finalSegments, 'final segments sent');
  assert.equal(await prom.scalar('sum(streams_total{job="streamer", outcome="completed"})'), truth.completed, 'streams completed');
  assert.equal(await prom.scalar('sum(streams_total{job="streamer"})'), truth.completed, 'no stream ended otherwise');
  // Every instance contributed (no sum hiding a missing one).
  assert.equal((await prom.vector('sum by (instance) (streams_total{job="streamer"}) > 0')).length, FLEET_SIZE);

  const rtf = await prom.vector(cookbook('Fleet RTF per stage'));
  const byStage = Object.fromEntries(rtf.map((s) => [s.metric.pipeline, s.value]));
  assert.deepEqual(Object.keys(byStage).sort(), ['audio_decoding', 'model', 'vad'], JSON.stringify(rtf));
  for (const [stage, value] of Object.entries(byStage)) assert.ok(Number.isFinite(value) && value > 0, `fleet RTF of ${stage}: ${value}`);
});

interface Trigger {
  name: string;
  metricType: 'AverageValue' | 'Value';
  metadata: { query: string; threshold: string };
}
interface ScaledObject {
  spec: { minReplicaCount: number; maxReplicaCount: number; triggers: Trigger[] };
}
interface Hpa {
  spec: { minReplicas: number; maxReplicas: number; metrics: { pods: { metric: { name: string }; target: { averageValue: string } } }[] };
}
interface AdapterRules {
  rules: { seriesQuery: string; name: { as: string }; metricsQuery: string }[];
}
const manifest = <T>(path: string) => yaml.load(readFileSync(`${root}deploy/kubernetes/${path}`, 'utf8')) as T;
const clamp = (n: number, min: number, max: number) => Math.min(max, Math.max(min, n));

test('autoscaling: under held streams, the KEDA and HPA queries give the replica count the manifests’ thresholds imply', { skip, timeout: TIMEOUT }, async () => {
  const keda = manifest<ScaledObject>('keda/scaledobject.yaml').spec;
  const perPod = keda.triggers.find((t) => t.name === 'streams-per-pod')!;
  const threshold = Number(perPod.metadata.threshold);
  // Enough streams that the answer is above the minimum (which would hide the arithmetic): with
  // the shipped 200 per pod and at least 2 replicas, 420 streams → ceil(420 / 200) = 3 replicas.
  const HELD = keda.minReplicaCount * threshold + 20;
  const expected = Math.ceil(HELD / threshold);
  assert.ok(expected > keda.minReplicaCount);

  const held: Connection[] = [];
  try {
    await Promise.all(
      Array.from({ length: HELD }, async () => {
        const conn = await connect(fleet.ws('segmented'));
        held.push(conn);
        await conn.send({ request: 'start', format: fixture.format });
        // The ack comes after the start was handled: the stream is running.
        await conn.send({ request: 'keepalive' });
        await conn.next('ack');
      }),
    );
    const perInstance = await Promise.all(fleet.instances.map(activeStreams));
    assert.equal(perInstance.reduce((a, b) => a + b, 0), HELD, `streams held per instance: ${perInstance.join(', ')}`);
    await fleet.prometheus.scrapedSince(Date.now(), FLEET_SIZE);
    const current = FLEET_SIZE;

    // KEDA: AverageValue divides by the replica count (desired = ceil(value / threshold)); Value
    // scales the current count by value / threshold; the largest trigger wins, within min…max.
    const kedaDesired: Record<string, number> = {};
    for (const t of keda.triggers) {
      const value = await fleet.prometheus.scalar(t.metadata.query);
      assert.ok(Number.isFinite(value), `${t.name}: ${t.metadata.query} = ${value}`);
      if (t === perPod) assert.equal(value, HELD, `${t.metadata.query}: active streams at steady load`);
      const th = Number(t.metadata.threshold);
      kedaDesired[t.name] = t.metricType === 'AverageValue' ? Math.ceil(value / th) : Math.ceil((current * value) / th);
    }
    const kedaReplicas = clamp(Math.max(...Object.values(kedaDesired)), keda.minReplicaCount, keda.maxReplicaCount);
    assert.equal(kedaReplicas, expected, `KEDA per trigger: ${JSON.stringify(kedaDesired)}`);

    // HPA: the prometheus-adapter rules, filled the way the adapter fills them for these pods; a Pods
    // metric's desired count is ceil(sum over pods / averageValue).
    const hpa = manifest<Hpa>('hpa/hpa.yaml').spec;
    const pods = fleet.instances.map((i) => targetLabels(i.name).pod);
    const hpaDesired: Record<string, number> = {};
    for (const rule of manifest<AdapterRules>('hpa/prometheus-adapter-rules.yaml').rules) {
      const series = /^(\w+)\{/.exec(rule.seriesQuery)![1];
      const query = rule.metricsQuery
        .replaceAll('<<.Series>>', series)
        .replaceAll('<<.LabelMatchers>>', `namespace="streamer",pod=~"${pods.join('|')}"`)
        .replaceAll('<<.GroupBy>>', 'pod');
      const samples = await fleet.prometheus.vector(query);
      assert.deepEqual(samples.map((s) => s.metric.pod).sort(), pods, query);
      const target = Number(hpa.metrics.find((m) => m.pods.metric.name === rule.name.as)!.pods.target.averageValue);
      const sum = samples.reduce((a, s) => a + s.value, 0);
      if (rule.name.as === 'streamer_active_streams') {
        assert.deepEqual(samples.map((s) => [s.metric.pod, s.value]).sort(), pods.map((p, i) => [p, perInstance[i]]), 'per pod, what each instance reports');
      }
      hpaDesired[rule.name.as] = Math.ceil(sum / target);
    }
    const hpaReplicas = clamp(Math.max(...Object.values(hpaDesired)), hpa.minReplicas, hpa.maxReplicas);
    assert.equal(hpaReplicas, expected, `HPA per metric: ${JSON.stringify(hpaDesired)}`);
  } finally {
    await Promise.all(held.map((c) => c.send({ request: 'stop', disconnect: true }).then(() => c.closed, () => c.close())));
    // Held streams that ended are in the servers' counts: the metrics test must expect them too.
    truth.completed += held.filter((c) => c.events.some((e) => e.type === 'stream_end')).length;
    lastTrafficAt = Date.now();
  }
});
