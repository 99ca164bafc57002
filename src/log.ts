// One structured logger for the service: one JSON line per event (pino).
import { pino } from 'pino';
import { activeTraceIds } from './telemetry/tracing.ts';

export const log = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  base: { service: 'streamer' },
  // A log line written inside a stream's work carries its trace_id/span_id (when tracing is on).
  mixin: activeTraceIds,
  // Tokens never reach the logs: not in the logged config, not in request headers.
  redact: { paths: ['config.auth.tokens', '*.authorization', '*.token', 'headers.authorization'], censor: '[redacted]' },
});

export type Logger = typeof log;
