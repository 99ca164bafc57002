// Types for the parts of the Emscripten build of the Speex resampler that we call (the package
// ships JavaScript and WASM only). Pointers are byte offsets into the module's heap.
declare module '@echogarden/speex-resampler-wasm/simd' {
  export interface SpeexModule {
    HEAPF32: Float32Array;
    HEAPU32: Uint32Array;
    HEAP32: Int32Array;
    _malloc(bytes: number): number;
    _free(ptr: number): void;
    _speex_resampler_init(channels: number, inRate: number, outRate: number, quality: number, errPtr: number): number;
    _speex_resampler_process_interleaved_float(st: number, input: number, inLenPtr: number, output: number, outLenPtr: number): number;
    _speex_resampler_get_input_latency(st: number): number;
    _speex_resampler_skip_zeros(st: number): number;
    _speex_resampler_destroy(st: number): void;
  }
  const createModule: () => Promise<SpeexModule>;
  export default createModule;
}
