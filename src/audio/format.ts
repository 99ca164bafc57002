// The PCM the pipeline decodes (the service's own type; src/api converts the protocol's `format`).

export const MODEL_SAMPLE_RATE = 16_000;
export const MIN_SAMPLE_RATE = 8_000;
export const MAX_SAMPLE_RATE = 192_000;

export interface PcmFormat {
  channels: number;
  sampleRate: number;
  /** 16 (signed integer) or 32 (float). */
  bitDepth: number;
  isFloat: boolean;
}

/**
 * A time as clients are told it: seconds rounded to the microsecond, so that a sum such as
 * 100 + 0.066 reads 100.066 and not 100.06599999999999.
 */
export function microseconds(seconds: number): number {
  return Math.round(seconds * 1e6) / 1e6;
}

export function bytesPerSample(format: PcmFormat): number {
  return format.bitDepth / 8;
}

/** The encodings the decoder handles: s16 and f32, little-endian. */
export function isDecodable(format: PcmFormat): boolean {
  return (format.bitDepth === 16 && !format.isFloat) || (format.bitDepth === 32 && format.isFloat);
}
