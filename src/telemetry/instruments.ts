// Every instrument the service records, created per service from its MeterProvider (or as no-ops
// without one). Names, attributes and units come from names.ts.
import { createNoopMeter, type Histogram, type Meter, type MeterProvider, type ObservableResult } from '@opentelemetry/api';
import type { BacklogRegistry } from './backlog.ts';
import { ATTR, METRIC, UNIT } from './names.ts';
import { STAGE_BUCKETS, STAGES, type Stage } from './stages.ts';
import type { TaskMonitors, TaskTotals } from './task-monitor.ts';

const LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30];
/** Phases of a final result range from microseconds (a hand-off) to the whole latency. */
const PHASE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const METER = 'streamer';

function serviceInstruments(meter: Meter) {
  return {
    taskPanics: meter.createCounter(METRIC.taskPanics, { description: 'Unexpected throws or crashes in work started through the task wrapper', unit: UNIT.panic }),
    modelFailures: meter.createCounter(METRIC.modelFailures, { description: 'Inferences for which the model returned an error', unit: UNIT.failure }),
    activeStreams: meter.createUpDownCounter(METRIC.activeStreams, { description: 'Streams running now', unit: UNIT.stream }),
    activeConnections: meter.createUpDownCounter(METRIC.activeConnections, { description: 'Websocket connections open now', unit: UNIT.connection }),
    streams: meter.createCounter(METRIC.streams, { description: 'Streams ended, by outcome (completed, client_closed, error, refused)', unit: UNIT.stream }),
    audioReceivedBytes: meter.createCounter(METRIC.audioReceivedBytes, { description: 'Bytes of PCM received in binary frames', unit: UNIT.bytes }),
    audioReceivedSeconds: meter.createCounter(METRIC.audioReceivedSeconds, {
      description: 'Seconds of audio received (per channel: frames / sample rate)',
      unit: UNIT.seconds,
    }),
    segments: meter.createCounter(METRIC.segments, { description: 'Segment events sent, by route and finality', unit: UNIT.segment }),
    vadSpeechSeconds: meter.createCounter(METRIC.vadSpeechSeconds, { description: 'Seconds of speech in final VAD segments', unit: UNIT.seconds }),
    protocolErrors: meter.createCounter(METRIC.protocolErrors, { description: 'Protocol errors sent to clients, by code', unit: UNIT.error }),
    vadBatchSize: meter.createHistogram(METRIC.vadBatchSize, {
      description: 'Windows per VAD model run (cross-stream micro-batching)',
      unit: UNIT.window,
      advice: { explicitBucketBoundaries: [1, 2, 4, 8, 16, 32, 64, 128, 256] },
    }),
    vadBatchWait: meter.createHistogram(METRIC.vadBatchWait, {
      description: 'Per VAD batch, how long its oldest window waited for the batch to start (the latency batching adds)',
      unit: UNIT.seconds,
      advice: { explicitBucketBoundaries: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25] },
    }),
    streamResumes: meter.createCounter(METRIC.streamResumes, {
      description: 'Streams started with resumed: true (a client that lost its connection and replays from its last committed point)',
      unit: UNIT.stream,
    }),
    deadPeers: meter.createCounter(METRIC.deadPeers, {
      description: 'Connections ended because the peer answered neither of two pings (a half-open connection)',
      unit: UNIT.connection,
    }),
    inboundPauses: meter.createCounter(METRIC.inboundPauses, {
      description: 'Times reading a socket was paused because its stream was too far behind',
      unit: UNIT.pause,
    }),
    timeToFirstResult: meter.createHistogram(METRIC.timeToFirstResult, {
      description: 'First audio byte of a stream received → its first segment sent',
      unit: UNIT.seconds,
      advice: { explicitBucketBoundaries: LATENCY_BUCKETS },
    }),
    finalResultLatency: meter.createHistogram(METRIC.finalResultLatency, {
      description: 'Arrival of the audio (or request) that ended a segment or chunk → its final result sent',
      unit: UNIT.seconds,
      advice: { explicitBucketBoundaries: LATENCY_BUCKETS },
    }),
    finalResultPhase: meter.createHistogram(METRIC.finalResultPhase, {
      description: 'Per final segment endpointed by the VAD, the part of its final_result_latency_seconds spent in each phase (the phases add up to it)',
      unit: UNIT.seconds,
      advice: { explicitBucketBoundaries: PHASE_BUCKETS },
    }),
  };
}

