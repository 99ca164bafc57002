// The service's metric catalogue (names as they appear on /metrics), for the static checks of
// otel/alerts.yml and otel/dashboard.json. exported-names.test.ts checks the same expressions
// against a live /metrics, which is the final word.

/** Histogram families: each is exported as `<name>_bucket`, `<name>_sum`, `<name>_count`. */
export const HISTOGRAMS = [
  'rtf',
  'processing_duration_seconds',
  'media_duration_seconds',
  'eventloop_delay_seconds',
  'time_to_first_result_seconds',
  'final_result_latency_seconds',
  'final_result_phase_seconds',
] as const;

/** Histograms whose bucket boundaries differ per stage: aggregations must keep `pipeline` in by(). */
export const PER_STAGE_HISTOGRAMS = ['rtf', 'processing_duration_seconds', 'media_duration_seconds'] as const;

/** Counters (already with their `_total`) and gauges. */
export const SCALARS = [
  'target_info',
  'task_panics_total',
  'model_failures_total',
  'task_instrumented_total',
  'task_dropped_total',
  'task_polls_total',
  'task_fast_polls_total',
  'task_slow_polls_total',
  'task_poll_duration_seconds_total',
  'task_slow_poll_duration_seconds_total',
  'task_scheduled_total',
  'task_long_delays_total',
  'task_scheduling_delay_seconds_total',
  'task_idled_total',
  'task_idle_duration_seconds_total',
  'active_streams',
  'active_connections',
  'stream_resumes_total',
  'dead_peers_total',
  'streams_total',
  'audio_received_bytes_total',
  'audio_received_seconds_total',
  'segments_total',
  'vad_speech_seconds_total',
  'protocol_errors_total',
  'stage_backlog_seconds',
] as const;

/** Every series name of the catalogue, plus Prometheus' own `up`. */
export const CATALOGUE_SERIES: ReadonlySet<string> = new Set([
  ...HISTOGRAMS.flatMap((h) => [`${h}_bucket`, `${h}_sum`, `${h}_count`]),
  ...SCALARS,
  'up',
]);

/** Series names of the per-stage histograms (`rtf_bucket`, `rtf_sum`, ...). */
export const PER_STAGE_SERIES: ReadonlySet<string> = new Set(
  PER_STAGE_HISTOGRAMS.flatMap((h) => [`${h}_bucket`, `${h}_sum`, `${h}_count`]),
);
