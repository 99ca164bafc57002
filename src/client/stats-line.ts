// A `stats` event (docs/protocol.md) in one readable line, for the command-line client and the page:
// `12.34 s: lag 0.05 s, model RTF 0.031, speaking`. No Node APIs: the page uses it as it is.
import type { StatsEvent } from '../api/protocol.ts';

/**
 * The bounds of `start.stats_interval_ms` as docs/protocol.md gives them, for checking a flag before
 * asking (the client knows the server only by its contract; a test checks they are the server's).
 */
export const STATS_INTERVAL_BOUNDS = { min: 250, max: 60_000 } as const;

export function describeStats(e: StatsEvent): string {
  const parts = [`lag ${e.lag_seconds.toFixed(2)} s`, e.model_rtf === null ? 'no model run' : `model RTF ${e.model_rtf.toFixed(3)}`];
  const speaking = e.vad?.speaking;
  if (speaking) {
    const on = speaking.flatMap((s, c) => (s ? [c] : []));
    if (on.length === 0) parts.push('silence');
    else parts.push(speaking.length === 1 ? 'speaking' : `speaking on channel${on.length > 1 ? 's' : ''} ${on.join(', ')}`);
  }
  return `${e.time.toFixed(2)} s: ${parts.join(', ')}`;
}
