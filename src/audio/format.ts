// Which PCM formats the service accepts, and the reason when it does not.
import type { AudioFormat } from '../api/protocol.ts';

export const MODEL_SAMPLE_RATE = 16_000;
export const MIN_SAMPLE_RATE = 8_000;
export const MAX_SAMPLE_RATE = 192_000;

export function bytesPerSample(format: AudioFormat): number {
  return format.bit_depth / 8;
}

/** Why a format cannot be decoded, or null when it can. */
export function formatError(format: AudioFormat, maxChannels: number): string | null {
  const s16 = format.bit_depth === 16 && !format.is_float;
  const f32 = format.bit_depth === 32 && format.is_float;
  if (!s16 && !f32) {
    return `unsupported format: bit_depth ${format.bit_depth} with is_float ${format.is_float} (supported: s16 or f32)`;
  }
  if (!Number.isInteger(format.channels) || format.channels < 1 || format.channels > maxChannels) {
    return `unsupported format: channels ${format.channels} (supported: 1..${maxChannels})`;
  }
  if (!Number.isInteger(format.sample_rate) || format.sample_rate < MIN_SAMPLE_RATE || format.sample_rate > MAX_SAMPLE_RATE) {
    return `unsupported format: sample_rate ${format.sample_rate} (supported: integer ${MIN_SAMPLE_RATE}..${MAX_SAMPLE_RATE})`;
  }
  return null;
}
