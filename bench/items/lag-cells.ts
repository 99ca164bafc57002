// Cells and the latency-breakdown table shared by items 2 (capacity) and 2b (burst): both are
// capacity runs, one with streams spread, one in phase.
import { FINAL_PHASES } from '../../src/telemetry/final-phases.ts';
import type { HistogramStats, LatencyBreakdown } from '../breakdown.ts';
import type { CapacityRun } from '../capacity.ts';
import { ms, num, type Table } from '../table.ts';

/** The cells items 2 and 2b start each run's row with: N, streams done, finals, lag p50 / p99 / max and the p99 past the min-silence (ms). */
export function lagCells(r: CapacityRun): string[] {
  const c = r.client;
  return [
    String(r.streams),
    `${c.completed}/${r.streams}`,
    `${c.finals}/${c.expectedFinals}`,
    ms(c.lag.p50),
    c.lagP99InclMissing === null && c.missingFinals > 0 ? '>drain' : ms(c.lag.p99),
    ms(c.lag.max),
    ms(c.lagAfterSilence.p99),
  ];
}

const meanP99 = (h: HistogramStats | undefined) => (h && h.count > 0 ? `${ms(h.mean, 1)} / ${ms(h.p99, 1)}` : '–');

/** Final-result latency by phase, from /metrics: one column per run, mean / p99 in ms (null: no run had telemetry). */
export function breakdownTable(title: string, runs: CapacityRun[]): Table | null {
  const withData = runs.filter((r): r is CapacityRun & { breakdown: LatencyBreakdown } => (r.breakdown?.latency.count ?? 0) > 0);
  if (withData.length === 0) return null;
  type Run = CapacityRun & { breakdown: LatencyBreakdown };
  const row = (name: string, pick: (b: LatencyBreakdown, r: Run) => string) => [name, ...withData.map((r) => pick(r.breakdown, r))];
  const sumOfMeans = (b: LatencyBreakdown) => FINAL_PHASES.reduce((s, p) => s + (b.phases[p].mean ?? 0), 0);
  return {
    title,
    headers: ['phase (mean / p99 ms)', ...withData.map((r) => `N=${r.streams}`)],
    rows: [
      ...FINAL_PHASES.map((p) => row(p, (b) => meanP99(b.phases[p]))),
      row('Σ phases (mean)', (b) => ms(sumOfMeans(b), 1)),
      row('final_result_latency{vad}', (b) => meanP99(b.latency)),
      row('client lag', (_, r) => `${ms(r.client.lag.mean, 0)} / ${ms(r.client.lag.p99, 0)}`),
      row('client lag after endpoint frame', (_, r) => `${ms(r.client.lagAfterEndpoint?.mean, 1)} / ${ms(r.client.lagAfterEndpoint?.p99, 1)}`),
      row('finals measured', (b) => String(b.latency.count)),
      row('vad_batch_wait per job', (b) => meanP99(b.vadBatchWait)),
      row('VAD job run', (b) => meanP99(b.vadJobRun)),
      row('VAD windows per model run (mean)', (b) => num(b.vadBatchSize?.mean, 1)),
      row('VAD worker wait (mean)', (b) => ms(b.vadWorkerWaitMean, 2)),
      row('model worker wait (mean)', (b) => ms(b.inferenceWaitMean, 2)),
      row('event loop p99 (bucket)', (_, r) => (r.server.eventLoopP99S === null ? '–' : r.server.eventLoopP99S === Infinity ? '>2500' : `≤${ms(r.server.eventLoopP99S)}`)),
      row('major GCs (count, mean pause ms)', (b) => (b.majorGc ? `${b.majorGc.count}, ${ms(b.majorGc.mean, 1)}` : '–')),
      row('other cores', (_, r) => num(r.server.otherCores, 2)),
    ],
    notes: [
      'From the server\'s /metrics between two scrapes around the run: final_result_phase_seconds{phase} per final endpointed by',
      'the VAD (the phases add up to final_result_latency_seconds{endpoint="vad"}: the frame holding the endpoint arrived → final',
      'sent); p99 interpolated inside its bucket, as histogram_quantile does. Client lag = that latency + the min-silence wait and',
      'the framing (the frame is sent when its 100 ms are "recorded") + the network and the client\'s own delay.',
      'vad_queue: frame arrived → its VAD request (decoding, the channel\'s previous request); vad_batch_wait: → the batch started;',
      'vad_run / vad_handoff: the batch\'s model runs / the rest of its round trip; model_queue: VAD answer → a model worker',
      'started it; model_run; model_return: worker done → result picked up here; send: → the segment written to the socket.',
    ],
  };
}
