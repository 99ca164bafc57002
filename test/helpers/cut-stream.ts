// The speech fixture streamed in real time through a forwarder (the load balancer) that breaks the
// connection once, so that the client resumes: what resume, stats and replay-buffer tests share.
import { streamAudio, type Resume, type StreamOptions, type StreamResult } from '../../src/client/stream-client.ts';
import { speechFixture, type TestService } from './service.ts';
import { startSwitchProxy } from './switch-proxy.ts';

const fixture = speechFixture();
const BYTES_PER_SECOND = 32_000; // the fixture: s16 mono 16 kHz

export interface CutOptions {
  /** How the forwarder breaks the connection (default `reset`: 1006 on both sides). */
  cut?: 'reset' | 'blackHole';
  route?: 'segmented' | 'simple';
  /** Audio through the forwarder before the cut (default: 0.7 s into the second speech region). */
  atSeconds?: number;
  /** More options of the stream (realTime, 3200-byte frames and onResume are set). */
  stream?: Partial<StreamOptions>;
}

export async function streamWithCut(service: TestService, options: CutOptions = {}): Promise<{ result: StreamResult; resumes: Resume[] }> {
  const { cut = 'reset', route = 'segmented', atSeconds = fixture.regions[1].start + 0.7 } = options;
  const proxy = await startSwitchProxy(service.port);
  const resumes: Resume[] = [];
  try {
    const running = streamAudio({
      addr: `ws://127.0.0.1:${proxy.port}/api/v1/${route}`,
      format: fixture.format,
      pcm: fixture.pcm,
      realTime: true,
      chunkBytes: 3200,
      onResume: (r) => resumes.push(r),
      ...options.stream,
    });
    await proxy.until(() => proxy.bytesTo(service.port) >= atSeconds * BYTES_PER_SECOND, `${atSeconds} s of audio through the forwarder`);
    proxy[cut]();
    return { result: await running, resumes };
  } finally {
    await proxy.close();
  }
}
