// Every instrument the service records, created from whatever MeterProvider is installed. Until
// one is installed they are no-ops, so the pipeline runs (and is tested) the same either way.
// Names are the Prometheus names less the `_total` the exporter adds to counters; units are in
// the names because this exporter adds no unit suffix.
import { createNoopMeter, type Histogram, type Meter, type MeterProvider, type ObservableResult } from '@opentelemetry/api';
import { backlogTotals } from './backlog.ts';
import { STAGE_BUCKETS, STAGES, type Stage } from './stages.ts';
import { taskMonitors, type TaskTotals } from './task-monitor.ts';

const LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30];
const METER = 'streamer';

function serviceInstruments(meter: Meter) {
  return {
    taskPanics: meter.createCounter('task_panics', { description: 'Unexpected throws or crashes in work started through the task wrapper' }),
    modelFailures: meter.createCounter('model_failures', { description: 'Inferences for which the model returned an error' }),
    activeStreams: meter.createUpDownCounter('active_streams', { description: 'Streams running now' }),
    activeConnections: meter.createUpDownCounter('active_connections', { description: 'Websocket connections open now' }),
    streams: meter.createCounter('streams', { description: 'Streams ended, by outcome (completed, client_closed, error, refused)' }),
    audioReceivedBytes: meter.createCounter('audio_received_bytes', { description: 'Bytes of PCM received in binary frames', unit: 'By' }),
    audioReceivedSeconds: meter.createCounter('audio_received_seconds', { description: 'Seconds of audio received (per channel: frames / sample rate)', unit: 's' }),
    segments: meter.createCounter('segments', { description: 'Segment events sent, by route and finality' }),
    vadSpeechSeconds: meter.createCounter('vad_speech_seconds', { description: 'Seconds of speech in final VAD segments', unit: 's' }),
    protocolErrors: meter.createCounter('protocol_errors', { description: 'Protocol errors sent to clients, by code' }),
    vadBatchSize: meter.createHistogram('vad_batch_size', {
      description: 'Windows per VAD model run (cross-stream micro-batching)',
      advice: { explicitBucketBoundaries: [1, 2, 4, 8, 16, 32, 64, 128, 256] },
    }),
    vadBatchWait: meter.createHistogram('vad_batch_wait_seconds', {
      description: 'Per VAD batch, how long its oldest window waited for the batch to start (the latency batching adds)',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25] },
    }),
    inboundPauses: meter.createCounter('inbound_pauses', { description: 'Times reading a socket was paused because its stream was too far behind' }),
    timeToFirstResult: meter.createHistogram('time_to_first_result_seconds', {
      description: 'First audio byte of a stream received → its first segment sent',
      unit: 's',
      advice: { explicitBucketBoundaries: LATENCY_BUCKETS },
    }),
    finalResultLatency: meter.createHistogram('final_result_latency_seconds', {
      description: 'Arrival of the audio (or request) that ended a segment or chunk → its final result sent',
      unit: 's',
      advice: { explicitBucketBoundaries: LATENCY_BUCKETS },
    }),
  };
}

// Observed from each monitor's running totals at collection (see task-monitor.ts for why).
const TASK_COUNTERS: Record<keyof TaskTotals, { name: string; description: string; unit?: string }> = {
  instrumented: { name: 'task_instrumented', description: 'Task instances started' },
  dropped: { name: 'task_dropped', description: 'Task instances finished' },
  polls: { name: 'task_polls', description: 'Units of synchronous task work' },
  fastPolls: { name: 'task_fast_polls', description: 'Polls shorter than the slow-poll threshold' },
  slowPolls: { name: 'task_slow_polls', description: 'Polls at or over the slow-poll threshold' },
  pollDuration: { name: 'task_poll_duration_seconds', description: 'Time spent polling', unit: 's' },
  slowPollDuration: { name: 'task_slow_poll_duration_seconds', description: 'Time spent in slow polls', unit: 's' },
  scheduled: { name: 'task_scheduled', description: 'Times work was ready and waited to start' },
  longDelays: { name: 'task_long_delays', description: 'Scheduling delays at or over the long-delay threshold' },
  schedulingDelay: { name: 'task_scheduling_delay_seconds', description: 'Time from input ready to processing start', unit: 's' },
  idled: { name: 'task_idled', description: 'Times a task went idle waiting for input' },
  idleDuration: { name: 'task_idle_duration_seconds', description: 'Time tasks spent idle', unit: 's' },
};

function observeTaskMonitors(meter: Meter): void {
  const counters = Object.entries(TASK_COUNTERS).map(
    ([key, c]) => [key as keyof TaskTotals, meter.createObservableCounter(c.name, { description: c.description, unit: c.unit })] as const,
  );
  meter.addBatchObservableCallback(
    (result) => {
      for (const monitor of taskMonitors()) {
        const attributes = { task: monitor.task };
        for (const [key, counter] of counters) result.observe(counter, monitor.totals[key], attributes);
      }
    },
    counters.map(([, counter]) => counter),
  );
}

type StageHistograms = { rtf: Histogram; processing: Histogram; media: Histogram };

/** One meter per stage: the only way to give same-named histograms per-stage buckets (see exposition.ts). */
function stageInstruments(provider: MeterProvider | null, stage: Stage): StageHistograms {
  const meter = provider ? provider.getMeter(`${METER}/stage/${stage}`) : createNoopMeter();
  const buckets = STAGE_BUCKETS[stage];
  return {
    rtf: meter.createHistogram('rtf', { description: 'Processing time / audio duration, per unit of stage work', advice: { explicitBucketBoundaries: buckets.rtf } }),
    processing: meter.createHistogram('processing_duration_seconds', {
      description: 'Wall time of one unit of stage work',
      unit: 's',
      advice: { explicitBucketBoundaries: buckets.processing },
    }),
    media: meter.createHistogram('media_duration_seconds', {
      description: 'Audio seconds in one unit of stage work',
      unit: 's',
      advice: { explicitBucketBoundaries: buckets.media },
    }),
  };
}

function observeBacklog(result: ObservableResult): void {
  const totals = backlogTotals();
  for (const stage of STAGES) result.observe(totals[stage], { pipeline: stage });
}

function create(provider: MeterProvider | null) {
  const meter = provider ? provider.getMeter(METER) : createNoopMeter();
  const backlog = meter.createObservableGauge('stage_backlog_seconds', {
    description: 'Audio received but not yet processed by that stage (seconds, summed over channels)',
    unit: 's',
  });
  backlog.addCallback(observeBacklog);
  observeTaskMonitors(meter);
  return {
    ...serviceInstruments(meter),
    stage: Object.fromEntries(STAGES.map((s) => [s, stageInstruments(provider, s)])) as Record<Stage, StageHistograms>,
  };
}

let current = create(null);

/** Re-creates every instrument on `provider` (once, at start-up). */
export function bindInstruments(provider: MeterProvider): void {
  current = create(provider);
}

/** The instruments in use; read it at each use, never keep it (it changes when telemetry is installed). */
export function instruments(): ReturnType<typeof create> {
  return current;
}

