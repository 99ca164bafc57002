// Programmatic websocket client for the streaming protocol (docs/protocol.md):
// `connect` gives a scriptable connection, `streamAudio` runs one whole start → audio → stop exchange.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AudioFormat, ServerEvent } from '../api/protocol.ts';
import { connect, redactAddr } from './connection.ts';
import { bytesPerSample } from './wav.ts';

export * from './connection.ts';

export interface StreamOptions {
  /** e.g. ws://127.0.0.1:8080/api/v1/segmented */
  addr: string;
  format: AudioFormat;
  /** Interleaved little-endian PCM. */
  pcm: Uint8Array;
  /** Bytes per binary frame, or a function called for each frame (default: 256 samples per channel). */
  chunkBytes?: number | (() => number);
  /** Pace frames at the audio's real-time rate. */
  realTime?: boolean;
  interimResults?: boolean;
  /** Optional `start.vad` tuning. */
  vad?: Record<string, number>;
  traceId?: string;
  /** `start.time_offset`: seconds added to every time the server reports (a stream that moved). */
  timeOffset?: number;
  /** `stop.disconnect` (default true). */
  disconnect?: boolean;
  onEvent?: (e: ServerEvent) => void;
  onProgress?: (sentSeconds: number, totalSeconds: number) => void;
  headers?: Record<string, string>;
  /** Reject when the whole exchange takes longer (default 120000 ms). */
  timeoutMs?: number;
}

export interface StreamResult {
  events: ServerEvent[];
  closeCode: number | null;
  closeReason: string;
}

/**
 * Stream `pcm` as one stream: start, binary frames, stop. With `disconnect` (default) resolves when the server
 * closes the socket; without, after `stream_end`, closing the socket with 1000. If the server closes early
 * (e.g. after a protocol error) the result is returned as well. Rejects on connection failure or timeout.
 */
export async function streamAudio(opts: StreamOptions): Promise<StreamResult> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(new Error(`streaming to ${redactAddr(opts.addr)} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([runStream(opts, abort.signal), timeout]);
  } finally {
    clearTimeout(timer);
    abort.abort(); // stops the sender loop if it is still going
  }
}

async function runStream(opts: StreamOptions, signal: AbortSignal): Promise<StreamResult> {
  const { format, pcm, disconnect = true } = opts;
  const bps = bytesPerSample(format);
  const bytesPerSecond = format.sample_rate * format.channels * bps;
  const totalSeconds = pcm.byteLength / bytesPerSecond;
  const chunk = opts.chunkBytes ?? 256 * format.channels * bps;
  const nextSize = typeof chunk === 'function' ? chunk : () => chunk;

  const conn = await connect(opts.addr, opts.headers, { signal, onEvent: opts.onEvent });
  const start: Record<string, unknown> = { request: 'start', format, interim_results: opts.interimResults ?? false };
  if (opts.vad) start.vad = opts.vad;
  if (opts.traceId) start.trace_id = opts.traceId;
  if (opts.timeOffset) start.time_offset = opts.timeOffset;

  try {
    await conn.send(start);
    const t0 = performance.now();
    let sent = 0;
    while (sent < pcm.byteLength && conn.isOpen && !signal.aborted) {
      if (opts.realTime) {
        // Frame i is due at t0 + (bytes before it) / rate: timers only, and no drift accumulates.
        const wait = t0 + (sent / bytesPerSecond) * 1000 - performance.now();
        if (wait > 0) await sleep(wait, undefined, { signal });
      }
      const size = Math.min(pcm.byteLength - sent, Math.max(1, Math.floor(nextSize())));
      await conn.send(pcm.subarray(sent, sent + size));
      sent += size;
      opts.onProgress?.(sent / bytesPerSecond, totalSeconds);
    }
    if (conn.isOpen && !signal.aborted) {
      await conn.send({ request: 'stop', disconnect });
      if (!disconnect) {
        await Promise.race([conn.next('stream_end', 2 ** 31 - 1), conn.closed]);
        await conn.close(1000);
      }
    }
  } catch (err) {
    // A send failing or the server closing while we wait is a normal outcome, reported by the close code.
    if (signal.aborted || conn.isOpen) {
      conn.terminate();
      throw err;
    }
  }
  const { code, reason } = await conn.closed;
  return { events: conn.events, closeCode: code, closeReason: reason };
}

/** A W3C traceparent that starts a new trace: version 00, random trace and span ids, sampled. */
export function newTraceparent(): string {
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
}
