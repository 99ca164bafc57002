// The audio_decoding stage's cost on the main thread: PCM decoding plus resampling to 16 kHz, in
// 100 ms frames as a live client sends them, per input format. Baseline, measured in the same run:
// the same decoding with libsamplerate's fastest band-limited converter (SINC_FASTEST), which the
// service used before the Speex resampler.
//
//   node bench/decode.ts [--seconds 60]
import libsamplerate from '@alexanderolsen/libsamplerate-js';
import { parseArgs } from 'node:util';
import { PcmDecoder } from '../src/audio/pcm-decoder.ts';
import { createResampler, type Resampler } from '../src/audio/resampler.ts';
import { cpuSecondsSince, median } from './stats.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '60' } } });
const seconds = Number(values.seconds);
const FORMATS = [
  { rate: 16_000, channels: 1, float: false },
  { rate: 48_000, channels: 1, float: false },
  { rate: 44_100, channels: 1, float: false },
  { rate: 48_000, channels: 1, float: true },
  { rate: 48_000, channels: 2, float: false },
  { rate: 8_000, channels: 1, float: false },
];

type MakeResampler = (rate: number, channels: number) => Promise<Resampler>;

async function libsamplerateSincFastest(rate: number, channels: number): Promise<Resampler> {
  if (rate === 16_000) return createResampler(rate, channels); // passthrough in both
  const src = await libsamplerate.create(channels, rate, 16_000, { converterType: libsamplerate.ConverterType.SRC_SINC_FASTEST });
  return { process: (x) => src.full(x), flush: () => new Float32Array(0), destroy: () => src.destroy() };
}

/** CPU seconds to decode and resample `seconds` of a 440 Hz tone in 100 ms frames. */
async function run(make: MakeResampler, rate: number, channels: number, float: boolean): Promise<number> {
  const bytesPerSample = float ? 4 : 2;
  const frameSamples = rate / 10;
  const frame = new Uint8Array(frameSamples * channels * bytesPerSample);
  const view = new DataView(frame.buffer);
  for (let i = 0; i < frameSamples * channels; i++) {
    const v = 0.5 * Math.sin((2 * Math.PI * 440 * Math.floor(i / channels)) / rate);
    if (float) view.setFloat32(i * 4, v, true);
    else view.setInt16(i * 2, Math.round(v * 32767), true);
  }
  const decoder = new PcmDecoder({ sampleRate: rate, channels, bitDepth: float ? 32 : 16, isFloat: float });
  const resampler = await make(rate, channels);
  try {
    const since = process.cpuUsage();
    for (let f = 0; f < seconds * 10; f++) resampler.process(decoder.decode(frame));
    return cpuSecondsSince(since);
  } finally {
    resampler.destroy();
  }
}

/** Median CPU seconds per audio second of three runs after a warm-up. */
async function cost(make: MakeResampler, rate: number, channels: number, float: boolean): Promise<number> {
  await run(make, rate, channels, float);
  const runs = [await run(make, rate, channels, float), await run(make, rate, channels, float), await run(make, rate, channels, float)];
  return (median(runs) ?? NaN) / seconds;
}

const col = (s: string, w: number) => s.padStart(w);
process.stdout.write(`audio_decoding stage (decode + resample to 16 kHz), ${seconds} s of audio in 100 ms frames, median of 3\n`);
process.stdout.write(
  `${'format'.padEnd(22)}${col('CPU-s/audio-s', 15)}${col('µs per frame', 14)}${col('cores at 300 streams', 22)}${col('libsamplerate', 15)}${col('ours vs it', 12)}\n`,
);
for (const { rate, channels, float } of FORMATS) {
  const ours = await cost(createResampler, rate, channels, float);
  const baseline = await cost(libsamplerateSincFastest, rate, channels, float);
  const name = `${rate / 1000} kHz ${float ? 'f32' : 's16'} ×${channels}`;
  process.stdout.write(
    `${name.padEnd(22)}${col(ours.toFixed(5), 15)}${col(((ours / 10) * 1e6).toFixed(1), 14)}${col((ours * 300).toFixed(2), 22)}` +
      `${col(baseline.toFixed(5), 15)}${col(`${(baseline / ours).toFixed(2)}x`, 12)}\n`,
  );
}
