// Where a stream's PCM comes from: all at once (a file) or as it is captured (a microphone). A live
// source keeps only what a resume may send again (moving-stream.ts releases the rest), so a stream
// of any length holds a bounded amount of audio.
// No Node APIs: the page loads this file as it is (src/api/page.ts).
import type { AudioFormat } from '../api/protocol.ts';

export interface PcmSource {
  /** Bytes of PCM so far (a live source grows). */
  readonly length: number;
  /** No more bytes will come. */
  readonly ended: boolean;
  /** Bytes before this were released: they cannot be read any more. */
  readonly start: number;
  /** Bytes [from, to), from ≥ start and to ≤ length. */
  read(from: number, to: number): Uint8Array;
  /** Resolves once the source grew or ended, or `signal` aborted. */
  more(signal: AbortSignal): Promise<void>;
  /** Bytes before `upTo` will not be read again. */
  release(upTo: number): void;
}

/** Bytes per sample of the protocol's two formats: s16 and f32. */
export function bytesPerSample(format: AudioFormat): 2 | 4 {
  if (format.bit_depth === 16 && !format.is_float) return 2;
  if (format.bit_depth === 32 && format.is_float) return 4;
  throw new Error(`unsupported format: bit_depth ${format.bit_depth}${format.is_float ? ' float' : ' integer'}; supported are s16 and f32`);
}

/** PCM that is all there from the start (a file): nothing to wait for, nothing released. */
export class FixedPcm implements PcmSource {
  readonly ended = true;
  readonly start = 0;
  private readonly pcm: Uint8Array;

  constructor(pcm: Uint8Array) {
    this.pcm = pcm;
  }

  get length(): number {
    return this.pcm.byteLength;
  }

  read(from: number, to: number): Uint8Array {
    return this.pcm.subarray(from, to);
  }

  more(): Promise<void> {
    return Promise.resolve();
  }

  release(): void {}
}

/** PCM appended as it is captured, until `end()`; released blocks are dropped. */
export class LivePcm implements PcmSource {
  /** The blocks kept, oldest first, and where the first one begins. */
  private readonly blocks: Uint8Array[] = [];
  private first = 0;
  private total = 0;
  private done = false;
  private waiters: (() => void)[] = [];

  get length(): number {
    return this.total;
  }

  get ended(): boolean {
    return this.done;
  }

  get start(): number {
    return this.first;
  }

  append(bytes: Uint8Array): void {
    if (this.done) throw new Error('audio appended after the end of the stream');
    if (bytes.byteLength === 0) return;
    this.blocks.push(bytes);
    this.total += bytes.byteLength;
    this.wakeAll();
  }

  end(): void {
    this.done = true;
    this.wakeAll();
  }

  read(from: number, to: number): Uint8Array {
    if (from < this.first || to > this.total || from > to) throw new RangeError(`bytes ${from}–${to} are not kept (kept: ${this.first}–${this.total})`);
    let at = this.first;
    for (const block of this.blocks) {
      if (from >= at && to <= at + block.byteLength) return block.subarray(from - at, to - at); // within one block: no copy
      if (at + block.byteLength > from) break;
      at += block.byteLength;
    }
    const out = new Uint8Array(to - from);
    at = this.first;
    for (const block of this.blocks) {
      const end = at + block.byteLength;
      if (end > from && at < to) {
        const lo = Math.max(from, at) - at;
        const hi = Math.min(to, end) - at;
        out.set(block.subarray(lo, hi), Math.max(from, at) - from);
      }
      if (end >= to) break;
      at = end;
    }
    return out;
  }

  more(signal: AbortSignal): Promise<void> {
    if (this.done || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      this.waiters.push(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  release(upTo: number): void {
    while (this.blocks.length > 0 && this.first + this.blocks[0].byteLength <= upTo) this.first += this.blocks.shift()!.byteLength;
  }

  private wakeAll(): void {
    for (const w of [...this.waiters]) w();
  }
}
