// The audio_decoding stage's cost on the main thread: PCM decoding plus resampling to 16 kHz, in
// 100 ms frames as a live client sends them, per input format. It decides whether that work should
// move off the event loop (it pays only if it is a large share of a core at the capacity we reach).
//
//   node --import tsx bench/decode.ts [--seconds 60]
import { parseArgs } from 'node:util';
import { PcmDecoder } from '../src/audio/pcm-decoder.ts';
import { createResampler } from '../src/audio/resampler.ts';
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

/** CPU seconds to decode and resample `seconds` of a 440 Hz tone in 100 ms frames. */
async function run(rate: number, channels: number, float: boolean): Promise<number> {
  const bytesPerSample = float ? 4 : 2;
  const frameSamples = rate / 10;
  const frame = new Uint8Array(frameSamples * channels * bytesPerSample);
  const view = new DataView(frame.buffer);
  for (let i = 0; i < frameSamples * channels; i++) {
    const v = 0.5 * Math.sin((2 * Math.PI * 440 * Math.floor(i / channels)) / rate);
    if (float) view.setFloat32(i * 4, v, true);
    else view.setInt16(i * 2, Math.round(v * 32767), true);
  }
  const decoder = new PcmDecoder({ sample_rate: rate, channels, bit_depth: float ? 32 : 16, is_float: float });
  const resampler = await createResampler(rate, channels);
  try {
    const since = process.cpuUsage();
    for (let f = 0; f < seconds * 10; f++) resampler.process(decoder.decode(frame));
    return cpuSecondsSince(since);
  } finally {
    resampler.destroy();
  }
}

process.stdout.write(`audio_decoding stage (decode + resample to 16 kHz), ${seconds} s of audio in 100 ms frames, median of 3\n`);
process.stdout.write(`${'format'.padEnd(22)}${'CPU-s/audio-s'.padStart(15)}${'µs per frame'.padStart(14)}${'cores at 300 streams'.padStart(22)}\n`);
for (const { rate, channels, float } of FORMATS) {
  await run(rate, channels, float); // warm-up
  const cpu = median([await run(rate, channels, float), await run(rate, channels, float), await run(rate, channels, float)]) ?? NaN;
  const perAudioSecond = cpu / seconds;
  const name = `${rate / 1000} kHz ${float ? 'f32' : 's16'} ×${channels}`;
  process.stdout.write(
    `${name.padEnd(22)}${perAudioSecond.toFixed(5).padStart(15)}${((perAudioSecond / 10) * 1e6).toFixed(1).padStart(14)}${(perAudioSecond * 300).toFixed(2).padStart(22)}\n`,
  );
}
