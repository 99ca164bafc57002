// Streams of the speech fixture for the fleet tests, and what the clients saw of them.
import type { ServerEvent } from '../../src/api/protocol.ts';
import { streamAudio, type Move, type StreamResult } from '../../src/client/stream-client.ts';
import { scrape } from '../helpers/prometheus.ts';
import { FAST_MODEL, speechFixture } from '../helpers/service.ts';
import type { Instance } from './fleet.ts';

/** Each instance: one model worker and one VAD worker, so that three fit on two cores. */
export const INSTANCE_CONFIG = { model: { ...FAST_MODEL, workers: 1 }, vad: { workers: 1 } };

export const fixture = speechFixture();
const BYTES_PER_SECOND = fixture.format.sample_rate * fixture.format.channels * 2;

/** The fixture over and over (two sentences every 8 s), cut at `seconds`: long speech from a short file. */
export function loopedPcm(seconds: number): Buffer {
  const bytes = Math.round(seconds * fixture.format.sample_rate) * fixture.format.channels * 2;
  const loops = Math.ceil(bytes / fixture.pcm.byteLength);
  return Buffer.concat(Array(loops).fill(fixture.pcm) as Buffer[]).subarray(0, bytes);
}

export interface Streamed extends StreamResult {
  /** Audio seconds the client sent. */
  sentSeconds: number;
}

/** Streams `pcm` (the whole fixture by default) with `stop`, 100 ms per frame; `reconnect: false` stays on a draining instance. */
export async function stream(
  addr: string,
  options: {
    realTime?: boolean;
    pcm?: Uint8Array;
    onEvent?: (e: ServerEvent) => void;
    onMove?: (m: Move) => void;
    onProgress?: (sentSeconds: number) => void;
    reconnect?: boolean;
    interimResults?: boolean;
    timeoutMs?: number;
  } = {},
): Promise<Streamed> {
  const pcm = options.pcm ?? fixture.pcm;
  const result = await streamAudio({
    addr,
    format: fixture.format,
    pcm,
    realTime: options.realTime,
    chunkBytes: BYTES_PER_SECOND / 10,
    onEvent: options.onEvent,
    onMove: options.onMove,
    onProgress: options.onProgress,
    reconnect: options.reconnect,
    interimResults: options.interimResults,
    timeoutMs: options.timeoutMs ?? 60_000,
  });
  return { ...result, sentSeconds: pcm.byteLength / BYTES_PER_SECOND };
}

export const segmentedUrl = (instance: Instance) => `${instance.url.replace('http', 'ws')}/api/v1/segmented`;

/** The instance's own count of segmented streams ended, every outcome (from its /metrics). */
export async function streamsEnded(instance: Instance): Promise<number> {
  return (await scrape(instance.url)).sum('streams_total', { route: 'segmented' });
}
