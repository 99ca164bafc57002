// One structured logger for the service: one JSON line per event (pino).
import { pino } from 'pino';
import { activeTraceIds } from './telemetry/tracing.ts';

// LOG_LEVEL is validated with the rest of the config (a bad one stops the service with exit 2,
// naming the variable); until then an unknown level must not make pino throw at import.
const envLevel = process.env.LOG_LEVEL;

export const log = pino({
  level: envLevel === 'silent' || (envLevel && Object.hasOwn(pino.levels.values, envLevel)) ? envLevel : 'info',
  base: { service: 'streamer' },
  // A log line written inside a stream's work carries its trace_id/span_id (when tracing is on).
  mixin: activeTraceIds,
  // Tokens never reach the logs: not in the logged config, not in request headers.
  redact: { paths: ['config.auth.tokens', '*.authorization', '*.token', 'headers.authorization'], censor: '[redacted]' },
});

export type Logger = typeof log;
