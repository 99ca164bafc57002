// The physical limit of the burst and capacity items (issue 28): how many real-time streams the
// machine's cores could carry at best, from parts measured in this process, each at its floor:
// the VAD batched by hand (item 1b's floor), decoding + resampling a 100 ms frame
// (src/audio, the load client's 16 kHz s16 mono) and receiving it over a bare `ws` websocket
// (this thread's CPU per message, the sender in another process), plus the load client's own CPU per
// audio second measured in the run (it shares the cores). The arithmetic: bench/README.md.
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';
import { PcmDecoder } from '../src/audio/pcm-decoder.ts';
import { createResampler } from '../src/audio/resampler.ts';
import { median } from './stats.ts';
import { vadFloorCpuPerAudioSecond } from './vad.ts';

const FRAME_S = 0.1;
const FRAME_BYTES = 16_000 * FRAME_S * 2;

export interface LimitParts {
  /** CPU-s per audio second of the VAD batched by hand at `vadStreams` streams. */
  vadFloorCpuPerAudioS: number;
  vadStreams: number;
  /** Main-thread µs per 100 ms frame: decode + resample, and a bare websocket receive. */
  decodeUsPerFrame: number;
  wsUsPerFrame: number;
  /** The machine's cores. */
  cores: number;
}

export interface PhysicalLimit extends LimitParts {
  /** The load client's CPU per audio second in the run the estimate goes with. */
  clientCpuPerAudioS: number;
  /** CPU-s per stream per second of real time, all parts. */
  perStreamCores: number;
  streams: number;
}

const threadUs = (since: NodeJS.CpuUsage) => {
  const d = process.threadCpuUsage(since);
  return d.user + d.system;
};

/** Median main-thread µs per frame of decoding + resampling `frames` 100 ms frames (3 runs after a warm-up). */
async function decodeUsPerFrame(frames: number): Promise<number> {
  const frame = new Uint8Array(FRAME_BYTES);
  const view = new DataView(frame.buffer);
  for (let i = 0; i < FRAME_BYTES / 2; i++) view.setInt16(i * 2, Math.round(16_000 * Math.sin(i / 7)), true);
  const decoder = new PcmDecoder({ sampleRate: 16_000, channels: 1, bitDepth: 16, isFloat: false });
  const resampler = await createResampler(16_000, 1);
  try {
    const runs: number[] = [];
    for (let r = 0; r < 4; r++) {
      const t0 = process.threadCpuUsage();
      for (let f = 0; f < frames; f++) resampler.process(decoder.decode(frame));
      if (r > 0) runs.push(threadUs(t0) / frames);
    }
    return median(runs) ?? NaN;
  } finally {
    resampler.destroy();
  }
}

/** Main-thread µs per binary message received by a bare `ws` server, the sender in another process. */
async function wsUsPerFrame(frames: number): Promise<number> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  try {
    const port = (server.address() as { port: number }).port;
    const received = new Promise<number>((resolve) => {
      server.once('connection', (socket) => {
        const t0 = process.threadCpuUsage();
        let n = 0;
        socket.on('message', () => {
          if (++n === frames) {
            resolve(threadUs(t0) / frames);
            socket.close();
          }
        });
      });
    });
    const client = spawn(process.execPath, [fileURLToPath(new URL('limit-ws-client.ts', import.meta.url)), `ws://127.0.0.1:${port}`, String(frames), String(FRAME_BYTES)], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const failed = new Promise<never>((_, reject) =>
      client.once('exit', (code, signal) => {
        if (code !== 0 && signal === null) reject(new Error(`limit ws client exited with ${code}`));
      }),
    );
    failed.catch(() => {}); // after the race only: a late exit must not become an unhandled rejection
    try {
      return await Promise.race([received, failed]);
    } finally {
      client.kill();
    }
  } finally {
    server.close();
  }
}

/** The parts, measured here (a few seconds; smoke: under one). */
export async function measureLimitParts(smoke: boolean): Promise<LimitParts> {
  const frames = smoke ? 2000 : 20_000;
  const vadStreams = 128;
  const ws: number[] = [];
  for (let r = 0; r < 3; r++) ws.push(await wsUsPerFrame(frames));
  return {
    vadFloorCpuPerAudioS: await vadFloorCpuPerAudioSecond(vadStreams, smoke ? 1 : 4),
    vadStreams,
    decodeUsPerFrame: await decodeUsPerFrame(frames),
    wsUsPerFrame: median(ws) ?? NaN,
    cores: cpus().length,
  };
}

/**
 * Streams the cores could carry at best: every stream costs, per second of real time, the VAD floor
 * per audio second + 10 frames × (decode + websocket receive) + the load client's CPU per audio second.
 */
export function physicalLimit(parts: LimitParts, clientCpuPerAudioS: number): PhysicalLimit {
  const perStreamCores = parts.vadFloorCpuPerAudioS + ((parts.decodeUsPerFrame + parts.wsUsPerFrame) * 1e-6) / FRAME_S + clientCpuPerAudioS;
  return { ...parts, clientCpuPerAudioS, perStreamCores, streams: Math.floor(parts.cores / perStreamCores) };
}
