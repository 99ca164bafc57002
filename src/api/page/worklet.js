// AudioWorkletProcessor: posts the mono microphone signal, at the context's native rate, to the
// main thread in blocks of `processorOptions.frames` Float32 samples (with the block's peak level).
// The main thread asks for the partial block with the message 'flush' and gets it, then 'flushed'.
class PcmCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.frames = Math.max(128, options.processorOptions?.frames ?? 2048);
    this.block = new Float32Array(this.frames);
    this.filled = 0;
    this.peak = 0;
    this.port.onmessage = (event) => {
      if (event.data !== 'flush') return;
      this.post();
      this.port.postMessage({ type: 'flushed' });
    };
  }

  post() {
    if (this.filled === 0) return;
    const samples = this.filled === this.frames ? this.block : this.block.slice(0, this.filled);
    this.port.postMessage({ type: 'samples', samples, peak: this.peak }, [samples.buffer]);
    this.block = new Float32Array(this.frames);
    this.filled = 0;
    this.peak = 0;
  }

  process(inputs) {
    // The node is created with channelCount 1 (explicit), so the input is already downmixed to mono;
    // with nothing connected the input has no channels.
    const input = inputs[0]?.[0];
    if (!input) return true;
    let offset = 0;
    while (offset < input.length) {
      const n = Math.min(input.length - offset, this.frames - this.filled);
      for (let i = 0; i < n; i++) {
        const v = input[offset + i];
        this.block[this.filled + i] = v;
        const a = v < 0 ? -v : v;
        if (a > this.peak) this.peak = a;
      }
      this.filled += n;
      offset += n;
      if (this.filled === this.frames) this.post();
    }
    return true;
  }
}

registerProcessor('pcm-capture', PcmCapture);
