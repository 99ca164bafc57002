// Where VAD jobs are packed: shared memory, reused from job to job. A job's arrays are views of
// SharedArrayBuffers that the VAD worker reads and writes in place, so neither side allocates,
// transfers or clones them per job (measured apart: postMessage of a transferred 64 KB–1 MB buffer
// costs the posting thread 29–84 µs, shared views 0.4–8 µs, and the state cloned back 20–24 µs;
// docs/performance.md). A slot belongs to one job from packing until its answer is unpacked.
import type { VadJob } from './silero-job.ts';
import { VAD_STATE } from './window.ts';

/** A slot whose audio grew past this many samples (a job of channels that fell behind) is dropped once released, not kept. */
const RETAINED_AUDIO_SAMPLES = 1 << 20;

class Slot {
  windows = new Int32Array(new SharedArrayBuffer(0));
  audio = new Float32Array(new SharedArrayBuffer(0));
  state = new Float32Array(new SharedArrayBuffer(0));
  probs = new Float32Array(new SharedArrayBuffer(0));

  /** The job's views, each array grown (to a power of two) when too small. */
  job(channels: number, audioSamples: number, windows: number): VadJob {
    if (this.windows.length < channels) {
      this.windows = new Int32Array(shared(channels, Int32Array.BYTES_PER_ELEMENT));
      this.state = new Float32Array(shared(channels * 2 * VAD_STATE, Float32Array.BYTES_PER_ELEMENT));
    }
    if (this.audio.length < audioSamples) this.audio = new Float32Array(shared(audioSamples, Float32Array.BYTES_PER_ELEMENT));
    if (this.probs.length < windows) this.probs = new Float32Array(shared(windows, Float32Array.BYTES_PER_ELEMENT));
    return {
      windows: this.windows.subarray(0, channels),
      audio: this.audio.subarray(0, audioSamples),
      state: this.state.subarray(0, channels * 2 * VAD_STATE),
      probs: this.probs.subarray(0, windows),
    };
  }
}

function shared(elements: number, bytesPerElement: number): SharedArrayBuffer {
  return new SharedArrayBuffer(2 ** Math.ceil(Math.log2(Math.max(elements, 1))) * bytesPerElement);
}

/** A job's arrays for the time it is out; `release()` once its answer is unpacked. */
export interface JobMemory {
  job: VadJob;
  release: () => void;
}

export class VadJobMemory {
  private readonly free: Slot[] = [];

  /** Arrays for a job of `channels` channels, `audioSamples` samples (contexts included) and `windows` windows in all. */
  acquire(channels: number, audioSamples: number, windows: number): JobMemory {
    const slot = this.free.pop() ?? new Slot();
    const job = slot.job(channels, audioSamples, windows);
    let released = false;
    return {
      job,
      release: () => {
        if (released) return;
        released = true;
        if (slot.audio.length <= RETAINED_AUDIO_SAMPLES) this.free.push(slot);
      },
    };
  }
}
