// Every metric and attribute name the service exports, declared once (the OpenTelemetry contrib
// instrumentations' way). Metric names are the Prometheus names less the `_total` the exporter adds
// to counters; the unit is in the name because this exporter adds no unit suffix. The test
// catalogue (test/otel/catalogue.ts) stays an independent list, so a rename here fails a test.

export const METRIC = {
  taskPanics: 'task_panics',
  modelFailures: 'model_failures',
  activeStreams: 'active_streams',
  activeConnections: 'active_connections',
  streams: 'streams',
  audioReceivedBytes: 'audio_received_bytes',
  audioReceivedSeconds: 'audio_received_seconds',
  segments: 'segments',
  vadSpeechSeconds: 'vad_speech_seconds',
  protocolErrors: 'protocol_errors',
  vadBatchSize: 'vad_batch_size',
  vadBatchWait: 'vad_batch_wait_seconds',
  inboundPauses: 'inbound_pauses',
  streamResumes: 'stream_resumes',
  deadPeers: 'dead_peers',
  timeToFirstResult: 'time_to_first_result_seconds',
  finalResultLatency: 'final_result_latency_seconds',
  finalResultPhase: 'final_result_phase_seconds',
  stageBacklog: 'stage_backlog_seconds',
  stageRtf: 'rtf',
  stageProcessing: 'processing_duration_seconds',
  stageMedia: 'media_duration_seconds',
} as const;

/** Attribute (label) names. */
export const ATTR = {
  task: 'task',
  route: 'route',
  outcome: 'outcome',
  final: 'final',
  code: 'code',
  pipeline: 'pipeline',
  endpoint: 'endpoint',
  phase: 'phase',
} as const;

/** Units (UCUM, as OpenTelemetry wants them): counts name what they count, in braces. */
export const UNIT = {
  seconds: 's',
  bytes: 'By',
  ratio: '1',
  stream: '{stream}',
  connection: '{connection}',
  segment: '{segment}',
  panic: '{panic}',
  failure: '{failure}',
  error: '{error}',
  window: '{window}',
  pause: '{pause}',
  task: '{task}',
  poll: '{poll}',
  delay: '{delay}',
} as const;
