// Runs the model on one piece of a channel's audio and turns the outcome into the channel's event:
// the model's output, its reported failure, or a crash (never the internals).
import { MODEL_SAMPLE_RATE } from '../audio/format.ts';
import type { Inference } from '../model/index.ts';
import { measureStage } from '../telemetry/stage-guard.ts';
import { startChildSpan } from '../telemetry/tracing.ts';
import type { ChannelEvent } from './events.ts';
import { reportedTime, type StreamContext } from './stream-context.ts';

export interface SegmentSpan {
  channel: number;
  /** Bounds in 16 kHz samples since the start of the stream. */
  start: number;
  end: number;
  /** true/false in segmented mode; absent in simple mode. */
  isFinal?: boolean;
}

const seconds = (samples: number) => samples / MODEL_SAMPLE_RATE;

/**
 * `model`: the model (a self-contained segment) or a channel of it (the channel's next piece).
 * `ctx.trace`: the channel's trace context; the inference gets its own span under it.
 */
export async function inferSegment(model: Inference, audio: Float32Array, span: SegmentSpan, ctx: StreamContext): Promise<ChannelEvent> {
  const { metrics } = ctx.service.telemetry;
  const audioSeconds = seconds(audio.length);
  const { span: traceSpan } = startChildSpan('inference', ctx.trace, {
    channel: span.channel,
    audio_seconds: audioSeconds,
    ...(span.isFinal === undefined ? {} : { is_final: span.isFinal }),
  });
  // Model-stage RTF is the model's own speed: the time it computed when it says so (a worker's run
  // time), not the wait for a free worker, which shows in task_scheduling_delay_seconds_total
  // {task="inference"} and stage_backlog_seconds; the stream's experience is in the latency metrics.
  using stage = measureStage(metrics, 'model', audioSeconds, ctx.modelTally);
  try {
    // Guarded: a throw on this thread (e.g. decoding the worker's tokens) is a panic like a
    // worker crash, counted and logged once.
    const result = await ctx.service.tasks.guard('inference', () => model.infer(audio, span.start, ctx.timeOffset));
    const timing = { ran: result.ran ?? null, returnedAt: performance.now() };
    if (result.computeSeconds !== undefined) {
      stage.measured(result.computeSeconds);
      if (audioSeconds > 0) traceSpan.setAttribute('rtf', result.computeSeconds / audioSeconds);
    }
    if (!result.ok) {
      stage.discard();
      metrics.modelFailures.add(1);
      traceSpan.setAttribute('outcome', 'model_failure');
      ctx.log.warn({ channel: span.channel, error: result.error }, 'model failure');
      return { kind: 'failure', channel: span.channel, cause: 'model', reason: result.error };
    }
    traceSpan.setAttribute('outcome', 'ok');
    const bounds = { channel: span.channel, start: reportedTime(ctx, span.start), end: reportedTime(ctx, span.end) };
    return { kind: 'result', ...bounds, ...(span.isFinal === undefined ? {} : { isFinal: span.isFinal }), output: result.output, timing };
  } catch {
    // A TaskPanic, counted and logged by the task wrapper; the client gets no internals.
    stage.discard();
    traceSpan.setAttribute('outcome', 'panic');
    return { kind: 'failure', channel: span.channel, cause: 'internal' };
  } finally {
    traceSpan.end();
  }
}
