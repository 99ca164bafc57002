// Every label value the service can record, from the lists the code records them from: the
// telemetry (below every other layer) is handed them at start-up and exports each series they make
// at 0 (src/telemetry/zero-series.ts). A new route, outcome, error code or task added to its list
// gets its series with nothing more to do.
import { STREAM_OUTCOMES } from './api/live-stream.ts';
import { PROTOCOL_ERROR_CODES } from './api/protocol.ts';
import { ROUTE_RESULTS } from './pipeline/stream-context.ts';
import { TASK_NAMES } from './task.ts';
import type { KnownLabels } from './telemetry/zero-series.ts';

export const KNOWN_LABELS: KnownLabels = {
  tasks: TASK_NAMES,
  routes: ROUTE_RESULTS,
  streamOutcomes: STREAM_OUTCOMES,
  protocolErrorCodes: PROTOCOL_ERROR_CODES,
};
