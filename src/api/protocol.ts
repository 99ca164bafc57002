// The wire contract (docs/protocol.md): client requests validated with zod, server events typed.
import { z } from 'zod';
import { MAX_CHUNK_MS } from '../pipeline/chunking.ts';

export const audioFormatSchema = z.object({
  channels: z.number().int(),
  sample_rate: z.number(),
  bit_depth: z.number().int(),
  is_float: z.boolean(),
});
export type AudioFormat = z.infer<typeof audioFormatSchema>;

export const vadTuningSchema = z
  .object({
    threshold: z.number().gt(0).lt(1),
    min_silence_ms: z.number().int().min(0).max(10_000),
    speech_pad_ms: z.number().int().min(0).max(1_000),
    min_speech_ms: z.number().int().min(0).max(10_000),
  })
  .partial();
export type VadTuning = z.infer<typeof vadTuningSchema>;

/**
 * Bounds of `start.stats_interval_ms`. Below 250 ms the figures mostly show the pipeline's own
 * granularity (32 ms VAD windows answered in batches, 250 ms simple-route chunks, inferences of
 * 0.1–1 s) and the events would outnumber the stream's results; above a minute they tell a live
 * client nothing (and a larger number is likelier a unit mistake than a wish).
 */
export const STATS_INTERVAL_MS = { min: 250, max: 60_000 } as const;

const startSchema = z.object({
  request: z.literal('start'),
  format: audioFormatSchema,
  interim_results: z.boolean().default(false),
  trace_id: z.string().nullish(),
  /** Seconds added to every time reported for the stream (a client that moved keeps one timeline). */
  time_offset: z.number().min(0).max(1e9).default(0),
  /** The client lost its connection and replays its audio from its last committed point (counted only). */
  resumed: z.boolean().default(false),
  vad: vadTuningSchema.optional(),
  /** Simple route: this stream's minimum chunk duration in ms (the server's pipeline.simple_min_chunk_ms when absent). */
  chunk_ms: z.number().int().min(0).max(MAX_CHUNK_MS).optional(),
  /** Send this stream a `stats` event every this many ms of wall time (none when absent). */
  stats_interval_ms: z.number().int().min(STATS_INTERVAL_MS.min).max(STATS_INTERVAL_MS.max).optional(),
});
const stopSchema = z.object({ request: z.literal('stop'), disconnect: z.boolean().default(false) });
const finalizeSchema = z.object({ request: z.literal('finalize') });
const keepaliveSchema = z.object({ request: z.literal('keepalive') });

export const requestSchema = z.discriminatedUnion('request', [startSchema, stopSchema, finalizeSchema, keepaliveSchema]);
export type ClientRequest = z.infer<typeof requestSchema>;
export type StartRequest = z.infer<typeof startSchema>;
export const KNOWN_REQUESTS = ['start', 'stop', 'finalize', 'keepalive'] as const;

/** Every `code` an `error` event can carry (README's error table is checked against this list). */
export const ERROR_CODES = [
  'invalid_json',
  'invalid_request',
  'unknown_request',
  'no_active_stream',
  'unsupported_format',
  'audio_before_start',
  'frame_too_large',
  'too_many_streams',
  'shutting_down',
  'idle_timeout',
  'start_timeout',
  'too_many_connections',
  'stream_too_long',
  'incomplete_sample',
  'slow_consumer',
  'unauthorized',
  'model_failure',
  'internal_error',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * The codes of protocol errors (`error` events about the session or its stream, without `channel`),
 * counted in protocol_errors_total{code}. `model_failure` is only about one channel's result.
 */
export type ProtocolErrorCode = Exclude<ErrorCode, 'model_failure'>;
export const PROTOCOL_ERROR_CODES = ERROR_CODES.filter((c): c is ProtocolErrorCode => c !== 'model_failure');

/** Output fields of a model, flattened into `segment` events (e.g. `count`, `text`). */
export type ModelOutput = Record<string, unknown>;

/** How one stream is doing (docs/protocol.md, `stats`): seconds of audio unless named otherwise. */
export interface StatsEvent {
  type: 'stats';
  /** The stream's timeline at the end of the audio received: `audio_received` + `time_offset`. */
  time: number;
  /** Seconds of audio received (decoded) on this stream, per channel. */
  audio_received: number;
  /** Audio waiting at each stage (per channel for vad and model); `vad` on the segmented route only. */
  backlog_seconds: { audio_decoding: number; vad?: number; model: number };
  /** The sum of `backlog_seconds`: how far processing is behind the audio the server has taken. */
  lag_seconds: number;
  /** This stream's model runs that finished since the previous `stats` (or the start). */
  model_runs: number;
  model_audio_seconds: number;
  model_processing_seconds: number;
  /** model_processing_seconds / model_audio_seconds; null without a model run since the previous `stats`. */
  model_rtf: number | null;
  /** Segmented route: per channel, whether the VAD is inside speech. */
  vad?: { speaking: boolean[] };
}

export type ServerEvent =
  | { type: 'started'; stream_id: string; trace_id?: string }
  | { type: 'committed'; time: number }
  | { type: 'active'; time: number; channel: number }
  | { type: 'inactive'; time: number; channel: number }
  | ({ type: 'segment'; start_time: number; end_time: number; is_final?: boolean; channel: number } & ModelOutput)
  | { type: 'error'; message: string; code?: ErrorCode; channel?: number }
  | { type: 'stream_end'; channel_durations: number[] }
  | { type: 'going_away'; deadline_ms: number }
  | { type: 'ack'; request: 'finalize' | 'keepalive' }
  | StatsEvent;

/** WebSocket close codes the server uses (RFC 6455). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  policy: 1008,
  tooLarge: 1009,
  internal: 1011,
  overCapacity: 1013,
} as const;
