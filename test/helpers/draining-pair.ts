// Instance A, which the test drains, behind a TCP forwarder that plays the load balancer (the test
// points new connections at A or at another instance). A stream held open on A without audio (the
// keeper) keeps A draining, and answering /metrics, until the test ends.
import { connect, type Connection } from '../../src/client/connection.ts';
import { scrape } from './prometheus.ts';
import { speechFixture, startTestService, type TestService } from './service.ts';
import { startSwitchProxy, type SwitchProxy } from './switch-proxy.ts';

export const fixture = speechFixture();
export const BYTES_PER_SECOND = 32_000; // the fixture: s16 mono 16 kHz

export interface DrainingPair {
  a: TestService;
  proxy: SwitchProxy;
  keeper?: Connection;
  /** The segmented route through the forwarder. */
  addr: string;
  /** Resolves once `seconds` of audio (give or take the websocket framing) went to A through the forwarder. */
  audioToA(seconds: number): Promise<void>;
  close(): Promise<void>;
}

export async function startDrainingPair(options: { keeper?: boolean } = {}): Promise<DrainingPair> {
  const a = await startTestService();
  const proxy = await startSwitchProxy(a.port);
  let keeper: Connection | undefined;
  if (options.keeper !== false) {
    keeper = await connect(a.ws('segmented'));
    await keeper.send({ request: 'start', format: fixture.format });
    await keeper.send({ request: 'keepalive' });
    await keeper.next('ack'); // handled in order: the stream is open
  }
  return {
    a,
    proxy,
    keeper,
    addr: `ws://127.0.0.1:${proxy.port}/api/v1/segmented`,
    audioToA: (seconds) => proxy.until(() => proxy.bytesTo(a.port) >= seconds * BYTES_PER_SECOND, `${seconds} s of audio to A`),
    close: async () => {
      await keeper?.close();
      await a.shutdown(0);
      await proxy.close();
    },
  };
}

/** Starts A's drain without waiting for it (it ends when the test closes the pair). */
export function drain(pair: DrainingPair, deadlineMs: number): void {
  pair.a.shutdown(deadlineMs).catch(() => {});
}

export const audioReceived = async (s: TestService) => (await scrape(s.url)).sum('audio_received_seconds_total');
