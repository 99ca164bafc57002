// The pipeline's channel events as the protocol's `active`, `inactive`, `segment` and `error`
// events. A model's output fields go into `segment` after the protocol's own, which always win: a
// backend whose output has a field named `type`, `channel`, `start_time`… cannot change what the
// event means (the field is dropped, and logged once per name).
import { log } from '../log.ts';
import type { StreamEvent } from '../pipeline/events.ts';
import type { ServerEvent } from './protocol.ts';

/** The fields a `segment` event defines itself. */
const SEGMENT_FIELDS = new Set(['type', 'start_time', 'end_time', 'is_final', 'channel']);
const reportedCollisions = new Set<string>();

export function toServerEvent(event: StreamEvent): ServerEvent {
  switch (event.kind) {
    case 'committed':
      return { type: 'committed', time: event.time };
    case 'active':
    case 'inactive':
      return { type: event.kind, time: event.time, channel: event.channel };
    case 'result': {
      const segment: ServerEvent & Record<string, unknown> = {
        type: 'segment',
        start_time: event.start,
        end_time: event.end,
        ...(event.isFinal === undefined ? {} : { is_final: event.isFinal }),
        channel: event.channel,
      };
      for (const [key, value] of Object.entries(event.output)) {
        if (!SEGMENT_FIELDS.has(key)) segment[key] = value;
        else if (!reportedCollisions.has(key)) {
          reportedCollisions.add(key);
          log.warn({ field: key }, 'model output field collides with a protocol field of `segment`: dropped');
        }
      }
      return segment;
    }
    case 'failure':
      return event.cause === 'model'
        ? { type: 'error', message: `model failure: ${event.reason}`, code: 'model_failure', channel: event.channel }
        : { type: 'error', message: 'internal server error', code: 'internal_error', channel: event.channel };
  }
}
