// The servers the conformance suite talks to: one per configuration a promise needs, each started
// the first time a case asks for it and shut down at the end of the suite.
import { startTestService, type TestService } from '../helpers/service.ts';

export const TOKEN = 'conformance-token-0123';

/** The limits a case can run into on the `limits` server. */
export const LIMITS = {
  idle_timeout_ms: 1500,
  max_frame_bytes: 64 * 1024,
  max_text_bytes: 4096,
  max_stream_seconds: 6,
  max_channels: 2,
  start_timeout_ms: 1000,
};

export const CONFIGS = {
  /** The embedded defaults, with a fast simulated model. */
  default: {},
  limits: { limits: LIMITS },
  auth: { auth: { tokens: [TOKEN] } },
  oneStream: { limits: { max_streams: 1 } },
  fewConnections: { limits: { max_connections: 3 } },
  // A client that stops reading also stops answering pings: on a loaded machine the flood can take
  // longer than two ping intervals to fill the outbound queue, and the dead-peer check would drop
  // it first (1006, no slow_consumer). The heartbeat has its own tests; here it stays out of the way.
  slowReader: { limits: { max_outbound_bytes: 16 * 1024, ping_interval_ms: 600_000 } },
  failingModel: { model: { failure_rate: 1 } },
  crashingModel: { model: { panic_rate: 1 } },
} satisfies Record<string, Record<string, unknown>>;

export type ServerName = keyof typeof CONFIGS;

const running = new Map<ServerName, Promise<TestService>>();

export function server(name: ServerName): Promise<TestService> {
  let s = running.get(name);
  if (!s) {
    s = startTestService(CONFIGS[name]);
    running.set(name, s);
  }
  return s;
}

export async function stopServers(): Promise<void> {
  const all = [...running.values()];
  running.clear();
  await Promise.all(all.map(async (s) => (await s).shutdown(0)));
}
