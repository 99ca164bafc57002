// A service context of its own for a unit test, exported like a service's, and a reader of its
// exposition: tests of one stage count only their own work, whatever ran before them.
import { serviceContext } from '../../src/context.ts';
import { TASK_NAMES } from '../../src/task.ts';
import { createTelemetry } from '../../src/telemetry/telemetry.ts';
import { Exposition } from './prometheus.ts';

export function testContext() {
  const telemetry = createTelemetry({ serviceName: 'streamer', serviceVersion: 'test', tasks: TASK_NAMES });
  const render = telemetry.render();
  if (!render) throw new Error('test telemetry exports nothing');
  return {
    telemetry,
    service: serviceContext(telemetry),
    /** The current exposition, parsed. */
    read: async () => new Exposition((await telemetry.render()) ?? ''),
  };
}
