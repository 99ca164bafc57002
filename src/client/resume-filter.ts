// What a client has delivered of a stream, and what a resumed stream must therefore not deliver
// again. A stream resumed from the committed point T recomputes everything after T; the lost
// connection may have delivered some of that already (a final whose `committed` was lost with the
// connection, the `active` of a segment in progress). docs/protocol.md, "Resuming after a lost
// connection". No Node APIs: the page can use it as it is.
import type { ServerEvent } from '../api/protocol.ts';

/** Boundaries that two streams found apart are the same one within this (two 32 ms VAD windows). */
export const SAME_EDGE_S = 0.064;

/**
 * A reported time in whole microseconds, the protocol's resolution: times compared as floats are
 * off by their sums' rounding (16.642 − 16.578 is 0.06400000000000006).
 */
const us = (seconds: number) => Math.round(seconds * 1e6);
const SAME_EDGE_US = us(SAME_EDGE_S);

interface Channel {
  /** End of the last final segment (or simple-route chunk) delivered. */
  finalEnd: number;
  /** `time` of a delivered `active` whose final has not come. */
  openActive: number | null;
  /** `time` of the last `inactive` delivered: a channel error after it stands for the final. */
  lastInactive: number | null;
}

/** How a resumed stream's events of one channel are passed: all, or none until the end of a segment delivered before. */
type Mode = 'pass' | 'skip' | 'skip-final';

export class DeliveredLog {
  private readonly channels = new Map<number, Channel>();

  private channel(c: number): Channel {
    let ch = this.channels.get(c);
    if (!ch) this.channels.set(c, (ch = { finalEnd: -Infinity, openActive: null, lastInactive: null }));
    return ch;
  }

  /** Notes an event as delivered to the user. */
  delivered(e: ServerEvent): void {
    if (!('channel' in e) || e.channel === undefined) return;
    const ch = this.channel(e.channel);
    switch (e.type) {
      case 'active':
        ch.openActive = e.time;
        break;
      case 'inactive':
        ch.lastInactive = e.time;
        break;
      case 'segment':
        if (e.is_final === false) break;
        ch.finalEnd = Math.max(ch.finalEnd, e.end_time);
        ch.openActive = null;
        ch.lastInactive = null;
        break;
      case 'error':
        if (ch.lastInactive === null) break; // an interim's failure
        ch.finalEnd = Math.max(ch.finalEnd, ch.lastInactive);
        ch.openActive = null;
        ch.lastInactive = null;
        break;
    }
  }

  /**
   * Where a resumed simple-route stream can start: the end of the last chunk delivered, the least
   * over `channels` (null before every channel had one).
   */
  chunksDeliveredTo(channels: number): number | null {
    let least = Infinity;
    for (let c = 0; c < channels; c++) least = Math.min(least, this.channels.get(c)?.finalEnd ?? -Infinity);
    return Number.isFinite(least) ? least : null;
  }

  /**
   * A filter for the events of a stream that resumed on a new connection: false for an event that
   * repeats what was delivered (a segment delivered whole, or the `active` of the segment in progress).
   * Events about no channel pass: `stats` in particular are the new connection's own, never repeats.
   */
  resumeFilter(): (e: ServerEvent) => boolean {
    const modes = new Map<number, Mode>();
    return (e) => {
      if (!('channel' in e) || e.channel === undefined) return true;
      const c = e.channel;
      const ch = this.channel(c);
      const mode = modes.get(c) ?? 'pass';
      if (mode === 'skip') {
        if (e.type === 'inactive') modes.set(c, 'skip-final');
        return false;
      }
      if (mode === 'skip-final') {
        modes.set(c, 'pass'); // the final segment, or the error standing for it
        return false;
      }
      if (e.type === 'active') {
        if (us(e.time) < us(ch.finalEnd)) {
          modes.set(c, 'skip'); // a segment delivered whole, found again
          return false;
        }
        // Its start was delivered.
        if (ch.openActive !== null && Math.abs(us(e.time) - us(ch.openActive)) <= SAME_EDGE_US) return false;
        return true;
      }
      // A simple-route chunk: one that reaches past what was delivered carries new audio and passes, overlap and all.
      if (e.type === 'segment' && e.is_final === undefined) return us(e.end_time) > us(ch.finalEnd);
      return true;
    };
  }
}
