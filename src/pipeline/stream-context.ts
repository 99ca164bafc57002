// What the channel runners of one stream share: its route, when its audio arrived, and how a
// final result's latency is recorded once it has been sent.
import type { Context } from '../telemetry/tracing.ts';
import { microseconds, MODEL_SAMPLE_RATE } from '../audio/format.ts';
import type { ServiceContext } from '../context.ts';
import type { Logger } from '../log.ts';
import type { VadRequestTiming } from '../task-timing.ts';
import { finalPhases, recordFinalPhases } from '../telemetry/final-phases.ts';
import { ATTR } from '../telemetry/names.ts';
import type { StageTally } from '../telemetry/stage-tally.ts';
import type { ArrivalClock } from './arrival-clock.ts';
import type { ChannelEvent } from './events.ts';

/** The websocket routes (/api/v1/<route>), the `route` label of the per-route series. */
export const ROUTES = ['simple', 'segmented'] as const;
export type Mode = (typeof ROUTES)[number];

/**
 * What each route can report: what ends its final results (final_result_latency_seconds{endpoint})
 * and whether it sends interim results (segments_total{final="false"}). The service exports these
 * series at 0 from start-up (src/known-labels.ts), so a route's entry must list all it can send.
 */
export const ROUTE_RESULTS = {
  simple: { endpoints: ['chunk', 'finalize', 'end_of_audio'], interims: false },
  segmented: { endpoints: ['vad', 'finalize', 'end_of_audio'], interims: true },
} as const satisfies Record<Mode, { endpoints: readonly string[]; interims: boolean }>;

/** What ended a segment or chunk on route R: the VAD, a finalize request, the end of the audio, or (simple mode) the chunking. */
export type EndpointOf<R extends Mode> = (typeof ROUTE_RESULTS)[R]['endpoints'][number];
export type Endpoint = EndpointOf<Mode>;

export interface StreamContext {
  service: ServiceContext;
  /** Some of the stream's backlog was worked off (flow control may resume reading). */
  progress: () => void;
  route: Mode;
  /**
   * Seconds added to every time the stream reports: a client that moved its audio from another
   * connection keeps one timeline (the protocol's `time_offset`).
   */
  timeOffset: number;
  arrivals: ArrivalClock;
  /** Trace context of the stream's span (children: channels, inferences). */
  trace: Context;
  /** The stream's logger: its lines carry the stream's id. */
  log: Logger;
  /** The stream's share of the model stage's metrics (its inferences), for its `stats`. */
  modelTally: StageTally;
}

/** A sample index of the stream as a time on the client's timeline (seconds, to the microsecond). */
export function reportedTime(ctx: StreamContext, samples: number): number {
  return microseconds(ctx.timeOffset + samples / MODEL_SAMPLE_RATE);
}

/**
 * An onSent callback that records final-result latency from `readyAt` (performance.now() ms), and
 * with `vad` (the VAD request that found the endpoint) its breakdown into phases.
 */
export function finalLatency(ctx: StreamContext, endpoint: Endpoint, readyAt: number, vad?: VadRequestTiming): (sent: ChannelEvent) => void {
  return (sent) => {
    if (sent.kind !== 'result') return;
    const sentAt = performance.now();
    const { metrics } = ctx.service.telemetry;
    metrics.finalResultLatency.record((sentAt - readyAt) / 1000, { [ATTR.route]: ctx.route, [ATTR.endpoint]: endpoint });
    if (vad && sent.timing) recordFinalPhases(metrics, finalPhases(readyAt, vad, sent.timing, sentAt));
  };
}
