// Picking a stream's segments out of the events it got back.
import type { ServerEvent } from '../../src/api/protocol.ts';

export type Segment = Extract<ServerEvent, { type: 'segment' }>;

/** Every segment event, interim or final. */
export const segmentsOf = (events: ServerEvent[]): Segment[] => events.filter((e): e is Segment => e.type === 'segment');

/**
 * The final segments: `is_final: true` on the segmented route; the simple route's chunks carry no
 * `is_final` and are all final (docs/protocol.md).
 */
export const finals = (events: ServerEvent[]): Segment[] => segmentsOf(events).filter((e) => e.is_final !== false);
