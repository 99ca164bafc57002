// Streaming resampling to the model rate with libsamplerate (compiled to JS/WASM). One converter
// per stream handles all of its channels interleaved, and keeps filter state across chunks, so
// chunk borders leave no clicks and no drift.
import libsamplerate from '@alexanderolsen/libsamplerate-js';
import { MODEL_SAMPLE_RATE } from './format.ts';

const { create, ConverterType } = libsamplerate;

export interface Resampler {
  /** Interleaved input frames at the input rate → interleaved output at 16 kHz (may lag slightly). */
  process(interleaved: Float32Array): Float32Array;
  /** End of input: returns the held-back tail, so that total output = round(input × ratio). */
  flush(): Float32Array;
  destroy(): void;
}

class Passthrough implements Resampler {
  process(x: Float32Array): Float32Array {
    return x;
  }
  flush(): Float32Array {
    return new Float32Array(0);
  }
  destroy(): void {}
}

type Src = Awaited<ReturnType<typeof create>>;

class LibSampleRate implements Resampler {
  private inFrames = 0;
  private outFrames = 0;

  constructor(
    private readonly src: Src,
    private readonly channels: number,
    private readonly ratio: number,
  ) {}

  process(x: Float32Array): Float32Array {
    if (x.length === 0) return x;
    this.inFrames += x.length / this.channels;
    const out = this.src.full(x);
    this.outFrames += out.length / this.channels;
    return out;
  }

  flush(): Float32Array {
    // libsamplerate-js has no end-of-input call: push silence through until the converter has
    // released every real frame, then cut the output at the exact expected length.
    const expected = Math.round(this.inFrames * this.ratio);
    const missing = expected - this.outFrames;
    if (missing <= 0) return new Float32Array(0);
    const parts: Float32Array[] = [];
    let got = 0;
    const zeros = new Float32Array(256 * this.channels);
    for (let guard = 0; got < missing && guard < 1000; guard++) {
      const out = this.src.full(zeros);
      parts.push(out);
      got += out.length / this.channels;
    }
    const tail = new Float32Array(Math.min(missing, got) * this.channels);
    let offset = 0;
    for (const p of parts) {
      const take = Math.min(p.length, tail.length - offset);
      tail.set(p.subarray(0, take), offset);
      offset += take;
    }
    this.outFrames += tail.length / this.channels;
    return tail;
  }

  destroy(): void {
    this.src.destroy();
  }
}

export async function createResampler(inputRate: number, channels: number): Promise<Resampler> {
  if (inputRate === MODEL_SAMPLE_RATE) return new Passthrough();
  const src = await create(channels, inputRate, MODEL_SAMPLE_RATE, { converterType: ConverterType.SRC_SINC_FASTEST });
  return new LibSampleRate(src, channels, MODEL_SAMPLE_RATE / inputRate);
}
