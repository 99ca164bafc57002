// The protocol's `format` and `vad` objects of a start request: checked, then converted to the
// pipeline's own types.
import { isDecodable, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, type PcmFormat } from '../audio/format.ts';
import type { SegmenterTuning } from '../vad/segmenter.ts';
import type { AudioFormat, VadTuning } from './protocol.ts';

/** Why a format cannot be decoded, or null when it can (the message names the protocol's fields). */
export function formatError(format: AudioFormat, maxChannels: number): string | null {
  if (!isDecodable(toPcmFormat(format))) {
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

export function toPcmFormat(format: AudioFormat): PcmFormat {
  return { channels: format.channels, sampleRate: format.sample_rate, bitDepth: format.bit_depth, isFloat: format.is_float };
}

export function toSegmenterTuning(vad: VadTuning = {}): SegmenterTuning {
  return { threshold: vad.threshold, minSilenceMs: vad.min_silence_ms, speechPadMs: vad.speech_pad_ms, minSpeechMs: vad.min_speech_ms };
}

/** Bytes of one sample frame: one sample of each channel. */
export function frameBytes(format: AudioFormat): number {
  return format.channels * (format.bit_depth / 8);
}

/** Bytes of PCM per second of audio. */
export function bytesPerSecond(format: AudioFormat): number {
  return format.sample_rate * frameBytes(format);
}

/** The message of `incomplete_sample`: what was dropped, and why. */
export function incompleteSample(bytes: number, format: AudioFormat): string {
  const frame = frameBytes(format);
  const what = format.channels === 1 ? `a sample is ${frame} bytes` : `a sample frame (one sample of each of ${format.channels} channels) is ${frame} bytes`;
  return `the stream ended ${bytes} byte${bytes === 1 ? '' : 's'} into a sample: ${what}; those bytes were not audio and were dropped`;
}
