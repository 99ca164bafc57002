// One structured logger for the service: one JSON line per event (pino).
import { pino } from 'pino';

export const log = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  base: { service: 'streamer' },
  redact: { paths: ['*.authorization', '*.token', 'headers.authorization'], censor: '[redacted]' },
});

export type Logger = typeof log;
