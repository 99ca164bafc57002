// Item 4: /metrics render time and exposition size with 0, 100 and 500 streams open. Real-time
// load at 500 streams saturates a small machine, and then every request waits for the event loop;
// so here the streams are held open instead: each sends a little audio (every stage records
// something, paced so that the server keeps up), then stays open with keepalives while /metrics is
// sampled on an otherwise quiet server. (Scrapes under real-time load come from the capacity runs.)
import { capacityConfig, startLoadClient } from './capacity.ts';
import { sampleRender, scrape, sumOf, type RenderSamples } from './metrics.ts';
import { startServer, type ServerHandle } from './server.ts';

export interface MetricsPoint {
  /** Streams the load client ran. */
  streams: number;
  /** idle: no stream; held: streams open, audio processed; real-time: during a capacity run. */
  load: 'idle' | 'held' | 'real-time';
  render: RenderSamples;
}

export interface RenderOptions {
  points: number[];
  samples: number;
  /** Audio each held stream sends first, s. */
  audioS: number;
  /** Stream starts are spread over points × this (keeps the real-time load on the server low). */
  staggerPerStreamMs: number;
  onStep?: (label: string) => void;
}

/** Until nothing but partial VAD windows waits in any stage (at most `timeoutMs`). */
async function settled(server: ServerHandle, streams: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const s = (await scrape(server.url)).samples;
    const vad = sumOf(s, 'stage_backlog_seconds', { pipeline: 'vad' });
    const rest = sumOf(s, 'stage_backlog_seconds') - vad;
    if (rest === 0 && vad <= streams * 0.032 + 1e-6) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function renderAtStreams(opts: RenderOptions): Promise<MetricsPoint[]> {
  const server = await startServer(capacityConfig(Math.max(0, ...opts.points), true));
  try {
    opts.onStep?.('metrics: no stream');
    const out: MetricsPoint[] = [{ streams: 0, load: 'idle', render: await sampleRender(server.url, opts.samples) }];
    for (const n of opts.points) {
      opts.onStep?.(`metrics: ${n} streams held open`);
      const stagger = n * opts.staggerPerStreamMs;
      const client = startLoadClient(
        ['--url', server.ws('segmented'), '--streams', String(n), '--duration', String(opts.audioS), '--stagger-ms', String(stagger), '--hold'],
        stagger + opts.audioS * 1000 + 120_000,
      );
      const held = await client.holding;
      await settled(server, n);
      const render = await sampleRender(server.url, opts.samples);
      client.release();
      const report = await client.report;
      if (held < n) throw new Error(`only ${held} of ${n} streams were held open (${JSON.stringify(report.connectErrors)})`);
      out.push({ streams: n, load: 'held', render });
    }
    return out;
  } finally {
    await server.stop();
  }
}
