// Item 5: throughput with the simulated model's costs at 0, audio sent as fast as the server takes
// it (load client --fast). Simple mode, with the segmented route on the same server as the baseline
// (the difference is the VAD).
import { runLoadClient } from './capacity.ts';
import type { LoadReport } from './load-client.ts';
import { startServer, ZERO_MODEL, type ServerHandle } from './server.ts';

export interface SimpleOptions {
  streams: number;
  perStreamS: number;
  /** A short run per route first (JIT, worker start-up). */
  warmUp: boolean;
  onStep?: (label: string) => void;
}

export interface ThroughputRun {
  route: 'simple' | 'segmented';
  streams: number;
  perStreamS: number;
  /** Audio of the streams that completed. */
  audioSeconds: number;
  wallSeconds: number;
  /** Audio seconds processed per wall second. */
  audioPerSecond: number;
  serverCpuPerAudioSecond: number;
  client: LoadReport;
}

export interface SimpleResults {
  simple: ThroughputRun;
  segmented: ThroughputRun;
  /** simple / segmented audio per second. */
  ratio: number;
}


async function throughput(server: ServerHandle, route: 'simple' | 'segmented', streams: number, seconds: number): Promise<ThroughputRun> {
  const cpu0 = server.cpuSeconds();
  const client = await runLoadClient(
    ['--url', server.ws(route), '--streams', String(streams), '--duration', String(seconds), '--fast', '--drain-timeout', '120'],
    180_000,
  );
  const cpu = server.cpuSeconds() - cpu0;
  const audioSeconds = client.completed * seconds;
  return {
    route,
    streams,
    perStreamS: seconds,
    audioSeconds,
    wallSeconds: client.wallSeconds,
    audioPerSecond: audioSeconds / client.wallSeconds,
    serverCpuPerAudioSecond: cpu / Math.max(1e-9, audioSeconds),
    client,
  };
}

export async function runSimple(opts: SimpleOptions): Promise<SimpleResults> {
  const server = await startServer({ model: ZERO_MODEL, limits: { max_streams: 600 }, shutdown: { drain_timeout_ms: 2000 } });
  try {
    opts.onStep?.('simple: warm-up');
    if (opts.warmUp) for (const route of ['simple', 'segmented'] as const) await throughput(server, route, 1, 2);
    opts.onStep?.(`simple: ${opts.streams} × ${opts.perStreamS} s, simple route`);
    const simple = await throughput(server, 'simple', opts.streams, opts.perStreamS);
    opts.onStep?.(`simple: ${opts.streams} × ${opts.perStreamS} s, segmented route`);
    const segmented = await throughput(server, 'segmented', opts.streams, opts.perStreamS);
    return { simple, segmented, ratio: simple.audioPerSecond / segmented.audioPerSecond };
  } finally {
    await server.stop();
  }
}