// Observed from each monitor's running totals at collection (see task-monitor.ts for why).
const TASK_COUNTERS: Record<keyof TaskTotals, { name: string; description: string; unit: string }> = {
  instrumented: { name: 'task_instrumented', description: 'Task instances started', unit: UNIT.task },
  dropped: { name: 'task_dropped', description: 'Task instances finished', unit: UNIT.task },
  polls: { name: 'task_polls', description: 'Units of synchronous task work', unit: UNIT.poll },
  fastPolls: { name: 'task_fast_polls', description: 'Polls shorter than the slow-poll threshold', unit: UNIT.poll },
  slowPolls: { name: 'task_slow_polls', description: 'Polls at or over the slow-poll threshold', unit: UNIT.poll },
  pollDuration: { name: 'task_poll_duration_seconds', description: 'Time spent polling', unit: UNIT.seconds },
  slowPollDuration: { name: 'task_slow_poll_duration_seconds', description: 'Time spent in slow polls', unit: UNIT.seconds },
  scheduled: { name: 'task_scheduled', description: 'Times work was ready and waited to start', unit: UNIT.delay },
  longDelays: { name: 'task_long_delays', description: 'Scheduling delays at or over the long-delay threshold', unit: UNIT.delay },
  schedulingDelay: { name: 'task_scheduling_delay_seconds', description: 'Time from input ready to processing start', unit: UNIT.seconds },
  idled: { name: 'task_idled', description: 'Times a task went idle waiting for input', unit: UNIT.task },
  idleDuration: { name: 'task_idle_duration_seconds', description: 'Time tasks spent idle', unit: UNIT.seconds },
};

function observeTaskMonitors(meter: Meter, monitors: TaskMonitors): void {
  const counters = Object.entries(TASK_COUNTERS).map(
    ([key, c]) => [key as keyof TaskTotals, meter.createObservableCounter(c.name, { description: c.description, unit: c.unit })] as const,
  );
  meter.addBatchObservableCallback(
    (result) => {
      for (const monitor of monitors.all()) {
        const attributes = { [ATTR.task]: monitor.task };
        for (const [key, counter] of counters) result.observe(counter, monitor.totals[key], attributes);
      }
    },
    counters.map(([, counter]) => counter),
  );
}

export type StageHistograms = { rtf: Histogram; processing: Histogram; media: Histogram };

/** One meter per stage: the only way to give same-named histograms per-stage buckets (see exposition.ts). */
function stageInstruments(provider: MeterProvider | null, stage: Stage): StageHistograms {
  const meter = provider ? provider.getMeter(`${METER}/stage/${stage}`) : createNoopMeter();
  const buckets = STAGE_BUCKETS[stage];
  return {
    rtf: meter.createHistogram(METRIC.stageRtf, {
      description: 'Processing time / audio duration, per unit of stage work',
      unit: UNIT.ratio,
      advice: { explicitBucketBoundaries: buckets.rtf },
    }),
    processing: meter.createHistogram(METRIC.stageProcessing, {
      description: 'Wall time of one unit of stage work',
      unit: UNIT.seconds,
      advice: { explicitBucketBoundaries: buckets.processing },
    }),
    media: meter.createHistogram(METRIC.stageMedia, {
      description: 'Audio seconds in one unit of stage work',
      unit: UNIT.seconds,
      advice: { explicitBucketBoundaries: buckets.media },
    }),
  };
}

/** What the observable instruments read at collection. */
export interface ObservedSources {
  monitors: TaskMonitors;
  backlog: BacklogRegistry;
}

/**
 * Every instrument of one service, on `provider` (or no-ops without one: the pipeline runs, and is
 * unit-tested, the same either way).
 */
export function createInstruments(provider: MeterProvider | null, sources: ObservedSources) {
  const meter = provider ? provider.getMeter(METER) : createNoopMeter();
  const backlog = meter.createObservableGauge(METRIC.stageBacklog, {
    description: 'Audio received but not yet processed by that stage (seconds, summed over channels)',
    unit: UNIT.seconds,
  });
  backlog.addCallback((result: ObservableResult) => {
    const totals = sources.backlog.totals();
    for (const stage of STAGES) result.observe(totals[stage], { [ATTR.pipeline]: stage });
  });
  observeTaskMonitors(meter, sources.monitors);
  return {
    ...serviceInstruments(meter),
    stage: Object.fromEntries(STAGES.map((s) => [s, stageInstruments(provider, s)])) as Record<Stage, StageHistograms>,
  };
}

export type Instruments = ReturnType<typeof createInstruments>;
